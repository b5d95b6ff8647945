//! Live capture: a TPACKET_V3 memory-mapped receive ring on an `AF_PACKET` socket bound to
//! one interface. The kernel fills blocks of packets in memory shared with the sensor and
//! hands each whole block over by flipping its status word; the sensor walks the block's
//! packets, hands them on as [`Packet`]s and gives the block back. No system call per
//! packet (pnet's datalink channel makes a `poll` and a `recvfrom` for each), and the
//! kernel counts what did not fit ([`KernelStats`]).
//!
//! ```text
//!  ring = block 0 | block 1 | … | block n-1      (block-size × block-count, mmap'ed)
//!  block = descriptor (status, packet count, first offset) | tpacket3_hdr + sockaddr_ll
//!          + frame | tpacket3_hdr + … (each header says where the next one starts)
//! ```
//!
//! Memory is bounded by the ring: when every block is still with the sensor, the kernel
//! drops the packet and counts it (`tp_drops`, read with `PACKET_STATISTICS`).
//!
//! Several workers on one interface join one `PACKET_FANOUT` group in `FANOUT_HASH` mode:
//! the kernel spreads flows over their rings by a symmetric hash of addresses and ports,
//! so both directions of a connection reach the same worker (and the same flow table).
//!
//! Loopback shows every packet twice, leaving and arriving. On a loopback interface the
//! socket asks for `PACKET_IGNORE_OUTGOING` (Linux ≥ 4.20); where the kernel refuses it,
//! packets whose `sll_pkttype` is `PACKET_OUTGOING` are skipped while walking the block.
//! Elsewhere outgoing packets are kept: a sensor on the database host sees the server's
//! answers only as outgoing packets.
//!
//! The unsafe code is confined to this module: the socket calls, the mapping, and the
//! status word that the kernel and the sensor share. Each `unsafe` block says why it holds.
//! Everything read from a block is bounds-checked safe code ([`walk_block`]), so a block
//! the sensor does not understand is counted, never a panic.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{Packet, linktype};

/// `tpacket_block_desc`: where its fields are, from the start of a block.
mod desc {
    pub const BLOCK_STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const OFFSET_TO_FIRST_PKT: usize = 16;
    pub const BLK_LEN: usize = 20;
    /// Size of the descriptor (`tpacket_block_desc` with `tpacket_hdr_v1`).
    pub const SIZE: usize = 48;
}

/// `tpacket3_hdr` fields, from the start of a packet's header; then, at
/// `TPACKET_ALIGN(sizeof(tpacket3_hdr))` = 48, a `sockaddr_ll`.
mod hdr {
    pub const NEXT_OFFSET: usize = 0;
    pub const SEC: usize = 4;
    pub const NSEC: usize = 8;
    pub const SNAPLEN: usize = 12;
    pub const LEN: usize = 16;
    pub const MAC: usize = 24;
    /// `sockaddr_ll.sll_pkttype`: 48 + family (2) + protocol (2) + ifindex (4) + hatype (2).
    pub const PKTTYPE: usize = 58;
    /// The header and the `sockaddr_ll` (`TPACKET3_HDRLEN`, unaligned).
    pub const SIZE: usize = 48 + 20;
}

/// The ring's geometry and the socket's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block: a multiple of the page size (a power of two wastes nothing).
    pub block_size: u32,
    /// Blocks in the ring.
    pub block_count: u32,
    /// Frame size the kernel checks the geometry with (V3 packs frames of any size into a
    /// block; the largest packet kept whole is a block less its descriptor).
    pub frame_size: u32,
    /// A block that has packets is handed over after at most this long.
    pub block_timeout: Duration,
    /// `PACKET_FANOUT` group to join (hash mode), when several workers share the interface.
    pub fanout: Option<u16>,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 32,
            frame_size: 2048,
            block_timeout: Duration::from_millis(10),
            fanout: None,
        }
    }
}

