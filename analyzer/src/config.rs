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

/// `[analyzer]`: the detection loop and its detectors' thresholds. Each detector has its own
/// sub-table (`[analyzer.bulk-exfiltration]`, …); every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnalyzerRaw {
    /// How often the detectors run over newly ingested events.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Length of a detection window (event time). Alerts are grouped by detector, entity
    /// and window: one alert per account per window, however many statements.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// How far back (ingest time) the first cycle after start-up looks; later cycles
    /// continue from where the previous one ended, so an outage is caught up.
    #[serde(default = "default_lookback", with = "humantime_serde")]
    pub lookback: Duration,
    /// Offset of local time from UTC for working hours, e.g. `+08:00` (China Standard Time).
    #[serde(default = "default_utc_offset")]
    pub utc_offset: String,
    /// Lowest classification level (1–4) that counts as sensitive for the off-hours,
    /// first-access and non-production detectors.
    #[serde(default = "default_sensitive_level")]
    pub sensitive_level: u8,
    /// Most event ids kept as evidence on one alert.
    #[serde(default = "default_max_evidence")]
    pub max_evidence: usize,
    /// Detectors to run, by name; all by default.
    #[serde(default = "default_detectors")]
    pub detectors: Vec<String>,
    #[serde(default)]
    pub bulk_exfiltration: BulkRaw,
    #[serde(default)]
    pub off_hours: OffHoursRaw,
    #[serde(default)]
    pub first_access: FirstAccessRaw,
    #[serde(default)]
    pub injection_campaign: InjectionRaw,
    #[serde(default)]
    pub silent_producer: SilenceRaw,
    #[serde(default)]
    pub volume_anomaly: VolumeRaw,
    #[serde(default)]
    pub auth_failure_burst: AuthFailureRaw,
    #[serde(default)]
    pub bypass: BypassRaw,
    #[serde(default)]
    pub sharing_violation: SharingRaw,
    #[serde(default)]
    pub flow_back: FlowBackRaw,
}

/// Every detector, by name.
pub const DETECTORS: [&str; 11] = [
    "bulk-exfiltration",
    "off-hours",
    "first-access",
    "non-production-account",
    "injection-campaign",
    "silent-producer",
    "volume-anomaly",
    "auth-failure-burst",
    "bypass",
    "sharing-violation",
    "flow-back",
];

