//! The local durable spool between producers and ClickHouse: events are appended to
//! checksummed segment files before anything is shipped, so a ClickHouse outage, a crash or a
//! restart loses nothing that was written.
//!
//! ```text
//! <path>/lock                      flock held by the one process that owns the spool
//! <path>/state.json                shipped cursor + counters, replaced atomically
//! <path>/00000000000000000007.seg  segments: "TMSPOOL1" + u16 schema version + 6 zero bytes,
//!                                  then records: u32 len | u32 crc32c(payload) | payload
//! <path>/quarantine/               segments found corrupted, moved aside with the reason logged
//! ```
//!
//! One [`Writer`] appends (rotating segments at `segment-size`, syncing per the fsync
//! policy, applying the overflow policy at `max-size`), one [`Reader`] reads from the
//! shipped cursor, and [`Reader::commit`] advances the cursor once ClickHouse has the
//! events, deleting segments that are wholly shipped. A record that fails its length or
//! checksum check stops reading that segment: the good records before it ship, then the
//! segment is moved to `quarantine/` and the next segment continues. A torn record at the
//! end of the last segment (a crash in the middle of a write, never acknowledged) is cut off
//! when the spool is opened.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::config::{FsyncPolicy, SpoolConfig, WhenFull};
use crate::event::{Event, SCHEMA_VERSION};

const MAGIC: &[u8; 8] = b"TMSPOOL1";
/// Bytes of a segment header.
pub const HEADER_LEN: u64 = 16;
const RECORD_HEADER: u64 = 8;
/// Largest encoded event; bigger ones are refused at append and counted.
pub const MAX_RECORD: u64 = 1 << 20;
const STATE_FILE: &str = "state.json";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(
        "spool {} is in use by another process ({holder}); stop it, or give this process its own [spool] path",
        path.display()
    )]
    Locked { path: PathBuf, holder: String },
    #[error("spool {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("spool state {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    #[error("spool is full ({max} bytes, spool.max-size); {dropped} events dropped")]
    Full { max: u64, dropped: usize },
    #[error("spool is shut down")]
    Closed,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A place in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Counters of the spool and its shipper; persisted in `state.json` so that
/// `tianmu pipeline stats` in another process sees them.
#[derive(Debug, Default)]
pub struct Counters {
    pub appended: AtomicU64,
    pub shipped: AtomicU64,
    /// Insert attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Events refused because the spool held `max-size` (`when-full = "drop-newest"`).
    pub dropped_full: AtomicU64,
    /// Events lost because the disk refused the write (e.g. disk full).
    pub dropped_io: AtomicU64,
    /// Events larger than the record limit.
    pub dropped_oversize: AtomicU64,
    /// Events dropped because the in-memory queue to the writer was full.
    pub dropped_queue: AtomicU64,
    pub quarantined_segments: AtomicU64,
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CounterValues {
    pub appended: u64,
    pub shipped: u64,
    pub retried: u64,
    pub dropped_full: u64,
    pub dropped_io: u64,
    pub dropped_oversize: u64,
    pub dropped_queue: u64,
    pub quarantined_segments: u64,
}

impl Counters {
    pub fn values(&self) -> CounterValues {
        CounterValues {
            appended: self.appended.load(Relaxed),
            shipped: self.shipped.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dropped_full: self.dropped_full.load(Relaxed),
            dropped_io: self.dropped_io.load(Relaxed),
            dropped_oversize: self.dropped_oversize.load(Relaxed),
            dropped_queue: self.dropped_queue.load(Relaxed),
            quarantined_segments: self.quarantined_segments.load(Relaxed),
        }
    }

