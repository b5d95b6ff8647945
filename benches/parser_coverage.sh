#!/usr/bin/env bash
# How much of real SQL Tianmu's statement analysis reads (the parser coverage of the rules
# issue). Gathers corpora under .tianmu/corpus/ and runs `tianmu rules coverage` on each:
#
#   clients-postgres  what psql (-E: its \d catalog queries) and pgbench (-i, and the
#                     TPC-B-like and select-only scripts, simple and extended protocol) send,
#                     captured from PostgreSQL's own statement log
#   clients-mariadb   what sysbench oltp_read_write (prepare, run, cleanup) sends, captured
#                     from MariaDB's general log
#   tpc-h, tpc-ds     the TPC-H and TPC-DS queries of the sqlglot test fixtures (PyPI sdist)
#   sqlglot-identity  the statements among sqlglot's identity fixtures, written for many
#                     dialects (a hard corpus: much of it is not PostgreSQL or MySQL at all)
#
#   bash benches/parser_coverage.sh
#
# Server settings changed for the capture (log_statement, general_log) are restored on exit.
# Everything runs against 127.0.0.1 only.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
OUT=.tianmu/corpus
mkdir -p "$OUT"
say() { printf 'coverage: %s\n' "$*" >&2; }

cargo build --release --bin tianmu >&2
TIANMU=target/release/tianmu
PSQL=(psql -h 127.0.0.1 -U postgres -X -q)
MARIADB=(mariadb -h 127.0.0.1 -u root)
DB=tianmu_corpus

