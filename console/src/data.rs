//! The background loader: a tokio task that reads the situation, the alert queue and the
//! statement tail from ClickHouse every `refresh` and sends each [`Snapshot`] to the UI over
//! a bounded channel. The UI never waits for ClickHouse: it draws the last snapshot it has,
//! and when a load fails it keeps it and shows how old it is (the stale-data marker).
//!
//! ```text
//!  UI ──Request (reload, event filter, evidence of an alert)──► loader task
//!  UI ◄──Update (snapshot | failure | evidence)─────────────────┘   │ queries, each within
//!                                                                   ▼ clickhouse.timeout
//!                                                               ClickHouse
//! ```

use std::time::Duration;

use analyzer::config::ClickHouseConfig;
use analyzer::detect::{DetectError, fetch, quote, quote_list};
use analyzer::event::{Action, HealthStatus, Severity};
use analyzer::lifecycle::{self, AlertRecord, ListFilter};
use analyzer::report::DrillResult;
use analyzer::schema::{read_severity, read_time};
use chrono::{DateTime, Utc};
use clickhouse::Client;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most statements the event explorer holds; the tail shows the newest of these and says
/// how many matched in all.
pub const EVENT_CAP: usize = 500;
/// Most alerts the queue holds (newest first).
pub const ALERT_CAP: usize = 2_000;
/// How far back the queue looks for alerts.
pub const ALERT_HORIZON: chrono::Duration = chrono::Duration::days(30);
/// Most evidence statements shown for one alert.
pub const EVIDENCE_CAP: usize = 1_000;
/// Most drills the history shows.
pub const DRILL_CAP: usize = 50;
/// Minutes in the situation's sparklines.
pub const MINUTES: usize = 60;

/// Statements per minute, by decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Unix seconds at the start of the minute.
    pub start: u32,
    pub total: u64,
    pub blocked: u64,
    pub masked: u64,
    pub limited: u64,
}

/// The latest health report of one producer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerHealth {
    pub producer: String,
    /// `sensor`, `firewall`, `analyzer`, `pipeline`.
    pub component: String,
    pub status: HealthStatus,
    pub last_seen: DateTime<Utc>,
    pub counters: Vec<(String, u64)>,
    pub message: String,
}

/// The situation screen's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Situation {
    /// Statements and API calls per second over the last minute.
    pub events_per_sec: f64,
    /// The last [`MINUTES`] minutes, oldest first, without gaps.
    pub minutes: Vec<Minute>,
    /// Accounts by rows read in the last hour.
    pub top_rows: Vec<(String, u64)>,
    /// Accounts by the highest level they touched in the last hour, with how many
    /// statements touched level 3 or 4.
    pub top_level: Vec<(String, u8, u64)>,
    /// Tables by statements in the last hour.
    pub top_tables: Vec<(String, u64)>,
    pub producers: Vec<ProducerHealth>,
}

/// One statement in the explorer or an alert's evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub producer: String,
    pub account: String,
    pub client: String,
    pub database: String,
    pub normalized: String,
    pub objects: Vec<String>,
    pub max_level: u8,
    pub action: Action,
    pub rule: String,
    pub severity: Severity,
    pub rows: u64,
}

/// The explorer's statements: the newest [`EVENT_CAP`] matching the filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPage {
    pub rows: Vec<EventRow>,
    /// How many statements matched in all.
    pub matching: u64,
}

/// Everything one load read.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// When the load finished.
    pub taken: DateTime<Utc>,
    pub situation: Situation,
    /// Newest first, at most [`ALERT_CAP`].
    pub alerts: Vec<AlertRecord>,
    pub events: EventPage,
    /// The last [`DRILL_CAP`] drills, newest first, with their scores.
    pub drills: Vec<DrillResult>,
}

