//! The `[clickhouse]`, `[spool]` and `[analyzer]` sections of `tianmu.toml`: the raw form
//! serde reads (every field documented; the docs are the example config's comments) and the
//! validated form the pipeline runs on.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use rules::file::Problems;
use serde::Deserialize;

/// `[clickhouse]`: where events are stored and analysed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClickHouseRaw {
    /// HTTP(S) URL of the ClickHouse server.
    #[serde(default = "default_ch_url")]
    pub url: String,
    /// Database holding Tianmu's tables; created at start-up if missing.
    #[serde(default = "default_ch_database")]
    pub database: String,
    /// User to connect as.
    #[serde(default = "default_ch_user")]
    pub user: String,
    /// Password of that user.
    #[serde(default)]
    pub password: String,
    /// Timeout of one request (insert or query).
    #[serde(default = "default_ch_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Days of events to keep; older daily partitions are dropped. 0 keeps everything.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}

impl Default for ClickHouseRaw {
    fn default() -> Self {
        ClickHouseRaw {
            url: default_ch_url(),
            database: default_ch_database(),
            user: default_ch_user(),
            password: String::new(),
            timeout: default_ch_timeout(),
            retention_days: default_retention_days(),
        }
    }
}

fn default_ch_url() -> String {
    "http://127.0.0.1:8123".into()
}
fn default_ch_database() -> String {
    "tianmu".into()
}
fn default_ch_user() -> String {
    "default".into()
}
fn default_ch_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retention_days() -> u32 {
    180
}

/// Validated `[clickhouse]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    pub timeout: Duration,
    pub retention_days: u32,
}

impl ClickHouseRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> ClickHouseConfig {
        let url = self.url.trim_end_matches('/').to_owned();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with(':') => {}
            _ => p.add(
                format!("{key}.url"),
                format!("`{url}` is not an HTTP URL; expected e.g. http://127.0.0.1:8123"),
            ),
        }
        if !is_identifier(&self.database) {
            p.add(
                format!("{key}.database"),
                format!(
                    "`{}` is not a plain identifier; expected letters, digits and `_`, not starting with a digit",
                    self.database
                ),
            );
        }
        if self.timeout.is_zero() {
            p.add(format!("{key}.timeout"), "must be longer than 0s");
        }
        ClickHouseConfig {
            url,
            database: self.database,
            user: self.user,
            password: self.password,
            timeout: self.timeout,
            retention_days: self.retention_days,
        }
    }
}

/// True for names that need no quoting in ClickHouse SQL.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// When the spool syncs appended events to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncPolicy {
    /// After every batch the writer appends, before producers waiting on it are told.
    Batch,
    /// At most once per `fsync-interval`; a crash may lose that much.
    Interval,
    /// Never explicitly; the OS decides. A power cut may lose recent events.
    Never,
}

/// What happens to new events when the spool holds `max-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhenFull {
    /// New events are dropped and counted (`dropped_full`); producers never wait. The
    /// default: an inline firewall must not stall database traffic because ClickHouse is down.
    DropNewest,
    /// Producers wait until the shipper frees space (backpressure up to the clients).
    Block,
}

/// `[spool]`: the local durable queue between producers and ClickHouse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpoolRaw {
    /// Directory of the spools: one subfolder per role, each owned by one process.
    pub path: PathBuf,
    /// Largest total size of the segment files; see `when-full`.
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
    /// Size at which a segment file is closed and a new one started.
    #[serde(default = "default_segment_size")]
    pub segment_size: ByteSize,
    /// `batch`, `interval` or `never`.
    #[serde(default = "default_fsync")]
    pub fsync: FsyncPolicy,
    /// Period of syncing with `fsync = "interval"`.
    #[serde(default = "default_fsync_interval", with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// `drop-newest` or `block`.
    #[serde(default = "default_when_full")]
    pub when_full: WhenFull,
    /// Batches of events waiting in memory for the spool writer; producers wait (or, from
    /// non-async code, drop and count) beyond it.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Most events sent to ClickHouse in one insert (per table). The shipper holds up to
    /// two batches in memory: one being inserted, the next being read.
    #[serde(default = "default_batch_events")]
    pub batch_events: usize,
    /// How long the shipper waits for a batch to fill before sending what it has.
    #[serde(default = "default_batch_wait", with = "humantime_serde")]
    pub batch_wait: Duration,
}