    fn restore(&self, v: CounterValues) {
        self.appended.store(v.appended, Relaxed);
        self.shipped.store(v.shipped, Relaxed);
        self.retried.store(v.retried, Relaxed);
        self.dropped_full.store(v.dropped_full, Relaxed);
        self.dropped_io.store(v.dropped_io, Relaxed);
        self.dropped_oversize.store(v.dropped_oversize, Relaxed);
        self.dropped_queue.store(v.dropped_queue, Relaxed);
        self.quarantined_segments
            .store(v.quarantined_segments, Relaxed);
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Persisted {
    cursor: Position,
    counters: CounterValues,
}

/// Segment bookkeeping shared by the writer and the reader.
#[derive(Debug)]
struct Segments {
    /// Segment number → bytes written (and visible to the reader).
    lens: BTreeMap<u64, u64>,
    /// The segment the writer appends to.
    active: u64,
    /// Sum of `lens`.
    total: u64,
    /// Shipped up to here.
    cursor: Position,
    /// The reader found the active segment corrupted and needs it sealed to move it aside.
    seal_requested: bool,
}

struct Shared {
    dir: PathBuf,
    cfg: SpoolConfig,
    segments: Mutex<Segments>,
    /// Signalled when the reader frees space (for `when-full = "block"`).
    space: Condvar,
    /// Signalled when the writer makes new events visible.
    data: tokio::sync::Notify,
    counters: Counters,
    closed: AtomicBool,
    /// Serialises writes of `state.json`.
    persist: Mutex<()>,
    /// Held for the lifetime of the spool: the flock on `<path>/lock`.
    _lock: File,
}

impl Shared {
    fn segments(&self) -> MutexGuard<'_, Segments> {
        // A panic while holding this lock leaves plain numbers behind, still consistent
        // enough to continue: take the guard either way.
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        segment_path(&self.dir, seq)
    }

    fn persist(&self) -> Result<(), SpoolError> {
        let _guard = self.persist.lock().unwrap_or_else(|p| p.into_inner());
        let state = Persisted {
            cursor: self.segments().cursor,
            counters: self.counters.values(),
        };
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join("state.json.tmp");
        let body = serde_json::to_vec_pretty(&state).map_err(|e| SpoolError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&body).map_err(io_err(&tmp))?;
        if self.cfg.fsync != FsyncPolicy::Never {
            f.sync_data().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        if self.cfg.fsync != FsyncPolicy::Never {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Segment numbers and sizes found in `dir`.
fn list_segments(dir: &Path) -> Result<BTreeMap<u64, u64>, SpoolError> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let len = entry.metadata().map_err(io_err(&entry.path()))?.len();
        out.insert(seq, len);
    }
    Ok(out)
}

fn read_state(dir: &Path) -> Result<Option<Persisted>, SpoolError> {
    let path = dir.join(STATE_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SpoolError::State {
                path,
                reason: format!("{e}; move it aside to reship the whole spool"),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Opens (creating if needed) the spool at `cfg.path`, taking its lock.
pub fn open(cfg: &SpoolConfig) -> Result<(Writer, Reader), SpoolError> {
    let dir = cfg.path.clone();
    fs::create_dir_all(dir.join("quarantine")).map_err(io_err(&dir))?;
    let lock = take_lock(&dir)?;

    let persisted = read_state(&dir)?;
    let mut lens = list_segments(&dir)?;
    if let Some((&last, _)) = lens.iter().next_back() {
        let len = cut_torn_tail(&segment_path(&dir, last))?;
        lens.insert(last, len);
    }
    let active = lens.keys().next_back().map_or(1, |s| s + 1);
    let first = lens.keys().next().copied().unwrap_or(active);
    let start = Position {
        segment: first,
        offset: HEADER_LEN,
    };
    let cursor = match &persisted {
        // The cursor's segment is gone (shipped and deleted, or quarantined): continue at
        // the next one that exists.
        Some(p) if lens.contains_key(&p.cursor.segment) => p.cursor,
        Some(p) => lens.range(p.cursor.segment..).next().map_or(
            Position {
                segment: active,
                offset: HEADER_LEN,
            },
            |(&s, _)| Position {
                segment: s,
                offset: HEADER_LEN,
            },
        ),
        None => start,
    };
    let total = lens.values().sum();
    let shared = Arc::new(Shared {
        dir: dir.clone(),
        cfg: cfg.clone(),
        segments: Mutex::new(Segments {
            lens,
            active,
            total,
            cursor,
            seal_requested: false,
        }),
        space: Condvar::new(),
        data: tokio::sync::Notify::new(),
        counters: Counters::default(),
        closed: AtomicBool::new(false),
        persist: Mutex::new(()),
        _lock: lock,
    });
    if let Some(p) = persisted {
        shared.counters.restore(p.counters);
    }
    let file = create_segment(&shared, active)?;
    let writer = Writer {
        shared: shared.clone(),
        file,
        seq: active,
        len: HEADER_LEN,
        buf: Vec::new(),
        last_sync: Instant::now(),
        unsynced: false,
        failing: false,
    };
    let reader = Reader {
        shared,
        pos: cursor,
        file: None,
        quarantine: None,
        handed: cursor,
    };
    Ok((writer, reader))
}

fn take_lock(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    if file.try_lock().is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = match holder.trim() {
            "" => "unknown process".to_owned(),
            pid => format!("pid {pid}"),
        };
        return Err(SpoolError::Locked {
            path: dir.to_owned(),
            holder,
        });
    }
    file.set_len(0).map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    Ok(file)
}

/// Cuts a record that runs past the end of the file (a write interrupted by a crash) off the
/// end of `path`; returns the resulting length.
fn cut_torn_tail(path: &Path) -> Result<u64, SpoolError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut r = BufReader::new(&file);
    let mut off = HEADER_LEN;
    if r.seek(SeekFrom::Start(off)).is_err() || len < HEADER_LEN {
        return Ok(len); // header damage: the reader quarantines it
    }
    let mut head = [0u8; RECORD_HEADER as usize];
    while off < len {
        if off + RECORD_HEADER > len || r.read_exact(&mut head).is_err() {
            break;
        }
        let rec = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
        if rec == 0 || rec > MAX_RECORD {
            return Ok(len); // not a torn tail but damage: the reader quarantines it
        }
        if off + RECORD_HEADER + rec > len {
            break;
        }
        off += RECORD_HEADER + rec;
        r.seek_relative(rec as i64).map_err(io_err(path))?;
    }
    if off < len {
        warn!(path = %path.display(), bytes = len - off, "Cut a torn record off the spool's last segment (interrupted write).");
        file.set_len(off).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
    }
    Ok(off.min(len))
}

fn create_segment(shared: &Shared, seq: u64) -> Result<File, SpoolError> {
    let path = shared.segment_path(seq);
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let mut header = [0u8; HEADER_LEN as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..10].copy_from_slice(&SCHEMA_VERSION.to_le_bytes());
    file.write_all(&header).map_err(io_err(&path))?;
    if shared.cfg.fsync != FsyncPolicy::Never {
        file.sync_data().map_err(io_err(&path))?;
        sync_dir(&shared.dir)?;
    }
    let mut seg = shared.segments();
    seg.lens.insert(seq, HEADER_LEN);
    seg.total += HEADER_LEN;
    seg.active = seq;
    seg.seal_requested = false;
    Ok(file)
}

/// A handle on the spool's counters for producers and health reports; keeps the spool
/// (and its lock) alive while held.
#[derive(Clone)]
pub struct SpoolStats(Arc<Shared>);

impl SpoolStats {
    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }
}

/// Appends events; owned by one task.
pub struct Writer {
    shared: Arc<Shared>,
    file: File,
    seq: u64,
    len: u64,
    buf: Vec<u8>,
    last_sync: Instant,
    unsynced: bool,
    /// The last write failed; logged once until a write succeeds again.
    failing: bool,
}

impl Writer {
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn stats(&self) -> SpoolStats {
        SpoolStats(self.shared.clone())
    }

    /// Appends `events` as one batch and syncs it per the fsync policy. Returns how many
    /// were written; events refused by the overflow policy or the record limit are counted,
    /// not returned as errors, unless the whole batch was refused.
    pub fn append(&mut self, events: &[Event]) -> Result<usize, SpoolError> {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        self.buf.clear();
        let mut n = 0;
        for event in events {
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0; RECORD_HEADER as usize]);
            let buf = std::mem::take(&mut self.buf);
            self.buf = match postcard::to_extend(event, buf) {
                Ok(buf) => buf,
                Err(e) => {
                    // Serialising our own types into a Vec does not fail; if it ever does,
                    // count the event as oversize rather than losing the batch.
                    error!(error = %e, "Could not encode an event for the spool.");
                    counters.dropped_oversize.fetch_add(1, Relaxed);
                    Vec::new()
                }
            };
            let payload = (self.buf.len() - start) as u64 - RECORD_HEADER;
            if self.buf.len() < start + RECORD_HEADER as usize || payload > MAX_RECORD {
                counters.dropped_oversize.fetch_add(1, Relaxed);
                self.buf.truncate(start);
                continue;
            }
            let crc = crc32c::crc32c(&self.buf[start + RECORD_HEADER as usize..]);
            self.buf[start..start + 4].copy_from_slice(&(payload as u32).to_le_bytes());
            self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        let bytes = self.buf.len() as u64;
        self.wait_for_space(bytes, n)?;
        // A batch fills the active segment and continues in the next one, cut at record
        // boundaries, so that no segment outgrows `segment-size` by more than one record.
        let mut at = 0usize;
        let mut written = 0usize;
        while at < self.buf.len() {
            if self.shared.segments().seal_requested {
                self.rotate()?;
            }
            let room = self.shared.cfg.segment_size.saturating_sub(self.len);
            let mut end = at;
            let mut records = 0usize;
            while end < self.buf.len() {
                let len = u32::from_le_bytes([
                    self.buf[end],
                    self.buf[end + 1],
                    self.buf[end + 2],
                    self.buf[end + 3],
                ]) as usize;
                let next = end + RECORD_HEADER as usize + len;
                // An empty segment takes one record whatever its size.
                if (next - at) as u64 > room && !(records == 0 && self.len == HEADER_LEN) {
                    break;
                }
                end = next;
                records += 1;
            }
            if records == 0 {
                self.rotate()?;
                continue;
            }
            if let Err(e) = self.write_chunk(at, end, n - written) {
                if written == 0 {
                    return Err(e);
                }
                // The records before the failure are on disk and will ship; say so.
                n = written;
                break;
            }
            at = end;
            written += records;
        }
        if self.shared.cfg.fsync == FsyncPolicy::Batch {
            self.sync()?;
        } else {
            self.maybe_sync()?;
        }
        counters.appended.fetch_add(n as u64, Relaxed);
        self.shared.data.notify_one();
        Ok(n)
    }

    /// Writes `buf[from..to]` (whole records) to the active segment. On failure the segment
    /// is cut back to its last whole record and the `unwritten` events still in the batch are
    /// counted as dropped.
    fn write_chunk(&mut self, from: usize, to: usize, unwritten: usize) -> Result<(), SpoolError> {
        let path = self.shared.segment_path(self.seq);
        if let Err(e) = self.file.write_all(&self.buf[from..to]) {
            let _ = self.file.set_len(self.len);
            self.shared
                .counters
                .dropped_io
                .fetch_add(unwritten as u64, Relaxed);
            if !self.failing {
                error!(path = %path.display(), error = %e, dropped = unwritten, "Spool write failed; dropping events until writes succeed again.");
                self.failing = true;
            }
            return Err(io_err(&path)(e));
        }
        if self.failing {
            info!(path = %path.display(), "Spool writes succeed again.");
            self.failing = false;
        }
        let bytes = (to - from) as u64;
        self.len += bytes;
        self.unsynced = true;
        let mut seg = self.shared.segments();
        seg.lens.insert(self.seq, self.len);
        seg.total += bytes;
        Ok(())
    }

    fn wait_for_space(&self, bytes: u64, n: usize) -> Result<(), SpoolError> {
        let max = self.shared.cfg.max_size;
        let mut seg = self.shared.segments();
        while seg.total + bytes > max {
            if self.shared.cfg.when_full == WhenFull::DropNewest || bytes > max {
                self.shared
                    .counters
                    .dropped_full
                    .fetch_add(n as u64, Relaxed);
                return Err(SpoolError::Full { max, dropped: n });
            }
            if self.shared.closed.load(Relaxed) {
                return Err(SpoolError::Closed);
            }
            seg = self
                .shared
                .space
                .wait_timeout(seg, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), SpoolError> {
        if self.unsynced && self.shared.cfg.fsync != FsyncPolicy::Never {
            self.sync()?;
        }
        let next = self.seq + 1;
        self.file = create_segment(&self.shared, next)?;
        self.seq = next;
        self.len = HEADER_LEN;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), SpoolError> {
        let path = self.shared.segment_path(self.seq);
        self.file.sync_data().map_err(io_err(&path))?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn maybe_sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced
            && self.shared.cfg.fsync == FsyncPolicy::Interval
            && self.last_sync.elapsed() >= self.shared.cfg.fsync_interval
        {
            self.sync()?;
        }
        Ok(())
    }

    /// Periodic housekeeping: interval syncs, sealing a segment the reader found damaged,
    /// and saving the counters for other processes to read.
    pub fn tick(&mut self) -> Result<(), SpoolError> {
        self.maybe_sync()?;
        if self.shared.segments().seal_requested {
            self.rotate()?;
        }
        self.shared.persist()
    }

    /// Syncs what was written and saves the counters; called on shutdown.
    pub fn close(mut self) -> Result<(), SpoolError> {
        if self.unsynced && self.shared.cfg.fsync != FsyncPolicy::Never {
            self.sync()?;
        }
        self.shared.closed.store(true, Relaxed);
        self.shared.space.notify_all();
        self.shared.persist()
    }
}

/// Why a segment is being moved aside.
struct Damage {
    segment: u64,
    offset: u64,
    reason: String,
}

/// Events read from the spool, and where the next read starts.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    pub end: Position,
}

/// Reads events in order from the shipped cursor; owned by the shipper.
pub struct Reader {
    shared: Arc<Shared>,
    pos: Position,
    file: Option<(u64, BufReader<File>)>,
    /// Damage found after the records already handed out; acted on once they are committed.
    quarantine: Option<Damage>,
    /// End of the last batch that held events: drained once the cursor reaches it.
    handed: Position,
}

impl Reader {
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn stats(&self) -> SpoolStats {
        SpoolStats(self.shared.clone())
    }

    /// Resolves when the writer has appended something since the last call.
    pub async fn appended(&self) {
        self.shared.data.notified().await;
    }

    /// True when everything written has been read and committed.
    pub fn is_drained(&self) -> bool {
        let seg = self.shared.segments();
        let end = Position {
            segment: seg.active,
            offset: seg.lens.get(&seg.active).copied().unwrap_or(HEADER_LEN),
        };
        self.quarantine.is_none() && seg.cursor >= self.handed && self.pos >= end
    }

    /// Reads up to `max` events from where the last read ended. Returns an empty batch when
    /// there is nothing new.
    pub fn read(&mut self, max: usize) -> Result<Batch, SpoolError> {
        let mut events = Vec::new();
        while events.len() < max {
            if self.quarantine.is_some() {
                if !events.is_empty() || self.shared.segments().cursor < self.handed {
                    break; // ship and commit what came before the damage first
                }
                self.move_damaged_aside()?;
                continue;
            }
            let (visible, active) = {
                let seg = self.shared.segments();
                match seg.lens.range(self.pos.segment..).next() {
                    Some((&s, &len)) if s == self.pos.segment => (len, seg.active),
                    Some((&s, _)) => {
                        self.pos = Position {
                            segment: s,
                            offset: HEADER_LEN,
                        };
                        continue;
                    }
                    None => break,
                }
            };
            if self.pos.offset >= visible {
                if self.pos.segment < active {
                    self.pos = Position {
                        segment: self.pos.segment + 1,
                        offset: HEADER_LEN,
                    };
                    self.file = None;
                    continue;
                }
                break;
            }
            match self.read_record(visible) {
                Ok(event) => events.push(event),
                Err(Damaged(reason)) => {
                    self.file = None;
                    if self.pos.segment == active {
                        // Cannot move the segment being written aside: have it sealed, and
                        // read on once it is.
                        self.shared.segments().seal_requested = true;
                        break;
                    }
                    self.quarantine = Some(Damage {
                        segment: self.pos.segment,
                        offset: self.pos.offset,
                        reason,
                    });
                }
            }
        }
        if !events.is_empty() {
            self.handed = self.pos;
        }
        Ok(Batch {
            events,
            end: self.pos,
        })
    }

    fn read_record(&mut self, visible: u64) -> Result<Event, Damaged> {
        let seq = self.pos.segment;
        if self.file.as_ref().map(|(s, _)| *s) != Some(seq) {
            self.file = Some((seq, self.open_at(seq, self.pos.offset)?));
        }
        let Some((_, r)) = self.file.as_mut() else {
            return Err(Damaged("segment not open".into()));
        };
        let off = self.pos.offset;
        let mut head = [0u8; RECORD_HEADER as usize];
        r.read_exact(&mut head)
            .map_err(|e| Damaged(format!("record header at offset {off} unreadable: {e}")))?;
        let len = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len > MAX_RECORD || off + RECORD_HEADER + len > visible {
            return Err(Damaged(format!(
                "record at offset {off} claims {len} bytes; the segment ends at {visible} (truncated or overwritten)"
            )));
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload)
            .map_err(|e| Damaged(format!("record at offset {off} unreadable: {e}")))?;
        if crc32c::crc32c(&payload) != crc {
            return Err(Damaged(format!(
                "checksum mismatch in record at offset {off}"
            )));
        }
        let event = postcard::from_bytes(&payload)
            .map_err(|e| Damaged(format!("record at offset {off} does not decode: {e}")))?;
        self.pos.offset = off + RECORD_HEADER + len;
        Ok(event)
    }

    fn open_at(&self, seq: u64, offset: u64) -> Result<BufReader<File>, Damaged> {
        let path = self.shared.segment_path(seq);
        let mut file = File::open(&path).map_err(|e| Damaged(format!("cannot open: {e}")))?;
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header)
            .map_err(|e| Damaged(format!("header unreadable: {e}")))?;
        if &header[..8] != MAGIC {
            return Err(Damaged("not a spool segment (bad magic)".into()));
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version != SCHEMA_VERSION {
            return Err(Damaged(format!(
                "written with event schema {version}; this binary reads {SCHEMA_VERSION}"
            )));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Damaged(format!("cannot seek to {offset}: {e}")))?;
        Ok(BufReader::with_capacity(256 * 1024, file))
    }

    fn move_damaged_aside(&mut self) -> Result<(), SpoolError> {
        let Some(d) = self.quarantine.take() else {
            return Ok(());
        };
        let from = self.shared.segment_path(d.segment);
        let to = self
            .shared
            .dir
            .join("quarantine")
            .join(from.file_name().unwrap_or_default());
        fs::rename(&from, &to).map_err(io_err(&from))?;
        error!(
            segment = %from.display(), moved_to = %to.display(), offset = d.offset, reason = %d.reason,
            "Quarantined a damaged spool segment; the records before the damage were shipped, the rest continues with the next segment."
        );
        self.shared
            .counters
            .quarantined_segments
            .fetch_add(1, Relaxed);
        let mut seg = self.shared.segments();
        if let Some(len) = seg.lens.remove(&d.segment) {
            seg.total -= len;
        }
        self.pos = Position {
            segment: d.segment + 1,
            offset: HEADER_LEN,
        };
        drop(seg);
        self.shared.space.notify_all();
        Ok(())
    }

    /// Records that everything before `end` is in ClickHouse: advances the persisted cursor
    /// and deletes segments that are wholly shipped.
    pub fn commit(&mut self, end: Position, shipped: usize) -> Result<(), SpoolError> {
        self.shared
            .counters
            .shipped
            .fetch_add(shipped as u64, Relaxed);
        let done: Vec<u64> = {
            let mut seg = self.shared.segments();
            seg.cursor = end;
            let active = seg.active;
            seg.lens
                .range(..end.segment.min(active))
                .map(|(&s, _)| s)
                .collect()
        };
        self.shared.persist()?;
        for s in done {
            let path = self.shared.segment_path(s);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
            let mut seg = self.shared.segments();
            if let Some(len) = seg.lens.remove(&s) {
                seg.total -= len;
            }
        }
        self.shared.space.notify_all();
        Ok(())
    }
}

struct Damaged(String);

/// The spool as seen from outside, without taking its lock (`tianmu pipeline stats`).
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub path: PathBuf,
    pub segments: usize,
    /// Bytes of all segment files.
    pub bytes: u64,
    /// Bytes not yet shipped.
    pub pending_bytes: u64,
    pub pending_events: u64,
    /// Time of the oldest event not yet shipped.
    pub oldest_pending: Option<chrono::DateTime<chrono::Utc>>,
    pub quarantined_files: usize,
    /// The pid holding the lock, if a process owns the spool now.
    pub owner: Option<String>,
    pub counters: CounterValues,
}

/// Reads the spool's files to describe it; works while another process owns it.
pub fn inspect(dir: &Path) -> Result<Inspection, SpoolError> {
    if !dir.is_dir() {
        return Err(io_err(dir)(io::Error::new(
            io::ErrorKind::NotFound,
            "no spool here yet",
        )));
    }
    let persisted = read_state(dir)?;
    let lens = list_segments(dir)?;
    let cursor = persisted.as_ref().map_or(
        Position {
            segment: 0,
            offset: 0,
        },
        |p| p.cursor,
    );
    let mut pending_bytes = 0;
    let mut pending_events = 0;
    let mut oldest_pending = None;
    for (&seq, &len) in lens.range(cursor.segment..) {
        let from = if seq == cursor.segment {
            cursor.offset.max(HEADER_LEN)
        } else {
            HEADER_LEN
        };
        if len <= from {
            continue;
        }
        pending_bytes += len - from;
        let (count, first) = walk(&segment_path(dir, seq), from, len, oldest_pending.is_none());
        pending_events += count;
        oldest_pending = oldest_pending.or(first);
    }
    let quarantined_files = fs::read_dir(dir.join("quarantine"))
        .map(|d| d.count())
        .unwrap_or(0);
    let owner = {
        match File::open(dir.join("lock")) {
            Ok(f) if f.try_lock_shared().is_err() => Some(
                fs::read_to_string(dir.join("lock"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            ),
            _ => None,
        }
    };
    Ok(Inspection {
        path: dir.to_owned(),
        segments: lens.len(),
        bytes: lens.values().sum(),
        pending_bytes,
        pending_events,
        oldest_pending,
        quarantined_files,
        owner,
        counters: persisted.map(|p| p.counters).unwrap_or_default(),
    })
}

/// Counts the records of a segment from `from` to `len` by their headers, decoding the
/// first when `want_first`.
fn walk(
    path: &Path,
    from: u64,
    len: u64,
    want_first: bool,
) -> (u64, Option<chrono::DateTime<chrono::Utc>>) {
    let Ok(file) = File::open(path) else {
        return (0, None);
    };
    let mut r = BufReader::with_capacity(256 * 1024, file);
    if r.seek(SeekFrom::Start(from)).is_err() {
        return (0, None);
    }
    let (mut off, mut count, mut first) = (from, 0, None);
    let mut head = [0u8; RECORD_HEADER as usize];
    while off + RECORD_HEADER <= len && r.read_exact(&mut head).is_ok() {
        let rec = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
        if rec == 0 || rec > MAX_RECORD || off + RECORD_HEADER + rec > len {
            break;
        }
        if want_first && count == 0 {
            let mut payload = vec![0u8; rec as usize];
            if r.read_exact(&mut payload).is_err() {
                break;
            }
            first = postcard::from_bytes::<Event>(&payload).ok().map(|e| e.time);
        } else if r.seek_relative(rec as i64).is_err() {
            break;
        }
        off += RECORD_HEADER + rec;
        count += 1;
    }
    (count, first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Body, Health, HealthStatus};

    fn event(i: u64) -> Event {
        Event::new(
            "test/spool",
            Body::Health(Health {
                component: "pipeline".into(),
                status: HealthStatus::Ok,
                counters: vec![("i".into(), i)],
                message: "x".repeat(100),
            }),
        )
    }

    fn cfg(dir: &Path) -> SpoolConfig {
        let mut c = SpoolConfig::at(dir);
        c.segment_size = 64 * 1024;
        c.max_size = 1 << 20;
        c
    }

    fn drain(reader: &mut Reader) -> Vec<u64> {
        let mut seen = Vec::new();
        loop {
            let batch = reader.read(100).expect("read");
            if batch.events.is_empty() && reader.quarantine.is_none() {
                return seen;
            }
            for e in &batch.events {
                if let Body::Health(h) = &e.body {
                    seen.push(h.counters[0].1);
                }
            }
            reader
                .commit(batch.end, batch.events.len())
                .expect("commit");
        }
    }

    #[test]
    fn events_come_back_in_order_across_segments_and_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut w, mut r) = open(&cfg(dir.path())).expect("open");
            for i in 0..2000 {
                w.append(&[event(i)]).expect("append");
            }
            let batch = r.read(500).expect("read");
            assert_eq!(batch.events.len(), 500);
            r.commit(batch.end, 500).expect("commit");
            assert!(list_segments(dir.path()).expect("list").len() > 2);
        }
        let (_w, mut r) = open(&cfg(dir.path())).expect("reopen");
        let seen = drain(&mut r);
        assert_eq!(seen, (500..2000).collect::<Vec<_>>());
        assert!(r.is_drained());
        assert_eq!(r.counters().values().shipped, 2000);
        // Wholly shipped segments are gone: only the two active ones remain.
        assert!(list_segments(dir.path()).expect("list").len() <= 2);
    }

    #[test]
    fn a_large_batch_is_cut_into_segments_at_record_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, mut r) = open(&cfg(dir.path())).expect("open");
        let batch: Vec<Event> = (0..1500).map(event).collect();
        assert_eq!(w.append(&batch).expect("append"), 1500);
        let segments = list_segments(dir.path()).expect("list");
        assert!(segments.len() > 3, "{segments:?}");
        // Each record here is a few hundred bytes.
        for (seq, len) in segments {
            assert!(len <= 64 * 1024 + 1024, "segment {seq} holds {len} bytes");
        }
        assert_eq!(drain(&mut r), (0..1500).collect::<Vec<_>>());
    }

