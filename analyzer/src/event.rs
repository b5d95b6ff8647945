//! The one event model. Every producer — firewall listeners, sensors, the analyzer itself,
//! drills — emits [`Event`]s; the spool stores them, the shipper writes them to the ClickHouse
//! tables of [`crate::schema`], and the analyzer and the console read them back.
//!
//! Every event carries a unique, time-ordered id (UUID v7: ClickHouse removes duplicates by
//! it, so at-least-once delivery still gives exact counts), the id of the producer that made
//! it, and the schema version it was written with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// The statement kind, the action and the severity are the policy's words; events record them.
pub use rules::decision::{Action, Severity};
pub use rules::sql::StatementKind;

/// Version of this model; bumped with every change to the structs below together with a
/// migration in [`crate::schema`]. Spool segments record it, so a newer binary knows what an
/// older one wrote.
pub const SCHEMA_VERSION: u16 = 1;

/// One thing that happened, as every part of Tianmu sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique, time-ordered id (UUID v7).
    pub id: Uuid,
    /// Who produced it: `<node>/<component>`, e.g. `fw-hz-01/pg-main`.
    pub producer: String,
    /// [`SCHEMA_VERSION`] at the time it was produced.
    pub schema: u16,
    /// When it happened, at the producer (microsecond precision).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub time: DateTime<Utc>,
    pub body: Body,
}

/// A UUID v7: milliseconds since the epoch, then 74 random bits from the thread's CSPRNG.
/// (`Uuid::now_v7` asks the kernel for randomness on every call, which costs a system call
/// per event.)
fn new_id() -> Uuid {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(ms, &rand::random::<[u8; 10]>()).into_uuid()
}

impl Event {
    /// A new event happening now.
    pub fn new(producer: impl Into<String>, body: Body) -> Event {
        Event::at(producer, Utc::now(), body)
    }

    /// A new event that happened at `time`.
    pub fn at(producer: impl Into<String>, time: DateTime<Utc>, body: Body) -> Event {
        Event {
            id: new_id(),
            producer: producer.into(),
            schema: SCHEMA_VERSION,
            time,
            body,
        }
    }

    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Statement(_) => Kind::Statement,
            Body::ApiCall(_) => Kind::ApiCall,
            Body::Health(_) => Kind::Health,
            Body::Alert(_) => Kind::Alert,
            Body::Transition(_) => Kind::Transition,
            Body::Drill(_) => Kind::Drill,
        }
    }
}

/// What an event is about; each kind has its own table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    Statement(Statement),
    ApiCall(ApiCall),
    Health(Health),
    Alert(Alert),
    Transition(Transition),
    Drill(Drill),
}

/// The closed set of event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Statement,
    ApiCall,
    Health,
    Alert,
    Transition,
    Drill,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Statement,
        Kind::ApiCall,
        Kind::Health,
        Kind::Alert,
        Kind::Transition,
        Kind::Drill,
    ];
}

/// Database wire protocols Tianmu understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum Protocol {
    Postgres = 1,
    Mysql = 2,
}

/// Where a statement was observed: inline (it passed, or was stopped by, a firewall) or on
/// the wire by a sensor. A statement a sensor saw that no firewall saw is a bypass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum Observer {
    Firewall = 1,
    Sensor = 2,
}

/// A data object or column touched, with its classification level (1–4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    /// Catalog-style `database[.schema].table[.column]`.
    pub name: String,
    pub level: u8,
}

/// A database statement, seen by a firewall or a sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub observer: Observer,
    pub protocol: Protocol,
    /// Database account.
    pub account: String,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// `application_name` (PostgreSQL) or program name (MySQL) the client announced.
    pub application: String,
    pub database: String,
    /// Statement text with literals replaced by `?`.
    pub normalized: String,
    /// Hash of the normalized shape: equal for statements that differ only in literals.
    pub fingerprint: u64,
    pub kind: StatementKind,
    pub objects: Vec<Touched>,
    pub columns: Vec<Touched>,
    pub action: Action,
    /// The rule that decided, empty for the default.
    pub rule: String,
    pub severity: Severity,
    pub rows: u64,
    pub bytes: u64,
    pub duration_us: u64,
    /// SQLSTATE (PostgreSQL) or error number (MySQL); empty on success.
    pub error_code: String,
}

/// A call to a shared API interface, seen by a sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCall {
    pub app_key: String,
    pub client: String,
    pub server: String,
    pub method: String,
    /// Path with identifiers replaced, e.g. `/api/v1/legal-person/{uscc}`.
    pub path_template: String,
    pub status: u16,
    /// Records in the response.
    pub records: u64,
    pub bytes: u64,
    /// Sensitive values found in the response, per detector (e.g. `id_card` → 20).
    pub sensitive: Vec<(String, u32)>,
    pub duration_us: u64,
}

/// Health of a sensor, firewall, analyzer or the pipeline itself, sent periodically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `sensor`, `firewall`, `analyzer`, `pipeline`.
    pub component: String,
    pub status: HealthStatus,
    /// Counters at the time of the report (drops, spool depth, flows, …).
    pub counters: Vec<(String, u64)>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum HealthStatus {
    Ok = 1,
    Degraded = 2,
    Down = 3,
}

/// An alert raised by a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id of the alert (transitions refer to it).
    pub alert_id: Uuid,
    pub detector: String,
    /// The account, address, app key or component the alert is about.
    pub entity: String,
    pub severity: Severity,
    pub title: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Ids of the events behind it.
    pub evidence: Vec<Uuid>,
    /// Set when the alert was raised by a drill; drill alerts never mix into real statistics.
    pub drill_id: Option<Uuid>,
}

/// Alert lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum AlertState {
    New = 1,
    Acknowledged = 2,
    Assigned = 3,
    InProgress = 4,
    Pending = 5,
    Contained = 6,
    Resolved = 7,
    Closed = 8,
    Merged = 9,
    Escalated = 10,
    Reopened = 11,
    SignedOff = 12,
    /// A remark only.
    Noted = 13,
    /// A containment lifted before it expired.
    Lifted = 14,
}

/// How a closed alert turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum Resolution {
    None = 0,
    TruePositiveWithImpact = 1,
    TruePositiveWithoutImpact = 2,
    FalsePositive = 3,
    LegitimateActivity = 4,
    Unknown = 5,
}

/// One step of an alert's lifecycle; transitions are append-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub alert_id: Uuid,
    pub state: AlertState,
    /// Operator (OS user) or `analyzer` for automatic steps.
    pub actor: String,
    pub note: String,
    pub resolution: Resolution,
}

/// Drill phases; the score is derived from their times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum DrillPhase {
    Started = 1,
    /// One injected step of the scenario.
    Injected = 2,
    Detected = 3,
    Acknowledged = 4,
    Contained = 5,
    Closed = 6,
    Aborted = 7,
}

/// A record of an emergency drill (应急演练).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    pub drill_id: Uuid,
    pub scenario: String,
    pub phase: DrillPhase,
    pub alert_id: Option<Uuid>,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_version_7_and_ordered_by_millisecond() {
        let ids: Vec<Uuid> = (0..100_000).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        let ms = |id: &Uuid| {
            id.get_timestamp()
                .map(|t| t.to_unix())
                .expect("v7 timestamp")
        };
        assert!(ids.windows(2).all(|w| ms(&w[0]) <= ms(&w[1])));
    }
}