fn default_max_size() -> ByteSize {
    ByteSize::gib(4)
}
fn default_segment_size() -> ByteSize {
    ByteSize::mib(64)
}
fn default_fsync() -> FsyncPolicy {
    FsyncPolicy::Batch
}
fn default_fsync_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_when_full() -> WhenFull {
    WhenFull::DropNewest
}
fn default_queue() -> usize {
    1024
}
fn default_batch_events() -> usize {
    100_000
}
fn default_batch_wait() -> Duration {
    Duration::from_millis(500)
}

/// Validated `[spool]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub path: PathBuf,
    pub max_size: u64,
    pub segment_size: u64,
    pub fsync: FsyncPolicy,
    pub fsync_interval: Duration,
    pub when_full: WhenFull,
    pub queue: usize,
    pub batch_events: usize,
    pub batch_wait: Duration,
}

impl SpoolConfig {
    /// Defaults for a spool at `path` (tests, benchmarks).
    pub fn at(path: impl Into<PathBuf>) -> SpoolConfig {
        let raw = SpoolRaw {
            path: path.into(),
            max_size: default_max_size(),
            segment_size: default_segment_size(),
            fsync: default_fsync(),
            fsync_interval: default_fsync_interval(),
            when_full: default_when_full(),
            queue: default_queue(),
            batch_events: default_batch_events(),
            batch_wait: default_batch_wait(),
        };
        raw.validate("spool", &mut Problems::default())
    }
}

/// Smallest segment: anything smaller only multiplies files.
const MIN_SEGMENT: u64 = 64 * 1024;

impl SpoolRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> SpoolConfig {
        if self.path.as_os_str().is_empty() {
            p.add(format!("{key}.path"), "must name a directory");
        }
        if self.segment_size.as_u64() < MIN_SEGMENT {
            p.add(
                format!("{key}.segment-size"),
                format!(
                    "{} is too small; expected at least 64 KiB",
                    self.segment_size
                ),
            );
        }
        if self.max_size.as_u64() < 2 * self.segment_size.as_u64() {
            p.add(
                format!("{key}.max-size"),
                format!(
                    "{} must hold at least two segments of {} (segment-size)",
                    self.max_size, self.segment_size
                ),
            );
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.is_zero() {
            p.add(format!("{key}.fsync-interval"), "must be longer than 0s");
        }
        if self.queue == 0 {
            p.add(format!("{key}.queue"), "must be at least 1");
        }
        if !(1..=1_000_000).contains(&self.batch_events) {
            p.add(
                format!("{key}.batch-events"),
                "expected a number between 1 and 1000000",
            );
        }
        SpoolConfig {
            path: self.path,
            max_size: self.max_size.as_u64(),
            segment_size: self.segment_size.as_u64(),
            fsync: self.fsync,
            fsync_interval: self.fsync_interval,
            when_full: self.when_full,
            queue: self.queue.max(1),
            batch_events: self.batch_events.clamp(1, 1_000_000),
            batch_wait: self.batch_wait,
        }
    }
}

/// `[analyzer]`: the detection loop (detectors are configured in the policy files).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnalyzerRaw {
    /// How often the detectors run over newly ingested events.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for AnalyzerRaw {
    fn default() -> Self {
        AnalyzerRaw {
            interval: default_interval(),
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

/// Validated `[analyzer]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerConfig {
    pub interval: Duration,
}

impl AnalyzerRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> AnalyzerConfig {
        if self.interval < Duration::from_secs(1) {
            p.add(format!("{key}.interval"), "expected at least 1s");
        }
        AnalyzerConfig {
            interval: self.interval,
        }
    }
}
