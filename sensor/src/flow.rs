//! The flow table: TCP connections on watched ports, each with a [`Stream`] per direction
//! and the protocol follower its server port names.
//!
//! Which side is the client: the sender of a SYN (or the receiver of a SYN-ACK); for a
//! connection picked up midstream, the side that is not on a watched server port. Flows end
//! on RST, on FIN from both sides, after `idle-timeout` without a packet (timestamps drive
//! it, so a capture file behaves like the live wire), and at the end of the capture. Each
//! ending first gives up on the holes still open, so the follower sees every byte it can.
//!
//! Caps: `max-flows` flows (a new flow past it is not followed), `flow-buffer` out-of-order
//! bytes per direction, `reassembly-memory` out-of-order bytes over all flows. Every cap
//! hit is counted.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::counters::Counters;
use crate::decode::{Segment, flags};
use crate::follow::postgres::Postgres;
use crate::follow::{Exchange, Session};
use crate::reassembly::{Budget, Stream, Tally};

/// The flow table's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLimits {
    /// Server ports whose connections are followed.
    pub ports: Vec<u16>,
    pub max_flows: usize,
    /// Out-of-order bytes over all flows.
    pub reassembly_memory: u64,
    /// Out-of-order bytes per direction of one flow.
    pub flow_buffer: u64,
    /// A flow without packets for this long is evicted.
    pub idle_timeout_us: u64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            ports: vec![5432, 3306, 8080],
            max_flows: 65_536,
            reassembly_memory: 256 << 20,
            flow_buffer: 4 << 20,
            idle_timeout_us: 600_000_000,
        }
    }
}

/// The protocol a flow speaks, by its server port.
#[derive(Debug)]
enum Follower {
    Postgres(Box<Postgres>),
    /// A watched port of a protocol not followed yet (MySQL, HTTP): reassembled and counted.
    Unsupported,
}

fn follower_for(port: u16) -> Follower {
    match port {
        3306 | 33060 | 80 | 8080 | 8088 | 443 | 8443 => Follower::Unsupported,
        _ => Follower::Postgres(Box::default()),
    }
}

/// One statement seen, with the connection it was seen on.
#[derive(Debug)]
pub struct Observed<'a> {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub session: &'a Session,
    pub exchange: Exchange,
}

#[derive(Debug)]
struct Flow {
    client: SocketAddr,
    server: SocketAddr,
    to_server: Stream,
    to_client: Stream,
    /// FIN seen from the client, from the server.
    fin: [bool; 2],
    last_us: u64,
    follower: Follower,
}

