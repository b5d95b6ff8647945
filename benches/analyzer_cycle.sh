#!/usr/bin/env bash
# The time of one detection cycle over N statement events (default 10 million) in
# ClickHouse: the events are generated inside ClickHouse (INSERT … SELECT FROM numbers(N),
# spread over the last hour: 500 accounts, 60 tables at levels 1-4, clients in 10.0.0.0/16,
# 2 % blocked, one account reading bulk), then `tianmu analyzer --once` runs every detector
# over them, three times; the median is printed. The first run raises the alerts, the later
# ones find them raised and only detect.
#
#   bash benches/analyzer_cycle.sh [N]
#
# Needs the ClickHouse of `deploy/clickhouse.sh start` (or TIANMU_BENCH_CLICKHOUSE) and
# drops its database `tianmu_bench_cycle` at the end.
set -euo pipefail
ROOT=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-10000000}
URL=${TIANMU_BENCH_CLICKHOUSE:-http://127.0.0.1:8123}
DB=tianmu_bench_cycle

cargo build --release -q --bin tianmu
TIANMU="$ROOT/target/release/tianmu"
WORK=$(mktemp -d -t tianmu-bench-XXXXXX)
ch() { curl -sS --fail-with-body "$URL/" --data-binary "$1"; }
cleanup() { ch "DROP DATABASE IF EXISTS $DB" >/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cat > "$WORK/tianmu.toml" <<CONF
node = "bench"
[clickhouse]
url = "$URL"
database = "$DB"
timeout = "600s"
[spool]
path = "$WORK/spool"
[policy]
catalog = "$ROOT/deploy/demo/catalog.toml"
accounts = "$ROOT/deploy/demo/accounts.toml"
rules = "$ROOT/deploy/demo/policy.toml"
CONF

ch "DROP DATABASE IF EXISTS $DB" >/dev/null
# The schema, as the daemons make it.
TIANMU_LOG=warn "$TIANMU" analyzer -c "$WORK/tianmu.toml" --once --since 1m >/dev/null

echo "generating $N statement events in ClickHouse ($DB.statements)…"
start=$(date +%s.%N)
ch "INSERT INTO $DB.statements
    (id, producer, schema, time, usec, observer, protocol, account, client, server, application,
     database, normalized, fingerprint, kind, objects, object_levels, columns, column_levels,
     max_level, action, rule, severity, rows, bytes, duration_us, error_code)
SELECT
    generateUUIDv4(), 'bench/firewall', 1,
    toDateTime(toUInt32(now()) - 3600 + intDiv(number * 3600, $N)), toUInt32(number % 1000000),
    'firewall', 'postgres',
    if(number % 997 = 0, 'bulk_reader', concat('acct_', toString(number % 500))),
    concat('10.0.', toString(intDiv(number, 251) % 256), '.', toString(number % 251), ':5', toString(number % 9999)),
    '127.0.0.1:5432', 'bench', 'publicdata',
    concat('SELECT * FROM t', toString(number % 60), ' WHERE id = ?'),
    cityHash64(number % 60), 'read',
    [concat('publicdata.t', toString(number % 60))], [toUInt8(1 + number % 4)],
    [concat('publicdata.t', toString(number % 60), '.c', toString(number % 7))], [toUInt8(1 + number % 4)],
    toUInt8(1 + number % 4),
    if(number % 50 = 0, 'block', 'allow'), if(number % 50 = 0, 'sqli-tautology', ''),
    if(number % 50 = 0, 'high', 'none'),
    if(number % 997 = 0, 50000, number % 40), (number % 40) * 120, 200 + number % 5000, ''
FROM numbers($N)" >/dev/null
end=$(date +%s.%N)
echo "generated in $(python3 -c "print(f'{$end - $start:.1f}')") s: $(ch "SELECT count() FROM $DB.statements") rows"

times=()
for run in 1 2 3; do
    start=$(date +%s.%N)
    TIANMU_LOG=warn "$TIANMU" analyzer -c "$WORK/tianmu.toml" --once --since 2h >"$WORK/alerts.$run" 2>"$WORK/err.$run" || {
        echo "run $run: a detector failed:" >&2; cat "$WORK/err.$run" >&2; }
    end=$(date +%s.%N)
    t=$(python3 -c "print(f'{$end - $start:.2f}')")
    times+=("$t")
    echo "run $run: $t s, $(wc -l < "$WORK/alerts.$run") alerts raised; $(tail -1 "$WORK/err.$run")"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo "detection cycle over $N events: median $median s (runs: ${times[*]})"
