//! Capture files: legacy pcap (micro- or nanosecond, either byte order) and pcapng
//! (several sections and interfaces, each with its link type and timestamp resolution),
//! read in a bounded buffer with `pcap-parser`. A file that is not a capture, or that breaks
//! in the middle, is an error naming the file; a last record cut short (a capture that was
//! still being written, or copied while it was) is counted and ends the file normally.

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::Packet;

/// Read buffer; a record larger than this (a corrupt length, in practice: snap lengths stop
/// at 256 KiB) is an error.
const BUFFER: usize = 4 << 20;

/// Why a capture file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PcapFileError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: empty file, not a pcap or pcapng capture")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture (unrecognized header)")]
    NotACapture { path: PathBuf },
    #[error("{path}: broken capture after {offset} bytes: {reason}")]
    Broken {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
    #[error("{path}: read error after {offset} bytes")]
    Read { path: PathBuf, offset: usize },
}

/// What reading the file counted besides the packets themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Packet records read.
    pub records: u64,
    /// The file ended inside a record (the record is not delivered).
    pub truncated: u64,
    /// pcapng packets of an interface no description block announced.
    pub unknown_interface: u64,
}

/// One interface of a pcapng section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset: i64,
}

/// A capture file being read.
pub struct PcapFile {
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Legacy pcap: the file's link type and whether timestamps are in nanoseconds.
    legacy: Option<(u32, bool)>,
    /// pcapng: the interfaces of the current section, by id.
    interfaces: Vec<Interface>,
    /// Timestamp of the last packet, for simple packet blocks (which have none).
    last_us: u64,
    stats: FileStats,
}

impl PcapFile {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<PcapFile, PcapFileError> {
        let file = File::open(path).map_err(|source| PcapFileError::Open {
            path: path.to_owned(),
            source,
        })?;
        let reader = pcap_parser::create_reader(BUFFER, file).map_err(|e| match e {
            PcapError::Eof => PcapFileError::Empty {
                path: path.to_owned(),
            },
            PcapError::ReadError => PcapFileError::Read {
                path: path.to_owned(),
                offset: 0,
            },
            _ => PcapFileError::NotACapture {
                path: path.to_owned(),
            },
        })?;
        Ok(PcapFile {
            path: path.to_owned(),
            reader,
            legacy: None,
            interfaces: Vec::new(),
            last_us: 0,
            stats: FileStats::default(),
        })
    }

    pub fn stats(&self) -> FileStats {
        self.stats
    }

    /// Calls `each` for every packet, in file order, until the end of the file.
    pub fn for_each(&mut self, mut each: impl FnMut(Packet<'_>)) -> Result<(), PcapFileError> {
        loop {
            let offset = self.reader.consumed();
            let (consumed, block) = match self.reader.next() {
                Ok((n, block)) => (n, block),
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    let at = self.reader.consumed();
                    self.reader.refill().map_err(|_| PcapFileError::Read {
                        path: self.path.clone(),
                        offset: at,
                    })?;
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    self.stats.truncated += 1;
                    return Ok(());
                }
                Err(PcapError::BufferTooSmall) => {
                    return Err(PcapFileError::Broken {
                        path: self.path.clone(),
                        offset,
                        reason: format!(
                            "a record larger than the {} MiB read buffer (corrupt length?)",
                            BUFFER >> 20
                        ),
                    });
                }
                Err(e) => {
                    return Err(PcapFileError::Broken {
                        path: self.path.clone(),
                        offset,
                        reason: e.to_string(),
                    });
                }
            };
            match block {
                PcapBlockOwned::LegacyHeader(h) => {
                    self.legacy = Some((h.network.0 as u32, h.is_nanosecond_precision()));
                }
                PcapBlockOwned::Legacy(b) => {
                    let (linktype, nanos) = self.legacy.unwrap_or((1, false));
                    let frac = if nanos {
                        u64::from(b.ts_usec) / 1000
                    } else {
                        u64::from(b.ts_usec)
                    };
                    self.stats.records += 1;
                    let caplen = (b.caplen as usize).min(b.data.len());
                    self.last_us = u64::from(b.ts_sec) * 1_000_000 + frac;
                    each(Packet {
                        ts_us: self.last_us,
                        linktype,
                        data: &b.data[..caplen],
                    });
                }
                PcapBlockOwned::NG(Block::SectionHeader(_)) => self.interfaces.clear(),
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    self.interfaces.push(Interface {
                        linktype: idb.linktype.0 as u32,
                        resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                        offset: idb.ts_offset(),
                    });
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    self.stats.records += 1;
                    match self.interfaces.get(epb.if_id as usize) {
                        Some(i) => {
                            let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let us = (u128::from(ts) * 1_000_000 / u128::from(i.resolution))
                                as i128
                                + i128::from(i.offset) * 1_000_000;
                            let caplen = (epb.caplen as usize).min(epb.data.len());
                            self.last_us = u64::try_from(us.max(0)).unwrap_or(u64::MAX);
                            each(Packet {
                                ts_us: self.last_us,
                                linktype: i.linktype,
                                data: &epb.data[..caplen],
                            });
                        }
                        None => self.stats.unknown_interface += 1,
                    }
                }
                PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                    // No timestamp and no interface id: interface 0, the time of the packet
                    // before it.
                    self.stats.records += 1;
                    match self.interfaces.first() {
                        Some(i) => {
                            let len = (spb.origlen as usize).min(spb.data.len());
                            each(Packet {
                                ts_us: self.last_us,
                                linktype: i.linktype,
                                data: &spb.data[..len],
                            });
                        }
                        None => self.stats.unknown_interface += 1,
                    }
                }
                PcapBlockOwned::NG(_) => {}
            }
            self.reader.consume(consumed);
        }
    }
}