/// The event explorer's filter (`/` on the events screen, `:filter …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub account: Option<String>,
    /// Part of a table name.
    pub table: Option<String>,
    pub min_level: Option<u8>,
    pub decision: Option<Action>,
    /// Part of the producer id (`node/component`).
    pub source: Option<String>,
    /// From this long ago.
    pub since: Duration,
    /// Until this long ago.
    pub until: Option<Duration>,
}

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter {
            account: None,
            table: None,
            min_level: None,
            decision: None,
            source: None,
            since: Duration::from_secs(3600),
            until: None,
        }
    }
}

/// A filter the operator typed that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}`: {why}")]
pub struct FilterError {
    pub word: String,
    pub why: &'static str,
}

pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Block => "block",
        Action::Mask => "mask",
        Action::Limit => "limit",
    }
}

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::None => "none",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

impl EventFilter {
    /// Parses `account=analyst_li table=population level>=3 decision=block source=fw
    /// since=1h until=10m`; an empty text is the default filter.
    pub fn parse(text: &str) -> Result<EventFilter, FilterError> {
        let mut f = EventFilter::default();
        for word in text.split_whitespace() {
            let bad = |why| FilterError {
                word: word.to_owned(),
                why,
            };
            let (key, value) = if let Some((k, v)) = word.split_once(">=") {
                (k, v)
            } else if let Some((k, v)) = word.split_once('=') {
                (k, v)
            } else {
                return Err(bad("expected key=value"));
            };
            if value.is_empty() {
                return Err(bad("empty value"));
            }
            match key {
                "account" => f.account = Some(value.to_owned()),
                "table" => f.table = Some(value.to_owned()),
                "level" => match value.parse::<u8>() {
                    Ok(l @ 1..=4) => f.min_level = Some(l),
                    _ => return Err(bad("level is 1 to 4")),
                },
                "decision" | "action" => {
                    f.decision = Some(match value {
                        "allow" => Action::Allow,
                        "block" => Action::Block,
                        "mask" => Action::Mask,
                        "limit" => Action::Limit,
                        _ => return Err(bad("decision is allow, block, mask or limit")),
                    })
                }
                "source" => f.source = Some(value.to_owned()),
                "since" | "until" => {
                    let d = humantime::parse_duration(value)
                        .map_err(|_| bad("expected a duration such as 15m, 2h, 7d"))?;
                    if key == "since" {
                        f.since = d;
                    } else {
                        f.until = Some(d);
                    }
                }
                _ => return Err(bad("keys: account table level decision source since until")),
            }
        }
        Ok(f)
    }

    /// The filter as the operator would type it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.account {
            parts.push(format!("account={a}"));
        }
        if let Some(t) = &self.table {
            parts.push(format!("table={t}"));
        }
        if let Some(l) = self.min_level {
            parts.push(format!("level>={l}"));
        }
        if let Some(d) = self.decision {
            parts.push(format!("decision={}", action_name(d)));
        }
        if let Some(s) = &self.source {
            parts.push(format!("source={s}"));
        }
        parts.push(format!("since={}", humantime::format_duration(self.since)));
        if let Some(u) = self.until {
            parts.push(format!("until={}", humantime::format_duration(u)));
        }
        parts.join(" ")
    }

    /// The SQL condition, with times relative to `now`.
    pub fn sql(&self, now: DateTime<Utc>) -> String {
        let secs = |d: Duration| now.timestamp().saturating_sub(d.as_secs() as i64).max(0);
        let mut c = vec![format!("time >= toDateTime({})", secs(self.since))];
        if let Some(u) = self.until {
            c.push(format!("time < toDateTime({})", secs(u)));
        }
        if let Some(a) = &self.account {
            c.push(format!("account = {}", quote(a)));
        }
        if let Some(t) = &self.table {
            c.push(format!(
                "arrayExists(o -> positionCaseInsensitive(o, {}) > 0, objects)",
                quote(t)
            ));
        }
        if let Some(l) = self.min_level {
            c.push(format!("max_level >= {l}"));
        }
        if let Some(d) = self.decision {
            c.push(format!("action = {}", quote(action_name(d))));
        }
        if let Some(s) = &self.source {
            c.push(format!(
                "positionCaseInsensitive(producer, {}) > 0",
                quote(s)
            ));
        }
        c.join(" AND ")
    }
}

