//! Detectors: each one reads the statements of the detection windows touched by newly
//! ingested events from ClickHouse, and returns [`Finding`]s — an entity (account, client
//! address, producer), a window, a severity and the ids of the events behind it. The
//! [`crate::cycle`] turns findings into alerts.
//!
//! ```text
//! statements ingested since the last cycle ──► windows they fall in (event time)
//!        │                                               │
//!        └──────────────► each Detector::run(ctx) ◄──────┘ (aggregates in ClickHouse)
//!                                   │
//!                          Vec<Finding> ──► alert ids, de-duplication ──► pipeline
//! ```
//!
//! Windows are aligned on event time (`window` seconds since the epoch), so a late event
//! joins the window it happened in, and re-running a window gives the same findings.

mod auth_failure_burst;
pub mod baseline;
mod bulk_exfiltration;
mod bypass;
mod first_access;
mod flow_back;
mod injection_campaign;
mod non_production;
mod off_hours;
mod sharing_violation;
mod silent_producer;
mod volume_anomaly;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clickhouse::Client;
use futures_util::future::BoxFuture;
use rules::account::Accounts;
use rules::catalog::Catalog;
use uuid::Uuid;

use crate::config::AnalyzerConfig;
use crate::event::Severity;

pub use auth_failure_burst::AuthFailureBurst;
pub use bulk_exfiltration::BulkExfiltration;
pub use bypass::Bypass;
pub use first_access::FirstAccess;
pub use flow_back::FlowBack;
pub use injection_campaign::InjectionCampaign;
pub use non_production::NonProduction;
pub use off_hours::OffHours;
pub use sharing_violation::SharingViolation;
pub use silent_producer::SilentProducer;
pub use volume_anomaly::VolumeAnomaly;

/// Why a detector could not run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("no answer from ClickHouse within {0:?} (clickhouse.timeout)")]
    Timeout(Duration),
}

/// What a detector found: one future alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detector: &'static str,
    /// The account, client address or producer it is about.
    pub entity: String,
    pub severity: Severity,
    pub title: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Ids of the events behind it, at most `max-evidence`.
    pub evidence: Vec<Uuid>,
}

/// What every detector sees in one cycle.
pub struct Context<'a> {
    pub db: &'a Client,
    pub timeout: Duration,
    pub cfg: &'a AnalyzerConfig,
    /// The policy's accounts, when `[policy] accounts` is configured.
    pub accounts: Option<&'a Accounts>,
    /// The data catalog, when `[policy] catalog` is configured.
    pub catalog: Option<&'a Catalog>,
    /// Starts (Unix seconds) of the windows to judge, ascending.
    pub windows: &'a BTreeSet<u32>,
    /// The cycle's clock.
    pub now: DateTime<Utc>,
}

/// One named detection. Detectors are independent: one failing does not stop the others.
pub trait Detector: Send + Sync {
    /// Stable name: part of every alert id, and the key of its `[analyzer]` sub-table.
    fn name(&self) -> &'static str;
    /// Findings over the context's windows.
    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>>;
}

/// The configured detectors, in [`crate::config::DETECTORS`] order.
pub fn enabled(cfg: &AnalyzerConfig) -> Vec<Box<dyn Detector>> {
    let all: Vec<Box<dyn Detector>> = vec![
        Box::new(BulkExfiltration),
        Box::new(OffHours),
        Box::new(FirstAccess),
        Box::new(NonProduction),
        Box::new(InjectionCampaign),
        Box::new(SilentProducer),
        Box::new(VolumeAnomaly),
        Box::new(AuthFailureBurst),
        Box::new(Bypass),
        Box::new(SharingViolation),
        Box::new(FlowBack),
    ];
    all.into_iter()
        .filter(|d| cfg.detectors.iter().any(|n| n == d.name()))
        .collect()
}

impl Context<'_> {
    /// Window length in seconds.
    pub fn window(&self) -> u32 {
        u32::try_from(self.cfg.window.as_secs())
            .unwrap_or(300)
            .max(1)
    }

    /// SQL for the start of the window an event's `time` falls in.
    pub fn window_expr(&self) -> String {
        let w = self.window();
        format!("toUInt32(intDiv(toUInt32(time), {w}) * {w})")
    }

    /// SQL condition selecting the events of the context's windows (a range first, so that
    /// ClickHouse can skip partitions and granules).
    pub fn window_filter(&self) -> String {
        let (Some(first), Some(last)) = (self.windows.first(), self.windows.last()) else {
            return "0".into();
        };
        let end = u64::from(*last) + u64::from(self.window());
        let mut s = format!(
            "time >= toDateTime({first}) AND time < toDateTime({end}) AND {} IN (",
            self.window_expr()
        );
        for (i, w) in self.windows.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{w}");
        }
        s.push(')');
        s
    }

    /// Runs a query within `clickhouse.timeout`.
    pub async fn fetch<T>(&self, sql: &str) -> Result<Vec<T>, DetectError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        fetch(self.db, self.timeout, sql).await
    }

    /// The `(start, end)` of the window starting at `start`.
    pub fn bounds(&self, start: u32) -> (DateTime<Utc>, DateTime<Utc>) {
        let s = i64::from(start);
        (at(s), at(s + i64::from(self.window())))
    }
}

/// Runs a query, giving up after `timeout`.
pub async fn fetch<T>(db: &Client, timeout: Duration, sql: &str) -> Result<Vec<T>, DetectError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    match tokio::time::timeout(timeout, db.query(sql).fetch_all::<T>()).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(DetectError::Timeout(timeout)),
    }
}

/// A Unix time as a `DateTime`.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// A SQL string literal, for a query sent through the clickhouse crate (whose `?` binds
/// an argument: a literal `?` is written `??`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '?' => out.push_str("??"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A SQL list of string literals, `('a', 'b')`; `('')` when empty (matches nothing real).
pub fn quote_list<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(quote).collect();
    if quoted.is_empty() {
        "('')".into()
    } else {
        format!("({})", quoted.join(", "))
    }
}

/// Event ids as read back with `toString(id)`; unreadable ones are left out.
pub fn ids(strings: &[String], max: usize) -> Vec<Uuid> {
    strings
        .iter()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .take(max)
        .collect()
}

/// `Severity` for the highest level touched: L4 one step above L3.
pub fn by_level(level: u8, at_l3: Severity, at_l4: Severity) -> Severity {
    if level >= 4 { at_l4 } else { at_l3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(quote("who?"), "'who??'");
        assert_eq!(quote_list(["x", "y"]), "('x', 'y')");
        assert_eq!(quote_list(Vec::<&str>::new()), "('')");
    }

    #[test]
    fn enabled_follows_the_config_and_every_name_is_known() {
        let mut cfg = AnalyzerConfig::default();
        let names: Vec<_> = enabled(&cfg).iter().map(|d| d.name()).collect();
        assert_eq!(names, crate::config::DETECTORS);
        cfg.detectors = vec!["off-hours".into()];
        let names: Vec<_> = enabled(&cfg).iter().map(|d| d.name()).collect();
        assert_eq!(names, ["off-hours"]);
    }
}
