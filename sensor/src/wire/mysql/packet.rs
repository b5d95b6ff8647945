//! Packet framing and the protocol's primitive encodings, sans-IO.
//!
//! Every MySQL packet is a 3-byte little-endian payload length, a 1-byte sequence id and
//! the payload. A payload of 16 MiB − 1 (`0xFFFFFF`) or more travels as several packets:
//! each full one says "more follows", and the last is shorter (an empty one when the
//! payload is an exact multiple). [`next_payload`] reassembles them, checking the total
//! against the `max_packet` limit (the analogue of `max_allowed_packet`) before anything
//! is copied; a short buffer is `Ok(None)` (wait for more), a broken one a [`WireError`].
//!
//! Inside payloads, [`Reader`] reads the fixed-width little-endian integers,
//! length-encoded integers and strings and NUL-terminated strings, failing instead of
//! panicking; the `put_*` functions write them back for a proxy that rewrites packets.

use std::borrow::Cow;

/// Largest payload one packet carries; a packet this full is continued by the next.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// Bytes of a packet header: 3 of length, 1 of sequence id.
pub const HEADER_LEN: usize = 4;

/// Largest logical payloads accepted (both directions): a statement, a row or a long-data
/// chunk beyond it ends the connection, as the server's `max_allowed_packet` would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_packet: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // MySQL 8's default max_allowed_packet.
        Limits {
            max_packet: 64 << 20,
        }
    }
}

/// Why bytes are not a MySQL packet or message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("packet sequence id {got} where {expected} was expected")]
    OutOfSequence { expected: u8, got: u8 },
    #[error("malformed {kind}: {reason}")]
    Malformed {
        kind: &'static str,
        reason: &'static str,
    },
    #[error("{kind} uses column type 0x{ty:02x}, which has no binary encoding")]
    UnknownType { kind: &'static str, ty: u8 },
    #[error("value {index} does not fit its column type 0x{ty:02x}")]
    ValueMismatch { index: usize, ty: u8 },
}

pub(super) fn bad(kind: &'static str, reason: &'static str) -> WireError {
    WireError::Malformed { kind, reason }
}

/// One physical packet's place in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub seq: u8,
    /// Bytes the packet takes in the buffer, header included.
    pub len: usize,
}

impl Packet {
    /// The payload within `buf`, which starts with this packet.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[HEADER_LEN..self.len]
    }

    /// Whether the payload continues in the next packet.
    pub fn continues(&self) -> bool {
        self.len - HEADER_LEN == MAX_CHUNK
    }
}

/// The next physical packet; `None` until the buffer holds all of it. A payload length
/// above `max` is an error before the rest is awaited.
pub fn next_packet(buf: &[u8], max: usize) -> Result<Option<Packet>, WireError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    if len > max {
        return Err(WireError::TooLarge { len, max });
    }
    let total = len + HEADER_LEN;
    Ok((buf.len() >= total).then_some(Packet {
        seq: head[3],
        len: total,
    }))
}

/// One logical payload, reassembled from one packet or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    /// Sequence id of the first packet.
    pub seq: u8,
    /// Sequence id of the last packet (equal to `seq` unless the payload was split).
    pub last_seq: u8,
    /// Bytes the packets take in the buffer, headers included: forward `&buf[..len]`.
    pub len: usize,
    /// The payload: borrowed from the buffer when it came in one packet.
    pub data: Cow<'a, [u8]>,
}

/// The next logical payload, joining continued packets; `None` until the buffer holds all
/// of them. The running total is checked against `max` as each header arrives, before
/// anything is copied; continuation packets must carry consecutive sequence ids.
pub fn next_payload(buf: &[u8], max: usize) -> Result<Option<Payload<'_>>, WireError> {
    let Some(first) = next_packet(buf, max)? else {
        return Ok(None);
    };
    if !first.continues() {
        return Ok(Some(Payload {
            seq: first.seq,
            last_seq: first.seq,
            len: first.len,
            data: Cow::Borrowed(first.payload(buf)),
        }));
    }
    // Walk the headers first: the total is known, and bounded, before the copy.
    let mut at = first.len;
    let mut total = MAX_CHUNK;
    let mut last = first;
    while last.continues() {
        let Some(head) = buf.get(at..at + HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        total += len;
        if total > max {
            return Err(WireError::TooLarge { len: total, max });
        }
        let expected = last.seq.wrapping_add(1);
        if head[3] != expected {
            return Err(WireError::OutOfSequence {
                expected,
                got: head[3],
            });
        }
        let Some(next) = next_packet(&buf[at..], max)? else {
            return Ok(None);
        };
        at += next.len;
        last = next;
    }
    let mut data = Vec::with_capacity(total);
    let mut rest = &buf[..at];
    while let Ok(Some(p)) = next_packet(rest, max) {
        data.extend_from_slice(p.payload(rest));
        rest = &rest[p.len..];
    }
    Ok(Some(Payload {
        seq: first.seq,
        last_seq: last.seq,
        len: at,
        data: Cow::Owned(data),
    }))
}

