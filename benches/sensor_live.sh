#!/usr/bin/env bash
# Live capture: the sensor's TPACKET_V3 ring next to pnet's datalink channel (the baseline,
# a poll + recvfrom per packet), in the same run, under the same load, each feeding the
# same sensor engine (sensor/examples/capture_rate.rs, a measurement aid).
#
# Two network namespaces of the script's own joined by a veth pair (10.203.77.0/30, no
# other address is ever a target): a UDP sender (64-byte datagrams, sendmmsg) in one for
# SECONDS, the capture on the veth end in the other. Needs root (ip netns, CAP_NET_RAW).
#
#   bash benches/sensor_live.sh [SECONDS] [ROUNDS]     # default 5 s, 2 rounds each
#
# Prints, per round and capture, packets sent, captured, captured/s and drops (the ring's
# from the kernel; pnet's channel cannot report them, so sent − captured), then the ratio
# ring / pnet of packets captured per second.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SECONDS_EACH=${1:-5}
ROUNDS=${2:-2}
say() { printf 'sensor_live: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (network namespaces, CAP_NET_RAW)"; exit 1; }
command -v ip >/dev/null || { say "needs ip (Debian package iproute2)"; exit 1; }

cargo build --release -q -p tianmu-sensor --example capture_rate
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/capture_rate"

NS_SEND="tianmu-bench-send-$$"
NS_CAP="tianmu-bench-cap-$$"
cleanup() {
    ip netns del "$NS_SEND" 2>/dev/null || true
    ip netns del "$NS_CAP" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS_SEND"
ip netns add "$NS_CAP"
ip link add tmb-send netns "$NS_SEND" type veth peer name tmb-cap netns "$NS_CAP"
ip -n "$NS_SEND" addr add 10.203.77.1/30 dev tmb-send
ip -n "$NS_CAP" addr add 10.203.77.2/30 dev tmb-cap
ip -n "$NS_SEND" link set tmb-send up
ip -n "$NS_CAP" link set tmb-cap up
ip -n "$NS_SEND" link set lo up
ip -n "$NS_CAP" link set lo up
# Resolve the neighbour before measuring.
ip netns exec "$NS_SEND" bash -c "echo > /dev/udp/10.203.77.2/9"; sleep 0.2

field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

declare -A RATE
for round in $(seq "$ROUNDS"); do
    for mode in ring pnet; do
        ip netns exec "$NS_CAP" "$BIN" "$mode" tmb-cap "$((SECONDS_EACH + 2))" >"/tmp/sensor_live.$$.cap" 2>/dev/null &
        cap=$!
        sleep 1
        sent_json=$(ip netns exec "$NS_SEND" "$BIN" send 10.203.77.2:9 "$SECONDS_EACH")
        wait "$cap"
        cap_json=$(cat "/tmp/sensor_live.$$.cap")
        rm -f "/tmp/sensor_live.$$.cap"
        sent=$(field "$sent_json" sent)
        got=$(field "$cap_json" packets)
        drops=$(field "$cap_json" drops)
        [ "$drops" = None ] && drops="n/a"
        per_s=$(python3 -c "print(round($got / $SECONDS_EACH))")
        RATE[$mode]="${RATE[$mode]:-} $per_s"
        printf '%-5s round %d: sent %10d  captured %10d (%5.1f%%)  %9d packets/s  kernel drops %s  missing %d\n' \
            "$mode" "$round" "$sent" "$got" "$(python3 -c "print(100 * $got / max($sent, 1))")" \
            "$per_s" "$drops" "$((sent - got))"
    done
done
python3 - "${RATE[ring]}" "${RATE[pnet]}" <<'PY'
import sys
ring = [int(x) for x in sys.argv[1].split()]
pnet = [int(x) for x in sys.argv[2].split()]
r, p = sum(ring) / len(ring), sum(pnet) / len(pnet)
print(f"captured packets/s: ring {r:,.0f}, pnet channel {p:,.0f}; ring / pnet = {r / max(p, 1):.2f}")
PY