/// Writes legacy pcap files (microsecond timestamps): for tests, benchmarks and the
/// generated captures the sensor is measured with.
pub struct PcapWriter<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> PcapWriter<W> {
    /// Starts a file of `linktype` packets.
    pub fn new(mut out: W, linktype: u32) -> std::io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&linktype.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet seen at `ts_us`.
    pub fn write(&mut self, ts_us: u64, data: &[u8]) -> std::io::Result<()> {
        let secs = u32::try_from(ts_us / 1_000_000).unwrap_or(u32::MAX);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out
            .write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
        let len = data.len() as u32;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = (Vec<(u64, u32, Vec<u8>)>, FileStats);

    fn read_all(bytes: &[u8]) -> Result<Read, PcapFileError> {
        let dir = std::env::temp_dir().join(format!(
            "tianmu-pcap-{}-{:x}",
            std::process::id(),
            rules::sql::fnv1a64(bytes)
        ));
        std::fs::write(&dir, bytes).expect("temp file writable");
        let mut out = Vec::new();
        let result = PcapFile::open(&dir).and_then(|mut f| {
            f.for_each(|p| out.push((p.ts_us, p.linktype, p.data.to_vec())))?;
            Ok(f.stats())
        });
        let _ = std::fs::remove_file(&dir);
        result.map(|s| (out, s))
    }

    fn legacy(packets: &[(u64, &[u8])]) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), 1).expect("in memory");
        for (ts, p) in packets {
            w.write(*ts, p).expect("in memory");
        }
        w.into_inner()
    }

    #[test]
    fn legacy_pcap_valid_truncated_and_garbage() {
        let file = legacy(&[
            (1_700_000_000_123_456, b"abcd"),
            (1_700_000_001_000_000, b"ef"),
        ]);
        let (packets, stats) = read_all(&file).expect("valid");
        assert_eq!(
            packets,
            vec![
                (1_700_000_000_123_456, 1, b"abcd".to_vec()),
                (1_700_000_001_000_000, 1, b"ef".to_vec())
            ]
        );
        assert_eq!((stats.records, stats.truncated), (2, 0));
        // The last record cut short: counted, the rest delivered.
        let (packets, stats) = read_all(&file[..file.len() - 1]).expect("truncated is not fatal");
        assert_eq!((packets.len(), stats.truncated), (1, 1));
        // Not a capture at all.
        let err = read_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect_err("garbage");
        assert!(err.to_string().contains("not a pcap"), "{err}");
        assert!(matches!(read_all(b""), Err(PcapFileError::Empty { .. })));
    }

    /// A pcapng file: section header, one interface (nanosecond resolution, link type
    /// raw IP), one enhanced packet block.
    #[test]
    fn pcapng_with_nanosecond_interface() {
        fn block(kind: u32, body: &[u8]) -> Vec<u8> {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let len = (body.len() + 12) as u32;
            [
                kind.to_le_bytes().as_slice(),
                &len.to_le_bytes(),
                &body,
                &len.to_le_bytes(),
            ]
            .concat()
        }
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend(1u16.to_le_bytes());
        shb.extend(0u16.to_le_bytes());
        shb.extend((-1i64).to_le_bytes());
        let mut idb = 101u16.to_le_bytes().to_vec();
        idb.extend(0u16.to_le_bytes());
        idb.extend(0u32.to_le_bytes());
        // if_tsresol = 9 (nanoseconds), end of options.
        idb.extend([9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        let ts: u64 = 1_700_000_000_123_456_789;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend(((ts >> 32) as u32).to_le_bytes());
        epb.extend((ts as u32).to_le_bytes());
        epb.extend(3u32.to_le_bytes());
        epb.extend(3u32.to_le_bytes());
        epb.extend(b"xyz");
        let file = [block(0x0a0d_0d0a, &shb), block(1, &idb), block(6, &epb)].concat();
        let (packets, stats) = read_all(&file).expect("valid pcapng");
        assert_eq!(packets, vec![(1_700_000_000_123_456, 101, b"xyz".to_vec())]);
        assert_eq!(stats.records, 1);
    }
}
