//! TCP reassembly of one direction of a flow: segments in, in-order bytes out, holes
//! marked.
//!
//! ```text
//!  segment ─► before `next`? ── all of it: retransmission (dropped)
//!             │                └ part of it: overlap, the seen part trimmed
//!             ├ at `next`: delivered, then every buffered segment it now reaches
//!             └ after `next`: buffered (out of order), up to the flow's cap and the
//!               global budget; past either, the hole is given up on: a Gap is
//!               delivered and the buffered bytes follow it
//! ```
//!
//! Overlapping bytes: the first bytes seen win, everywhere (what was delivered stays
//! delivered, what was buffered stays buffered). A sender retransmitting different bytes
//! for the same sequence numbers is an attack on the sensor (evasion) or a broken stack;
//! either way the sensor keeps one consistent view and counts the overlap.
//!
//! Positions are kept as 64-bit offsets from the first byte seen, so sequence numbers
//! that wrap (every 4 GiB) are no special case.

use std::collections::BTreeMap;

/// What reassembly counts (merged into [`crate::counters::Counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub ooo_segments: u64,
    pub retransmissions: u64,
    pub overlaps: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub reassembly_bytes_dropped: u64,
}

/// What a stream hands to the protocol follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// The next bytes of the stream, in order.
    Data(&'a [u8]),
    /// This many bytes are missing: the follower must resynchronise.
    Gap(u64),
}

/// Out-of-order bytes held across all flows, against `reassembly-memory`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub used: u64,
    pub max: u64,
}

impl Budget {
    pub fn new(max: u64) -> Budget {
        Budget { used: 0, max }
    }
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of the byte at offset `next` (set by the first segment or SYN).
    base: Option<(u32, u64)>,
    /// Offset of the next byte to deliver.
    next: u64,
    /// Buffered out-of-order segments by offset; never overlapping each other.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: u64,
    /// The start came from a SYN (not from a first data segment).
    syn: bool,
}

