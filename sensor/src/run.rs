//! The sensor's loop over packets: capture → decode → flow table (reassembly, followers)
//! → statement events, with the counters of every stage. The same [`Sensor`] serves a
//! capture file ([`read_pcap`]) and each worker of the live ring ([`crate::live`]).

use std::path::Path;
use std::time::{Duration, Instant};

use analyzer::event::Event;

use crate::capture::Packet;
use crate::capture::pcap::{PcapFile, PcapFileError};
use crate::counters::Counters;
use crate::decode::{Decoded, decode};
use crate::event::Events;
use crate::flow::{FlowLimits, FlowTable};

/// Packets in, events out.
#[derive(Debug)]
pub struct Sensor {
    table: FlowTable,
    events: Events,
    counters: Counters,
}

impl Sensor {
    pub fn new(limits: FlowLimits, events: Events) -> Sensor {
        Sensor {
            table: FlowTable::new(limits),
            events,
            counters: Counters::default(),
        }
    }

    /// One captured packet.
    pub fn packet(&mut self, p: Packet<'_>, out: &mut dyn FnMut(Event)) {
        self.counters.packets += 1;
        self.counters.bytes += p.data.len() as u64;
        match decode(p.linktype, p.data) {
            Ok(Decoded::Tcp(seg)) => {
                let events = &self.events;
                self.table
                    .segment(&seg, p.ts_us, &mut self.counters, &mut |o| {
                        out(events.statement(&o))
                    });
            }
            Ok(Decoded::Fragment) => self.counters.ip_fragments += 1,
            Ok(Decoded::Other) => self.counters.not_tcp += 1,
            Err(_) => self.counters.decode_errors += 1,
        }
    }

    /// No packet for a while (live capture): idle flows are evicted by the clock `now_us`
    /// (microseconds since the Unix epoch, the packets' clock).
    pub fn tick(&mut self, now_us: u64, out: &mut dyn FnMut(Event)) {
        let events = &self.events;
        self.table.tick(now_us, &mut self.counters, &mut |o| {
            out(events.statement(&o))
        });
    }

    /// The capture ended: open flows are closed and their last statements reported.
    pub fn finish(&mut self, out: &mut dyn FnMut(Event)) {
        let events = &self.events;
        self.table
            .finish(&mut self.counters, &mut |o| out(events.statement(&o)));
    }

    /// Every counter now.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        self.table.tally_into(&mut c);
        c.flows_open = self.table.len() as u64;
        c
    }
}

/// What reading a capture file took.
#[derive(Debug, Clone)]
pub struct Summary {
    pub counters: Counters,
    pub elapsed: Duration,
}

