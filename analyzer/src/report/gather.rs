//! Reading one period from ClickHouse: access counts, blocked statements, tables touched,
//! the alerts raised with their lifecycle ([`crate::lifecycle`]), the evidence statements
//! behind them, and the drills. Aggregates are computed in ClickHouse (18.16-safe SQL:
//! named `GROUP BY`, result types cast to what the rows expect, UUIDs read as strings).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use clickhouse::Client;
use uuid::Uuid;

use super::{DrillOutcome, DrillResult, Inputs, ReportError};
use crate::detect::{DetectError, quote_list};
use crate::lifecycle::{self, AlertRecord, ListFilter};
use crate::ship::ClickHouse;

/// Everything read for one period.
#[derive(Debug, Default)]
pub struct Facts {
    pub access: Vec<AccessRow>,
    pub blocked: Vec<BlockedRow>,
    pub objects: Vec<ObjectRow>,
    /// Alerts raised in the period, drills included, with their timelines.
    pub alerts: Vec<AlertRecord>,
    /// Evidence statements of those alerts, by event id.
    pub evidence: HashMap<Uuid, EvidenceRow>,
    /// Records of the drills that had any record in the period, oldest first.
    pub drills: Vec<DrillRow>,
    pub firewalls: Vec<String>,
    pub sensors: Vec<String>,
    pub servers: Vec<String>,
    pub firewall_statements: u64,
    pub sensor_statements: u64,
    pub api_calls: u64,
}

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct AccessRow {
    pub account: String,
    pub level: u8,
    pub statements: u64,
    pub blocked: u64,
    pub masked: u64,
    pub limited: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct BlockedRow {
    pub account: String,
    pub rule: String,
    pub statements: u64,
    pub level: u8,
    pub first: u32,
    pub last: u32,
    pub sample: String,
}

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct ObjectRow {
    pub object: String,
    pub statements: u64,
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct EvidenceRow {
    pub id: String,
    pub objects: Vec<String>,
    pub level: u8,
    pub blocked: u8,
}

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub struct DrillRow {
    pub id: String,
    pub drill_id: String,
    pub scenario: String,
    pub phase: i8,
    pub alert_id: String,
    pub time: u32,
    pub usec: u32,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct ObserverRow {
    observer: String,
    producer: String,
    statements: u64,
}

impl Facts {
    /// Nothing at all was recorded in the period.
    pub fn is_empty(&self) -> bool {
        self.access.is_empty()
            && self.api_calls == 0
            && self.alerts.is_empty()
            && self.drills.is_empty()
    }

    /// Of the evidence events `ids`: the highest level touched, whether any touched a
    /// table `personal` says holds personal information, and whether there were evidence
    /// statements and every one of them was blocked.
    pub fn evidence_summary(
        &self,
        ids: &[Uuid],
        personal: &dyn Fn(&str) -> bool,
    ) -> (u8, bool, bool) {
        let (mut level, mut any_personal, mut seen, mut all_blocked) = (0u8, false, 0, true);
        for e in ids.iter().filter_map(|id| self.evidence.get(id)) {
            seen += 1;
            level = level.max(e.level);
            any_personal |= e.objects.iter().any(|o| personal(o));
            all_blocked &= e.blocked != 0;
        }
        (level, any_personal, seen > 0 && all_blocked)
    }
}

/// A Unix time (seconds) as a `DateTime`.
pub fn at(secs: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(secs), 0).unwrap_or_default()
}

struct Db<'a> {
    db: &'a Client,
    url: &'a str,
    timeout: std::time::Duration,
}

impl Db<'_> {
    fn error(&self, e: DetectError) -> ReportError {
        match e {
            DetectError::ClickHouse(source) => ReportError::ClickHouse {
                url: self.url.to_owned(),
                source,
            },
            DetectError::Timeout(timeout) => ReportError::Timeout {
                url: self.url.to_owned(),
                timeout,
            },
        }
    }

    async fn fetch<T>(&self, client: &Client, sql: &str) -> Result<Vec<T>, ReportError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        tracing::debug!(sql, "Report query.");
        match tokio::time::timeout(self.timeout, client.query(sql).fetch_all::<T>()).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(self.error(DetectError::ClickHouse(e))),
            Err(_) => Err(self.error(DetectError::Timeout(self.timeout))),
        }
    }

    async fn rows<T>(&self, sql: &str) -> Result<Vec<T>, ReportError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.fetch(self.db, sql).await
    }
}