impl Default for AnalyzerRaw {
    fn default() -> Self {
        AnalyzerRaw {
            interval: default_interval(),
            window: default_window(),
            lookback: default_lookback(),
            utc_offset: default_utc_offset(),
            sensitive_level: default_sensitive_level(),
            max_evidence: default_max_evidence(),
            detectors: default_detectors(),
            bulk_exfiltration: BulkRaw::default(),
            off_hours: OffHoursRaw::default(),
            first_access: FirstAccessRaw::default(),
            injection_campaign: InjectionRaw::default(),
            silent_producer: SilenceRaw::default(),
            volume_anomaly: VolumeRaw::default(),
            auth_failure_burst: AuthFailureRaw::default(),
            bypass: BypassRaw::default(),
            sharing_violation: SharingRaw::default(),
            flow_back: FlowBackRaw::default(),
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_window() -> Duration {
    Duration::from_secs(300)
}
fn default_lookback() -> Duration {
    Duration::from_secs(3600)
}
fn default_utc_offset() -> String {
    "+08:00".into()
}
fn default_sensitive_level() -> u8 {
    3
}
fn default_max_evidence() -> usize {
    100
}
fn default_detectors() -> Vec<String> {
    DETECTORS.iter().map(|d| (*d).to_owned()).collect()
}

/// `[analyzer.bulk-exfiltration]`: rows or bytes read by one account in one window, against
/// the account's own baseline (median and MAD of its earlier active windows) and its
/// policy row limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BulkRaw {
    /// Rows in a window below which nothing is alerted, whatever the baseline says.
    #[serde(default = "default_bulk_min_rows")]
    pub min_rows: u64,
    /// Bytes in a window below which nothing is alerted, whatever the baseline says.
    #[serde(default = "default_bulk_min_bytes")]
    pub min_bytes: ByteSize,
    /// Rows in a window that alert while the account has too little history (cold start).
    #[serde(default = "default_bulk_cold_rows")]
    pub cold_start_rows: u64,
    /// Bytes in a window that alert while the account has too little history.
    #[serde(default = "default_bulk_cold_bytes")]
    pub cold_start_bytes: ByteSize,
    /// How many (scaled) MADs above the median a window must be to alert.
    #[serde(default = "default_bulk_mad_factor")]
    pub mad_factor: f64,
    /// Earlier windows with traffic an account needs before its baseline is trusted.
    #[serde(default = "default_bulk_min_windows")]
    pub min_windows: usize,
    /// How far back the baseline looks.
    #[serde(default = "default_bulk_history", with = "humantime_serde")]
    pub history: Duration,
    /// A window must also exceed this fraction of the account's per-statement row limit
    /// from the policy (when `[policy] accounts` is configured); 0 ignores the limit.
    #[serde(default = "default_bulk_limit_fraction")]
    pub limit_fraction: f64,
}

impl Default for BulkRaw {
    fn default() -> Self {
        BulkRaw {
            min_rows: default_bulk_min_rows(),
            min_bytes: default_bulk_min_bytes(),
            cold_start_rows: default_bulk_cold_rows(),
            cold_start_bytes: default_bulk_cold_bytes(),
            mad_factor: default_bulk_mad_factor(),
            min_windows: default_bulk_min_windows(),
            history: default_bulk_history(),
            limit_fraction: default_bulk_limit_fraction(),
        }
    }
}

fn default_bulk_min_rows() -> u64 {
    1_000
}
fn default_bulk_min_bytes() -> ByteSize {
    ByteSize::mib(1)
}
fn default_bulk_cold_rows() -> u64 {
    10_000
}
fn default_bulk_cold_bytes() -> ByteSize {
    ByteSize::mib(50)
}
fn default_bulk_mad_factor() -> f64 {
    6.0
}
fn default_bulk_min_windows() -> usize {
    12
}
fn default_bulk_history() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_bulk_limit_fraction() -> f64 {
    1.0
}

/// `[analyzer.off-hours]`: reads of sensitive data outside working hours. An account's own
/// `office-hours` in the accounts file wins; accounts with role `application` are exempt.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OffHoursRaw {
    /// Working hours in local time (`utc-offset`), `HH:MM-HH:MM`; may wrap past midnight.
    #[serde(default = "default_working_hours")]
    pub working_hours: rules::account::Hours,
    /// Accounts never judged by this detector (services that run around the clock).
    #[serde(default)]
    pub exempt: Vec<String>,
}

impl Default for OffHoursRaw {
    fn default() -> Self {
        OffHoursRaw {
            working_hours: default_working_hours(),
            exempt: Vec::new(),
        }
    }
}

fn default_working_hours() -> rules::account::Hours {
    rules::account::Hours {
        from: chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
        to: chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
    }
}

/// `[analyzer.first-access]`: an account reads a sensitive table it never read before.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FirstAccessRaw {
    /// How far back "before" reaches.
    #[serde(default = "default_first_history", with = "humantime_serde")]
    pub history: Duration,
    /// How long an account must have been seen before its first accesses are alerted; a
    /// new account's every table would otherwise be "first".
    #[serde(default = "default_first_learning", with = "humantime_serde")]
    pub learning: Duration,
}

impl Default for FirstAccessRaw {
    fn default() -> Self {
        FirstAccessRaw {
            history: default_first_history(),
            learning: default_first_learning(),
        }
    }
}

fn default_first_history() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_first_learning() -> Duration {
    Duration::from_secs(86_400)
}

/// `[analyzer.injection-campaign]`: many statements blocked by injection rules from one
/// account or one client address in a window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InjectionRaw {
    /// Names of the policy rules that block injection shapes.
    #[serde(default = "default_injection_rules")]
    pub rules: Vec<String>,
    /// Blocked statements in one window that make a campaign.
    #[serde(default = "default_injection_min_blocked")]
    pub min_blocked: usize,
}

impl Default for InjectionRaw {
    fn default() -> Self {
        InjectionRaw {
            rules: default_injection_rules(),
            min_blocked: default_injection_min_blocked(),
        }
    }
}

fn default_injection_rules() -> Vec<String> {
    [
        "sqli-tautology",
        "sqli-union-catalog",
        "sqli-time-delay",
        "sqli-comment-evasion",
        "sqli-stacked",
    ]
    .iter()
    .map(|r| (*r).to_owned())
    .collect()
}
fn default_injection_min_blocked() -> usize {
    5
}

/// `[analyzer.silent-producer]`: a producer that sent health reports stopped sending them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SilenceRaw {
    /// Time without a health report after which a producer counts as silent.
    #[serde(default = "default_silence_after", with = "humantime_serde")]
    pub after: Duration,
    /// Producers whose last report is older than this are forgotten (decommissioned).
    #[serde(default = "default_silence_history", with = "humantime_serde")]
    pub history: Duration,
}

impl Default for SilenceRaw {
    fn default() -> Self {
        SilenceRaw {
            after: default_silence_after(),
            history: default_silence_history(),
        }
    }
}

fn default_silence_after() -> Duration {
    Duration::from_secs(60)
}
fn default_silence_history() -> Duration {
    Duration::from_secs(3600)
}

