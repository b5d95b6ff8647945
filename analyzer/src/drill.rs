//! Emergency drills (应急演练): a DEMO.md scenario injected into the platform, the alert it
//! should raise found in ClickHouse, and the team's handling of that alert through the normal
//! workflow (`tianmu alert …` or the console) timed phase by phase. `tianmu drill run` and
//! the console's Drills screen both run [`Drills::run`]; the `drills` table is the record,
//! and the score is read back from it by the same function the report uses
//! ([`crate::report::gather::drill_results`]).
//!
//! ```text
//!  run ─► started ─► Injector (the traffic simulator) ─► injected (one per step, its own time)
//!                     │ statements through the firewalls ─► ClickHouse ─► analyzer ─► alert
//!  every `poll`: an alert of the scenario's detectors about its entity, raised after the
//!  start and claimed by no other drill ─► detected (its alert id: the alert is a drill's)
//!  the alert's transitions ─► acknowledged (first operator step) ─► contained ─► closed: end
//!  Ctrl-C, the console's abort, a timeout or a failed injection ─► aborted: end
//! ```
//!
//! Phases are recorded at the time they happened — detection at the alert's raise, the
//! others at their transition — not at the poll that noticed them, so the score does not
//! depend on how often ClickHouse is asked. Scores are measured from the first injected step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clickhouse::Client;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::alert::ACTOR;
use crate::detect::{DetectError, fetch, quote_list};
use crate::event::{AlertState, Body, Drill, DrillPhase, Event};
use crate::lifecycle::load_timelines;
use crate::pipeline::{EmitError, Producer};
use crate::report::gather::{DrillRow, drill_results};
use crate::report::{DrillOutcome, DrillResult};
use crate::schema::read_time;

/// A scenario a drill can run, and the alert that answers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// The traffic simulator's profile (`tianmu traffic --profile`).
    pub name: &'static str,
    pub en: &'static str,
    pub zh: &'static str,
    /// Detectors whose alert answers the scenario.
    pub detectors: &'static [&'static str],
    /// The entity that alert is about (`None`: any).
    pub entity: Option<&'static str>,
    /// Injected actions per second.
    pub rate: f64,
    /// How long the injection runs.
    pub inject_for: Duration,
}

/// The DEMO.md scenarios a drill can run.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "bulk-exfil",
        en: "analyst_li pages through population",
        zh: "分析员批量翻页读取人口库",
        detectors: &["bulk-exfiltration", "volume-anomaly"],
        entity: Some("analyst_li"),
        rate: 5.0,
        inject_for: Duration::from_secs(10),
    },
    Scenario {
        name: "sqli",
        en: "an injection campaign through the portal account",
        zh: "通过门户账号的SQL注入攻击",
        detectors: &["injection-campaign"],
        entity: Some("app_portal"),
        rate: 2.0,
        inject_for: Duration::from_secs(10),
    },
    Scenario {
        name: "vendor-prod",
        en: "the vendor's development account probes production tables",
        zh: "外包开发账号探查生产数据",
        detectors: &["non-production-account"],
        entity: Some("vendor_dev"),
        rate: 2.0,
        inject_for: Duration::from_secs(10),
    },
    Scenario {
        name: "off-hours",
        en: "the analyst reads level-3 data (alerts only outside office hours)",
        zh: "分析员读取三级数据（仅在非工作时间告警）",
        detectors: &["off-hours"],
        entity: Some("analyst_li"),
        rate: 2.0,
        inject_for: Duration::from_secs(10),
    },
    Scenario {
        name: "api-scrape",
        en: "one app key enumerates the credit API",
        zh: "单个应用密钥遍历信用接口",
        detectors: &["sharing-violation", "volume-anomaly"],
        entity: None,
        rate: 10.0,
        inject_for: Duration::from_secs(10),
    },
    Scenario {
        name: "flowback",
        en: "restricted credit data read back in bulk by the sharing account",
        zh: "共享账号批量回流受限信用数据",
        detectors: &["flow-back"],
        entity: Some("share_api"),
        rate: 5.0,
        inject_for: Duration::from_secs(10),
    },
];

/// The scenario named `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Phases in words, as the `drills` table spells them.
pub fn phase_name(p: DrillPhase) -> &'static str {
    match p {
        DrillPhase::Started => "started",
        DrillPhase::Injected => "injected",
        DrillPhase::Detected => "detected",
        DrillPhase::Acknowledged => "acknowledged",
        DrillPhase::Contained => "contained",
        DrillPhase::Closed => "closed",
        DrillPhase::Aborted => "aborted",
    }
}