impl Stream {
    /// Starts the stream at a SYN: data begins at `isn + 1`.
    pub fn syn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some((isn.wrapping_add(1), 0));
            self.syn = true;
        }
    }

    /// The sequence number of the stream's first byte, when a SYN started it.
    pub fn first_seq(&self) -> Option<u32> {
        match self.base {
            Some((seq, 0)) if self.syn => Some(seq),
            _ => None,
        }
    }

    /// Whether the stream's start is known (a SYN or a first segment was seen).
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// Bytes buffered out of order.
    pub fn buffered(&self) -> u64 {
        self.pending_bytes
    }

    /// The offset of sequence number `seq`, taken as the nearest to `next` (within 2 GiB).
    fn offset(&self, seq: u32) -> Option<u64> {
        let (base_seq, base_off) = self.base?;
        // Distance from the last anchored point, signed.
        let at_next = base_seq.wrapping_add((self.next - base_off) as u32);
        let delta = seq.wrapping_sub(at_next) as i32;
        let off = self.next as i64 + i64::from(delta);
        u64::try_from(off).ok()
    }

    /// A segment's payload. `cap` is the most this direction may buffer.
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        cap: u64,
        budget: &mut Budget,
        counters: &mut Tally,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        if payload.is_empty() {
            return;
        }
        if self.base.is_none() {
            // Midstream pickup: the first segment seen starts the stream.
            self.base = Some((seq, 0));
        }
        let Some(start) = self.offset(seq) else {
            // Before the start of the stream as the sensor knows it: old data.
            counters.retransmissions += 1;
            return;
        };
        let end = start + payload.len() as u64;
        if end <= self.next {
            counters.retransmissions += 1;
            return;
        }
        let (start, payload) = if start < self.next {
            counters.overlaps += 1;
            let skip = (self.next - start) as usize;
            (self.next, &payload[skip..])
        } else {
            (start, payload)
        };
        if start == self.next {
            self.next = end;
            out(Chunk::Data(payload));
            self.drain(budget, out);
            return;
        }
        // Out of order: keep what no buffered segment already covers.
        let pieces = self.uncovered(start, payload);
        if pieces.is_empty() {
            counters.retransmissions += 1;
            return;
        }
        if pieces.len() > 1 || pieces[0].1.len() < payload.len() {
            counters.overlaps += 1;
        }
        counters.ooo_segments += 1;
        let size: u64 = pieces.iter().map(|(_, p)| p.len() as u64).sum();
        if self.pending_bytes + size > cap || budget.used + size > budget.max {
            // Give up on the hole in front of the buffered data; what is buffered is then
            // delivered and frees room.
            self.skip_hole(budget, counters, out);
            if self.next >= end {
                return;
            }
            if start <= self.next {
                let skip = (self.next - start) as usize;
                self.next = end;
                out(Chunk::Data(&payload[skip..]));
                self.drain(budget, out);
                return;
            }
            if self.pending_bytes + size > cap || budget.used + size > budget.max {
                counters.reassembly_bytes_dropped += size;
                return;
            }
        }
        for (at, bytes) in pieces {
            self.pending_bytes += bytes.len() as u64;
            budget.used += bytes.len() as u64;
            self.pending.insert(at, bytes.to_vec());
        }
    }

    /// The parts of `[start, start + payload.len())` no buffered segment covers.
    fn uncovered<'p>(&self, start: u64, payload: &'p [u8]) -> Vec<(u64, &'p [u8])> {
        let end = start + payload.len() as u64;
        let mut pieces = Vec::new();
        let mut at = start;
        // The buffered segment that starts before `start` may reach into it.
        let first = self.pending.range(..start).next_back();
        if let Some((&s, b)) = first {
            at = at.max(s + b.len() as u64);
        }
        for (&s, b) in self.pending.range(start..end) {
            if s > at {
                pieces.push((at, &payload[(at - start) as usize..(s - start) as usize]));
            }
            at = at.max(s + b.len() as u64);
        }
        if at < end {
            pieces.push((at, &payload[(at - start) as usize..]));
        }
        pieces
    }

    /// Delivers buffered segments that `next` has reached.
    fn drain(&mut self, budget: &mut Budget, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let at = *entry.key();
            if at > self.next {
                break;
            }
            let bytes = entry.remove();
            self.pending_bytes -= bytes.len() as u64;
            budget.used = budget.used.saturating_sub(bytes.len() as u64);
            let end = at + bytes.len() as u64;
            if end > self.next {
                let skip = (self.next - at) as usize;
                self.next = end;
                out(Chunk::Data(&bytes[skip..]));
            }
        }
    }

    /// Declares the hole before the first buffered segment lost and delivers what follows.
    fn skip_hole(
        &mut self,
        budget: &mut Budget,
        counters: &mut Tally,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let Some((&at, _)) = self.pending.first_key_value() else {
            return;
        };
        if at > self.next {
            counters.gaps += 1;
            counters.gap_bytes += at - self.next;
            out(Chunk::Gap(at - self.next));
            self.next = at;
        }
        self.drain(budget, out);
    }

    /// The flow ends: every hole is given up on and every buffered byte delivered.
    pub fn close(
        &mut self,
        budget: &mut Budget,
        counters: &mut Tally,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        while !self.pending.is_empty() {
            self.skip_hole(budget, counters, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(seq, bytes)` segments and returns what came out, gaps as `[?n]`.
    fn run(
        stream: &mut Stream,
        cap: u64,
        budget: &mut Budget,
        c: &mut Tally,
        segs: &[(u32, &str)],
    ) -> String {
        let mut got = String::new();
        for (seq, p) in segs {
            stream.segment(*seq, p.as_bytes(), cap, budget, c, &mut |ch| match ch {
                Chunk::Data(d) => got.push_str(&String::from_utf8_lossy(d)),
                Chunk::Gap(n) => got.push_str(&format!("[?{n}]")),
            });
        }
        got
    }

    fn close(stream: &mut Stream, budget: &mut Budget, c: &mut Tally) -> String {
        let mut got = String::new();
        stream.close(budget, c, &mut |ch| match ch {
            Chunk::Data(d) => got.push_str(&String::from_utf8_lossy(d)),
            Chunk::Gap(n) => got.push_str(&format!("[?{n}]")),
        });
        got
    }

    #[test]
    fn in_order_out_of_order_retransmission_overlap() {
        // Table: segments (relative to ISN 1000 after the SYN) → bytes delivered, counters.
        type Case<'a> = (&'a [(u32, &'a str)], &'a str, [u64; 3]);
        let cases: &[Case] = &[
            (&[(1001, "abc"), (1004, "def")], "abcdef", [0, 0, 0]),
            (&[(1004, "def"), (1001, "abc")], "abcdef", [1, 0, 0]),
            (
                &[(1001, "abc"), (1001, "abc"), (1004, "def")],
                "abcdef",
                [0, 1, 0],
            ),
            // Overlap with delivered bytes: first arrival wins ("XY" not delivered).
            (&[(1001, "abc"), (1002, "XYd")], "abcd", [0, 0, 1]),
            // Overlap between buffered segments: the buffered bytes win.
            (
                &[(1005, "ef"), (1004, "DEFg"), (1001, "abc")],
                "abcDefg",
                [2, 0, 1],
            ),
            (
                &[(1007, "g"), (1005, "ef"), (1004, "d"), (1001, "abc")],
                "abcdefg",
                [3, 0, 0],
            ),
        ];
        for (segs, want, [ooo, retrans, overlaps]) in cases {
            let mut s = Stream::default();
            s.syn(1000);
            let (mut b, mut c) = (Budget::new(1 << 20), Tally::default());
            let got = run(&mut s, 1 << 20, &mut b, &mut c, segs);
            assert_eq!(&got, want, "{segs:?}");
            assert_eq!(
                [c.ooo_segments, c.retransmissions, c.overlaps],
                [*ooo, *retrans, *overlaps],
                "{segs:?}"
            );
            assert_eq!(
                (s.buffered(), b.used),
                (0, 0),
                "{segs:?}: nothing left buffered"
            );
        }
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::default();
        s.syn(u32::MAX - 2);
        let (mut b, mut c) = (Budget::new(1 << 20), Tally::default());
        let got = run(
            &mut s,
            1 << 20,
            &mut b,
            &mut c,
            &[(u32::MAX - 1, "ab"), (2, "e"), (0, "cd")],
        );
        assert_eq!(got, "abcde");
    }

    #[test]
    fn a_hole_at_the_end_is_a_gap_then_the_rest() {
        let mut s = Stream::default();
        s.syn(0);
        let (mut b, mut c) = (Budget::new(1 << 20), Tally::default());
        assert_eq!(
            run(&mut s, 1 << 20, &mut b, &mut c, &[(1, "ab"), (6, "fg")]),
            "ab"
        );
        assert_eq!(close(&mut s, &mut b, &mut c), "[?3]fg");
        assert_eq!((c.gaps, c.gap_bytes, b.used), (1, 3, 0));
    }

    #[test]
    fn the_flow_cap_gives_up_on_the_hole() {
        let mut s = Stream::default();
        s.syn(0);
        let (mut b, mut c) = (Budget::new(1 << 20), Tally::default());
        // Cap of 4 bytes: "fg" buffers, "hij" would pass it: the hole (c..e) is skipped.
        let got = run(
            &mut s,
            4,
            &mut b,
            &mut c,
            &[(1, "ab"), (6, "fg"), (8, "hij"), (11, "k")],
        );
        assert_eq!(got, "ab[?3]fghijk");
        assert_eq!((c.gaps, c.gap_bytes, c.reassembly_bytes_dropped), (1, 3, 0));
    }

    #[test]
    fn the_global_budget_is_shared_and_counted() {
        let (mut b, mut c) = (Budget::new(4), Tally::default());
        let (mut one, mut two) = (Stream::default(), Stream::default());
        one.syn(0);
        two.syn(0);
        assert_eq!(run(&mut one, 100, &mut b, &mut c, &[(5, "efgh")]), "");
        assert_eq!(b.used, 4);
        // The second stream has no room and nothing of its own to give up: dropped.
        assert_eq!(run(&mut two, 100, &mut b, &mut c, &[(5, "xy")]), "");
        assert_eq!(c.reassembly_bytes_dropped, 2);
        assert_eq!(
            run(&mut one, 100, &mut b, &mut c, &[(1, "abcd")]),
            "abcdefgh"
        );
        assert_eq!(b.used, 0);
    }

    #[test]
    fn midstream_pickup_starts_at_the_first_segment() {
        let mut s = Stream::default();
        let (mut b, mut c) = (Budget::new(1 << 20), Tally::default());
        assert_eq!(
            run(
                &mut s,
                100,
                &mut b,
                &mut c,
                &[(500, "mid"), (503, "dle"), (490, "old")]
            ),
            "middle"
        );
        assert_eq!(c.retransmissions, 1);
    }
}
