//! Decoding: link, network and transport headers of one captured packet, with `pnet_packet`
//! for the header fields, down to a TCP [`Segment`] for [`crate::flow`]. Ethernet (with
//! 802.1Q / 802.1ad / QinQ tags), Linux cooked v1 and v2, raw IP and BSD loopback; IPv4
//! and IPv6 (extension headers walked); TCP.
//!
//! Every length is checked here before any slice is taken — pnet's `new()` only checks the
//! fixed part of a header — so garbage is a [`DecodeError`], never a panic. IP fragments
//! are recognized and skipped (the databases and APIs watched send segments well below the
//! MTU; reassembling fragments is left out on purpose and counted).

use std::net::{IpAddr, SocketAddr};

use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::sll::SLLPacket;
use pnet_packet::sll2::SLL2Packet;
use pnet_packet::tcp::TcpPacket;
use pnet_packet::vlan::VlanPacket;

use crate::capture::linktype;

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A TCP segment, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    /// [`flags`] bits.
    pub flags: u8,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// What a packet turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// IPv4 or IPv6 fragment: skipped, counted.
    Fragment,
    /// Not TCP over IP (ARP, UDP, ICMP…): not for the sensor.
    Other,
}

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("link type {0} is not supported")]
    UnsupportedLinktype(u32),
    #[error("{layer} header truncated")]
    Truncated { layer: &'static str },
    #[error("{layer} header invalid: {reason}")]
    Invalid {
        layer: &'static str,
        reason: &'static str,
    },
    #[error("IPv6 extension header {0} is not supported")]
    UnsupportedIpv6Header(u8),
}

fn truncated(layer: &'static str) -> DecodeError {
    DecodeError::Truncated { layer }
}

fn invalid(layer: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Invalid { layer, reason }
}

/// Linux cooked capture header sizes (v1, v2).
const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;

/// Most VLAN tags read in front of the network header.
const MAX_VLAN_TAGS: usize = 4;

/// Decodes a packet of `linktype` down to TCP.
pub fn decode(linktype: u32, data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    match linktype {
        linktype::ETHERNET => {
            let eth = EthernetPacket::new(data).ok_or(truncated("Ethernet"))?;
            let rest = data
                .get(EthernetPacket::minimum_packet_size()..)
                .ok_or(truncated("Ethernet"))?;
            ethertype(eth.get_ethertype(), rest)
        }
        // pnet's minimum sizes leave out the 8-byte address field: check the whole header.
        linktype::LINUX_SLL => {
            let rest = data.get(SLL_HEADER..).ok_or(truncated("Linux cooked"))?;
            let sll = SLLPacket::new(data).ok_or(truncated("Linux cooked"))?;
            ethertype(sll.get_protocol(), rest)
        }
        linktype::LINUX_SLL2 => {
            let rest = data
                .get(SLL2_HEADER..)
                .ok_or(truncated("Linux cooked v2"))?;
            let sll = SLL2Packet::new(data).ok_or(truncated("Linux cooked v2"))?;
            ethertype(sll.get_protocol_type(), rest)
        }
        linktype::RAW | 12 | 14 => match data.first().map(|b| b >> 4) {
            Some(4) => ipv4(data),
            Some(6) => ipv6(data),
            Some(_) => Err(invalid("IP", "version is neither 4 nor 6")),
            None => Err(truncated("IP")),
        },
        linktype::IPV4 => ipv4(data),
        linktype::IPV6 => ipv6(data),
        linktype::NULL => {
            // Address family in the capturing host's byte order: 2 is IPv4; 24, 28 and 30
            // are IPv6 on the BSDs and macOS.
            let family = data.get(..4).ok_or(truncated("loopback"))?;
            let af = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let af = if af > 0xffff { af.swap_bytes() } else { af };
            match af {
                2 => ipv4(&data[4..]),
                24 | 28 | 30 => ipv6(&data[4..]),
                _ => Ok(Decoded::Other),
            }
        }
        other => Err(DecodeError::UnsupportedLinktype(other)),
    }
}