/// `[analyzer.volume-anomaly]`: rows one account read in one hour (local time) against its
/// own history at the same hour of the week, or at all hours while that is too thin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VolumeRaw {
    /// Weeks of history the baseline looks back.
    #[serde(default = "default_volume_weeks")]
    pub weeks: u32,
    /// Earlier hours at the same hour of the week (with traffic) needed to judge an hour
    /// against them; with fewer, the account's all-hours baseline is used.
    #[serde(default = "default_volume_min_weeks")]
    pub min_weeks: usize,
    /// Earlier hours with traffic (any hour of the week) an account needs before it is
    /// judged at all (cold start: no alert before).
    #[serde(default = "default_volume_min_history")]
    pub min_history: usize,
    /// How many (scaled) MADs above the median an hour must be to alert.
    #[serde(default = "default_volume_mad_factor")]
    pub mad_factor: f64,
    /// Rows in an hour below which nothing is alerted, whatever the baseline says.
    #[serde(default = "default_volume_min_rows")]
    pub min_rows: u64,
    /// An hour at this many times its threshold or more is a high-severity alert; below,
    /// medium.
    #[serde(default = "default_volume_high_ratio")]
    pub high_ratio: f64,
}

impl Default for VolumeRaw {
    fn default() -> Self {
        VolumeRaw {
            weeks: default_volume_weeks(),
            min_weeks: default_volume_min_weeks(),
            min_history: default_volume_min_history(),
            mad_factor: default_volume_mad_factor(),
            min_rows: default_volume_min_rows(),
            high_ratio: default_volume_high_ratio(),
        }
    }
}

fn default_volume_weeks() -> u32 {
    4
}
fn default_volume_min_weeks() -> usize {
    3
}
fn default_volume_min_history() -> usize {
    24
}
fn default_volume_mad_factor() -> f64 {
    6.0
}
fn default_volume_min_rows() -> u64 {
    5_000
}
fn default_volume_high_ratio() -> f64 {
    4.0
}

/// `[analyzer.auth-failure-burst]`: many failed logins from one client address, or for one
/// account, in one window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthFailureRaw {
    /// Error codes of a failed login: SQLSTATE 28P01 (wrong password) and 28000 (no such
    /// role, refused by pg_hba) for PostgreSQL, error 1045 (access denied) for MySQL.
    #[serde(default = "default_auth_codes")]
    pub error_codes: Vec<String>,
    /// Failed logins in one window, from one address or for one account, that make a burst.
    #[serde(default = "default_auth_min_failures")]
    pub min_failures: usize,
}

impl Default for AuthFailureRaw {
    fn default() -> Self {
        AuthFailureRaw {
            error_codes: default_auth_codes(),
            min_failures: default_auth_min_failures(),
        }
    }
}

fn default_auth_codes() -> Vec<String> {
    ["28P01", "28000", "1045"]
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}
fn default_auth_min_failures() -> usize {
    10
}

/// `[analyzer.bypass]`: statements a sensor saw on a server the firewalls protect that no
/// firewall saw from the same client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BypassRaw {
    /// Servers (`ip:port`, as the sensor records them) that may only be reached through a
    /// firewall. Empty: every server a firewall forwarded statements to within `history`.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Client addresses (IP) the firewalls connect to the servers from: a sensor watching a
    /// server also sees the firewalls' own upstream connections, which are no bypass.
    #[serde(default)]
    pub firewall_addresses: Vec<String>,
    /// How close in time a firewall must have seen the same account, statement shape and
    /// client for a sensor's statement to count as having passed it.
    #[serde(default = "default_bypass_around", with = "humantime_serde")]
    pub around: Duration,
    /// How far back the servers behind firewalls are looked up (when `servers` is empty).
    #[serde(default = "default_bypass_history", with = "humantime_serde")]
    pub history: Duration,
}

impl Default for BypassRaw {
    fn default() -> Self {
        BypassRaw {
            servers: Vec::new(),
            firewall_addresses: Vec::new(),
            around: default_bypass_around(),
            history: default_bypass_history(),
        }
    }
}

fn default_bypass_around() -> Duration {
    Duration::from_secs(300)
}
fn default_bypass_history() -> Duration {
    Duration::from_secs(86_400)
}

/// How interfaces the configuration does not list are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unlisted {
    /// As if their sharing attribute were unconditional.
    Unconditional,
    /// As if restricted.
    Restricted,
    /// As if not shared.
    NotShared,
    /// Not judged.
    Ignore,
}