/// Appends `payload` to `out` as packets starting at sequence id `seq`, split at
/// [`MAX_CHUNK`] (with the empty closing packet an exact multiple needs); returns the
/// sequence id the next packet takes.
pub fn encode_packets(seq: u8, payload: &[u8], out: &mut Vec<u8>) -> u8 {
    out.reserve(payload.len() + HEADER_LEN * (1 + payload.len() / MAX_CHUNK));
    let mut seq = seq;
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            return seq;
        }
    }
}

/// The sequence ids of one exchange. Each command starts a new exchange at 0 (client),
/// and every packet after it, either way, takes the next id, wrapping at 255; the
/// handshake is one exchange from the server's greeting (0) to the auth result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sequence {
    next: u8,
}

impl Sequence {
    /// An exchange whose next packet takes id `next`.
    pub fn starting_at(next: u8) -> Self {
        Sequence { next }
    }

    /// A new exchange (a client command): the next packet is 0.
    pub fn reset(&mut self) {
        self.next = 0;
    }

    /// The id the next packet must carry.
    pub fn expected(&self) -> u8 {
        self.next
    }

    /// Checks a received packet's id and moves past it.
    pub fn check(&mut self, seq: u8) -> Result<(), WireError> {
        if seq != self.next {
            return Err(WireError::OutOfSequence {
                expected: self.next,
                got: seq,
            });
        }
        self.next = seq.wrapping_add(1);
        Ok(())
    }

    /// Checks a reassembled payload (all of its packets) and moves past it.
    pub fn check_payload(&mut self, p: &Payload<'_>) -> Result<(), WireError> {
        self.check(p.seq)?;
        self.next = p.last_seq.wrapping_add(1);
        Ok(())
    }

    /// Takes an id for a packet this side sends (a proxy's own answer).
    pub fn advance(&mut self) -> u8 {
        let seq = self.next;
        self.next = seq.wrapping_add(1);
        seq
    }

    /// Moves past a payload this side sends with [`encode_packets`], which returned `next`.
    pub fn sent(&mut self, next: u8) {
        self.next = next;
    }
}

/// A little-endian reader over one payload that fails instead of panicking; `kind` names
/// the message in errors.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
    kind: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(payload: &'a [u8], kind: &'static str) -> Self {
        Reader {
            rest: payload,
            kind,
        }
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub(super) fn fail(&self, reason: &'static str) -> WireError {
        bad(self.kind, reason)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(self.fail("shorter than its fields say"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        self.array().map(u16::from_le_bytes)
    }

    pub fn u24(&mut self) -> Result<u32, WireError> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length-encoded integer that may be NULL (`0xFB`, in text rows).
    pub fn lenenc_int_or_null(&mut self) -> Result<Option<u64>, WireError> {
        match self.u8()? {
            n @ 0..=0xFA => Ok(Some(u64::from(n))),
            0xFB => Ok(None),
            0xFC => self.u16().map(|n| Some(u64::from(n))),
            0xFD => self.u24().map(|n| Some(u64::from(n))),
            0xFE => self.u64().map(Some),
            _ => Err(self.fail("0xFF is not a length-encoded integer")),
        }
    }

    /// A length-encoded integer: 1 byte below `0xFB`, else a `0xFC`/`0xFD`/`0xFE` prefix
    /// and 2, 3 or 8 bytes.
    pub fn lenenc_int(&mut self) -> Result<u64, WireError> {
        self.lenenc_int_or_null()?
            .ok_or_else(|| self.fail("NULL where a length-encoded integer belongs"))
    }

    fn sized(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        // Checked against what the payload holds before it becomes a slice length.
        if n > self.rest.len() as u64 {
            return Err(self.fail("string longer than the payload"));
        }
        self.take(n as usize)
    }

    /// A length-encoded string.
    pub fn lenenc_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.lenenc_int()?;
        self.sized(n)
    }

    /// A length-encoded string or NULL (`0xFB`), as in text rows.
    pub fn lenenc_bytes_or_null(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        match self.lenenc_int_or_null()? {
            None => Ok(None),
            Some(n) => self.sized(n).map(Some),
        }
    }

    /// A NUL-terminated string (without the NUL).
    pub fn nul_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let end = self
            .rest
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| self.fail("unterminated string"))?;
        let s = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        Ok(s)
    }

    /// A string that ends at a NUL or at the end of the payload (some servers omit the
    /// NUL after the last field).
    pub fn nul_or_eof_bytes(&mut self) -> &'a [u8] {
        match self.rest.iter().position(|&c| c == 0) {
            Some(end) => {
                let s = &self.rest[..end];
                self.rest = &self.rest[end + 1..];
                s
            }
            None => std::mem::take(&mut self.rest),
        }
    }

    /// Everything left (a `string<EOF>`).
    pub fn eof_bytes(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.fail("bytes after the last field"))
        }
    }
}