    #[test]
    fn second_process_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = open(&cfg(dir.path())).expect("open");
        let err = open(&cfg(dir.path())).err().expect("second open must fail");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
    }

    #[test]
    fn torn_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut w, _r) = open(&cfg(dir.path())).expect("open");
            w.append(&[event(1), event(2)]).expect("append");
        }
        let seg = segment_path(dir.path(), 1);
        let len = fs::metadata(&seg).expect("meta").len();
        // A write interrupted halfway through the last record.
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .and_then(|f| f.set_len(len - 10))
            .expect("truncate");
        let (_w, mut r) = open(&cfg(dir.path())).expect("reopen");
        assert_eq!(drain(&mut r), vec![1]);
        assert_eq!(r.counters().values().quarantined_segments, 0);
    }

    #[test]
    fn damaged_segment_is_quarantined_and_the_rest_ships() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut w, _r) = open(&cfg(dir.path())).expect("open");
            for i in 0..1500 {
                w.append(&[event(i)]).expect("append");
            }
        }
        // Flip a byte in the payload of the third record of segment 2.
        let seg2 = segment_path(dir.path(), 2);
        let mut bytes = fs::read(&seg2).expect("read seg");
        let records = |bytes: &[u8]| {
            let mut offsets = Vec::new();
            let mut off = HEADER_LEN as usize;
            while off + 8 <= bytes.len() {
                offsets.push(off);
                off += 8 + u32::from_le_bytes(bytes[off..off + 4].try_into().expect("4")) as usize;
            }
            offsets
        };
        let offsets = records(&bytes);
        bytes[offsets[2] + 20] ^= 0xff;
        fs::write(&seg2, &bytes).expect("write seg");
        let in_seg1 = records(&fs::read(segment_path(dir.path(), 1)).expect("seg1")).len();
        let in_seg2 = offsets.len();

        let (_w, mut r) = open(&cfg(dir.path())).expect("reopen");
        let seen = drain(&mut r);
        // Everything but the damaged record and the rest of its segment.
        let lost = in_seg2 - 2;
        assert_eq!(seen.len(), 1500 - lost);
        assert_eq!(seen[in_seg1 + 1], (in_seg1 + 1) as u64);
        assert_eq!(seen[in_seg1 + 2], (in_seg1 + in_seg2) as u64);
        assert!(
            dir.path()
                .join("quarantine")
                .join(seg2.file_name().expect("name"))
                .exists()
        );
        assert_eq!(r.counters().values().quarantined_segments, 1);
    }

    #[test]
    fn full_spool_drops_newest_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = cfg(dir.path());
        c.max_size = 128 * 1024;
        let (mut w, _r) = open(&c).expect("open");
        let mut full = 0;
        for i in 0..2000 {
            if let Err(SpoolError::Full { .. }) = w.append(&[event(i)]) {
                full += 1;
            }
        }
        assert!(full > 0);
        assert_eq!(w.counters().values().dropped_full, full);
        let on_disk: u64 = list_segments(dir.path()).expect("list").values().sum();
        assert!(on_disk <= 128 * 1024, "{on_disk}");
    }

    #[test]
    fn inspect_counts_pending_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, mut r) = open(&cfg(dir.path())).expect("open");
        for i in 0..300 {
            w.append(&[event(i)]).expect("append");
        }
        let batch = r.read(100).expect("read");
        r.commit(batch.end, 100).expect("commit");
        w.tick().expect("tick");
        let s = inspect(dir.path()).expect("inspect");
        assert_eq!(s.pending_events, 200);
        assert_eq!(s.counters.appended, 300);
        assert_eq!(s.counters.shipped, 100);
        assert_eq!(s.owner, Some(std::process::id().to_string()));
    }
}