/// One shared API interface and what it serves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InterfaceRaw {
    /// Path template as the sensor records it (`/api/v1/legal-person/{uscc}`); a query
    /// string is ignored on both sides.
    pub path: String,
    /// Catalog tables (`database.table`) the interface serves; its sharing attribute is the
    /// strictest of theirs (needs `[policy] catalog`).
    #[serde(default)]
    pub tables: Vec<String>,
    /// The interface's sharing attribute when no catalog is loaded or none of `tables` is
    /// in it: `unconditional`, `restricted` or `not-shared`.
    #[serde(default)]
    pub sharing: Option<rules::catalog::Sharing>,
}

/// Highest classification level of values each sharing attribute lets out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SharingLevels {
    /// 无条件共享 — unconditional sharing.
    #[serde(default = "default_level_unconditional")]
    pub unconditional: u8,
    /// 有条件共享 — restricted sharing.
    #[serde(default = "default_level_restricted")]
    pub restricted: u8,
    /// 不予共享 — not shared: 0, nothing sensitive at all.
    #[serde(default)]
    pub not_shared: u8,
}

impl Default for SharingLevels {
    fn default() -> Self {
        SharingLevels {
            unconditional: default_level_unconditional(),
            restricted: default_level_restricted(),
            not_shared: 0,
        }
    }
}

impl SharingLevels {
    /// The highest level `sharing` lets out.
    pub fn of(&self, sharing: rules::catalog::Sharing) -> u8 {
        match sharing {
            rules::catalog::Sharing::Unconditional => self.unconditional,
            rules::catalog::Sharing::Restricted => self.restricted,
            rules::catalog::Sharing::NotShared => self.not_shared,
        }
    }
}

fn default_level_unconditional() -> u8 {
    2
}
fn default_level_restricted() -> u8 {
    3
}

/// `[analyzer.sharing-violation]`: API responses carrying sensitive values of a level the
/// interface's sharing attribute does not let out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SharingRaw {
    /// The shared interfaces and the tables they serve.
    #[serde(default)]
    pub interfaces: Vec<InterfaceRaw>,
    /// How interfaces not listed are judged: `unconditional`, `restricted`, `not-shared`
    /// or `ignore`.
    #[serde(default = "default_unlisted")]
    pub unlisted: Unlisted,
    /// Highest level of values each sharing attribute lets out.
    #[serde(default)]
    pub max_level: SharingLevels,
    /// Classification level of each kind of sensitive value the sensor finds (`id-card`,
    /// `social-credit-code`, `bank-card`, `mobile`, `passport`, `licence-plate`, `email`,
    /// `ipv4`); kinds left out keep their default.
    #[serde(default)]
    pub kind_levels: std::collections::BTreeMap<String, u8>,
}

impl Default for SharingRaw {
    fn default() -> Self {
        SharingRaw {
            interfaces: Vec::new(),
            unlisted: default_unlisted(),
            max_level: SharingLevels::default(),
            kind_levels: std::collections::BTreeMap::new(),
        }
    }
}

fn default_unlisted() -> Unlisted {
    Unlisted::Restricted
}

/// Default level of each kind of sensitive value (`rules::detect::Kind` names): personal
/// identifiers at 4, contact details at 3, network addresses at 2, organisation codes at 1.
pub const DEFAULT_KIND_LEVELS: [(&str, u8); 8] = [
    ("id-card", 4),
    ("social-credit-code", 1),
    ("bank-card", 4),
    ("mobile", 3),
    ("passport", 4),
    ("licence-plate", 3),
    ("email", 3),
    ("ipv4", 2),
];

/// `[analyzer.flow-back]`: restricted data read in bulk by the accounts through which data
/// flows back to lower (city and county) platforms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FlowBackRaw {
    /// Accounts that carry data to lower platforms (the sharing and exchange channels).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Lowest column level that counts as restricted data.
    #[serde(default = "default_flow_min_level")]
    pub min_level: u8,
    /// Rows one statement must return to count as a bulk read; key lookups return fewer.
    #[serde(default = "default_flow_statement_rows")]
    pub min_statement_rows: u64,
    /// Rows of bulk reads in one window that alert.
    #[serde(default = "default_flow_min_rows")]
    pub min_rows: u64,
}

impl Default for FlowBackRaw {
    fn default() -> Self {
        FlowBackRaw {
            channels: Vec::new(),
            min_level: default_flow_min_level(),
            min_statement_rows: default_flow_statement_rows(),
            min_rows: default_flow_min_rows(),
        }
    }
}

fn default_flow_min_level() -> u8 {
    3
}
fn default_flow_statement_rows() -> u64 {
    100
}
fn default_flow_min_rows() -> u64 {
    1_000
}