/// What the UI asks of the loader.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Load now rather than at the next tick.
    Reload,
    /// The explorer's filter changed (loads now).
    Filter(EventFilter),
    /// The statements behind an alert.
    Evidence {
        alert: Uuid,
        ids: Vec<Uuid>,
        around: (DateTime<Utc>, DateTime<Utc>),
    },
}

/// What the loader sends the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Snapshot(Box<Snapshot>),
    /// A load failed; the UI keeps its last snapshot and marks it stale.
    Failed {
        at: DateTime<Utc>,
        error: String,
    },
    Evidence {
        alert: Uuid,
        rows: Result<Vec<EventRow>, String>,
    },
}

/// Where the loader reads from.
#[derive(Clone)]
pub struct Source {
    pub db: Client,
    pub timeout: Duration,
}

impl Source {
    pub fn new(cfg: &ClickHouseConfig) -> Source {
        Source {
            db: analyzer::ship::ClickHouse::new(cfg).db,
            timeout: cfg.timeout,
        }
    }
}

/// The handles of a running loader; dropping them stops it.
pub struct Loader {
    pub requests: mpsc::Sender<Request>,
    pub updates: mpsc::Receiver<Update>,
}

/// Starts the loader task: a load now, then every `refresh` and on request.
pub fn spawn(source: Source, refresh: Duration, filter: EventFilter) -> Loader {
    let (req_tx, mut req_rx) = mpsc::channel::<Request>(16);
    let (up_tx, up_rx) = mpsc::channel::<Update>(4);
    tokio::spawn(async move {
        let mut filter = filter;
        let mut tick = tokio::time::interval(refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let update = tokio::select! {
                _ = tick.tick() => load(&source, &filter).await,
                req = req_rx.recv() => match req {
                    None => break,
                    Some(Request::Reload) => load(&source, &filter).await,
                    Some(Request::Filter(f)) => {
                        filter = f;
                        load(&source, &filter).await
                    }
                    Some(Request::Evidence { alert, ids, around }) => Update::Evidence {
                        alert,
                        rows: evidence(&source, &ids, around).await.map_err(|e| e.to_string()),
                    },
                },
            };
            if up_tx.send(update).await.is_err() {
                break;
            }
        }
        tracing::debug!("Console data loader stopped.");
    });
    Loader {
        requests: req_tx,
        updates: up_rx,
    }
}

/// One load, as an update.
pub async fn load(source: &Source, filter: &EventFilter) -> Update {
    let now = Utc::now();
    match snapshot(source, filter, now).await {
        Ok(s) => Update::Snapshot(Box::new(s)),
        Err(e) => {
            tracing::warn!(error = %e, "Console load failed; showing the last data.");
            Update::Failed {
                at: Utc::now(),
                error: e.to_string(),
            }
        }
    }
}

fn action(v: i8) -> Action {
    match v {
        2 => Action::Block,
        3 => Action::Mask,
        4 => Action::Limit,
        _ => Action::Allow,
    }
}