impl Summary {
    pub fn packets_per_second(&self) -> f64 {
        self.counters.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn megabytes_per_second(&self) -> f64 {
        self.counters.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Reads the capture at `path` through `sensor` to its end; every statement event goes to
/// `out`.
pub fn read_pcap(
    path: &Path,
    sensor: &mut Sensor,
    out: &mut dyn FnMut(Event),
) -> Result<Summary, PcapFileError> {
    let started = Instant::now();
    let mut file = PcapFile::open(path)?;
    file.for_each(|p| sensor.packet(p, out))?;
    sensor.finish(out);
    let mut counters = sensor.counters();
    counters.truncated_records = file.stats().truncated;
    Ok(Summary {
        counters,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::linktype;
    use crate::decode::{build, flags};
    use crate::event::Analyst;

    /// xorshift64*: a seeded generator, so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend(body);
        m
    }

    /// A plausible session's packets: start-up, extended and simple queries, rows.
    fn session() -> Vec<Vec<u8>> {
        let (cl, sv) = (
            "10.0.0.1:40000".parse().expect("a"),
            "10.0.0.2:5432".parse().expect("a"),
        );
        let mut startup = 196_608u32.to_be_bytes().to_vec();
        startup.extend(b"user\0u\0database\0d\0\0");
        let mut s = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        s.extend(startup);
        let client = [
            s,
            msg(b'P', b"s\0SELECT $1\0\0\0"),
            msg(b'B', b"\0s\0\0\0\0\0\0\0"),
            msg(b'E', b"\0\0\0\0\0"),
            msg(b'S', b""),
            msg(b'Q', b"SELECT * FROM t\0"),
        ];
        let server = [
            msg(b'R', &[0, 0, 0, 0]),
            msg(b'Z', b"I"),
            msg(b'1', b""),
            msg(b'2', b""),
            msg(b'D', &[0, 1, 0, 0, 0, 1, b'x']),
            msg(b'C', b"SELECT 1\0"),
            msg(b'Z', b"I"),
            msg(b'D', &[0, 1, 0, 0, 0, 1, b'y']),
            msg(b'C', b"SELECT 1\0"),
            msg(b'Z', b"I"),
        ];
        let mut packets = vec![
            build::tcp(cl, sv, 0, 0, flags::SYN, b""),
            build::tcp(sv, cl, 0, 1, flags::SYN | flags::ACK, b""),
        ];
        let (mut cs, mut ss) = (1u32, 1u32);
        for m in &client {
            packets.push(build::tcp(cl, sv, cs, ss, flags::ACK, m));
            cs += m.len() as u32;
        }
        for m in &server {
            packets.push(build::tcp(sv, cl, ss, cs, flags::ACK, m));
            ss += m.len() as u32;
        }
        packets.push(build::tcp(cl, sv, cs, ss, flags::FIN | flags::ACK, b""));
        packets.push(build::tcp(sv, cl, ss, cs, flags::FIN | flags::ACK, b""));
        packets
    }

    fn sensor() -> Sensor {
        Sensor::new(
            FlowLimits {
                flow_buffer: 4096,
                reassembly_memory: 16_384,
                max_flows: 64,
                ..FlowLimits::default()
            },
            Events::new("test/sensor", Analyst::Plain),
        )
    }

    #[test]
    fn a_session_gives_its_statements() {
        let mut s = sensor();
        let mut events = Vec::new();
        for (i, p) in session().iter().enumerate() {
            s.packet(
                Packet {
                    ts_us: i as u64,
                    linktype: linktype::ETHERNET,
                    data: p,
                },
                &mut |e| events.push(e),
            );
        }
        s.finish(&mut |e| events.push(e));
        let stmts: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.body {
                analyzer::event::Body::Statement(st) => {
                    Some((st.normalized.clone(), st.rows, st.account.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            stmts,
            [
                ("SELECT ?".to_owned(), 1, "u".to_owned()),
                ("SELECT * FROM t".to_owned(), 1, "u".to_owned())
            ]
        );
    }

    /// Live capture without traffic: the clock alone evicts an idle flow once the idle
    /// timeout has passed, not before.
    #[test]
    fn the_clock_evicts_idle_flows_without_packets() {
        let mut s = sensor();
        let mut events = Vec::new();
        let packets = session();
        // Everything but the FINs: the flow stays open.
        for p in &packets[..packets.len() - 2] {
            s.packet(
                Packet {
                    ts_us: 1_000_000,
                    linktype: linktype::ETHERNET,
                    data: p,
                },
                &mut |e| events.push(e),
            );
        }
        let timeout = FlowLimits::default().idle_timeout_us;
        s.tick(1_000_000 + timeout / 2, &mut |e| events.push(e));
        assert_eq!(s.counters().flows_open, 1);
        s.tick(1_000_000 + timeout + 2_000_000, &mut |e| events.push(e));
        let c = s.counters();
        assert_eq!((c.flows_open, c.flows_evicted_idle), (0, 1), "{c}");
        assert_eq!(c.statements, 2, "{c}");
    }

    /// Mutated, shuffled, truncated and random packets through every stage: counted, never
    /// a panic, and nothing held past the caps.
    #[test]
    fn garbage_never_panics() {
        let base = session();
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut s = sensor();
            for round in 0..40 {
                let mut p = base[rng.below(base.len())].clone();
                match rng.below(5) {
                    0 => {
                        for _ in 0..1 + rng.below(8) {
                            let i = rng.below(p.len());
                            p[i] = rng.next() as u8;
                        }
                    }
                    1 => p.truncate(rng.below(p.len())),
                    // Bytes inside the TCP payload only: the follower's problem.
                    2 if p.len() > 54 => {
                        let i = 54 + rng.below(p.len() - 54);
                        p[i] = rng.next() as u8;
                    }
                    3 => p = (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
                    _ => {}
                }
                let linktype = [1, 101, 113, 276, 0][rng.below(5)];
                let ts = round * 1_000_000 * rng.below(3) as u64;
                s.packet(
                    Packet {
                        ts_us: ts,
                        linktype,
                        data: &p,
                    },
                    &mut |_| {},
                );
            }
            s.finish(&mut |_| {});
            assert_eq!(s.table.buffered(), 0, "seed {seed}");
            assert!(s.table.is_empty(), "seed {seed}");
        }
    }
}