/// One step an injector made.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub time: DateTime<Utc>,
    /// What was done (`analyst_li postgres: SELECT …`).
    pub detail: String,
}

/// What injects a scenario into the platform: the traffic simulator (the binary wires it
/// in: the analyzer does not know the demo platform).
pub trait Injector: Send + Sync {
    /// Injects `scenario` until it is done or `cancel` fires, sending each step made on
    /// `steps`; returns a summary, or why it could not inject.
    fn inject<'a>(
        &'a self,
        scenario: &'a Scenario,
        steps: mpsc::Sender<Injected>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<String, String>>;
}

/// Why a drill could not be run or recorded.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("cannot record the drill: {0}")]
    Emit(#[from] EmitError),
    #[error(transparent)]
    ClickHouse(#[from] DetectError),
}

/// One recorded phase, as the runner reports it while the drill runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub drill_id: Uuid,
    pub scenario: &'static str,
    pub phase: DrillPhase,
    /// When it happened.
    pub time: DateTime<Utc>,
    pub alert_id: Option<Uuid>,
    pub detail: String,
}

/// Where drills are watched and recorded.
pub struct Drills<'a> {
    pub db: &'a Client,
    pub timeout: Duration,
    pub producer: &'a Producer,
    /// Producer id of the drill records (`node/drill`, `node/console`).
    pub producer_id: &'a str,
    /// How often ClickHouse is asked for the alert and its transitions.
    pub poll: Duration,
}

