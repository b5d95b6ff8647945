//! The detection cycle and the `tianmu analyzer` loop.
//!
//! ```text
//! every `interval`:  statements and API calls ingested in [from, now] ──► windows (event time)
//!                    ──► every enabled Detector (isolated: one failing is reported, the
//!                        others run) ──► findings ──► alert ids ──► not yet raised?
//!                    ──► Alert + Transition(new) through the pipeline ──► ClickHouse
//! ```
//!
//! A cycle that cannot reach ClickHouse is skipped with a warning and the next one starts
//! from the same point, so an outage is caught up; alert ids are deterministic and checked
//! against the `alerts` table (and against what this process raised and has not shipped
//! yet), so overlapping cycles and re-runs never raise an alert twice.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rules::account::Accounts;
use rules::catalog::Catalog;
use rules::policy::containment::{Containment, ContainmentError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::alert;
use crate::config::{AnalyzerConfig, ClickHouseConfig, SpoolConfig};
use crate::detect::{self, Context, DetectError, Detector};
use crate::event::{Alert, AlertState, Body, Event, Health, HealthStatus, Resolution, Transition};
use crate::pipeline::{EmitError, Mode, Pipeline};
use crate::schema::{self, SchemaError};
use crate::ship::{ClickHouse, ShipError};
use crate::spool::SpoolError;

/// Each cycle re-reads this much ingest time before the previous cycle's end: an insert's
/// rows become visible only when it completes, with the `ingested` time it started at.
const INGEST_OVERLAP: Duration = Duration::from_secs(30);
/// Late events older than this (event time, before the cycle's ingest range) are not
/// looked for; it bounds the partitions a cycle scans.
const MAX_LATENESS: Duration = Duration::from_secs(7 * 86_400);
/// Most windows one cycle judges; a flood of very late events is judged over cycles.
const MAX_WINDOWS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Ship(#[from] ShipError),
    #[error(transparent)]
    Emit(#[from] EmitError),
    #[error(transparent)]
    Containment(#[from] ContainmentError),
}

/// What one cycle did.
#[derive(Debug, Default)]
pub struct Cycle {
    /// Windows judged.
    pub windows: usize,
    /// Alerts raised now (not raised before).
    pub alerts: Vec<Alert>,
    /// Findings whose alert already existed.
    pub known: usize,
    /// Detectors that failed, with why.
    pub failed: Vec<(&'static str, String)>,
}

/// What the analyzer knows of the platform from `[policy]`: its accounts and its catalog
/// (detectors that need one it lacks find nothing, and say so at debug level), and the
/// containment file whose expired blocks it records.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub accounts: Option<Accounts>,
    pub catalog: Option<Catalog>,
    pub containment: Option<PathBuf>,
}

impl From<Option<Accounts>> for Platform {
    fn from(accounts: Option<Accounts>) -> Platform {
        Platform {
            accounts,
            ..Platform::default()
        }
    }
}

/// The detectors and what they need.
pub struct Analyzer {
    ch: ClickHouse,
    cfg: AnalyzerConfig,
    platform: Platform,
    detectors: Vec<Box<dyn Detector>>,
    /// Alerts this process raised (they may still be in the spool).
    raised: HashSet<Uuid>,
}

impl Analyzer {
    pub fn new(ch: &ClickHouseConfig, cfg: AnalyzerConfig, platform: impl Into<Platform>) -> Self {
        Analyzer {
            ch: ClickHouse::new(ch),
            detectors: detect::enabled(&cfg),
            cfg,
            platform: platform.into(),
            raised: HashSet::new(),
        }
    }

    /// Runs every detector over the windows of statements and API calls ingested in
    /// `[from, to)`.
    /// Returns the alerts not raised before; call [`Analyzer::raised`] once they are
    /// emitted.
    pub async fn cycle(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Cycle, AnalyzerError> {
        let windows = self.windows(from, to).await?;
        let cx = Context {
            db: &self.ch.db,
            timeout: self.ch.cfg.timeout,
            cfg: &self.cfg,
            accounts: self.platform.accounts.as_ref(),
            catalog: self.platform.catalog.as_ref(),
            windows: &windows,
            now,
        };
        let mut out = Cycle {
            windows: windows.len(),
            ..Cycle::default()
        };
        let mut findings = Vec::new();
        for d in &self.detectors {
            // The silence detector needs no windows; the others have nothing to do without.
            if windows.is_empty() && d.name() != "silent-producer" {
                continue;
            }
            match d.run(&cx).await {
                Ok(f) => {
                    debug!(detector = d.name(), findings = f.len(), "Detector ran.");
                    findings.extend(f);
                }
                Err(e) => {
                    warn!(detector = d.name(), error = %e, "Detector failed; the others go on.");
                    out.failed.push((d.name(), e.to_string()));
                }
            }
        }
        let mut alerts: Vec<Alert> = findings.iter().map(detect::Finding::to_alert).collect();
        let mut seen = HashSet::new();
        alerts.retain(|a| seen.insert(a.alert_id));
        let ids: Vec<Uuid> = alerts.iter().map(|a| a.alert_id).collect();
        let stored = alert::already_raised(&self.ch.db, self.ch.cfg.timeout, &ids).await?;
        let before = alerts.len();
        alerts.retain(|a| !stored.contains(&a.alert_id) && !self.raised.contains(&a.alert_id));
        out.known = before - alerts.len();
        out.alerts = alerts;
        Ok(out)
    }

    /// Remembers alerts as raised (emitted to the pipeline).
    pub fn raised(&mut self, alerts: &[Alert]) {
        self.raised.extend(alerts.iter().map(|a| a.alert_id));
    }

    /// Starts of the windows holding statements or API calls ingested in `[from, to)`.
    async fn windows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BTreeSet<u32>, AnalyzerError> {
        let w = self.cfg.window.as_secs().max(1);
        let oldest = (from.timestamp() - MAX_LATENESS.as_secs() as i64).max(0);
        let of = |table: &str| {
            format!(
                "SELECT toUInt32(intDiv(toUInt32(time), {w}) * {w}) AS win FROM {table} \
                 WHERE time >= toDateTime({oldest}) AND ingested >= toDateTime({f}) AND ingested < toDateTime({t})",
                f = from.timestamp().max(0),
                t = to.timestamp().max(0),
            )
        };
        let sql = format!(
            "SELECT DISTINCT win FROM ({} UNION ALL {}) ORDER BY win DESC LIMIT {MAX_WINDOWS}",
            of("statements"),
            of("api_calls"),
        );
        let timeout = self.ch.cfg.timeout;
        let found: Vec<u32> =
            match tokio::time::timeout(timeout, self.ch.db.query(&sql).fetch_all()).await {
                Ok(r) => r.map_err(DetectError::from)?,
                Err(_) => return Err(DetectError::Timeout(timeout).into()),
            };
        Ok(found.into_iter().collect())
    }
}

/// Removes the expired blocks from the containment file at `path`; the events that record
/// the expiry of those that contained an alert.
async fn expired(path: PathBuf, producer_id: &str) -> Result<Vec<Event>, ContainmentError> {
    let now = Utc::now();
    let file = path.clone();
    let blocks = tokio::task::spawn_blocking(move || Containment::expire(&file, now))
        .await
        .map_err(|e| ContainmentError::Io {
            path,
            source: std::io::Error::other(e),
        })??;
    Ok(blocks
        .iter()
        .filter_map(|b| {
            info!(block = %b.id, target = %b.target, "Containment block expired.");
            let alert_id = Uuid::parse_str(b.alert.as_deref()?).ok()?;
            Some(Event::new(
                producer_id,
                Body::Transition(Transition {
                    alert_id,
                    state: AlertState::Lifted,
                    actor: alert::ACTOR.into(),
                    note: format!("{} unblocked: {} expired", b.target, b.id),
                    resolution: Resolution::None,
                }),
            ))
        })
        .collect())
}

/// The events for `alerts`.
fn alert_events(producer: &str, alerts: &[Alert]) -> Vec<Event> {
    alerts
        .iter()
        .flat_map(|a| alert::events(producer, a))
        .collect()
}

/// `tianmu analyzer --once`: one cycle over what was ingested in the last `since` (and
/// the containment blocks that expired), alerts delivered to ClickHouse before it returns.
pub async fn run_once(
    ch: &ClickHouseConfig,
    spool: &SpoolConfig,
    cfg: AnalyzerConfig,
    platform: impl Into<Platform>,
    producer: &str,
    since: Duration,
    cancel: CancellationToken,
) -> Result<Cycle, AnalyzerError> {
    let platform = platform.into();
    let containment = platform.containment.clone();
    let client = ClickHouse::new(ch);
    schema::migrate(&client.server, &ch.url, &ch.database).await?;
    let analyzer = Analyzer::new(ch, cfg, platform);
    let now = Utc::now();
    let from = now - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX);
    let cycle = analyzer
        .cycle(from, now + chrono::Duration::seconds(1), now)
        .await?;
    let pipeline = Pipeline::start(spool, ch, Mode::Drain)?;
    let mut events = alert_events(producer, &cycle.alerts);
    if let Some(path) = containment {
        events.extend(expired(path, producer).await?);
    }
    if !events.is_empty() {
        pipeline.producer().emit_durable(events).await?;
    }
    pipeline.finish(cancel).await?;
    Ok(cycle)
}

/// `tianmu analyzer`: a cycle every `interval` until `cancel`; the analyzer's own health
/// report after each. With a containment file, blocks that expired are removed from it and
/// their expiry recorded on their alerts.
pub async fn run(
    ch: &ClickHouseConfig,
    spool: &SpoolConfig,
    cfg: AnalyzerConfig,
    platform: impl Into<Platform>,
    producer_id: &str,
    cancel: CancellationToken,
) -> Result<(), AnalyzerError> {
    let platform = platform.into();
    let containment = platform.containment.clone();
    let pipeline = Pipeline::start(spool, ch, Mode::Daemon)?;
    let producer = pipeline.producer();
    let interval = cfg.interval;
    let mut from = Utc::now() - chrono::Duration::from_std(cfg.lookback).unwrap_or_default();
    let mut analyzer = Analyzer::new(ch, cfg, platform);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut cycles, mut raised, mut skipped) = (0u64, 0u64, 0u64);
    info!(detectors = ?analyzer.detectors.iter().map(|d| d.name()).collect::<Vec<_>>(), ?interval, "Analyzer running.");
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => break,
        }
        let now = Utc::now();
        let (status, message, failed) = match analyzer
            .cycle(from, now + chrono::Duration::seconds(1), now)
            .await
        {
            Ok(c) => {
                cycles += 1;
                for a in &c.alerts {
                    info!(alert = %a.alert_id, detector = %a.detector, entity = %a.entity, severity = ?a.severity, "{}", a.title);
                }
                producer.emit(alert_events(producer_id, &c.alerts)).await?;
                analyzer.raised(&c.alerts);
                raised += c.alerts.len() as u64;
                from = now - chrono::Duration::from_std(INGEST_OVERLAP).unwrap_or_default();
                let failed = c.failed.len() as u64;
                let message = c
                    .failed
                    .iter()
                    .map(|(d, e)| format!("{d}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let status = if failed == 0 {
                    HealthStatus::Ok
                } else {
                    HealthStatus::Degraded
                };
                (status, message, failed)
            }
            Err(e) => {
                // `from` stays: the next cycle catches up on what this one missed.
                skipped += 1;
                warn!(error = %e, "Detection cycle skipped; the next one catches up.");
                (HealthStatus::Degraded, e.to_string(), 0)
            }
        };
        if let Some(path) = &containment {
            match expired(path.clone(), producer_id).await {
                Ok(events) => producer.emit(events).await?,
                Err(e) => {
                    warn!(error = %e, "Cannot expire containment blocks; the next cycle tries again.")
                }
            }
        }
        let health = Health {
            component: "analyzer".into(),
            status,
            counters: vec![
                ("cycles".into(), cycles),
                ("cycles_skipped".into(), skipped),
                ("alerts_raised".into(), raised),
                ("detectors_failed".into(), failed),
            ],
            message,
        };
        producer
            .emit(vec![Event::new(producer_id, Body::Health(health))])
            .await?;
    }
    drop(producer);
    let done = CancellationToken::new();
    done.cancel();
    pipeline.finish(done).await?;
    Ok(())
}