/// Reads the period of `inputs` from ClickHouse.
pub async fn gather(inputs: &Inputs<'_>) -> Result<Facts, ReportError> {
    let cfg = inputs.clickhouse;
    let ch = ClickHouse::new(cfg);
    let db = Db {
        db: &ch.db,
        url: &cfg.url,
        timeout: cfg.timeout,
    };
    let exists: Vec<u64> = db
        .fetch(
            &ch.server,
            &format!(
                "SELECT count() FROM system.databases WHERE name = {}",
                crate::detect::quote(&cfg.database)
            ),
        )
        .await?;
    if exists.first().copied().unwrap_or(0) == 0 {
        return Err(ReportError::NoDatabase {
            url: cfg.url.clone(),
            database: cfg.database.clone(),
        });
    }
    let (f, t) = (inputs.from.timestamp().max(0), inputs.to.timestamp().max(0));
    let period = format!("time >= toDateTime({f}) AND time < toDateTime({t})");

    let access: Vec<AccessRow> = db
        .rows(&format!(
            "SELECT account, max_level AS lvl, count() AS n, countIf(action = 'block') AS nb, \
             countIf(action = 'mask') AS nm, countIf(action = 'limit') AS nl, sum(rows) AS nr \
             FROM statements WHERE {period} GROUP BY account, lvl ORDER BY account, lvl"
        ))
        .await?;
    let blocked: Vec<BlockedRow> = db
        .rows(&format!(
            "SELECT account, rule, count() AS n, max(max_level) AS lvl, toUInt32(min(time)) AS t0, \
             toUInt32(max(time)) AS t1, any(normalized) AS sample \
             FROM statements WHERE {period} AND action = 'block' \
             GROUP BY account, rule ORDER BY n DESC, account, rule"
        ))
        .await?;
    let objects: Vec<ObjectRow> = db
        .rows(&format!(
            "SELECT obj, count() AS n, arraySlice(arraySort(groupUniqArray(account)), 1, 20) AS accounts \
             FROM statements ARRAY JOIN objects AS obj WHERE {period} GROUP BY obj ORDER BY obj"
        ))
        .await?;
    let observers: Vec<ObserverRow> = db
        .rows(&format!(
            "SELECT toString(observer) AS obs, producer, count() AS n FROM statements \
             WHERE {period} GROUP BY obs, producer ORDER BY obs, producer"
        ))
        .await?;
    let servers: Vec<String> = db
        .rows(&format!(
            "SELECT DISTINCT server FROM statements WHERE {period} ORDER BY server LIMIT 100"
        ))
        .await?;
    let api_calls: Vec<u64> = db
        .rows(&format!("SELECT count() FROM api_calls WHERE {period}"))
        .await?;

    let mut alerts = lifecycle::list(
        db.db,
        db.timeout,
        &ListFilter {
            since: Some(inputs.from),
            until: Some(inputs.to),
            ..ListFilter::default()
        },
    )
    .await
    .map_err(|e| db.error(e))?;
    alerts.sort_by_key(|a| (a.raised, a.alert.alert_id));
    let evidence = evidence(&db, &alerts).await?;

    let drills: Vec<DrillRow> = db
        .rows(&format!(
            "SELECT toString(id) AS eid, toString(drill_id) AS did, scenario, toInt8(phase) AS ph, \
             toString(alert_id) AS aid, toUInt32(time) AS t, usec FROM drills \
             WHERE toString(drill_id) IN (SELECT toString(drill_id) FROM drills WHERE {period}) \
             ORDER BY t, usec, eid"
        ))
        .await?;

    let mut facts = Facts {
        access,
        blocked,
        objects,
        alerts,
        evidence,
        drills,
        servers,
        api_calls: api_calls.first().copied().unwrap_or(0),
        ..Facts::default()
    };
    for o in observers {
        let (list, count) = match o.observer.as_str() {
            "sensor" => (&mut facts.sensors, &mut facts.sensor_statements),
            _ => (&mut facts.firewalls, &mut facts.firewall_statements),
        };
        list.push(o.producer);
        *count += o.statements;
    }
    Ok(facts)
}