/// Why the ring cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error(
        "{interface}: capturing needs CAP_NET_RAW (run as root, or `setcap cap_net_raw+ep` on the tianmu binary)"
    )]
    Permission { interface: String },
    #[error("{interface}: no such network interface (see `ip link`; check [sensor] interfaces)")]
    NoInterface { interface: String },
    #[error(
        "{interface}: its link type (ARPHRD {arphrd}) is not one the sensor decodes (Ethernet, loopback, raw IP, PPP, tunnels)"
    )]
    LinkType { interface: String, arphrd: u16 },
    #[error(
        "{interface}: the kernel refused a ring of {block_count} blocks of {block_size} bytes (frame size {frame_size}): {source}; check [sensor] ring-block-size (a multiple of the page size), ring-blocks and ring-frame-size, and the memory limit (ulimit -l)"
    )]
    Geometry {
        interface: String,
        block_size: u32,
        block_count: u32,
        frame_size: u32,
        source: io::Error,
    },
    #[error(
        "{interface}: cannot join packet fanout group {group} (another program uses it with other settings? set [sensor] fanout-group): {source}"
    )]
    Fanout {
        interface: String,
        group: u16,
        source: io::Error,
    },
    #[error("{interface}: the interface went down or away ({source})")]
    Down {
        interface: String,
        source: io::Error,
    },
    #[error("{interface}: {what}: {source}")]
    Os {
        interface: String,
        what: &'static str,
        source: io::Error,
    },
}

impl RingError {
    /// Whether the interface (not the configuration or the privileges) is the problem, so
    /// that trying again later may work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RingError::Down { .. } | RingError::NoInterface { .. } | RingError::Os { .. }
        )
    }
}

/// What the kernel counted for one socket since the last reading (`PACKET_STATISTICS`
/// resets them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets that reached the socket, dropped ones included.
    pub packets: u64,
    /// Packets dropped: no free block in the ring.
    pub drops: u64,
    /// Times the ring was frozen (every block with the sensor).
    pub freeze_q: u64,
}

/// What walking blocks found besides the packets handed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Packets handed on.
    pub packets: u64,
    /// Packets captured shorter than they were on the wire (larger than a block).
    pub cut: u64,
    /// Outgoing copies skipped on a loopback interface (kernels without
    /// `PACKET_IGNORE_OUTGOING`).
    pub outgoing_skipped: u64,
    /// Blocks whose descriptor or a packet header pointed outside the block (the rest of
    /// such a block is not read).
    pub malformed_blocks: u64,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

/// Walks one block handed over by the kernel: every packet in it, in order, to `each`.
/// Every offset and length is checked against the block; a block that breaks them stops
/// there and is counted in `stats.malformed_blocks`.
pub fn walk_block(
    block: &[u8],
    linktype: u32,
    skip_outgoing: bool,
    stats: &mut WalkStats,
    each: &mut dyn FnMut(Packet<'_>),
) {
    let (Some(count), Some(first)) = (
        u32_at(block, desc::NUM_PKTS),
        u32_at(block, desc::OFFSET_TO_FIRST_PKT),
    ) else {
        stats.malformed_blocks += 1;
        return;
    };
    // The block's used length bounds the packets, when it is sane.
    let used = match u32_at(block, desc::BLK_LEN) {
        Some(len) if (len as usize) <= block.len() && len as usize >= desc::SIZE => len as usize,
        _ => block.len(),
    };
    let block = &block[..used];
    let mut at = first as usize;
    for i in 0..count {
        let Some(h) = at.checked_add(hdr::SIZE).and_then(|end| block.get(at..end)) else {
            stats.malformed_blocks += 1;
            return;
        };
        let field = |off| u32_at(h, off).unwrap_or(0);
        let (next, sec, nsec, snaplen, len) = (
            field(hdr::NEXT_OFFSET),
            field(hdr::SEC),
            field(hdr::NSEC),
            field(hdr::SNAPLEN),
            field(hdr::LEN),
        );
        let mac = u16_at(h, hdr::MAC).unwrap_or(0) as usize;
        let pkttype = h.get(hdr::PKTTYPE).copied().unwrap_or(0);
        let Some(data) = at
            .checked_add(mac)
            .and_then(|start| Some((start, start.checked_add(snaplen as usize)?)))
            .and_then(|(start, end)| block.get(start..end))
        else {
            stats.malformed_blocks += 1;
            return;
        };
        if skip_outgoing && pkttype == libc::PACKET_OUTGOING {
            stats.outgoing_skipped += 1;
        } else {
            stats.packets += 1;
            if snaplen < len {
                stats.cut += 1;
            }
            each(Packet {
                ts_us: u64::from(sec) * 1_000_000 + u64::from(nsec) / 1000,
                linktype,
                data,
            });
        }
        if i + 1 < count {
            if next == 0 {
                stats.malformed_blocks += 1;
                return;
            }
            at = at.saturating_add(next as usize);
        }
    }
}

/// The link type of an interface's hardware type (`ARPHRD_*`, `/sys/class/net/IF/type`).
pub fn linktype_of(arphrd: u16) -> Option<u32> {
    match arphrd {
        // Loopback's packets come with a fake Ethernet header.
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Some(linktype::ETHERNET),
        // No link header: raw IP (tun, WireGuard, IP-in-IP and GRE tunnels, PPP — the
        // kernel strips PPP's header for packet sockets).
        libc::ARPHRD_NONE
        | libc::ARPHRD_PPP
        | libc::ARPHRD_TUNNEL
        | libc::ARPHRD_TUNNEL6
        | libc::ARPHRD_IPGRE
        | ARPHRD_RAWIP => Some(linktype::RAW),
        _ => None,
    }
}

/// `ARPHRD_RAWIP` (raw IP, e.g. cellular modems); not in the libc crate.
const ARPHRD_RAWIP: u16 = 519;

/// `ETH_P_ALL` in network byte order, as `socket` and `bind` want it.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// The ring, mapped in this process's memory.
struct Map {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what a successful `mmap` returned, unmapped once
        // here; no slice into the mapping outlives the `Ring` that owns this `Map`
        // (`next_block` borrows `&mut Ring` for the lifetime of its slices).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// An open capture ring on one interface.
pub struct Ring {
    interface: String,
    // Field order matters for drop: the mapping goes before the socket closes.
    map: Map,
    fd: OwnedFd,
    block_size: usize,
    block_count: usize,
    /// The block the kernel hands over next (blocks are handed over in ring order).
    next: usize,
    linktype: u32,
    /// Outgoing copies must be skipped while walking (loopback, old kernel).
    skip_outgoing: bool,
    stats: WalkStats,
}

// SAFETY: the mapping belongs to this `Ring` alone (it is not shared with another thread or
// object); moving the owner to another thread moves the only access to it.
unsafe impl Send for Ring {}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("interface", &self.interface)
            .field("block_size", &self.block_size)
            .field("block_count", &self.block_count)
            .field("linktype", &self.linktype)
            .finish_non_exhaustive()
    }
}

