#!/usr/bin/env bash
# MySQL proxy overhead, side by side in one run: sysbench oltp_read_only straight to
# MariaDB, through a relay that does nothing (socat: what any proxy costs here, the
# kernel's work of a second loopback hop) and through the Tianmu firewall (release build,
# demo policy, audit into the spool and on to ClickHouse), at 8 and 32 threads, prepared
# statements on and off.
#
#   bash benches/mysql_proxy.sh [SECONDS_PER_RUN] [TABLE_SIZE]
#
# Prints transactions/s, the ratio to direct, latency p50/p99 and what the proxy adds, and
# how busy each process was (CPU cores used over the run: sysbench, mariadbd, the proxy) —
# the machine's cores are shared by all three. Runs are interleaved (direct, relay, tianmu,
# for each setting) so drift hits all alike. Needs MariaDB on 3306 with a passwordless
# root and the demo accounts (`tianmu demo` loads them). Target: ratio ≥ 0.80.

set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SECONDS_PER_RUN=${1:-15}
TABLE_SIZE=${2:-10000}
DB=tianmu_bench
USER_=dba_admin

command -v sysbench >/dev/null && command -v socat >/dev/null || bash deploy/install.sh
# shellcheck source=benches/lib.sh
. benches/lib.sh

SB=(sysbench --db-driver=mysql --mysql-host=127.0.0.1 --mysql-db=$DB --tables=4 --table-size="$TABLE_SIZE")

# The database, prepared once per table size.
if [ "$(mariadb -uroot -N -B -e "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB'")" != 4 ] \
    || [ "$(mariadb -uroot -N -B -e "SELECT count(*) FROM $DB.sbtest4" 2>/dev/null || echo 0)" != "$TABLE_SIZE" ]; then
    mariadb -uroot -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
    "${SB[@]}" --mysql-port=3306 --mysql-user=root oltp_read_only prepare >/dev/null
fi
mariadb -uroot -e "GRANT SELECT ON $DB.* TO $USER_"

start_tianmu mysql 127.0.0.1:3306 'kill-user = "root"'
MARIADB_PID=$(pidof mariadbd || pidof mysqld)

# The relay that does nothing: a process per connection, 64 KiB reads, Nagle off like the
# firewall's sockets.
RELAY_PORT=$(free_port)
socat -b 65536 "TCP-LISTEN:$RELAY_PORT,bind=127.0.0.1,fork,reuseaddr,nodelay" TCP:127.0.0.1:3306,nodelay \
    >"$WORK/socat.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_port "$RELAY_PORT" socat "$WORK/socat.log"

# CPU seconds (user + system) a process has used so far, with its children that ended
# (socat's per-connection processes: sysbench closes its connections before a run ends).
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat"; }

# One run: prints "tps p50_ms p99_ms sysbench_cores mariadb_cores proxy_cores"; PROXY is
# the proxy's process (tianmu, or the relay).
run() {
    local port=$1 ps=$2 threads=$3 proxy=$4 out m0 t0 m1 t1 start end
    out="$WORK/run.$port.$ps.$threads"
    m0=$(cpu "$MARIADB_PID"); t0=$(cpu "$proxy"); start=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$out.time" "${SB[@]}" --mysql-port="$port" --mysql-user=$USER_ \
        --mysql-password=$USER_ --threads="$threads" --time="$SECONDS_PER_RUN" \
        --db-ps-mode="$ps" --histogram=on --report-interval=0 oltp_read_only run >"$out" 2>&1 \
        || { echo "sysbench failed on port $port (ps $ps, $threads threads):" >&2; cat "$out" >&2; exit 1; }
    # socat counts a connection's process once it has reaped it, just after sysbench left.
    end=$(date +%s.%N); sleep 0.5; m1=$(cpu "$MARIADB_PID"); t1=$(cpu "$proxy")
    awk -v wall="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
        -v m="$(awk -v a="$m0" -v b="$m1" 'BEGIN { print b - a }')" \
        -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v sb="$(awk '{ print $1 + $2 }' "$out.time")" '
        /transactions:/ { gsub(/[()]/, "", $3); tps = $3 }
        # The histogram: "value  ----- distribution ----- count", value in ms.
        /^ *[0-9.]+ \|/ { v[n] = $1; c[n] = $NF; total += $NF; n++ }
        END {
            for (i = 0; i < n; i++) {
                acc += c[i]
                if (p50 == "" && acc >= total * 0.50) p50 = v[i]
                if (p99 == "" && acc >= total * 0.99) p99 = v[i]
            }
            printf "%.0f %.3f %.3f %.2f %.2f %.2f\n", tps, p50, p99, sb / wall, m / wall, t / wall
        }' "$out"
}

printf '%-9s %7s  %-7s %8s %6s %8s %8s %8s %8s   %s\n' ps threads target tps ratio p50_ms p99_ms "+p50_ms" "+p99_ms" "cores: sysbench mariadbd proxy"
for ps in auto disable; do
    for threads in 8 32; do
        # The direct run's proxy column reads the firewall, idle then.
        read -r d_tps d_p50 d_p99 d_sb d_m d_t < <(run 3306 "$ps" "$threads" "$TIANMU_PID")
        read -r r_tps r_p50 r_p99 r_sb r_m r_t < <(run "$RELAY_PORT" "$ps" "$threads" "$RELAY_PID")
        read -r t_tps t_p50 t_p99 t_sb t_m t_t < <(run "$TIANMU_PORT" "$ps" "$threads" "$TIANMU_PID")
        for row in "direct $d_tps $d_p50 $d_p99 $d_sb $d_m $d_t" "relay $r_tps $r_p50 $r_p99 $r_sb $r_m $r_t" "tianmu $t_tps $t_p50 $t_p99 $t_sb $t_m $t_t"; do
            read -r name tps p50 p99 csb cm ct <<<"$row"
            awk -v ps="$ps" -v th="$threads" -v n="$name" -v t="$tps" -v p5="$p50" -v p9="$p99" \
                -v dt="$d_tps" -v d5="$d_p50" -v d9="$d_p99" -v csb="$csb" -v cm="$cm" -v ct="$ct" 'BEGIN {
                printf "%-9s %7d  %-7s %8d %6.2f %8.3f %8.3f %+8.3f %+8.3f   %5.2f %5.2f %5.2f\n",
                    ps, th, n, t, t/dt, p5, p9, p5-d5, p9-d9, csb, cm, ct }'
        done
    done
done
echo "target: tianmu >= 0.80 of direct (transactions/s), demo policy and audit on; 'relay' is socat relaying and nothing else; 'cores' is CPU time over wall time per process (proxy: tianmu, or socat with its per-connection processes)."
