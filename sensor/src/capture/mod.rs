//! Capture: where packets come from. Each source hands on [`Packet`]s — a timestamp, the
//! link type of the interface that saw it, and the bytes captured — to [`crate::decode`].
//! Capture files ([`pcap`]) and the live TPACKET_V3 ring ([`ring`]).

pub mod pcap;
pub mod ring;

/// Link types (the tcpdump.org registry) the decoder reads.
pub mod linktype {
    /// Ethernet II, with or without 802.1Q / 802.1ad tags.
    pub const ETHERNET: u32 = 1;
    /// Raw IPv4 or IPv6, no link header (also 12 on some BSDs, 14 on OpenBSD).
    pub const RAW: u32 = 101;
    /// Linux "cooked" capture v1 (`tcpdump -i any` before libpcap 1.10).
    pub const LINUX_SLL: u32 = 113;
    /// Linux "cooked" capture v2 (`tcpdump -i any` since libpcap 1.10).
    pub const LINUX_SLL2: u32 = 276;
    /// Raw IPv4 only.
    pub const IPV4: u32 = 228;
    /// Raw IPv6 only.
    pub const IPV6: u32 = 229;
    /// BSD loopback (a 4-byte host-order address family, then IP).
    pub const NULL: u32 = 0;
}

/// One captured packet, borrowed from the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// When it was seen, in microseconds since the Unix epoch.
    pub ts_us: u64,
    /// Link type of the interface ([`linktype`]).
    pub linktype: u32,
    /// The bytes captured (possibly fewer than were on the wire: snap length).
    pub data: &'a [u8],
}
