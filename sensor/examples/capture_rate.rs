//! A measurement aid for `benches/sensor_live.sh`, not part of the product: how many packets
//! a capture path delivers, next to pnet's datalink channel as the baseline, each feeding
//! the same sensor engine (`sensor::run::Sensor`), and a UDP sender to load them.
//!
//! ```text
//! capture_rate ring IF SECONDS          the TPACKET_V3 ring (sensor::capture::ring)
//! capture_rate pnet IF SECONDS          pnet_datalink::channel (a poll + recvfrom per packet)
//! capture_rate send ADDR:PORT SECONDS   UDP datagrams (64 bytes) as fast as sendmmsg goes
//! ```
//!
//! Capture modes count the UDP datagrams to port 9 (the sender's, so other traffic on the
//! link does not count) and print one JSON line: packets seen, kernel drops (the ring
//! only: pnet's channel cannot tell), seconds. The sender prints how many it sent.
#![allow(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sensor::capture::Packet;
use sensor::capture::linktype;
use sensor::capture::ring::{Ring, RingConfig};
use sensor::event::{Analyst, Events};
use sensor::flow::FlowLimits;
use sensor::run::Sensor;

/// The sender's destination port (discard).
const PORT: u16 = 9;

/// Whether an Ethernet frame is an IPv4 UDP datagram to [`PORT`].
fn ours(frame: &[u8]) -> bool {
    if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
        return false;
    }
    let ihl = usize::from(frame[14] & 15) * 4;
    frame
        .get(14 + ihl + 2..14 + ihl + 4)
        .is_some_and(|p| u16::from_be_bytes([p[0], p[1]]) == PORT)
}

fn engine() -> Sensor {
    Sensor::new(
        FlowLimits::default(),
        Events::new("bench/sensor", Analyst::Plain),
    )
}

fn report(mode: &str, packets: u64, drops: Option<u64>, secs: f64) {
    let drops = drops.map_or("null".to_owned(), |d| d.to_string());
    println!("{{\"mode\":\"{mode}\",\"packets\":{packets},\"drops\":{drops},\"secs\":{secs:.3}}}");
}

fn ring(interface: &str, secs: Duration) -> Result<(), String> {
    let mut ring = Ring::open(interface, &RingConfig::default()).map_err(|e| e.to_string())?;
    let mut sensor = engine();
    let (mut packets, mut drops) = (0u64, 0u64);
    // Stats reset on reading: start from zero.
    let _ = ring.kernel_stats();
    eprintln!("capture_rate: ring open on {interface}");
    let started = Instant::now();
    while started.elapsed() < secs {
        ring.next_block(Duration::from_millis(50), &mut |p| {
            if ours(p.data) {
                packets += 1;
            }
            sensor.packet(p, &mut |_| {});
        })
        .map_err(|e| e.to_string())?;
    }
    drops += ring.kernel_stats().map_err(|e| e.to_string())?.drops;
    report(
        "ring",
        packets,
        Some(drops),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn pnet(interface: &str, secs: Duration) -> Result<(), String> {
    use pnet_datalink::{Channel, Config};
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == interface)
        .ok_or_else(|| format!("{interface}: no such interface"))?;
    let config = Config {
        read_timeout: Some(Duration::from_millis(50)),
        ..Config::default()
    };
    let Channel::Ethernet(_tx, mut rx) =
        pnet_datalink::channel(&iface, config).map_err(|e| format!("{interface}: {e}"))?
    else {
        return Err(format!("{interface}: not an Ethernet channel"));
    };
    let mut sensor = engine();
    let mut packets = 0u64;
    eprintln!("capture_rate: pnet channel open on {interface}");
    let started = Instant::now();
    while started.elapsed() < secs {
        match rx.next() {
            Ok(frame) => {
                if ours(frame) {
                    packets += 1;
                }
                let p = Packet {
                    ts_us: 0,
                    linktype: linktype::ETHERNET,
                    data: frame,
                };
                sensor.packet(p, &mut |_| {});
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(format!("{interface}: {e}")),
        }
    }
    report("pnet", packets, None, started.elapsed().as_secs_f64());
    Ok(())
}

/// UDP datagrams to `to`, 64 per `sendmmsg`, for `secs`.
fn send(to: SocketAddr, secs: Duration) -> Result<(), String> {
    const BATCH: usize = 64;
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket.connect(to).map_err(|e| e.to_string())?;
    let payload = [0x5au8; 64];
    let mut iov = [libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    }; BATCH];
    // SAFETY: an all-zero mmsghdr is valid; each then points at its own iovec below.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    let (mut sent, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < secs {
        // SAFETY: `msgs` holds BATCH headers, each pointing at a live iovec over `payload`,
        // all of which outlive the call; the socket is connected, so no addresses.
        let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            sent += n as u64;
        } else {
            // ICMP port unreachable comes back as ECONNREFUSED on the next send.
            refused += 1;
        }
    }
    println!(
        "{{\"mode\":\"send\",\"sent\":{sent},\"refused\":{refused},\"secs\":{:.3}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs = |s: &str| s.parse::<f64>().ok().map(Duration::from_secs_f64);
    let result = match args.as_slice() {
        [mode, target, s] => match (mode.as_str(), secs(s)) {
            ("ring", Some(d)) => ring(target, d),
            ("pnet", Some(d)) => pnet(target, d),
            ("send", Some(d)) => match target.parse() {
                Ok(to) => send(to, d),
                Err(_) => Err(format!("{target}: not ADDR:PORT")),
            },
            _ => Err("usage: capture_rate ring|pnet IF SECONDS | send ADDR:PORT SECONDS".into()),
        },
        _ => Err("usage: capture_rate ring|pnet IF SECONDS | send ADDR:PORT SECONDS".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capture_rate: {e}");
            ExitCode::FAILURE
        }
    }
}
