#!/usr/bin/env bash
# PostgreSQL proxy overhead, side by side in one run: pgbench select-only straight to the
# server, through pgbouncer (session pooling: a proxy that does no SQL work at all) and
# through the Tianmu firewall (release build, demo policy, audit into the spool and on to
# ClickHouse), at 8 and 32 clients, in simple and prepared query mode.
#
#   bash benches/pg_proxy.sh [SECONDS_PER_RUN] [SCALE]
#
# Prints TPS, the ratio to direct, and per-transaction latency p50/p99 with what each proxy
# adds to direct's. Runs are interleaved (direct, pgbouncer, tianmu for each setting) so
# that the machine's drift hits all three alike. Needs the local PostgreSQL on 5432 with
# trust authentication for 127.0.0.1 and the demo accounts (`tianmu demo` loads them).

set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SECONDS_PER_RUN=${1:-15}
SCALE=${2:-10}
DB=tianmu_bench
USER_=dba_admin

command -v pgbouncer >/dev/null || bash deploy/install.sh
command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed" >&2; exit 1; }
# shellcheck source=benches/lib.sh
. benches/lib.sh

# The database, initialized once per scale.
if [ "$(psql -h 127.0.0.1 -U postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
fi
if [ "$(psql -h 127.0.0.1 -U postgres -d $DB -Atc "SELECT coalesce((SELECT count(*) FROM pgbench_branches), -1)" 2>/dev/null || echo -1)" != "$SCALE" ]; then
    pgbench -h 127.0.0.1 -U postgres -i -q -s "$SCALE" $DB >/dev/null 2>&1
fi
psql -h 127.0.0.1 -U postgres -d $DB -qc "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO $USER_"

# pgbouncer, session mode.
BOUNCER_PORT=$(free_port)
printf '"%s" "%s"\n' "$USER_" "$USER_" > "$WORK/users.txt"
cat > "$WORK/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=5432 dbname=$DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = plain
auth_file = $WORK/users.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 64
logfile = $WORK/pgbouncer.log
EOF
# pgbouncer refuses to run as root: it then runs as postgres, which must read its files.
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$WORK"
    chown postgres "$WORK/users.txt" "$WORK/pgbouncer.ini"
    touch "$WORK/pgbouncer.log" && chown postgres "$WORK/pgbouncer.log"
    pgbouncer -u postgres "$WORK/pgbouncer.ini" >"$WORK/pgbouncer.out" 2>&1 &
else
    pgbouncer "$WORK/pgbouncer.ini" >"$WORK/pgbouncer.out" 2>&1 &
fi
PIDS+=($!)

start_tianmu postgres 127.0.0.1:5432
wait_port "$BOUNCER_PORT" pgbouncer "$WORK/pgbouncer.out"

# One pgbench run: prints "tps p50_ms p99_ms".
run() {
    local port=$1 mode=$2 clients=$3 dir
    dir=$(mktemp -d -p "$WORK")
    (cd "$dir" && PGPASSWORD=$USER_ pgbench -h 127.0.0.1 -p "$port" -U $USER_ -S -n -M "$mode" \
        -c "$clients" -j 2 -T "$SECONDS_PER_RUN" -l $DB >"$dir/out" 2>"$dir/err") || {
        cat "$dir/err" >&2; exit 1; }
    local tps
    tps=$(awk '/^tps = / { print $3 }' "$dir/out")
    # Per-transaction log: the third field is the latency in microseconds.
    cat "$dir"/pgbench_log.* | awk '{ print $3 }' | sort -n | awk -v tps="$tps" '
        { v[NR] = $1 }
        END { printf "%.0f %.3f %.3f\n", tps, v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000 }'
}

printf '%-9s %7s  %-9s %9s %7s %8s %8s %9s %9s\n' mode clients target tps ratio p50_ms p99_ms "+p50_ms" "+p99_ms"
for mode in simple prepared; do
    for clients in 8 32; do
        read -r d_tps d_p50 d_p99 < <(run 5432 "$mode" "$clients")
        read -r b_tps b_p50 b_p99 < <(run "$BOUNCER_PORT" "$mode" "$clients")
        read -r t_tps t_p50 t_p99 < <(run "$TIANMU_PORT" "$mode" "$clients")
        for row in "direct $d_tps $d_p50 $d_p99" "pgbouncer $b_tps $b_p50 $b_p99" "tianmu $t_tps $t_p50 $t_p99"; do
            read -r name tps p50 p99 <<<"$row"
            awk -v m="$mode" -v c="$clients" -v n="$name" -v t="$tps" -v p5="$p50" -v p9="$p99" \
                -v dt="$d_tps" -v d5="$d_p50" -v d9="$d_p99" 'BEGIN {
                printf "%-9s %7d  %-9s %9d %7.2f %8.3f %8.3f %+9.3f %+9.3f\n",
                    m, c, n, t, t/dt, p5, p9, p5-d5, p9-d9 }'
        done
    done
done
echo "tianmu vs pgbouncer: compare the ratio columns; the target is tianmu >= pgbouncer and >= 0.85 of direct where the server is the bottleneck."