/// The network layer after a link header (and any VLAN tags).
fn ethertype(mut kind: EtherType, mut rest: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    for _ in 0..=MAX_VLAN_TAGS {
        match kind {
            EtherTypes::Ipv4 => return ipv4(rest),
            EtherTypes::Ipv6 => return ipv6(rest),
            EtherTypes::Vlan | EtherTypes::PBridge | EtherTypes::QinQ => {
                let tag = VlanPacket::new(rest).ok_or(truncated("VLAN"))?;
                kind = tag.get_ethertype();
                rest = rest.get(4..).ok_or(truncated("VLAN"))?;
            }
            _ => return Ok(Decoded::Other),
        }
    }
    Err(invalid("VLAN", "more than 4 tags"))
}

fn ipv4(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    const L: &str = "IPv4";
    let ip = Ipv4Packet::new(data).ok_or(truncated(L))?;
    if ip.get_version() != 4 {
        return Err(invalid(L, "version is not 4"));
    }
    let header = usize::from(ip.get_header_length()) * 4;
    if header < 20 {
        return Err(invalid(L, "header length below 20 bytes"));
    }
    let total = usize::from(ip.get_total_length());
    if total < header {
        return Err(invalid(L, "total length below the header length"));
    }
    if total > data.len() {
        // Cut by the snap length: the payload is incomplete and would corrupt the stream.
        return Err(truncated(L));
    }
    // Flags: bit 0 of the 3 is "more fragments".
    if ip.get_flags() & 0b001 != 0 || ip.get_fragment_offset() != 0 {
        return Ok(Decoded::Fragment);
    }
    if ip.get_next_level_protocol().0 != 6 {
        return Ok(Decoded::Other);
    }
    // Ethernet pads short frames: the IP total length says where the packet ends.
    tcp(
        IpAddr::V4(ip.get_source()),
        IpAddr::V4(ip.get_destination()),
        &data[header..total],
    )
}

fn ipv6(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    const L: &str = "IPv6";
    let ip = Ipv6Packet::new(data).ok_or(truncated(L))?;
    if ip.get_version() != 6 {
        return Err(invalid(L, "version is not 6"));
    }
    let fixed = Ipv6Packet::minimum_packet_size();
    let len = usize::from(ip.get_payload_length());
    if len == 0 {
        // A jumbogram (hop-by-hop option) or nothing at all.
        return Err(DecodeError::UnsupportedIpv6Header(0));
    }
    let mut rest = data.get(fixed..fixed + len).ok_or(truncated(L))?;
    let mut next = ip.get_next_header().0;
    // Walk the extension headers; each names the next one.
    for _ in 0..8 {
        match next {
            6 => {
                return tcp(
                    IpAddr::V6(ip.get_source()),
                    IpAddr::V6(ip.get_destination()),
                    rest,
                );
            }
            44 => return Ok(Decoded::Fragment),
            // Hop-by-hop, routing, destination options: length in 8-byte units after the
            // first 8. Authentication header: in 4-byte units after the first 8.
            0 | 43 | 60 | 51 => {
                let head = rest.get(..2).ok_or(truncated("IPv6 extension"))?;
                let size = if next == 51 {
                    (usize::from(head[1]) + 2) * 4
                } else {
                    (usize::from(head[1]) + 1) * 8
                };
                next = head[0];
                rest = rest.get(size..).ok_or(truncated("IPv6 extension"))?;
            }
            // No next header, ESP (encrypted), mobility, HIP, shim6: nothing to read.
            59 | 50 | 135 | 139 | 140 => return Ok(Decoded::Other),
            17 | 58 | 1 | 132 => return Ok(Decoded::Other),
            other => return Err(DecodeError::UnsupportedIpv6Header(other)),
        }
    }
    Err(invalid(L, "more than 8 extension headers"))
}