/// How a run went.
#[derive(Debug, Clone)]
pub struct Finished {
    pub drill_id: Uuid,
    /// Every phase recorded, in order.
    pub phases: Vec<Progress>,
    /// The score, computed from the phases as the report computes it.
    pub result: Option<DrillResult>,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Raised {
    alert_id: String,
    entity: String,
    time: u32,
    usec: u32,
}

/// Whether an alert's `entity` is the scenario's (`analyst_li`, `analyst_li → table`,
/// `10.0.0.1` for an address entity `None` stands for any).
fn entity_matches(expected: Option<&str>, entity: &str) -> bool {
    match expected {
        None => true,
        Some(e) => entity == e || entity.strip_prefix(e).is_some_and(|r| r.starts_with(' ')),
    }
}

/// Phases already seen while following the alert.
#[derive(Debug, Default)]
struct Seen {
    alert: Option<Uuid>,
    acknowledged: bool,
    contained: bool,
}

impl Drills<'_> {
    /// Runs `scenario`: records its start, injects it with `injector`, waits for its alert
    /// and follows that alert's handling until it is closed, `timeout` passes or `cancel`
    /// fires. Each recorded phase is also sent on `progress` (a receiver that went away is
    /// ignored). Transient ClickHouse failures while watching are logged and retried.
    pub async fn run(
        &self,
        scenario: &'static Scenario,
        injector: &dyn Injector,
        actor: &str,
        timeout: Duration,
        progress: mpsc::Sender<Progress>,
        cancel: CancellationToken,
    ) -> Result<Finished, DrillError> {
        let drill_id = Uuid::now_v7();
        let started = Utc::now();
        let mut phases = Vec::new();
        let mut record = async |phase, time: DateTime<Utc>, alert_id, detail: String| {
            let p = Progress {
                drill_id,
                scenario: scenario.name,
                phase,
                time,
                alert_id,
                detail,
            };
            let event = Event::at(
                self.producer_id,
                time,
                Body::Drill(Drill {
                    drill_id,
                    scenario: scenario.name.to_owned(),
                    phase,
                    alert_id,
                    detail: p.detail.clone(),
                }),
            );
            self.producer.emit_durable(vec![event]).await?;
            tracing::info!(drill = %drill_id, scenario = scenario.name, phase = phase_name(phase), "Drill phase recorded.");
            phases.push(p.clone());
            let _ = progress.send(p).await;
            Ok::<(), DrillError>(())
        };
        record(
            DrillPhase::Started,
            started,
            None,
            format!(
                "{} by {actor}, timeout {}",
                scenario.name,
                humantime::format_duration(timeout)
            ),
        )
        .await?;

        let (tx, mut steps) = mpsc::channel::<Injected>(64);
        let stop_injecting = cancel.child_token();
        let injection = injector.inject(scenario, tx, stop_injecting.clone());
        tokio::pin!(injection);
        let mut injecting = true;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut poll = tokio::time::interval(self.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = Seen::default();
        let aborted = loop {
            tokio::select! {
                _ = cancel.cancelled() => break Some("aborted by the operator".to_owned()),
                _ = &mut deadline => break Some(format!(
                    "timed out after {}", humantime::format_duration(timeout)
                )),
                done = &mut injection, if injecting => {
                    injecting = false;
                    match done {
                        Ok(summary) => tracing::info!(drill = %drill_id, "Drill injection done: {summary}"),
                        Err(e) => break Some(format!("the injection failed: {e}")),
                    }
                }
                Some(step) = steps.recv() => {
                    record(DrillPhase::Injected, step.time, None, step.detail).await?;
                }
                _ = poll.tick() => {
                    match self.watch(scenario, started, &mut seen).await {
                        Ok(found) => {
                            let mut closed = false;
                            for (phase, time, detail) in found {
                                closed |= phase == DrillPhase::Closed;
                                record(phase, time, seen.alert, detail).await?;
                            }
                            if closed {
                                break None;
                            }
                        }
                        Err(e) => tracing::warn!(drill = %drill_id, error = %e, "Drill: ClickHouse not answering; trying again."),
                    }
                }
            }
        };
        stop_injecting.cancel();
        // Steps made before the stop are part of the record.
        while let Ok(step) = steps.try_recv() {
            record(DrillPhase::Injected, step.time, None, step.detail).await?;
        }
        if let Some(why) = aborted {
            record(DrillPhase::Aborted, Utc::now(), seen.alert, why).await?;
        }
        let result = score(&phases);
        Ok(Finished {
            drill_id,
            phases,
            result,
        })
    }

    /// The phases that happened since the last look: the alert found, then the steps the
    /// operators took on it.
    async fn watch(
        &self,
        scenario: &Scenario,
        started: DateTime<Utc>,
        seen: &mut Seen,
    ) -> Result<Vec<(DrillPhase, DateTime<Utc>, String)>, DetectError> {
        let mut out = Vec::new();
        let Some(alert) = seen.alert else {
            let sql = format!(
                "SELECT toString(alert_id) AS aid, entity, toUInt32(time) AS t, usec FROM alerts \
                 WHERE time >= toDateTime({}) AND detector IN {} \
                 AND toString(alert_id) NOT IN (SELECT toString(alert_id) FROM drills WHERE phase = 'detected') \
                 ORDER BY time, usec, aid LIMIT 100",
                started.timestamp().max(0),
                quote_list(scenario.detectors.iter().copied())
            );
            let raised: Vec<Raised> = fetch(self.db, self.timeout, &sql).await?;
            if let Some(r) = raised.into_iter().find(|r| {
                entity_matches(scenario.entity, &r.entity) && read_time(r.time, r.usec) >= started
            }) && let Ok(id) = Uuid::parse_str(&r.alert_id)
            {
                seen.alert = Some(id);
                out.push((
                    DrillPhase::Detected,
                    read_time(r.time, r.usec),
                    format!("alert {id} about {}", r.entity),
                ));
            }
            return Ok(out);
        };
        let mut timelines = load_timelines(self.db, self.timeout, &[alert]).await?;
        let Some(timeline) = timelines.remove(&alert) else {
            return Ok(out);
        };
        if !seen.acknowledged
            && let Some(s) = timeline
                .steps
                .iter()
                .find(|s| s.state != AlertState::New && s.actor != ACTOR)
        {
            seen.acknowledged = true;
            out.push((
                DrillPhase::Acknowledged,
                s.time,
                format!("{} by {}", crate::lifecycle::state_name(s.state), s.actor),
            ));
        }
        if !seen.contained
            && let Some(s) = timeline
                .steps
                .iter()
                .find(|s| s.state == AlertState::Contained)
        {
            seen.contained = true;
            out.push((
                DrillPhase::Contained,
                s.time,
                format!("{} by {}", first_line(&s.note), s.actor),
            ));
        }
        if timeline.state() == AlertState::Closed
            && let Some(s) = timeline
                .steps
                .iter()
                .rev()
                .find(|s| s.state == AlertState::Closed)
        {
            out.push((
                DrillPhase::Closed,
                s.time,
                format!(
                    "{} by {}",
                    crate::lifecycle::resolution_name(s.resolution),
                    s.actor
                ),
            ));
        }
        Ok(out)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The score of one drill's phases (the report's reading of the same records).
pub fn score(phases: &[Progress]) -> Option<DrillResult> {
    let rows: Vec<DrillRow> = phases
        .iter()
        .enumerate()
        .map(|(i, p)| DrillRow {
            id: i.to_string(),
            drill_id: p.drill_id.to_string(),
            scenario: p.scenario.to_owned(),
            phase: p.phase as i8,
            alert_id: p.alert_id.unwrap_or_default().to_string(),
            time: u32::try_from(p.time.timestamp()).unwrap_or(0),
            usec: p.time.timestamp_subsec_micros(),
        })
        .collect();
    drill_results(&rows).into_iter().next()
}

/// The last `limit` drills started, newest first, scored from their records.
pub async fn history(
    db: &Client,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<DrillResult>, DetectError> {
    // The first record of each phase is all a score needs (a drill injects many steps).
    let sql = format!(
        "SELECT toString(id) AS eid, toString(drill_id) AS did, scenario, toInt8(phase) AS ph, \
         toString(alert_id) AS aid, toUInt32(time) AS t, usec FROM drills \
         WHERE toString(drill_id) IN (SELECT toString(drill_id) FROM drills WHERE phase = 'started' \
         ORDER BY time DESC LIMIT {limit}) \
         ORDER BY t, usec, eid LIMIT 1 BY did, ph"
    );
    let rows: Vec<DrillRow> = fetch(db, timeout, &sql).await?;
    let mut out = drill_results(&rows);
    out.reverse();
    Ok(out)
}

/// The outcome in words.
pub fn outcome_name(o: DrillOutcome) -> &'static str {
    match o {
        DrillOutcome::Completed => "completed",
        DrillOutcome::Aborted => "aborted",
        DrillOutcome::Unfinished => "unfinished",
    }
}

/// A drill's id as operators see it.
pub fn short(id: &Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len().saturating_sub(8)..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(phase: DrillPhase, secs: i64) -> Progress {
        Progress {
            drill_id: Uuid::from_u128(1),
            scenario: "bulk-exfil",
            phase,
            time: DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default(),
            alert_id: (phase == DrillPhase::Detected).then(|| Uuid::from_u128(9)),
            detail: String::new(),
        }
    }

    #[test]
    fn scores_are_measured_from_the_first_injection() {
        use DrillPhase as P;
        let phases = [
            p(P::Started, 0),
            p(P::Injected, 2),
            p(P::Injected, 3),
            p(P::Detected, 9),
            p(P::Acknowledged, 32),
            p(P::Contained, 62),
            p(P::Closed, 122),
        ];
        let r = score(&phases).expect("a result");
        assert_eq!(r.detect_secs, Some(7));
        assert_eq!(r.acknowledge_secs, Some(30));
        assert_eq!(r.contain_secs, Some(60));
        assert_eq!(r.close_secs, Some(120));
        assert_eq!(r.outcome, DrillOutcome::Completed);
        assert_eq!(r.alert_id, Some(Uuid::from_u128(9)));
        let aborted =
            score(&[p(P::Started, 0), p(P::Injected, 1), p(P::Aborted, 50)]).expect("a result");
        assert_eq!(aborted.outcome, DrillOutcome::Aborted);
        assert_eq!(aborted.detect_secs, None);
        assert!(score(&[]).is_none());
    }

    #[test]
    fn entities_match_whole_names() {
        assert!(entity_matches(Some("analyst_li"), "analyst_li"));
        assert!(entity_matches(
            Some("analyst_li"),
            "analyst_li → publicdata.population"
        ));
        assert!(!entity_matches(Some("analyst_li"), "analyst_lin"));
        assert!(!entity_matches(Some("app_portal"), "analyst_li"));
        assert!(entity_matches(None, "10.0.0.1"));
    }

    #[test]
    fn every_scenario_is_named_once_and_has_a_detector() {
        for s in SCENARIOS {
            assert_eq!(scenario(s.name), Some(s));
            assert!(!s.detectors.is_empty(), "{}", s.name);
            assert!(s.rate > 0.0 && !s.inject_for.is_zero(), "{}", s.name);
        }
        assert_eq!(scenario("sensor-down"), None);
    }
}