fn health_status(v: i8) -> HealthStatus {
    match v {
        1 => HealthStatus::Ok,
        2 => HealthStatus::Degraded,
        _ => HealthStatus::Down,
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct MinuteRow {
    minute: u32,
    total: u64,
    blocked: u64,
    masked: u64,
    limited: u64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct NameCount {
    name: String,
    n: u64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct LevelRow {
    account: String,
    level: u8,
    n: u64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct HealthRow {
    producer: String,
    component: String,
    status: i8,
    counter_names: Vec<String>,
    counter_values: Vec<u64>,
    message: String,
    time: u32,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct StatementRow {
    id: String,
    time: u32,
    usec: u32,
    producer: String,
    account: String,
    client: String,
    database: String,
    normalized: String,
    objects: Vec<String>,
    max_level: u8,
    action: i8,
    rule: String,
    severity: i8,
    rows: u64,
}

// Aliases differ from the column names: in ClickHouse an alias shadows its column in WHERE.
const STATEMENT_COLUMNS: &str = "toString(id) AS id_text, toUInt32(time) AS secs, usec, producer, \
     account, client, database, normalized, objects, max_level, toInt8(action) AS action_code, rule, \
     toInt8(severity) AS severity_code, rows";

impl StatementRow {
    fn into_row(self) -> Option<EventRow> {
        Some(EventRow {
            id: Uuid::parse_str(&self.id).ok()?,
            time: read_time(self.time, self.usec),
            producer: self.producer,
            account: self.account,
            client: self.client,
            database: self.database,
            normalized: self.normalized,
            objects: self.objects,
            max_level: self.max_level,
            action: action(self.action),
            rule: self.rule,
            severity: read_severity(self.severity),
            rows: self.rows,
        })
    }
}

/// Reads everything the screens show, the queries side by side.
pub async fn snapshot(
    source: &Source,
    filter: &EventFilter,
    now: DateTime<Utc>,
) -> Result<Snapshot, DetectError> {
    let (db, timeout) = (&source.db, source.timeout);
    let t = now.timestamp().max(0);
    let hour = t - 3600;
    let minute_from = (t / 60 - MINUTES as i64 + 1) * 60;
    let minutes_sql = format!(
        "SELECT toUInt32(toStartOfMinute(time)) AS minute, count() AS total, \
         countIf(action = 'block') AS blocked, countIf(action = 'mask') AS masked, \
         countIf(action = 'limit') AS limited FROM statements \
         WHERE time >= toDateTime({minute_from}) GROUP BY minute ORDER BY minute"
    );
    let rate_sql = format!(
        "SELECT toUInt64((SELECT count() FROM statements WHERE time >= toDateTime({m})) + \
         (SELECT count() FROM api_calls WHERE time >= toDateTime({m})))",
        m = t - 60
    );
    let rows_sql = format!(
        "SELECT account AS name, sum(rows) AS n FROM statements WHERE time >= toDateTime({hour}) \
         GROUP BY account ORDER BY n DESC, name LIMIT 5"
    );
    let level_sql = format!(
        "SELECT account, max(max_level) AS level, countIf(max_level >= 3) AS n FROM statements \
         WHERE time >= toDateTime({hour}) GROUP BY account ORDER BY level DESC, n DESC, account LIMIT 5"
    );
    let tables_sql = format!(
        "SELECT arrayJoin(objects) AS name, count() AS n FROM statements \
         WHERE time >= toDateTime({hour}) GROUP BY name ORDER BY n DESC, name LIMIT 5"
    );
    let health_sql = format!(
        "SELECT producer, component, toInt8(status) AS status_code, counter_names, counter_values, \
         message, toUInt32(time) AS secs FROM health WHERE time >= toDateTime({}) \
         ORDER BY time DESC, usec DESC LIMIT 1 BY producer LIMIT 200",
        t - 7 * 86_400
    );
    let cond = filter.sql(now);
    let events_sql = format!(
        "SELECT {STATEMENT_COLUMNS} FROM statements WHERE {cond} \
         ORDER BY time DESC, usec DESC LIMIT {EVENT_CAP}"
    );
    let count_sql = format!("SELECT count() FROM statements WHERE {cond}");
    let list = ListFilter {
        since: Some(now - ALERT_HORIZON),
        limit: ALERT_CAP,
        ..ListFilter::default()
    };
    let (minutes, rate, rows, level, tables, health, events, matching, alerts, drills) = tokio::join!(
        fetch::<MinuteRow>(db, timeout, &minutes_sql),
        fetch::<u64>(db, timeout, &rate_sql),
        fetch::<NameCount>(db, timeout, &rows_sql),
        fetch::<LevelRow>(db, timeout, &level_sql),
        fetch::<NameCount>(db, timeout, &tables_sql),
        fetch::<HealthRow>(db, timeout, &health_sql),
        fetch::<StatementRow>(db, timeout, &events_sql),
        fetch::<u64>(db, timeout, &count_sql),
        lifecycle::list(db, timeout, &list),
        analyzer::drill::history(db, timeout, DRILL_CAP),
    );
    let mut by_minute: Vec<Minute> = (0..MINUTES as i64)
        .map(|i| Minute {
            start: u32::try_from(minute_from + i * 60).unwrap_or(0),
            ..Minute::default()
        })
        .collect();
    for m in minutes? {
        if let Some(slot) = by_minute.iter_mut().find(|s| s.start == m.minute) {
            *slot = Minute {
                start: m.minute,
                total: m.total,
                blocked: m.blocked,
                masked: m.masked,
                limited: m.limited,
            };
        }
    }
    let mut producers: Vec<ProducerHealth> = health?
        .into_iter()
        .map(|h| ProducerHealth {
            producer: h.producer,
            component: h.component,
            status: health_status(h.status),
            last_seen: read_time(h.time, 0),
            counters: h.counter_names.into_iter().zip(h.counter_values).collect(),
            message: h.message,
        })
        .collect();
    producers.sort_by(|a, b| a.producer.cmp(&b.producer));
    Ok(Snapshot {
        taken: Utc::now(),
        situation: Situation {
            events_per_sec: rate?.first().copied().unwrap_or(0) as f64 / 60.0,
            minutes: by_minute,
            top_rows: rows?.into_iter().map(|r| (r.name, r.n)).collect(),
            top_level: level?
                .into_iter()
                .map(|r| (r.account, r.level, r.n))
                .collect(),
            top_tables: tables?.into_iter().map(|r| (r.name, r.n)).collect(),
            producers,
        },
        alerts: alerts?,
        events: EventPage {
            rows: events?
                .into_iter()
                .filter_map(StatementRow::into_row)
                .collect(),
            matching: matching?.first().copied().unwrap_or(0),
        },
        drills: drills?,
    })
}

/// The statements `ids` (an alert's evidence), read within an hour around its window.
pub async fn evidence(
    source: &Source,
    ids: &[Uuid],
    around: (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<EventRow>, DetectError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let strings: Vec<String> = ids.iter().take(EVIDENCE_CAP).map(Uuid::to_string).collect();
    let sql = format!(
        "SELECT {STATEMENT_COLUMNS} FROM statements WHERE time >= toDateTime({}) \
         AND time < toDateTime({}) AND toString(id) IN {} ORDER BY time, usec LIMIT {EVIDENCE_CAP}",
        (around.0.timestamp() - 3600).max(0),
        (around.1.timestamp() + 3600).max(0),
        quote_list(strings.iter().map(String::as_str))
    );
    let rows: Vec<StatementRow> = fetch(&source.db, source.timeout, &sql).await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter_map(StatementRow::into_row)
        .filter(|r| seen.insert(r.id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_describe_and_reject() {
        let f = EventFilter::parse(
            "account=analyst_li table=pop level>=3 decision=block source=fw since=2h until=5m",
        )
        .expect("parses");
        assert_eq!(f.account.as_deref(), Some("analyst_li"));
        assert_eq!(f.min_level, Some(3));
        assert_eq!(f.decision, Some(Action::Block));
        assert_eq!(f.since, Duration::from_secs(7200));
        assert_eq!(EventFilter::parse(&f.describe()), Ok(f.clone()));
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let sql = f.sql(now);
        assert!(sql.contains("time >= toDateTime(1699992800)"), "{sql}");
        assert!(sql.contains("account = 'analyst_li'"), "{sql}");
        assert!(sql.contains("action = 'block'"), "{sql}");
        assert_eq!(EventFilter::parse(""), Ok(EventFilter::default()));
        for bad in [
            "level>=5",
            "decision=drop",
            "nonsense",
            "since=soon",
            "colour=red",
            "account=",
        ] {
            assert!(EventFilter::parse(bad).is_err(), "{bad}");
        }
        // Quotes cannot break out of the literal.
        let f = EventFilter::parse("account=x'OR'1").expect("parses");
        assert!(f.sql(now).contains("account = 'x\\'OR\\'1'"));
    }
}