fn os(interface: &str, what: &'static str) -> impl FnOnce(io::Error) -> RingError {
    let interface = interface.to_owned();
    move |source| RingError::Os {
        interface,
        what,
        source,
    }
}

/// `setsockopt(fd, SOL_PACKET, opt, value)`.
fn set_packet_opt<T>(fd: &OwnedFd, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` for the duration of the call and its size is passed
    // with it; the kernel only reads that many bytes.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Ring {
    /// Opens a ring on `interface`: a packet socket, TPACKET_V3, the ring mapped, bound to
    /// the interface, in the fanout group if one is configured.
    pub fn open(interface: &str, cfg: &RingConfig) -> Result<Ring, RingError> {
        let name = CString::new(interface).map_err(|_| RingError::NoInterface {
            interface: interface.to_owned(),
        })?;
        // Protocol 0: the socket receives nothing until `bind` below names the interface
        // and ETH_P_ALL, so no packet of another interface lands in the ring meanwhile.
        // SAFETY: plain system call with constant arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => RingError::Permission {
                    interface: interface.to_owned(),
                },
                _ => os(interface, "cannot open a packet socket")(e),
            });
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // SAFETY: `name` is a NUL-terminated string that lives through the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(RingError::NoInterface {
                interface: interface.to_owned(),
            });
        }
        let arphrd = hardware_type(&fd, &name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENODEV) => RingError::NoInterface {
                interface: interface.to_owned(),
            },
            _ => os(interface, "cannot read the interface's hardware type")(e),
        })?;
        let linktype = linktype_of(arphrd).ok_or(RingError::LinkType {
            interface: interface.to_owned(),
            arphrd,
        })?;

        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        set_packet_opt(&fd, libc::PACKET_VERSION, &version).map_err(os(
            interface,
            "the kernel has no TPACKET_V3 (Linux ≥ 3.2 needed)",
        ))?;
        let mut skip_outgoing = false;
        if arphrd == libc::ARPHRD_LOOPBACK {
            let on: libc::c_int = 1;
            if set_packet_opt(&fd, libc::PACKET_IGNORE_OUTGOING, &on).is_err() {
                skip_outgoing = true;
            }
        }

        let frames_per_block = cfg.block_size / cfg.frame_size.max(1);
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: cfg.frame_size,
            tp_frame_nr: frames_per_block.saturating_mul(cfg.block_count),
            tp_retire_blk_tov: u32::try_from(cfg.block_timeout.as_millis())
                .unwrap_or(u32::MAX)
                .max(1),
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        let geometry = |source| RingError::Geometry {
            interface: interface.to_owned(),
            block_size: cfg.block_size,
            block_count: cfg.block_count,
            frame_size: cfg.frame_size,
            source,
        };
        set_packet_opt(&fd, libc::PACKET_RX_RING, &req).map_err(geometry)?;
        let len = (cfg.block_size as usize)
            .checked_mul(cfg.block_count as usize)
            .ok_or_else(|| geometry(io::Error::from(io::ErrorKind::InvalidInput)))?;
        // SAFETY: maps `len` bytes of the ring the kernel just set up on `fd` (exactly
        // block-size × block-count); the result is checked before use and unmapped by
        // `Map::drop`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(geometry(io::Error::last_os_error()));
        }
        let Some(ptr) = NonNull::new(ptr.cast::<u8>()) else {
            return Err(geometry(io::Error::from(io::ErrorKind::InvalidData)));
        };
        let map = Map { ptr, len };

        // SAFETY: an all-zero `sockaddr_ll` is a valid value of this plain C struct.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL_BE;
        sll.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
        // SAFETY: `sll` is a live `sockaddr_ll` and its size is passed with it.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENODEV | libc::ENXIO) => RingError::NoInterface {
                    interface: interface.to_owned(),
                },
                _ => os(interface, "cannot bind the packet socket")(e),
            });
        }
        if let Some(group) = cfg.fanout {
            // Low 16 bits: the group; high 16: the mode and flags. DEFRAG reassembles IP
            // fragments before hashing, so a fragmented packet reaches one worker whole.
            let arg: u32 = u32::from(group)
                | ((libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16);
            set_packet_opt(&fd, libc::PACKET_FANOUT, &arg).map_err(|source| RingError::Fanout {
                interface: interface.to_owned(),
                group,
                source,
            })?;
        }
        Ok(Ring {
            interface: interface.to_owned(),
            map,
            fd,
            block_size: cfg.block_size as usize,
            block_count: cfg.block_count as usize,
            next: 0,
            linktype,
            skip_outgoing,
            stats: WalkStats::default(),
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Link type of the interface ([`linktype`]).
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Whether outgoing copies are skipped while walking (loopback on a kernel without
    /// `PACKET_IGNORE_OUTGOING`); `false` when the kernel drops them or they are kept.
    pub fn skips_outgoing(&self) -> bool {
        self.skip_outgoing
    }

    /// What walking the blocks counted so far.
    pub fn walk_stats(&self) -> WalkStats {
        self.stats
    }

    /// The status word of block `i`, shared with the kernel.
    fn status(&self, i: usize) -> &AtomicU32 {
        debug_assert!(i < self.block_count);
        // SAFETY: block `i` (< block_count) starts at `i * block_size` inside the mapping,
        // and its status word at offset 8, 4-aligned (the mapping is page-aligned and
        // block sizes are multiples of the page size). The kernel writes this word
        // concurrently, so it is only ever accessed atomically; the reference lives no
        // longer than `&self`, i.e. the mapping.
        unsafe {
            AtomicU32::from_ptr(
                self.map
                    .ptr
                    .as_ptr()
                    .add(i * self.block_size + desc::BLOCK_STATUS)
                    .cast::<u32>(),
            )
        }
    }

    /// Waits up to `timeout` for the next block, then hands every packet in it to `each`
    /// and gives the block back to the kernel. Returns whether a block was read (`false`:
    /// the timeout passed, or a signal interrupted the wait).
    pub fn next_block(
        &mut self,
        timeout: Duration,
        each: &mut dyn FnMut(Packet<'_>),
    ) -> Result<bool, RingError> {
        if !self.ready() && !self.wait(timeout)? {
            return Ok(false);
        }
        let i = self.next;
        // SAFETY: the Acquire load in `ready` saw TP_STATUS_USER on block `i`: the kernel
        // has finished writing it and will not touch it again until its status is set
        // back to TP_STATUS_KERNEL below, after the last use of `block`. The slice lies
        // inside the mapping (block `i` < block_count) and lives only in this call.
        let block = unsafe {
            std::slice::from_raw_parts(
                self.map.ptr.as_ptr().add(i * self.block_size),
                self.block_size,
            )
        };
        walk_block(
            block,
            self.linktype,
            self.skip_outgoing,
            &mut self.stats,
            each,
        );
        // Release: every read of the block above happens before the kernel may refill it.
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.next = (i + 1) % self.block_count;
        Ok(true)
    }

    fn ready(&self) -> bool {
        self.status(self.next).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// `poll` until the socket is readable or `timeout`; an error on the socket (the
    /// interface went down or was removed) is [`RingError::Down`].
    fn wait(&self, timeout: Duration) -> Result<bool, RingError> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one live `pollfd`, count 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(os(&self.interface, "poll on the packet socket")(e));
        }
        if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            let e = self.socket_error();
            // POLLERR with no error pending: nothing to report; the ring decides.
            if let Some(source) = e {
                return Err(RingError::Down {
                    interface: self.interface.clone(),
                    source,
                });
            }
        }
        Ok(self.ready())
    }

    /// The pending error on the socket (`SO_ERROR`, which also clears it).
    fn socket_error(&self) -> Option<io::Error> {
        let mut err: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` and `len` are live and `len` holds `err`'s size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Some(io::Error::last_os_error());
        }
        (err != 0).then(|| io::Error::from_raw_os_error(err))
    }

    /// The kernel's counts since the last call (reading resets them).
    pub fn kernel_stats(&self) -> Result<KernelStats, RingError> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` and `len` are live and `len` holds `st`'s size; the kernel writes at
        // most `len` bytes and updates `len`.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Err(os(&self.interface, "reading PACKET_STATISTICS")(
                io::Error::last_os_error(),
            ));
        }
        Ok(KernelStats {
            packets: u64::from(st.tp_packets),
            drops: u64::from(st.tp_drops),
            freeze_q: u64::from(st.tp_freeze_q_cnt),
        })
    }
}

/// `ARPHRD_*` of the interface `name` (`SIOCGIFHWADDR`), asked through `fd`, so in the
/// network namespace of the socket.
fn hardware_type(fd: &OwnedFd, name: &CString) -> io::Result<u16> {
    // SAFETY: an all-zero `ifreq` is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a live `ifreq` with a NUL-terminated name (zeroed past it); the
    // kernel fills `ifr_hwaddr`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFHWADDR succeeded, the union holds `ifru_hwaddr`.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as the kernel lays it out: the descriptor, then each packet's header,
    /// `sockaddr_ll` and frame, 16-aligned, chained by `tp_next_offset`.
    fn block(packets: &[(&[u8], u32, u8)], size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        let put = |b: &mut Vec<u8>, at: usize, v: u32| {
            b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        };
        put(&mut b, desc::BLOCK_STATUS, libc::TP_STATUS_USER);
        put(&mut b, desc::NUM_PKTS, packets.len() as u32);
        put(&mut b, desc::OFFSET_TO_FIRST_PKT, desc::SIZE as u32);
        let mut at = desc::SIZE;
        for (i, &(frame, wire_len, pkttype)) in packets.iter().enumerate() {
            let mac = 80; // TPACKET_ALIGN(TPACKET3_HDRLEN) + the kernel's headroom.
            let next = (mac + frame.len()).next_multiple_of(16);
            put(
                &mut b,
                at + hdr::NEXT_OFFSET,
                if i + 1 < packets.len() {
                    next as u32
                } else {
                    0
                },
            );
            put(&mut b, at + hdr::SEC, 1_700_000_000 + i as u32);
            put(&mut b, at + hdr::NSEC, 250_000);
            put(&mut b, at + hdr::SNAPLEN, frame.len() as u32);
            put(&mut b, at + hdr::LEN, wire_len);
            put(&mut b, at + 20, libc::TP_STATUS_USER);
            b[at + hdr::MAC..at + hdr::MAC + 2].copy_from_slice(&(mac as u16).to_ne_bytes());
            b[at + hdr::PKTTYPE] = pkttype;
            b[at + mac..at + mac + frame.len()].copy_from_slice(frame);
            at += next;
        }
        put(&mut b, desc::BLK_LEN, at as u32);
        b
    }

    fn walk(b: &[u8], skip_outgoing: bool) -> (Vec<(u64, Vec<u8>)>, WalkStats) {
        let mut got = Vec::new();
        let mut stats = WalkStats::default();
        walk_block(b, linktype::ETHERNET, skip_outgoing, &mut stats, &mut |p| {
            got.push((p.ts_us, p.data.to_vec()))
        });
        (got, stats)
    }

    #[test]
    fn walks_every_packet_in_order() {
        let b = block(
            &[
                (b"first frame", 11, libc::PACKET_HOST),
                (b"second, longer on the wire", 1500, libc::PACKET_OUTGOING),
                (b"3", 1, libc::PACKET_HOST),
            ],
            4096,
        );
        let (got, stats) = walk(&b, false);
        assert_eq!(
            got,
            [
                (1_700_000_000_000_250, b"first frame".to_vec()),
                (
                    1_700_000_001_000_250,
                    b"second, longer on the wire".to_vec()
                ),
                (1_700_000_002_000_250, b"3".to_vec()),
            ]
        );
        assert_eq!(
            stats,
            WalkStats {
                packets: 3,
                cut: 1,
                ..WalkStats::default()
            }
        );
        // Loopback on an old kernel: the outgoing copy is skipped.
        let (got, stats) = walk(&b, true);
        assert_eq!(got.len(), 2);
        assert_eq!(stats.outgoing_skipped, 1);
    }

    #[test]
    fn an_empty_block_gives_nothing() {
        let (got, stats) = walk(&block(&[], 4096), false);
        assert!(got.is_empty());
        assert_eq!(stats, WalkStats::default());
    }

    /// Valid, truncated and wrong lengths: a block the sensor does not understand is
    /// counted and the rest of it skipped, never read out of bounds.
    #[test]
    fn broken_blocks_are_counted_not_followed() {
        let good = block(&[(b"aaaa", 4, 0), (b"bbbb", 4, 0)], 4096);
        let set = |b: &mut Vec<u8>, at: usize, v: u32| {
            b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        };
        let second = desc::SIZE + 96;
        let cases: Vec<(&str, Vec<u8>, usize)> = vec![
            ("valid", good.clone(), 2),
            ("block shorter than its descriptor", good[..10].to_vec(), 0),
            (
                "truncated after the first packet",
                good[..second + 8].to_vec(),
                1,
            ),
            (
                "more packets than there are",
                {
                    let mut b = good.clone();
                    set(&mut b, desc::NUM_PKTS, 1000);
                    b
                },
                2,
            ),
            (
                "first packet past the end",
                {
                    let mut b = good.clone();
                    set(&mut b, desc::OFFSET_TO_FIRST_PKT, u32::MAX);
                    b
                },
                0,
            ),
            (
                "snap length past the end",
                {
                    let mut b = good.clone();
                    set(&mut b, desc::SIZE + hdr::SNAPLEN, u32::MAX);
                    b
                },
                0,
            ),
            (
                "next offset zero before the last packet",
                {
                    let mut b = good.clone();
                    set(&mut b, desc::SIZE + hdr::NEXT_OFFSET, 0);
                    b
                },
                1,
            ),
            (
                "next offset past the end",
                {
                    let mut b = good.clone();
                    set(&mut b, desc::SIZE + hdr::NEXT_OFFSET, u32::MAX - 8);
                    b
                },
                1,
            ),
        ];
        for (name, b, packets) in cases {
            let (got, stats) = walk(&b, false);
            assert_eq!(got.len(), packets, "{name}");
            assert_eq!(stats.malformed_blocks, u64::from(name != "valid"), "{name}");
        }
    }

    #[test]
    fn hardware_types_map_to_link_types() {
        for (arphrd, want) in [
            (libc::ARPHRD_ETHER, Some(linktype::ETHERNET)),
            (libc::ARPHRD_LOOPBACK, Some(linktype::ETHERNET)),
            (libc::ARPHRD_NONE, Some(linktype::RAW)),
            (libc::ARPHRD_IPGRE, Some(linktype::RAW)),
            (libc::ARPHRD_IEEE80211_RADIOTAP, None),
        ] {
            assert_eq!(linktype_of(arphrd), want, "ARPHRD {arphrd}");
        }
    }
}