fn tcp(src: IpAddr, dst: IpAddr, data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    const L: &str = "TCP";
    let t = TcpPacket::new(data).ok_or(truncated(L))?;
    let header = usize::from(t.get_data_offset()) * 4;
    if header < 20 {
        return Err(invalid(L, "data offset below 20 bytes"));
    }
    let payload = data.get(header..).ok_or(truncated(L))?;
    Ok(Decoded::Tcp(Segment {
        src: SocketAddr::new(src, t.get_source()),
        dst: SocketAddr::new(dst, t.get_destination()),
        seq: t.get_sequence(),
        ack: t.get_acknowledgement(),
        // pnet reads the 8 flag bits (CWR … FIN) as a u8.
        flags: t.get_flags(),
        payload,
    }))
}

/// Builds packets for tests and generated captures: Ethernet + IPv4 + TCP, with optional
/// VLAN tags. Checksums are left zero (the sensor never checks them: offloading makes them
/// wrong on captures taken on the sending host).
pub mod build {
    use std::net::{IpAddr, SocketAddr};

    /// An Ethernet frame carrying one TCP segment.
    pub fn tcp(
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        tcp_vlan(&[], src, dst, seq, ack, flags, payload)
    }

    /// The same with 802.1Q tags (outermost first).
    pub fn tcp_vlan(
        vlans: &[u16],
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut f = Vec::with_capacity(80 + payload.len());
        f.extend([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
        for v in vlans {
            f.extend(0x8100u16.to_be_bytes());
            f.extend(v.to_be_bytes());
        }
        let mut seg = Vec::with_capacity(20 + payload.len());
        seg.extend(src.port().to_be_bytes());
        seg.extend(dst.port().to_be_bytes());
        seg.extend(seq.to_be_bytes());
        seg.extend(ack.to_be_bytes());
        seg.push(5 << 4);
        seg.push(flags);
        seg.extend(65535u16.to_be_bytes());
        seg.extend([0, 0, 0, 0]);
        seg.extend(payload);
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend(0x0800u16.to_be_bytes());
                f.extend([0x45, 0]);
                f.extend(((20 + seg.len()) as u16).to_be_bytes());
                f.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
                f.extend(s.octets());
                f.extend(d.octets());
            }
            (s, d) => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V6(a) => a.octets(),
                    IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                };
                f.extend(0x86ddu16.to_be_bytes());
                f.extend([0x60, 0, 0, 0]);
                f.extend((seg.len() as u16).to_be_bytes());
                f.extend([6, 64]);
                f.extend(v6(s));
                f.extend(v6(d));
            }
        }
        f.extend(seg);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn ethernet_vlan_ipv4_ipv6_tcp() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        for vlans in [&[][..], &[10], &[100, 200]] {
            let f = build::tcp_vlan(vlans, c, s, 7, 9, flags::ACK | flags::PSH, b"hello");
            let Ok(Decoded::Tcp(seg)) = decode(linktype::ETHERNET, &f) else {
                panic!("{vlans:?}: not decoded")
            };
            assert_eq!(
                (seg.src, seg.dst, seg.seq, seg.ack, seg.payload),
                (c, s, 7, 9, &b"hello"[..])
            );
            assert!(seg.has(flags::PSH) && !seg.has(flags::SYN));
        }
        // 802.1ad outer tag (0x88a8) over an 802.1Q inner one.
        let mut qinq = build::tcp_vlan(&[100, 200], c, s, 7, 9, flags::ACK, b"qinq");
        qinq[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
        assert!(
            matches!(decode(linktype::ETHERNET, &qinq), Ok(Decoded::Tcp(seg)) if seg.payload == b"qinq")
        );
        let (c6, s6) = (addr("[fd00::1]:40000"), addr("[fd00::2]:5432"));
        let f = build::tcp(c6, s6, 1, 2, flags::SYN, b"");
        assert!(
            matches!(decode(1, &f), Ok(Decoded::Tcp(seg)) if seg.src == c6 && seg.has(flags::SYN))
        );
        // Raw IP: the same packet without its Ethernet header.
        assert!(matches!(
            decode(linktype::RAW, &f[14..]),
            Ok(Decoded::Tcp(_))
        ));
        // Ethernet padding after the IP packet is not payload.
        let mut padded = build::tcp(c, s, 1, 2, flags::ACK, b"");
        padded.extend([0; 6]);
        assert!(matches!(decode(1, &padded), Ok(Decoded::Tcp(seg)) if seg.payload.is_empty()));
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        let ip = &build::tcp(c, s, 1, 2, flags::ACK, b"x")[14..];
        let mut v1 = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        v1.extend(ip);
        assert!(
            matches!(decode(linktype::LINUX_SLL, &v1), Ok(Decoded::Tcp(seg)) if seg.payload == b"x")
        );
        let mut v2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        v2.extend(ip);
        assert!(matches!(decode(linktype::LINUX_SLL2, &v2), Ok(Decoded::Tcp(seg)) if seg.dst == s));
        // Every prefix of a link header is an error, never a panic.
        for cut in 0..20 {
            assert!(decode(linktype::LINUX_SLL, &v1[..cut]).is_err());
            assert!(decode(linktype::LINUX_SLL2, &v2[..cut]).is_err());
            assert!(decode(linktype::ETHERNET, &build::tcp(c, s, 1, 2, 0, b"")[..cut]).is_err());
        }
    }

    #[test]
    fn fragments_other_protocols_and_broken_headers() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:5432"));
        let good = build::tcp(c, s, 1, 2, flags::ACK, b"payload");
        // More-fragments flag, then a non-zero offset.
        let mut mf = good.clone();
        mf[20] = 0x20;
        assert_eq!(decode(1, &mf), Ok(Decoded::Fragment));
        let mut off = good.clone();
        off[20] = 0x00;
        off[21] = 0x10;
        assert_eq!(decode(1, &off), Ok(Decoded::Fragment));
        // UDP.
        let mut udp = good.clone();
        udp[23] = 17;
        assert_eq!(decode(1, &udp), Ok(Decoded::Other));
        // ARP.
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(decode(1, &arp), Ok(Decoded::Other));
        // IHL below 5, total length past the capture, TCP data offset below 5 or past
        // the end: errors, not panics.
        let mut ihl = good.clone();
        ihl[14] = 0x44;
        assert!(matches!(decode(1, &ihl), Err(DecodeError::Invalid { .. })));
        assert!(matches!(
            decode(1, &good[..40]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut doff = good.clone();
        doff[14 + 20 + 12] = 0x40;
        assert!(matches!(decode(1, &doff), Err(DecodeError::Invalid { .. })));
        let mut long = good.clone();
        long[14 + 20 + 12] = 0xf0;
        assert!(matches!(
            decode(1, &long),
            Err(DecodeError::Truncated { .. })
        ));
        for cut in 0..good.len() {
            let _ = decode(1, &good[..cut]);
        }
        assert_eq!(decode(99, &good), Err(DecodeError::UnsupportedLinktype(99)));
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        let (c, s) = (addr("[fd00::1]:40000"), addr("[fd00::2]:5432"));
        let plain = build::tcp(c, s, 1, 2, flags::ACK, b"data");
        // Insert a hop-by-hop header (8 bytes) in front of TCP.
        let mut hbh = plain[..54].to_vec();
        hbh[20] = 0; // next header: hop-by-hop
        let len = u16::from_be_bytes([plain[18], plain[19]]) + 8;
        hbh[18..20].copy_from_slice(&len.to_be_bytes());
        hbh.extend([6, 0, 1, 4, 0, 0, 0, 0]);
        hbh.extend(&plain[54..]);
        assert!(matches!(decode(1, &hbh), Ok(Decoded::Tcp(seg)) if seg.payload == b"data"));
        let mut frag = plain.clone();
        frag[20] = 44;
        assert_eq!(decode(1, &frag), Ok(Decoded::Fragment));
        let mut unknown = plain.clone();
        unknown[20] = 253;
        assert_eq!(
            decode(1, &unknown),
            Err(DecodeError::UnsupportedIpv6Header(253))
        );
    }
}
