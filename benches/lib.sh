# What the side-by-side proxy benchmarks share; sourced by benches/*_proxy.sh after they
# set ROOT. Builds the release binary (TIANMU), makes a work folder (WORK) removed on exit
# with every background process in PIDS, and starts the Tianmu firewall with the demo
# policy and audit on (spool, shipped to ClickHouse when one answers).

cargo build --release -q --bin tianmu
TIANMU="$ROOT/target/release/tianmu"
WORK=$(mktemp -d -t tianmu-bench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT NAME LOG: until PORT accepts connections, else show LOG and stop.
wait_port() {
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "$2 does not listen on $1:" >&2; cat "$3" >&2; exit 1
}

# start_tianmu PROTOCOL UPSTREAM [EXTRA_LISTENER_LINES]: one listener on a free port;
# sets TIANMU_PORT and TIANMU_PID and returns once it listens.
start_tianmu() {
    TIANMU_PORT=$(free_port)
    cat > "$WORK/tianmu.toml" <<CONF
node = "bench"
[clickhouse]
url = "${TIANMU_BENCH_CLICKHOUSE:-http://127.0.0.1:8123}"
database = "tianmu_bench"
[spool]
path = "$WORK/spool"
[policy]
catalog = "$ROOT/deploy/demo/catalog.toml"
accounts = "$ROOT/deploy/demo/accounts.toml"
rules = "$ROOT/deploy/demo/policy.toml"
[[firewall.listeners]]
name = "bench"
protocol = "$1"
listen = "127.0.0.1:$TIANMU_PORT"
upstream = "$2"
${3:-}
CONF
    TIANMU_LOG=warn "$TIANMU" firewall -c "$WORK/tianmu.toml" >"$WORK/tianmu.log" 2>&1 &
    TIANMU_PID=$!
    PIDS+=("$TIANMU_PID")
    wait_port "$TIANMU_PORT" tianmu "$WORK/tianmu.log"
}
