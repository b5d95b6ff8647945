#!/usr/bin/env bash
# Offline sensor throughput: `tianmu sensor --pcap FILE --format jsonl` (release build) over
# a large generated capture, next to merely reading the same file (cat), in one run.
#
# The capture loops real PostgreSQL sessions, each copy on its own client port and later in
# time: the psql + pgbench session of sensor/tests/data (small statements, extended
# protocol) and suricata-verify's 5000-row result (large rows), ROUNDS times.
#
#   bash benches/sensor_pcap.sh [ROUNDS]        # default 40 rounds ≈ 140 MB
#
# Prints packets/s, MB/s and Gbit/s of the sensor, and its time as a multiple of cat's.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
ROUNDS=${1:-40}
OUT=.tianmu/bench
mkdir -p "$OUT"
PCAP=$OUT/sensor-$ROUNDS.pcap
say() { printf 'sensor_pcap: %s\n' "$*" >&2; }

# TIANMU=path/to/tianmu measures that binary instead of building the release one.
if [ -z "${TIANMU:-}" ]; then
    cargo build --release --bin tianmu >&2
    TIANMU=target/release/tianmu
fi

if [ ! -s "$PCAP" ]; then
    say "generating $PCAP ($ROUNDS rounds)"
    python3 - "$PCAP" "$ROUNDS" \
        sensor/tests/data/psql-pgbench.pcap \
        testdata/suricata-verify/pgsql-5000-query-results/input.pcap <<'PY'
import struct, sys

out_path, rounds, sources = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
SERVER_PORTS = {5432}

def records(path):
    data = open(path, 'rb').read()
    magic, linktype = struct.unpack('<I', data[:4])[0], struct.unpack('<I', data[20:24])[0]
    assert magic == 0xa1b2c3d4 and linktype == 1, f'{path}: little-endian Ethernet pcap expected'
    off, recs = 24, []
    while off + 16 <= len(data):
        sec, usec, cap, orig = struct.unpack('<IIII', data[off:off + 16])
        pkt = data[off + 16:off + 16 + cap]
        if len(pkt) == cap:
            recs.append((sec * 1_000_000 + usec, bytearray(pkt)))
        off += 16 + cap
    t0 = recs[0][0]
    return [(t - t0, p) for t, p in recs]

def tcp_ports_at(pkt):
    if pkt[12:14] != b'\x08\x00':
        return None
    ihl = (pkt[14] & 15) * 4
    if pkt[14 + 9] != 6:
        return None
    return 14 + ihl

sessions = [records(p) for p in sources]
with open(out_path, 'wb') as out:
    out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    clock, port = 1_700_000_000_000_000, 0
    for r in range(rounds):
        for s_i, session in enumerate(sessions):
            copies = 20 if s_i == 0 else 1
            for _ in range(copies):
                # Each client port of the session gets a port of its own in each copy.
                ports = {}
                def client_port(orig):
                    global port
                    if orig not in ports:
                        port = (port + 1) % 40000
                        ports[orig] = 20000 + port
                    return ports[orig]
                for t, pkt in session:
                    p = bytearray(pkt)
                    at = tcp_ports_at(p)
                    if at is not None:
                        sp, dp = struct.unpack('>HH', p[at:at + 4])
                        if dp in SERVER_PORTS:
                            p[at:at + 2] = struct.pack('>H', client_port(sp))
                        elif sp in SERVER_PORTS:
                            p[at + 2:at + 4] = struct.pack('>H', client_port(dp))
                    ts = clock + t
                    out.write(struct.pack('<IIII', ts // 1_000_000, ts % 1_000_000, len(p), len(p)))
                    out.write(p)
                clock += session[-1][0] + 1000
PY
fi
BYTES=$(stat -c %s "$PCAP")
say "$PCAP: $((BYTES / 1000000)) MB"

# Warm the page cache, then time reading the file alone.
cat "$PCAP" >/dev/null
T0=$(date +%s.%N)
cat "$PCAP" >/dev/null
T1=$(date +%s.%N)
"$TIANMU" sensor --pcap "$PCAP" --format jsonl >"$OUT/sensor-events.jsonl" 2>"$OUT/sensor-summary.txt"
T2=$(date +%s.%N)
cat "$OUT/sensor-summary.txt" >&2
EVENTS=$(wc -l <"$OUT/sensor-events.jsonl")
python3 - "$T0" "$T1" "$T2" "$BYTES" "$EVENTS" "$OUT/sensor-summary.txt" <<'PY'
import re, sys
t0, t1, t2 = map(float, sys.argv[1:4])
size, events = int(sys.argv[4]), int(sys.argv[5])
summary = open(sys.argv[6]).read()
packets = int(re.search(r'\bpackets=(\d+)', summary).group(1))
cat, sensor = t1 - t0, t2 - t1
print(f'cat:    {cat:8.3f} s  {size / 1e6 / cat:9.1f} MB/s')
print(f'sensor: {sensor:8.3f} s  {size / 1e6 / sensor:9.1f} MB/s  {size * 8 / 1e9 / sensor:6.2f} Gbit/s  '
      f'{packets / sensor:11.0f} packets/s  {events / sensor:9.0f} statements/s  ({events} statements)')
print(f'sensor / cat: {sensor / cat:.1f}x the time of reading the file')
PY