restore() {
    "${PSQL[@]}" -d postgres -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    "${MARIADB[@]}" -e "SET GLOBAL general_log = 0" >/dev/null 2>&1 || true
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    "${MARIADB[@]}" -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap restore EXIT

# --- PostgreSQL clients, from the server's statement log ----------------------------------
PGLOG=/var/log/postgresql/postgresql-15-main.log
if [ -r "$PGLOG" ]; then
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    before=$(stat -c %s "$PGLOG")
    "${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    for meta in '\l' '\dt' '\d' '\dn' '\du' '\df' '\dv' '\di' '\d pgbench_accounts' '\dt+' '\x' '\conninfo'; do
        psql -h 127.0.0.1 -U postgres -X -d "$DB" -E -c "$meta" >/dev/null 2>&1 || true
    done
    pgbench -h 127.0.0.1 -U postgres -i -s 1 -q "$DB" >/dev/null 2>&1
    for meta in '\d pgbench_accounts' '\d+ pgbench_branches'; do
        psql -h 127.0.0.1 -U postgres -X -d "$DB" -E -c "$meta" >/dev/null 2>&1 || true
    done
    for mode in simple extended prepared; do
        pgbench -h 127.0.0.1 -U postgres -M "$mode" -t 20 -c 2 "$DB" >/dev/null 2>&1
        pgbench -h 127.0.0.1 -U postgres -M "$mode" -S -t 20 -c 2 "$DB" >/dev/null 2>&1
    done
    sleep 1
    "${PSQL[@]}" -d postgres -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
    # `LOG:  statement: …` and `LOG:  execute <name>: …`, continued on tab-indented lines.
    tail -c +"$((before + 1))" "$PGLOG" | awk '
        # A logged COPY … FROM stdin has no data after it: end it as a script would.
        function flush() { if (stmt != "") { print stmt ";"; if (tolower(stmt) ~ /^copy .* from stdin/) print "\\."; stmt = "" } }
        /LOG:  (statement|execute [^:]*): / {
            flush(); line = $0
            sub(/^.*LOG:  (statement|execute [^:]*): /, "", line)
            stmt = line; next
        }
        /^\t/ && stmt != "" { stmt = stmt "\n" substr($0, 2); next }
        { flush() }
        END { flush() }' | grep -v '^ALTER SYSTEM\|^SELECT pg_reload_conf' > "$OUT/clients-postgres.sql" || true
    say "clients-postgres: $(grep -c ';$' "$OUT/clients-postgres.sql" || true) statements captured"
else
    say "skipped clients-postgres: $PGLOG is not readable"
fi

# --- MariaDB clients, from the general log ------------------------------------------------
MYLOG=$(mktemp /tmp/tianmu-general-XXXXXX.log)
chmod 666 "$MYLOG"
"${MARIADB[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
"${MARIADB[@]}" -e "SET GLOBAL general_log_file = '$MYLOG'; SET GLOBAL general_log = 1"
SB=(sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=root --mysql-db="$DB" --tables=2 --table-size=1000)
"${SB[@]}" prepare >/dev/null
"${SB[@]}" --time=3 --threads=2 run >/dev/null
"${SB[@]}" cleanup >/dev/null
"${MARIADB[@]}" -e "SET GLOBAL general_log = 0"
# `<time>\t<id> Query\t<sql>` (and Prepare/Execute), continued on lines without a command.
awk '
    function flush() { if (stmt != "") { print stmt ";"; stmt = "" } }
    /^([0-9]+ +[0-9:]+)?\t+ *[0-9]+ (Query|Prepare|Execute)\t/ {
        flush(); line = $0
        sub(/^([0-9]+ +[0-9:]+)?\t+ *[0-9]+ (Query|Prepare|Execute)\t/, "", line)
        stmt = line; next
    }
    /^([0-9]+ +[0-9:]+)?\t+ *[0-9]+ [A-Z][A-Za-z_ ]*(\t|$)/ { flush(); next }
    stmt != "" { stmt = stmt "\n" $0; next }
    END { flush() }' "$MYLOG" | grep -v "general_log" > "$OUT/clients-mariadb.sql" || true
rm -f "$MYLOG"
say "clients-mariadb: $(grep -c ';$' "$OUT/clients-mariadb.sql" || true) statements captured"

# --- public corpora from the sqlglot sdist ------------------------------------------------
if [ ! -d "$OUT/sqlglot" ]; then
    tmp=$(mktemp -d)
    if python3 -m pip download --no-binary :all: --no-deps sqlglot -d "$tmp" -q >/dev/null 2>&1; then
        tar xzf "$tmp"/sqlglot-*.tar.gz -C "$tmp"
        mkdir -p "$OUT/sqlglot"
        # `# title: …` lines are the fixtures' metadata, not SQL.
        sed '/^#/d' "$tmp"/sqlglot-*/tests/fixtures/optimizer/tpc-h/tpc-h.sql > "$OUT/tpc-h.sql"
        sed '/^#/d' "$tmp"/sqlglot-*/tests/fixtures/optimizer/tpc-ds/tpc-ds.sql > "$OUT/tpc-ds.sql"
        # One item per line, no terminators; many items are bare expressions (`SUM(1)`), not
        # statements: keep the lines that start like a statement.
        grep -iE '^(select|with|insert|update|delete|merge|create|alter|drop|truncate|grant|revoke|explain|set|show|copy|begin|commit|rollback|values|use|analyze|vacuum|comment|call|describe)\b' \
            "$tmp"/sqlglot-*/tests/fixtures/identity.sql | sed 's/$/;/' > "$OUT/sqlglot-identity.sql"
        touch "$OUT/sqlglot/.done"
    else
        say "skipped the sqlglot corpora: PyPI not reachable"
    fi
    rm -rf "$tmp"
fi

printf '\n%-28s %s\n' corpus result
for f in clients-postgres tpc-h tpc-ds sqlglot-identity; do
    [ -s "$OUT/$f.sql" ] && "$TIANMU" rules coverage --protocol postgres --failures 0 "$OUT/$f.sql"
done
[ -s "$OUT/clients-mariadb.sql" ] && "$TIANMU" rules coverage --protocol mysql --failures 0 "$OUT/clients-mariadb.sql"
true