impl Flow {
    /// Gives up on open holes, delivers what was buffered and ends the follower.
    fn close(
        &mut self,
        ts: u64,
        budget: &mut Budget,
        tally: &mut Tally,
        c: &mut Counters,
        out: &mut dyn FnMut(Observed<'_>),
    ) {
        let mut ex = Vec::new();
        let Flow {
            to_server,
            to_client,
            follower,
            ..
        } = self;
        match follower {
            Follower::Postgres(pg) => {
                to_server.close(budget, tally, &mut |ch| pg.client(ch, ts, c, &mut ex));
                to_client.close(budget, tally, &mut |ch| pg.server(ch, ts, c, &mut ex));
                pg.end(ts, c, &mut ex);
            }
            Follower::Unsupported => {
                to_server.close(budget, tally, &mut |_| {});
                to_client.close(budget, tally, &mut |_| {});
            }
        }
        self.emit(ex, c, out);
    }

    fn emit(&self, exchanges: Vec<Exchange>, c: &mut Counters, out: &mut dyn FnMut(Observed<'_>)) {
        let Follower::Postgres(pg) = &self.follower else {
            return;
        };
        for exchange in exchanges {
            c.statements += 1;
            out(Observed {
                client: self.client,
                server: self.server,
                session: pg.session(),
                exchange,
            });
        }
    }
}

/// All flows being followed.
#[derive(Debug)]
pub struct FlowTable {
    limits: FlowLimits,
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    budget: Budget,
    tally: Tally,
    last_sweep_us: u64,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl FlowTable {
    pub fn new(limits: FlowLimits) -> FlowTable {
        FlowTable {
            budget: Budget::new(limits.reassembly_memory),
            limits,
            flows: HashMap::new(),
            tally: Tally::default(),
            last_sweep_us: 0,
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Out-of-order bytes held now, over all flows.
    pub fn buffered(&self) -> u64 {
        self.budget.used
    }

    /// Adds reassembly's counts to `c` (they are kept apart while a segment is handled).
    pub fn tally_into(&self, c: &mut Counters) {
        let t = self.tally;
        c.ooo_segments = t.ooo_segments;
        c.retransmissions = t.retransmissions;
        c.overlaps = t.overlaps;
        c.gaps = t.gaps;
        c.gap_bytes = t.gap_bytes;
        c.reassembly_bytes_dropped = t.reassembly_bytes_dropped;
    }

    /// A TCP segment seen at `ts_us`.
    pub fn segment(
        &mut self,
        seg: &Segment<'_>,
        ts_us: u64,
        c: &mut Counters,
        out: &mut dyn FnMut(Observed<'_>),
    ) {
        if ts_us >= self.last_sweep_us.saturating_add(1_000_000) {
            self.sweep(ts_us, c, out);
        }
        let k = key(seg.src, seg.dst);
        // A new connection on the ports of one whose end was not seen (a lost FIN, a client
        // reusing its port): the old flow ends here.
        if seg.has(flags::SYN)
            && !seg.has(flags::ACK)
            && let Some(old) = self.flows.get(&k)
            && (old.client != seg.src || old.to_server.first_seq() != Some(seg.seq.wrapping_add(1)))
            && let Some(mut old) = self.flows.remove(&k)
        {
            c.flows_reused += 1;
            old.close(ts_us, &mut self.budget, &mut self.tally, c, out);
        }
        if !self.flows.contains_key(&k) {
            let syn = seg.has(flags::SYN);
            if seg.has(flags::RST) || (!syn && seg.payload.is_empty()) {
                // Nothing to follow in a bare ACK, FIN or RST of an unknown flow.
                if !self.watched(seg) {
                    c.not_watched += 1;
                }
                return;
            }
            let client_is_src = if syn {
                !seg.has(flags::ACK)
            } else if self.limits.ports.contains(&seg.dst.port()) {
                true
            } else if self.limits.ports.contains(&seg.src.port()) {
                false
            } else {
                c.not_watched += 1;
                return;
            };
            let (client, server) = if client_is_src {
                (seg.src, seg.dst)
            } else {
                (seg.dst, seg.src)
            };
            if !self.limits.ports.contains(&server.port()) {
                c.not_watched += 1;
                return;
            }
            if self.flows.len() >= self.limits.max_flows {
                c.flows_refused_max += 1;
                return;
            }
            c.flows += 1;
            let follower = follower_for(server.port());
            if matches!(follower, Follower::Unsupported) {
                c.unsupported_protocol += 1;
            }
            self.flows.insert(
                k,
                Flow {
                    client,
                    server,
                    to_server: Stream::default(),
                    to_client: Stream::default(),
                    fin: [false; 2],
                    last_us: ts_us,
                    follower,
                },
            );
        }
        let Some(flow) = self.flows.get_mut(&k) else {
            return;
        };
        flow.last_us = ts_us;
        let from_client = seg.src == flow.client;
        if seg.has(flags::SYN) {
            if from_client {
                flow.to_server.syn(seg.seq);
            } else {
                flow.to_client.syn(seg.seq);
            }
        }
        if !seg.payload.is_empty() {
            let mut ex = Vec::new();
            let cap = self.limits.flow_buffer;
            let Flow {
                to_server,
                to_client,
                follower,
                ..
            } = flow;
            let (stream, budget, tally) = (
                if from_client { to_server } else { to_client },
                &mut self.budget,
                &mut self.tally,
            );
            match follower {
                Follower::Postgres(pg) => {
                    stream.segment(seg.seq, seg.payload, cap, budget, tally, &mut |ch| {
                        if from_client {
                            pg.client(ch, ts_us, c, &mut ex);
                        } else {
                            pg.server(ch, ts_us, c, &mut ex);
                        }
                    });
                }
                Follower::Unsupported => {
                    stream.segment(seg.seq, seg.payload, cap, budget, tally, &mut |_| {});
                }
            }
            flow.emit(ex, c, out);
        }
        if seg.has(flags::FIN) {
            flow.fin[usize::from(!from_client)] = true;
        }
        if (seg.has(flags::RST) || flow.fin == [true, true])
            && let Some(mut flow) = self.flows.remove(&k)
        {
            c.flows_closed += 1;
            flow.close(ts_us, &mut self.budget, &mut self.tally, c, out);
        }
    }

    fn watched(&self, seg: &Segment<'_>) -> bool {
        self.limits.ports.contains(&seg.dst.port()) || self.limits.ports.contains(&seg.src.port())
    }

    /// Time passes without packets (live capture between packets): at most once a second,
    /// the flows idle at `now_us` are evicted, as a packet arriving then would have done.
    pub fn tick(&mut self, now_us: u64, c: &mut Counters, out: &mut dyn FnMut(Observed<'_>)) {
        if now_us >= self.last_sweep_us.saturating_add(1_000_000) {
            self.sweep(now_us, c, out);
        }
    }

    /// Evicts the flows idle for longer than the timeout at `now_us`.
    pub fn sweep(&mut self, now_us: u64, c: &mut Counters, out: &mut dyn FnMut(Observed<'_>)) {
        self.last_sweep_us = now_us;
        let timeout = self.limits.idle_timeout_us;
        let idle: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_us.saturating_add(timeout) < now_us)
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            if let Some(mut flow) = self.flows.remove(&k) {
                c.flows_evicted_idle += 1;
                let at = flow.last_us;
                flow.close(at, &mut self.budget, &mut self.tally, c, out);
            }
        }
    }

    /// The capture ended: every flow is closed.
    pub fn finish(&mut self, c: &mut Counters, out: &mut dyn FnMut(Observed<'_>)) {
        let mut flows: Vec<_> = self.flows.drain().map(|(_, f)| f).collect();
        // In the order they were last active, so events come out in time order.
        flows.sort_by_key(|f| f.last_us);
        for mut flow in flows {
            c.flows_open_at_end += 1;
            let at = flow.last_us;
            flow.close(at, &mut self.budget, &mut self.tally, c, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, build, decode};

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    fn feed(t: &mut FlowTable, c: &mut Counters, frame: &[u8], ts: u64) -> Vec<String> {
        let mut got = Vec::new();
        let Ok(Decoded::Tcp(seg)) = decode(1, frame) else {
            panic!("test frame decodes")
        };
        t.segment(&seg, ts, c, &mut |o| got.push(o.exchange.text));
        got
    }

    fn query(text: &str) -> Vec<u8> {
        let mut m = vec![b'Q'];
        m.extend(((text.len() + 5) as u32).to_be_bytes());
        m.extend(text.as_bytes());
        m.push(0);
        m
    }

    const READY: &[u8] = &[b'Z', 0, 0, 0, 5, b'I'];

    #[test]
    fn syn_fin_and_rst_open_and_close_flows() {
        let (cl, sv) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        let mut t = FlowTable::new(FlowLimits::default());
        let mut c = Counters::default();
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 100, 0, flags::SYN, b""),
            1,
        );
        feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 500, 101, flags::SYN | flags::ACK, b""),
            2,
        );
        let q = query("SELECT 1");
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 101, 501, flags::ACK, &q),
            3,
        );
        // Answer arrives; then FIN from both sides closes the flow.
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 501, 0, flags::ACK, READY),
            4,
        );
        assert_eq!(got, ["SELECT 1"]);
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 0, 0, flags::FIN | flags::ACK, b""),
            5,
        );
        assert_eq!(t.len(), 1, "half-closed stays");
        feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 0, 0, flags::FIN | flags::ACK, b""),
            6,
        );
        assert!(t.is_empty());
        assert_eq!((c.flows, c.flows_closed, c.pg_midstream), (1, 1, 1));
        // RST closes at once and reports what was still awaited.
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 900, 0, flags::ACK, &query("SELECT 2")),
            7,
        );
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 0, 0, flags::RST, b""),
            8,
        );
        assert_eq!(got, ["SELECT 2"]);
        assert_eq!((c.flows_closed, c.statements_unanswered), (2, 1));
    }

    #[test]
    fn a_new_syn_on_the_same_ports_ends_the_old_flow() {
        let (cl, sv) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        let mut t = FlowTable::new(FlowLimits::default());
        let mut c = Counters::default();
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 100, 0, flags::SYN, b""),
            1,
        );
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 101, 0, flags::ACK, &query("SELECT 1")),
            2,
        );
        // The SYN retransmitted: the same flow.
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 100, 0, flags::SYN, b""),
            3,
        );
        assert_eq!((t.len(), c.flows_reused), (1, 0));
        // The FINs were not captured; a new connection from the same port.
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 9000, 0, flags::SYN, b""),
            4,
        );
        assert_eq!(
            got,
            ["SELECT 1"],
            "the old flow's unanswered statement is reported"
        );
        assert_eq!((t.len(), c.flows, c.flows_reused), (1, 2, 1));
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 9001, 0, flags::ACK, &query("SELECT 2")),
            5,
        );
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 1, 0, flags::ACK, READY),
            6,
        );
        assert_eq!(got, ["SELECT 2"]);
    }

    #[test]
    fn direction_by_port_midstream_and_unwatched_ports() {
        let (cl, sv) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        let mut t = FlowTable::new(FlowLimits::default());
        let mut c = Counters::default();
        // The server speaks first in the capture: still the server, by its port.
        feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 1, 0, flags::ACK, READY),
            1,
        );
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 1, 0, flags::ACK, &query("SELECT 3")),
            2,
        );
        assert!(got.is_empty());
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 7, 0, flags::ACK, READY),
            3,
        );
        assert_eq!(got, ["SELECT 3"]);
        let other = addr("10.0.0.3:9999");
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, other, 1, 0, flags::SYN, b""),
            4,
        );
        assert_eq!((t.len(), c.not_watched), (1, 1));
        // MySQL's port is watched, its follower not built yet: reassembled and counted.
        let mysql = addr("10.0.0.2:3306");
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, mysql, 1, 0, flags::SYN, b""),
            5,
        );
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(cl, mysql, 2, 0, flags::ACK, b"\x05\0\0\0\x03abcd"),
            6,
        );
        assert!(got.is_empty());
        assert_eq!((t.len(), c.unsupported_protocol), (2, 1));
    }

    #[test]
    fn idle_flows_are_evicted_by_capture_time() {
        let limits = FlowLimits {
            idle_timeout_us: 10_000_000,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut c = Counters::default();
        let sv = addr("10.0.0.2:5432");
        feed(
            &mut t,
            &mut c,
            &build::tcp(addr("10.0.0.1:1000"), sv, 1, 0, flags::SYN, b""),
            1_000_000,
        );
        feed(
            &mut t,
            &mut c,
            &build::tcp(addr("10.0.0.1:1001"), sv, 1, 0, flags::SYN, b""),
            9_000_000,
        );
        // 12 s: the first is idle for 11 s, the second for 3 s.
        feed(
            &mut t,
            &mut c,
            &build::tcp(addr("10.0.0.1:1002"), sv, 1, 0, flags::SYN, b""),
            12_000_000,
        );
        assert_eq!((t.len(), c.flows_evicted_idle), (2, 1));
        t.finish(&mut c, &mut |_| {});
        assert_eq!((t.len(), c.flows_open_at_end), (0, 2));
    }

    #[test]
    fn the_flow_cap_refuses_and_counts() {
        let limits = FlowLimits {
            max_flows: 2,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut c = Counters::default();
        let sv = addr("10.0.0.2:5432");
        for port in 1000..1005 {
            feed(
                &mut t,
                &mut c,
                &build::tcp(addr(&format!("10.0.0.1:{port}")), sv, 1, 0, flags::SYN, b""),
                1,
            );
        }
        assert_eq!((t.len(), c.flows, c.flows_refused_max), (2, 2, 3));
    }

    #[test]
    fn out_of_order_and_retransmitted_segments_give_the_same_statements() {
        let (cl, sv) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        let mut t = FlowTable::new(FlowLimits::default());
        let mut c = Counters::default();
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 0, 0, flags::SYN, b""),
            1,
        );
        feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 0, 1, flags::SYN | flags::ACK, b""),
            1,
        );
        let q = [query("SELECT a FROM t"), query("SELECT b FROM t")].concat();
        let (first, second) = q.split_at(7);
        // Second half first, then the first half twice.
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 8, 1, flags::ACK, second),
            2,
        );
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 1, 1, flags::ACK, first),
            3,
        );
        feed(
            &mut t,
            &mut c,
            &build::tcp(cl, sv, 1, 1, flags::ACK, first),
            4,
        );
        let got = feed(
            &mut t,
            &mut c,
            &build::tcp(sv, cl, 1, 0, flags::ACK, &[READY, READY].concat()),
            5,
        );
        assert_eq!(got, ["SELECT a FROM t", "SELECT b FROM t"]);
        let mut r = Counters::default();
        t.tally_into(&mut r);
        assert_eq!((r.ooo_segments, r.retransmissions, r.gaps), (1, 1, 0));
    }
}