/// The evidence statements of `alerts`, looked for around their windows.
async fn evidence(
    db: &Db<'_>,
    alerts: &[AlertRecord],
) -> Result<HashMap<Uuid, EvidenceRow>, ReportError> {
    let ids: Vec<String> = alerts
        .iter()
        .flat_map(|a| a.alert.evidence.iter().map(Uuid::to_string))
        .collect();
    let (Some(from), Some(to)) = (
        alerts.iter().map(|a| a.alert.window_start).min(),
        alerts.iter().map(|a| a.alert.window_end).max(),
    ) else {
        return Ok(HashMap::new());
    };
    // Evidence lies in the alert's window; a day either side covers producers' clock skew.
    let (from, to) = (from.timestamp() - 86_400, to.timestamp() + 86_400);
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<EvidenceRow> = db
            .rows(&format!(
                "SELECT toString(id) AS eid, objects, max_level, toUInt8(action = 'block') AS b \
                 FROM statements WHERE time >= toDateTime({}) AND time < toDateTime({}) \
                 AND toString(id) IN {}",
                from.max(0),
                to.max(0),
                quote_list(chunk.iter().map(String::as_str))
            ))
            .await?;
        for r in rows {
            if let Ok(id) = Uuid::parse_str(&r.id) {
                out.insert(id, r);
            }
        }
    }
    Ok(out)
}

/// Drill records → one result per drill, timed from its first injection (its start when
/// nothing was injected).
pub fn drill_results(rows: &[DrillRow]) -> Vec<DrillResult> {
    let mut by_drill: BTreeMap<&str, Vec<&DrillRow>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        if seen.insert(r.id.as_str()) {
            by_drill.entry(r.drill_id.as_str()).or_default().push(r);
        }
    }
    let t = |r: &DrillRow| {
        DateTime::from_timestamp(i64::from(r.time), r.usec.min(999_999) * 1000).unwrap_or_default()
    };
    let mut out: Vec<DrillResult> = by_drill
        .into_iter()
        .filter_map(|(id, rows)| {
            let drill_id = Uuid::parse_str(id).ok()?;
            let first = |phase: i8| rows.iter().find(|r| r.phase == phase).map(|r| t(r));
            let started = first(1).or_else(|| rows.first().map(|r| t(r)))?;
            let base = first(2).unwrap_or(started);
            let since = |phase: i8| first(phase).map(|at| (at - base).num_seconds().max(0) as u64);
            let outcome = if first(6).is_some() {
                DrillOutcome::Completed
            } else if first(7).is_some() {
                DrillOutcome::Aborted
            } else {
                DrillOutcome::Unfinished
            };
            Some(DrillResult {
                drill_id,
                scenario: rows
                    .iter()
                    .map(|r| r.scenario.as_str())
                    .find(|s| !s.is_empty())
                    .unwrap_or_default()
                    .to_owned(),
                started,
                alert_id: rows
                    .iter()
                    .filter_map(|r| Uuid::parse_str(&r.alert_id).ok())
                    .find(|a| !a.is_nil()),
                detect_secs: since(3),
                acknowledge_secs: since(4),
                contain_secs: since(5),
                close_secs: since(6),
                outcome,
            })
        })
        .collect();
    out.sort_by_key(|d| (d.started, d.drill_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, drill: &str, phase: i8, time: u32) -> DrillRow {
        DrillRow {
            id: id.into(),
            drill_id: drill.into(),
            scenario: "bulk-exfil".into(),
            phase,
            alert_id: if phase == 3 {
                "00000000-0000-0000-0000-0000000000aa".into()
            } else {
                "00000000-0000-0000-0000-000000000000".into()
            },
            time,
            usec: 0,
        }
    }

    #[test]
    fn drills_are_timed_from_their_first_injection() {
        let a = "00000000-0000-0000-0000-000000000001";
        let b = "00000000-0000-0000-0000-000000000002";
        let rows = [
            row("1", a, 1, 1000),
            row("2", a, 2, 1010),
            row("3", a, 2, 1020),
            row("4", a, 3, 1015),
            row("5", a, 4, 1070),
            row("5", a, 4, 1070), // a duplicate record counts once
            row("6", a, 5, 1130),
            row("7", a, 6, 1610),
            row("8", b, 1, 2000),
            row("9", b, 7, 2100),
        ];
        let r = drill_results(&rows);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].detect_secs, Some(5));
        assert_eq!(r[0].acknowledge_secs, Some(60));
        assert_eq!(r[0].contain_secs, Some(120));
        assert_eq!(r[0].close_secs, Some(600));
        assert_eq!(r[0].outcome, DrillOutcome::Completed);
        assert_eq!(
            r[0].alert_id.map(|u| u.to_string()).as_deref(),
            Some("00000000-0000-0000-0000-0000000000aa")
        );
        assert_eq!(r[1].outcome, DrillOutcome::Aborted);
        assert_eq!(r[1].detect_secs, None);
        assert_eq!(r[1].alert_id, None);
    }
}
