//! What the sensor counts: every packet, every cap hit, every parse problem. Printed as the
//! summary of an offline run, and (with live capture) sent in health events.

use std::fmt;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The sensor's counters; all start at zero.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Every counter by name, in declaration order.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }

            /// Adds `other`'s counts to these (several workers' counters into one report).
            pub fn add(&mut self, other: &Counters) {
                $(self.$name = self.$name.saturating_add(other.$name);)*
            }
        }
    };
}

counters! {
    /// Packets read from the capture.
    packets,
    /// Live capture: packets the kernel dropped because the ring had no free block
    /// (`PACKET_STATISTICS` `tp_drops`; the ring's size is the sensor's bound).
    drops,
    /// Live capture: times the kernel found the whole ring in the sensor's hands
    /// (`tp_freeze_q_cnt`).
    ring_frozen,
    /// Live capture: packets longer than a ring block, captured cut short.
    packets_cut,
    /// Live capture: ring blocks whose layout the sensor did not understand (the rest of
    /// the block is skipped).
    ring_malformed_blocks,
    /// Live capture: the interface went down or away and the ring was opened again.
    ring_reopened,
    /// Bytes of those packets, as captured.
    bytes,
    /// Capture-file records cut short at the end of the file.
    truncated_records,
    /// Packets whose headers could not be decoded.
    decode_errors,
    /// IPv4 and IPv6 fragments (skipped).
    ip_fragments,
    /// Packets that are not TCP over IP.
    not_tcp,
    /// TCP packets of no watched port.
    not_watched,
    /// Flows followed.
    flows,
    /// Flows tracked now (a gauge, in live reports).
    flows_open,
    /// Flows not followed because `max-flows` were already tracked.
    flows_refused_max,
    /// Flows ended by FIN or RST.
    flows_closed,
    /// Flows evicted after the idle timeout.
    flows_evicted_idle,
    /// Flows ended by a new connection (SYN) on the same addresses and ports.
    flows_reused,
    /// Flows still open when the capture ended.
    flows_open_at_end,
    /// Segments that arrived ahead of a hole and were buffered.
    ooo_segments,
    /// Segments whose bytes had all been seen already.
    retransmissions,
    /// Segments partly overlapping bytes already seen (the first bytes seen are kept).
    overlaps,
    /// Holes in a stream given up on (buffer cap, memory budget or flow end).
    gaps,
    /// Bytes missing in those holes.
    gap_bytes,
    /// Out-of-order bytes not buffered: the flow's buffer or the global
    /// `reassembly-memory` budget was full.
    reassembly_bytes_dropped,
    /// PostgreSQL connections whose start-up was seen.
    pg_sessions,
    /// PostgreSQL connections picked up after their start-up (no user or database known).
    pg_midstream,
    /// SSL requests the server accepted: the rest of the connection is TLS, not read.
    pg_tls,
    /// SSL requests the server refused.
    pg_ssl_refused,
    /// Authentications that succeeded.
    pg_auth_ok,
    /// Authentications that failed (an error before the session was ready).
    pg_auth_failed,
    /// Cancel requests.
    pg_cancel_requests,
    /// PostgreSQL messages past the size limits, passed over unread.
    pg_oversized,
    /// Malformed PostgreSQL messages (the stream is resynchronised after each).
    pg_parse_errors,
    /// Bytes skipped to find the next message boundary after a gap or an error.
    pg_resync_bytes,
    /// Server messages that answered nothing the sensor saw asked (midstream, gaps).
    pg_unexpected,
    /// Prepared statements or portals not remembered: the per-connection cap was reached.
    pg_names_refused,
    /// Statements whose answer never came (the flow ended or broke first).
    statements_unanswered,
    /// Statements part of whose answer was lost in a hole (rows and bytes may be short).
    statements_damaged,
    /// Flows on a watched port whose protocol the sensor does not follow yet.
    unsupported_protocol,
    /// Statement events produced.
    statements,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.pairs() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}