/// Validated `[analyzer]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerConfig {
    pub interval: Duration,
    pub window: Duration,
    pub lookback: Duration,
    /// Seconds east of UTC.
    pub utc_offset: i32,
    pub sensitive_level: u8,
    pub max_evidence: usize,
    /// Names from [`DETECTORS`].
    pub detectors: Vec<String>,
    pub bulk: BulkConfig,
    pub off_hours: OffHoursConfig,
    pub first_access: FirstAccessConfig,
    pub injection: InjectionConfig,
    pub silence: SilenceConfig,
    pub volume: VolumeConfig,
    pub auth: AuthFailureConfig,
    pub bypass: BypassConfig,
    pub sharing: SharingConfig,
    pub flow_back: FlowBackConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkConfig {
    pub min_rows: u64,
    pub min_bytes: u64,
    pub cold_start_rows: u64,
    pub cold_start_bytes: u64,
    pub mad_factor: f64,
    pub min_windows: usize,
    pub history: Duration,
    pub limit_fraction: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OffHoursConfig {
    pub working_hours: rules::account::Hours,
    pub exempt: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FirstAccessConfig {
    pub history: Duration,
    pub learning: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InjectionConfig {
    pub rules: Vec<String>,
    pub min_blocked: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SilenceConfig {
    pub after: Duration,
    pub history: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeConfig {
    pub weeks: u32,
    pub min_weeks: usize,
    pub min_history: usize,
    pub mad_factor: f64,
    pub min_rows: u64,
    pub high_ratio: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthFailureConfig {
    pub error_codes: Vec<String>,
    pub min_failures: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BypassConfig {
    pub servers: Vec<String>,
    pub firewall_addresses: Vec<String>,
    pub around: Duration,
    pub history: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SharingConfig {
    pub interfaces: Vec<InterfaceRaw>,
    pub unlisted: Unlisted,
    pub max_level: SharingLevels,
    /// Every kind of [`DEFAULT_KIND_LEVELS`], with the configured levels.
    pub kind_levels: std::collections::BTreeMap<String, u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlowBackConfig {
    pub channels: Vec<String>,
    pub min_level: u8,
    pub min_statement_rows: u64,
    pub min_rows: u64,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerRaw::default().validate("analyzer", &mut Problems::default())
    }
}

/// Parses `+08:00`, `-05:30`, `Z` into seconds east of UTC.
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60 && h * 3600 + m * 60 <= 14 * 3600).then_some(sign * (h * 3600 + m * 60))
}

impl AnalyzerRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> AnalyzerConfig {
        let at_least = |p: &mut Problems, k: &str, d: Duration, min: Duration, say: &str| {
            if d < min {
                p.add(format!("{key}.{k}"), format!("expected at least {say}"));
            }
        };
        at_least(p, "interval", self.interval, Duration::from_secs(1), "1s");
        at_least(p, "window", self.window, Duration::from_secs(60), "1m");
        if self.window.as_secs() > 86_400 || self.window.subsec_nanos() != 0 {
            p.add(
                format!("{key}.window"),
                "expected whole seconds, at most 1 day",
            );
        }
        at_least(p, "lookback", self.lookback, self.window, "one window");
        let utc_offset = parse_utc_offset(&self.utc_offset).unwrap_or_else(|| {
            p.add(
                format!("{key}.utc-offset"),
                format!(
                    "`{}` is not a UTC offset; expected e.g. `+08:00`",
                    self.utc_offset
                ),
            );
            0
        });
        if !(1..=rules::catalog::MAX_LEVEL).contains(&self.sensitive_level) {
            p.add(
                format!("{key}.sensitive-level"),
                "expected a level from 1 to 4",
            );
        }
        if !(1..=10_000).contains(&self.max_evidence) {
            p.add(
                format!("{key}.max-evidence"),
                "expected a number between 1 and 10000",
            );
        }
        for (i, d) in self.detectors.iter().enumerate() {
            if !DETECTORS.contains(&d.as_str()) {
                p.add(
                    format!("{key}.detectors[{i}]"),
                    format!(
                        "unknown detector `{d}`; expected one of {}",
                        DETECTORS.join(", ")
                    ),
                );
            }
        }
        let b = self.bulk_exfiltration;
        let bk = format!("{key}.bulk-exfiltration");
        if !(b.mad_factor.is_finite() && b.mad_factor > 0.0) {
            p.add(
                format!("{bk}.mad-factor"),
                "expected a positive number, e.g. 6",
            );
        }
        if !(b.limit_fraction.is_finite() && b.limit_fraction >= 0.0) {
            p.add(
                format!("{bk}.limit-fraction"),
                "expected a number of 0 or more (0 ignores the policy limit)",
            );
        }
        if b.min_windows == 0 {
            p.add(format!("{bk}.min-windows"), "expected at least 1");
        }
        if b.cold_start_rows < b.min_rows {
            p.add(
                format!("{bk}.cold-start-rows"),
                format!("must be at least min-rows ({})", b.min_rows),
            );
        }
        if b.cold_start_bytes < b.min_bytes {
            p.add(
                format!("{bk}.cold-start-bytes"),
                format!("must be at least min-bytes ({})", b.min_bytes),
            );
        }
        at_least(
            p,
            "bulk-exfiltration.history",
            b.history,
            self.window,
            "one window",
        );
        let f = self.first_access;
        at_least(
            p,
            "first-access.history",
            f.history,
            self.window,
            "one window",
        );
        if f.learning > f.history {
            p.add(
                format!("{key}.first-access.learning"),
                "must not be longer than first-access.history",
            );
        }
        let inj = self.injection_campaign;
        if inj.min_blocked == 0 {
            p.add(
                format!("{key}.injection-campaign.min-blocked"),
                "expected at least 1",
            );
        }
        if inj.rules.is_empty() || inj.rules.iter().any(|r| r.trim().is_empty()) {
            p.add(
                format!("{key}.injection-campaign.rules"),
                "expected the names of the policy's injection rules",
            );
        }
        let s = self.silent_producer;
        at_least(
            p,
            "silent-producer.after",
            s.after,
            Duration::from_secs(1),
            "1s",
        );
        if s.history <= s.after {
            p.add(
                format!("{key}.silent-producer.history"),
                "must be longer than silent-producer.after",
            );
        }
        let volume = validate_volume(self.volume_anomaly, key, p);
        let auth = validate_auth(self.auth_failure_burst, key, p);
        let bypass = validate_bypass(self.bypass, key, p);
        let sharing = validate_sharing(self.sharing_violation, key, p);
        let flow_back = validate_flow_back(self.flow_back, key, p);
        AnalyzerConfig {
            interval: self.interval,
            window: self.window,
            lookback: self.lookback,
            utc_offset,
            sensitive_level: self.sensitive_level,
            max_evidence: self.max_evidence,
            detectors: self.detectors,
            bulk: BulkConfig {
                min_rows: b.min_rows,
                min_bytes: b.min_bytes.as_u64(),
                cold_start_rows: b.cold_start_rows,
                cold_start_bytes: b.cold_start_bytes.as_u64(),
                mad_factor: b.mad_factor,
                min_windows: b.min_windows,
                history: b.history,
                limit_fraction: b.limit_fraction,
            },
            off_hours: OffHoursConfig {
                working_hours: self.off_hours.working_hours,
                exempt: self.off_hours.exempt,
            },
            first_access: FirstAccessConfig {
                history: f.history,
                learning: f.learning,
            },
            injection: InjectionConfig {
                rules: inj.rules,
                min_blocked: inj.min_blocked,
            },
            silence: SilenceConfig {
                after: s.after,
                history: s.history,
            },
            volume,
            auth,
            bypass,
            sharing,
            flow_back,
        }
    }
}

fn positive(p: &mut Problems, key: String, x: f64, example: &str) {
    if !(x.is_finite() && x > 0.0) {
        p.add(key, format!("expected a positive number, e.g. {example}"));
    }
}

fn level(p: &mut Problems, key: String, l: u8, min: u8) {
    if !(min..=rules::catalog::MAX_LEVEL).contains(&l) {
        p.add(key, format!("expected a level from {min} to 4"));
    }
}

fn validate_volume(v: VolumeRaw, key: &str, p: &mut Problems) -> VolumeConfig {
    let k = format!("{key}.volume-anomaly");
    if !(1..=52).contains(&v.weeks) {
        p.add(format!("{k}.weeks"), "expected 1 to 52 weeks");
    }
    if v.min_weeks == 0 || v.min_weeks > v.weeks as usize {
        p.add(
            format!("{k}.min-weeks"),
            format!("expected 1 to weeks ({})", v.weeks),
        );
    }
    if v.min_history == 0 {
        p.add(format!("{k}.min-history"), "expected at least 1");
    }
    positive(p, format!("{k}.mad-factor"), v.mad_factor, "6");
    if !(v.high_ratio.is_finite() && v.high_ratio >= 1.0) {
        p.add(
            format!("{k}.high-ratio"),
            "expected a number of 1 or more, e.g. 4",
        );
    }
    VolumeConfig {
        weeks: v.weeks.clamp(1, 52),
        min_weeks: v.min_weeks.max(1),
        min_history: v.min_history.max(1),
        mad_factor: v.mad_factor,
        min_rows: v.min_rows,
        high_ratio: v.high_ratio,
    }
}

fn validate_auth(a: AuthFailureRaw, key: &str, p: &mut Problems) -> AuthFailureConfig {
    let k = format!("{key}.auth-failure-burst");
    if a.min_failures == 0 {
        p.add(format!("{k}.min-failures"), "expected at least 1");
    }
    if a.error_codes.is_empty() || a.error_codes.iter().any(|c| c.trim().is_empty()) {
        p.add(
            format!("{k}.error-codes"),
            "expected the error codes of a failed login, e.g. [\"28P01\", \"28000\", \"1045\"]",
        );
    }
    AuthFailureConfig {
        error_codes: a.error_codes,
        min_failures: a.min_failures.max(1),
    }
}

fn validate_bypass(b: BypassRaw, key: &str, p: &mut Problems) -> BypassConfig {
    let k = format!("{key}.bypass");
    for (i, s) in b.servers.iter().enumerate() {
        if s.parse::<std::net::SocketAddr>().is_err() {
            p.add(
                format!("{k}.servers[{i}]"),
                format!("`{s}` is not an address; expected ip:port, e.g. 10.1.2.3:5432"),
            );
        }
    }
    for (i, a) in b.firewall_addresses.iter().enumerate() {
        if a.parse::<std::net::IpAddr>().is_err() {
            p.add(
                format!("{k}.firewall-addresses[{i}]"),
                format!("`{a}` is not an IP address"),
            );
        }
    }
    if b.around < Duration::from_secs(1) {
        p.add(format!("{k}.around"), "expected at least 1s");
    }
    if b.history < Duration::from_secs(60) {
        p.add(format!("{k}.history"), "expected at least 1m");
    }
    BypassConfig {
        // As the sensor writes them (`SocketAddr`'s text).
        servers: b
            .servers
            .iter()
            .map(|s| {
                s.parse::<std::net::SocketAddr>()
                    .map_or_else(|_| s.clone(), |a| a.to_string())
            })
            .collect(),
        firewall_addresses: b.firewall_addresses,
        around: b.around.max(Duration::from_secs(1)),
        history: b.history,
    }
}

fn validate_sharing(s: SharingRaw, key: &str, p: &mut Problems) -> SharingConfig {
    let k = format!("{key}.sharing-violation");
    for (i, f) in s.interfaces.iter().enumerate() {
        let at = format!("{k}.interfaces[{i}]");
        if !f.path.starts_with('/') {
            p.add(
                format!("{at}.path"),
                format!("`{}` is not a path; expected e.g. /api/v1/credit", f.path),
            );
        }
        if f.tables.is_empty() && f.sharing.is_none() {
            p.add(
                at.clone(),
                "expected `tables` (judged by the catalog's sharing attribute) or `sharing`",
            );
        }
        for (j, t) in f.tables.iter().enumerate() {
            if rules::catalog::TablePattern::parse(t).is_none() || t.contains('*') {
                p.add(
                    format!("{at}.tables[{j}]"),
                    format!("`{t}` is not a table name; expected database.table"),
                );
            }
        }
    }
    let m = s.max_level;
    for (name, l) in [
        ("unconditional", m.unconditional),
        ("restricted", m.restricted),
        ("not-shared", m.not_shared),
    ] {
        if l > rules::catalog::MAX_LEVEL {
            p.add(
                format!("{k}.max-level.{name}"),
                "expected a level from 0 (nothing sensitive) to 4",
            );
        }
    }
    let mut kind_levels: std::collections::BTreeMap<String, u8> = DEFAULT_KIND_LEVELS
        .iter()
        .map(|(n, l)| ((*n).to_owned(), *l))
        .collect();
    for (name, l) in s.kind_levels {
        if !kind_levels.contains_key(&name) {
            let known: Vec<&str> = DEFAULT_KIND_LEVELS.iter().map(|(n, _)| *n).collect();
            p.add(
                format!("{k}.kind-levels.{name}"),
                format!("unknown kind; expected one of {}", known.join(", ")),
            );
            continue;
        }
        level(p, format!("{k}.kind-levels.{name}"), l, 1);
        kind_levels.insert(name, l);
    }
    SharingConfig {
        interfaces: s.interfaces,
        unlisted: s.unlisted,
        max_level: m,
        kind_levels,
    }
}

fn validate_flow_back(f: FlowBackRaw, key: &str, p: &mut Problems) -> FlowBackConfig {
    let k = format!("{key}.flow-back");
    if f.channels.iter().any(|c| c.trim().is_empty()) {
        p.add(format!("{k}.channels"), "account names must not be empty");
    }
    level(p, format!("{k}.min-level"), f.min_level, 1);
    if f.min_rows == 0 {
        p.add(format!("{k}.min-rows"), "expected at least 1");
    }
    FlowBackConfig {
        channels: f.channels,
        min_level: f.min_level,
        min_statement_rows: f.min_statement_rows,
        min_rows: f.min_rows.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml_text: &str) -> Vec<String> {
        let raw: AnalyzerRaw = toml_like(toml_text);
        let mut p = Problems::default();
        raw.validate("analyzer", &mut p);
        p.into_vec().into_iter().map(|x| x.key).collect()
    }

    /// The analyzer crate has no TOML parser; tests build the raw struct from JSON.
    fn toml_like(json: &str) -> AnalyzerRaw {
        serde_json::from_str(json).expect("test JSON is valid")
    }

    #[test]
    fn defaults_are_valid() {
        assert!(problems("{}").is_empty());
        let c = AnalyzerConfig::default();
        assert_eq!(c.utc_offset, 8 * 3600);
        assert_eq!(c.detectors.len(), DETECTORS.len());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let keys = problems(
            r#"{"window": "10s", "utc-offset": "CST", "sensitive-level": 5,
                "detectors": ["bulk-exfiltration", "telepathy"],
                "bulk-exfiltration": {"mad-factor": -1, "min-windows": 0, "cold-start-rows": 5},
                "first-access": {"learning": "60d"},
                "injection-campaign": {"min-blocked": 0, "rules": []},
                "silent-producer": {"after": "2h"}}"#,
        );
        assert_eq!(
            keys,
            [
                "analyzer.window",
                "analyzer.utc-offset",
                "analyzer.sensitive-level",
                "analyzer.detectors[1]",
                "analyzer.bulk-exfiltration.mad-factor",
                "analyzer.bulk-exfiltration.min-windows",
                "analyzer.bulk-exfiltration.cold-start-rows",
                "analyzer.first-access.learning",
                "analyzer.injection-campaign.min-blocked",
                "analyzer.injection-campaign.rules",
                "analyzer.silent-producer.history",
            ]
        );
    }

    #[test]
    fn the_newer_detectors_problems_are_reported_with_their_keys() {
        let keys = problems(
            r#"{"volume-anomaly": {"weeks": 2, "min-weeks": 3, "min-history": 0, "mad-factor": 0, "high-ratio": 0.5},
                "auth-failure-burst": {"min-failures": 0, "error-codes": [" "]},
                "bypass": {"servers": ["db:5432", "10.0.0.1:5432"], "firewall-addresses": ["fw-1"], "around": "0s"},
                "sharing-violation": {"interfaces": [{"path": "api/v1/x"}, {"path": "/a", "tables": ["t"]}],
                                      "max-level": {"restricted": 5}, "kind-levels": {"shoe-size": 2, "mobile": 9}},
                "flow-back": {"channels": [""], "min-level": 0, "min-rows": 0}}"#,
        );
        assert_eq!(
            keys,
            [
                "analyzer.volume-anomaly.min-weeks",
                "analyzer.volume-anomaly.min-history",
                "analyzer.volume-anomaly.mad-factor",
                "analyzer.volume-anomaly.high-ratio",
                "analyzer.auth-failure-burst.min-failures",
                "analyzer.auth-failure-burst.error-codes",
                "analyzer.bypass.servers[0]",
                "analyzer.bypass.firewall-addresses[0]",
                "analyzer.bypass.around",
                "analyzer.sharing-violation.interfaces[0].path",
                "analyzer.sharing-violation.interfaces[0]",
                "analyzer.sharing-violation.interfaces[1].tables[0]",
                "analyzer.sharing-violation.max-level.restricted",
                "analyzer.sharing-violation.kind-levels.mobile",
                "analyzer.sharing-violation.kind-levels.shoe-size",
                "analyzer.flow-back.channels",
                "analyzer.flow-back.min-level",
                "analyzer.flow-back.min-rows",
            ]
        );
    }

    #[test]
    fn every_kind_the_sensor_finds_has_a_default_level() {
        let c = AnalyzerConfig::default();
        for kind in rules::detect::Kind::ALL {
            assert!(
                c.sharing.kind_levels.contains_key(kind.as_str()),
                "{kind} has no level"
            );
        }
        assert_eq!(c.sharing.kind_levels.len(), rules::detect::Kind::ALL.len());
        let raw: AnalyzerRaw =
            toml_like(r#"{"sharing-violation": {"kind-levels": {"mobile": 4}}}"#);
        let c = raw.validate("analyzer", &mut Problems::default());
        assert_eq!(c.sharing.kind_levels["mobile"], 4);
        assert_eq!(c.sharing.kind_levels["id-card"], 4);
    }

    #[test]
    fn utc_offsets() {
        for (s, want) in [
            ("+08:00", Some(28_800)),
            ("-05:30", Some(-19_800)),
            ("Z", Some(0)),
            ("+00:00", Some(0)),
            ("08:00", None),
            ("+8", None),
            ("+15:00", None),
            ("+08:60", None),
            ("", None),
        ] {
            assert_eq!(parse_utc_offset(s), want, "{s}");
        }
    }
}