/// Bytes [`put_lenenc_int`] takes for `n`.
pub fn lenenc_int_len(n: u64) -> usize {
    match n {
        0..=0xFA => 1,
        0xFB..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 9,
    }
}

/// Appends a length-encoded integer (the shortest form).
pub fn put_lenenc_int(out: &mut Vec<u8>, n: u64) {
    let b = n.to_le_bytes();
    match lenenc_int_len(n) {
        1 => out.push(b[0]),
        3 => {
            out.push(0xFC);
            out.extend_from_slice(&b[..2]);
        }
        4 => {
            out.push(0xFD);
            out.extend_from_slice(&b[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&b);
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends the NULL of a text row (`0xFB`).
pub fn put_null(out: &mut Vec<u8>) {
    out.push(0xFB);
}

/// Appends a NUL-terminated string. A NUL inside would end it early and shift every field
/// after it, so the string is cut there: the receiver would have read only that much.
pub fn put_nul_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    out.extend_from_slice(&s[..end]);
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_packets(seq, payload, &mut out);
        out
    }

    #[test]
    fn packets_valid_truncated_and_too_large() {
        // COM_QUERY "SELECT 2" as the mariadb client sent it.
        let q = [
            9, 0, 0, 0, 3, b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'2',
        ];
        assert_eq!(packet(0, &q[4..]), q);
        let p = next_packet(&q, 1024).expect("valid").expect("complete");
        assert_eq!((p.seq, p.len, p.payload(&q)), (0, q.len(), &q[4..]));
        for cut in 0..q.len() {
            assert_eq!(next_packet(&q[..cut], 1024), Ok(None), "prefix of {cut}");
            assert_eq!(next_payload(&q[..cut], 1024), Ok(None), "prefix of {cut}");
        }
        let whole = next_payload(&q, 1024).expect("valid").expect("complete");
        assert!(
            matches!(whole.data, Cow::Borrowed(_)),
            "one packet: no copy"
        );
        assert_eq!((whole.seq, whole.last_seq, whole.len), (0, 0, q.len()));
        // A length past the limit fails on the header alone.
        assert_eq!(
            next_packet(&[0xff, 0xff, 0x0f, 0], 1024),
            Err(WireError::TooLarge {
                len: 0x0f_ffff,
                max: 1024
            })
        );
        // Two back to back: the first only.
        let mut two = q.to_vec();
        two.extend(packet(1, b""));
        assert_eq!(
            next_packet(&two, 1024).map(|p| p.map(|p| p.len)),
            Ok(Some(13))
        );
        assert_eq!(
            next_packet(&two[13..], 1024).map(|p| p.map(|p| p.len)),
            Ok(Some(4))
        );
    }

    #[test]
    fn long_payloads_are_split_and_reassembled() {
        let max = 3 * MAX_CHUNK;
        for size in [MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 5, 2 * MAX_CHUNK] {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut wire = Vec::new();
            let next = encode_packets(7, &payload, &mut wire);
            let packets = size / MAX_CHUNK + 1;
            assert_eq!(next, 7 + packets as u8, "size {size}");
            assert_eq!(wire.len(), size + 4 * packets);
            let p = next_payload(&wire, max).expect("valid").expect("complete");
            assert_eq!(
                (p.seq, p.last_seq, p.len),
                (7, 6 + packets as u8, wire.len())
            );
            assert!(p.data == payload, "size {size}");
            let mut seq = Sequence::starting_at(7);
            assert_eq!(seq.check_payload(&p), Ok(()));
            assert_eq!(seq.expected(), next);
            // Cut at each packet boundary and just after each header: always waiting.
            for cut in [4, MAX_CHUNK + 4, MAX_CHUNK + 8, wire.len() - 1] {
                if cut < wire.len() {
                    assert_eq!(next_payload(&wire[..cut], max), Ok(None), "cut {cut}");
                }
            }
            if size >= MAX_CHUNK {
                // The total, not each packet, is what the limit bounds.
                assert!(matches!(
                    next_payload(&wire, size - 1),
                    Err(WireError::TooLarge { .. })
                ));
                // A continuation with the wrong sequence id.
                let mut broken = wire.clone();
                broken[MAX_CHUNK + 4 + 3] = 99;
                assert_eq!(
                    next_payload(&broken, max),
                    Err(WireError::OutOfSequence {
                        expected: 8,
                        got: 99
                    })
                );
            }
        }
        // Known too large from the headers alone, with the data still to come.
        let head = [0xff, 0xff, 0xff, 0];
        assert_eq!(next_payload(&head, MAX_CHUNK), Ok(None));
        let mut two_heads = head.to_vec();
        two_heads.resize(MAX_CHUNK + 4, 0);
        two_heads.extend([0x10, 0, 0, 1]);
        assert!(matches!(
            next_payload(&two_heads, MAX_CHUNK + 8),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn sequence_ids() {
        let mut s = Sequence::default();
        assert_eq!(s.check(0), Ok(()));
        assert_eq!(s.check(1), Ok(()));
        assert_eq!(
            s.check(3),
            Err(WireError::OutOfSequence {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(s.advance(), 2);
        s.reset();
        assert_eq!(s.expected(), 0);
        let mut wrap = Sequence::starting_at(255);
        assert_eq!(wrap.check(255), Ok(()));
        assert_eq!(wrap.expected(), 0);
    }

    #[test]
    fn length_encoded_integers_and_strings() {
        let table: [(u64, &[u8]); 8] = [
            (0, &[0x00]),
            (250, &[0xFA]),
            (251, &[0xFC, 0xFB, 0x00]),
            (0xFFFF, &[0xFC, 0xFF, 0xFF]),
            (0x1_0000, &[0xFD, 0x00, 0x00, 0x01]),
            (0xFF_FFFF, &[0xFD, 0xFF, 0xFF, 0xFF]),
            (0x100_0000, &[0xFE, 0, 0, 0, 1, 0, 0, 0, 0]),
            (
                u64::MAX,
                &[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
        ];
        for (n, wire) in table {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, n);
            assert_eq!(out, wire, "{n}");
            assert_eq!(lenenc_int_len(n), wire.len());
            let mut r = Reader::new(wire, "test");
            assert_eq!(r.lenenc_int(), Ok(n));
            assert!(r.is_empty());
            // Truncated: an error, never a panic.
            for cut in 0..wire.len() {
                assert!(Reader::new(&wire[..cut], "test").lenenc_int().is_err());
            }
        }
        assert_eq!(Reader::new(&[0xFB], "t").lenenc_int_or_null(), Ok(None));
        assert!(Reader::new(&[0xFB], "t").lenenc_int().is_err());
        assert!(Reader::new(&[0xFF], "t").lenenc_int_or_null().is_err());

        let mut out = Vec::new();
        put_lenenc_bytes(&mut out, b"abc");
        put_null(&mut out);
        put_nul_bytes(&mut out, b"root\0junk");
        assert_eq!(out, b"\x03abc\xfbroot\0");
        let mut r = Reader::new(&out, "t");
        assert_eq!(r.lenenc_bytes_or_null(), Ok(Some(&b"abc"[..])));
        assert_eq!(r.lenenc_bytes_or_null(), Ok(None));
        assert_eq!(r.nul_bytes(), Ok(&b"root"[..]));
        assert_eq!(r.finish(), Ok(()));
        // Lengths past the payload, up to u64::MAX: errors, no allocation.
        assert!(Reader::new(b"\x04abc", "t").lenenc_bytes().is_err());
        assert!(
            Reader::new(
                &[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1],
                "t"
            )
            .lenenc_bytes()
            .is_err()
        );
        assert!(Reader::new(b"no nul", "t").nul_bytes().is_err());
        assert_eq!(Reader::new(b"no nul", "t").nul_or_eof_bytes(), b"no nul");
    }
}
