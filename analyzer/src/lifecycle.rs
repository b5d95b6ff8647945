//! The alert lifecycle: what an operator may do with an alert, the append-only transitions
//! that record it (`alert_transitions`), and the SLA timers derived from them.
//!
//! ```text
//!  new ─► acknowledged ─► assigned ─► in progress ⇄ pending ─► contained ─► resolved ─► closed ─► signed off
//!   │           (any open state may go to any later one; escalate, note and lift are      │
//!   │            annotations that leave the state as it is)                               │
//!   └──────────────────────── merged (into another alert) ◄── open        reopened ◄─────┘
//! ```
//!
//! An alert's state is not stored anywhere but in its transitions: [`Timeline`] reads them
//! back in order and [`Timeline::apply`] checks an action against them before a new
//! transition is written. Closing needs a resolution; a closed alert may be signed off by a
//! reviewer other than the operator who closed it (four eyes). Time to acknowledge is
//! measured to the first step any operator took, time to contain to the first containment,
//! time to close to the close that stands.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clickhouse::Client;
use rules::policy::containment::{Block, Containment, ContainmentError, Target};
use uuid::Uuid;

use crate::alert::ACTOR;
use crate::detect::{DetectError, fetch, quote, quote_list};
use crate::event::{Alert, AlertState, Body, Event, Resolution, Transition};
use crate::pipeline::{EmitError, Producer};
use crate::schema::{read_severity, read_time};

/// What an operator does with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    /// Hand the alert to this operator.
    Assign(String),
    /// Work on it has started.
    Start,
    /// Waiting on someone outside the SOC.
    Pend,
    /// A containment was put in place; the text says which (see `rules::policy::containment`).
    Contain(String),
    Resolve,
    Close(Resolution),
    Reopen,
    Escalate,
    /// A duplicate of this other alert.
    Merge(Uuid),
    /// A reviewer agrees with the closing.
    SignOff,
    /// A containment was lifted before it expired; the text says which.
    Lift(String),
    /// A remark, nothing else.
    Note,
}

impl Action {
    /// The state its transition records.
    pub fn state(&self) -> AlertState {
        match self {
            Action::Acknowledge => AlertState::Acknowledged,
            Action::Assign(_) => AlertState::Assigned,
            Action::Start => AlertState::InProgress,
            Action::Pend => AlertState::Pending,
            Action::Contain(_) => AlertState::Contained,
            Action::Resolve => AlertState::Resolved,
            Action::Close(_) => AlertState::Closed,
            Action::Reopen => AlertState::Reopened,
            Action::Escalate => AlertState::Escalated,
            Action::Merge(_) => AlertState::Merged,
            Action::SignOff => AlertState::SignedOff,
            Action::Lift(_) => AlertState::Lifted,
            Action::Note => AlertState::Noted,
        }
    }
}

/// Why an action cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the alert is {0}: {1}")]
    NotNow(&'static str, &'static str),
    #[error(
        "closing needs a resolution: tp-impact, tp-no-impact, false-positive, legitimate or unknown"
    )]
    NoResolution,
    #[error("the alert was closed by {0}: another reviewer must sign it off")]
    OwnSignOff(String),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("an alert cannot be merged into itself")]
    SelfMerge,
}

/// Lifecycle states in words, as the `alert_transitions` table spells them.
pub fn state_name(s: AlertState) -> &'static str {
    match s {
        AlertState::New => "new",
        AlertState::Acknowledged => "acknowledged",
        AlertState::Assigned => "assigned",
        AlertState::InProgress => "in_progress",
        AlertState::Pending => "pending",
        AlertState::Contained => "contained",
        AlertState::Resolved => "resolved",
        AlertState::Closed => "closed",
        AlertState::Merged => "merged",
        AlertState::Escalated => "escalated",
        AlertState::Reopened => "reopened",
        AlertState::SignedOff => "signed_off",
        AlertState::Noted => "noted",
        AlertState::Lifted => "lifted",
    }
}

/// Resolutions in words, as the table and the command line spell them.
pub fn resolution_name(r: Resolution) -> &'static str {
    match r {
        Resolution::None => "none",
        Resolution::TruePositiveWithImpact => "tp-impact",
        Resolution::TruePositiveWithoutImpact => "tp-no-impact",
        Resolution::FalsePositive => "false-positive",
        Resolution::LegitimateActivity => "legitimate",
        Resolution::Unknown => "unknown",
    }
}

/// The resolution named `word` (as [`resolution_name`] spells it).
pub fn parse_resolution(word: &str) -> Option<Resolution> {
    [
        Resolution::TruePositiveWithImpact,
        Resolution::TruePositiveWithoutImpact,
        Resolution::FalsePositive,
        Resolution::LegitimateActivity,
        Resolution::Unknown,
    ]
    .into_iter()
    .find(|r| resolution_name(*r) == word)
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub time: DateTime<Utc>,
    pub state: AlertState,
    pub actor: String,
    pub note: String,
    pub resolution: Resolution,
}

/// Times from an alert's raise to the SOC's first response, its first containment and
/// the close that stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sla {
    pub acknowledge: Option<Duration>,
    pub contain: Option<Duration>,
    pub close: Option<Duration>,
}

/// An alert's transitions, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub steps: Vec<Step>,
}

/// Steps that annotate without changing the state.
fn annotates(s: AlertState) -> bool {
    matches!(
        s,
        AlertState::Escalated | AlertState::Noted | AlertState::Lifted | AlertState::SignedOff
    )
}

impl Timeline {
    /// When the alert was raised (its `new` step).
    pub fn raised(&self) -> Option<DateTime<Utc>> {
        self.steps
            .iter()
            .find(|s| s.state == AlertState::New)
            .map(|s| s.time)
    }

    /// The state the alert is in.
    pub fn state(&self) -> AlertState {
        self.steps
            .iter()
            .rev()
            .map(|s| s.state)
            .find(|s| !annotates(*s))
            .unwrap_or(AlertState::New)
    }

    /// Open: not closed, not merged into another alert.
    pub fn is_open(&self) -> bool {
        !matches!(self.state(), AlertState::Closed | AlertState::Merged)
    }

    /// The resolution of the close that stands.
    pub fn resolution(&self) -> Resolution {
        match self.state() {
            AlertState::Closed => self
                .last(AlertState::Closed)
                .map_or(Resolution::None, |s| s.resolution),
            _ => Resolution::None,
        }
    }

    /// Whom the alert is assigned to.
    pub fn assignee(&self) -> Option<&str> {
        self.last(AlertState::Assigned)
            .and_then(|s| s.note.lines().next())
    }

    /// Escalated at least once.
    pub fn escalated(&self) -> bool {
        self.steps.iter().any(|s| s.state == AlertState::Escalated)
    }

    /// The reviewer who signed the standing close off.
    pub fn signed_off_by(&self) -> Option<&str> {
        if self.state() != AlertState::Closed {
            return None;
        }
        let closed = self
            .steps
            .iter()
            .rposition(|s| s.state == AlertState::Closed)?;
        self.steps[closed..]
            .iter()
            .find(|s| s.state == AlertState::SignedOff)
            .map(|s| s.actor.as_str())
    }

    fn last(&self, state: AlertState) -> Option<&Step> {
        self.steps.iter().rev().find(|s| s.state == state)
    }

    /// The SLA timers, measured from the raise.
    pub fn sla(&self) -> Sla {
        let Some(raised) = self.raised() else {
            return Sla::default();
        };
        let since = |t: DateTime<Utc>| (t - raised).to_std().unwrap_or_default();
        let first_response = self
            .steps
            .iter()
            .find(|s| s.state != AlertState::New && s.actor != ACTOR)
            .map(|s| since(s.time));
        let contained = self
            .steps
            .iter()
            .find(|s| s.state == AlertState::Contained)
            .map(|s| since(s.time));
        let closed = match self.state() {
            AlertState::Closed => self.last(AlertState::Closed).map(|s| since(s.time)),
            _ => None,
        };
        Sla {
            acknowledge: first_response,
            contain: contained,
            close: closed,
        }
    }

    /// The transition `actor` taking `action` on `alert` records, when the lifecycle
    /// allows it now.
    pub fn apply(
        &self,
        alert: Uuid,
        action: &Action,
        actor: &str,
        note: &str,
    ) -> Result<Transition, LifecycleError> {
        use AlertState as S;
        let state = self.state();
        let word = state_name(state);
        let open = self.is_open();
        let mut resolution = Resolution::None;
        let mut note = note.trim().to_owned();
        if actor.trim().is_empty() {
            return Err(LifecycleError::Empty("the actor"));
        }
        match action {
            Action::Acknowledge => {
                if !matches!(state, S::New | S::Reopened) {
                    return Err(LifecycleError::NotNow(
                        word,
                        "only new or reopened alerts are acknowledged",
                    ));
                }
            }
            Action::Reopen => {
                if !matches!(state, S::Resolved | S::Closed) {
                    return Err(LifecycleError::NotNow(
                        word,
                        "only resolved or closed alerts are reopened",
                    ));
                }
            }
            Action::SignOff => {
                if state != S::Closed {
                    return Err(LifecycleError::NotNow(
                        word,
                        "only closed alerts are signed off",
                    ));
                }
                if self.signed_off_by().is_some() {
                    return Err(LifecycleError::NotNow(
                        "signed off",
                        "it was signed off already",
                    ));
                }
                let closer = self
                    .last(S::Closed)
                    .map(|s| s.actor.clone())
                    .unwrap_or_default();
                if closer == actor {
                    return Err(LifecycleError::OwnSignOff(closer));
                }
            }
            Action::Close(r) => {
                if !open {
                    return Err(LifecycleError::NotNow(word, "it is not open"));
                }
                if *r == Resolution::None {
                    return Err(LifecycleError::NoResolution);
                }
                resolution = *r;
            }
            Action::Note => {
                if note.is_empty() {
                    return Err(LifecycleError::Empty("the note"));
                }
            }
            Action::Assign(who) | Action::Contain(who) | Action::Lift(who) => {
                if !open && !matches!(action, Action::Lift(_)) {
                    return Err(LifecycleError::NotNow(word, "it is not open"));
                }
                let what = match action {
                    Action::Assign(_) => "the assignee",
                    Action::Contain(_) => "the containment",
                    _ => "the lifted containment",
                };
                if who.trim().is_empty() {
                    return Err(LifecycleError::Empty(what));
                }
                // The assignee (or what was contained) comes first; a remark follows.
                note = if note.is_empty() {
                    who.trim().to_owned()
                } else {
                    format!("{}\n{note}", who.trim())
                };
            }
            Action::Merge(into) => {
                if !open {
                    return Err(LifecycleError::NotNow(word, "it is not open"));
                }
                if *into == alert {
                    return Err(LifecycleError::SelfMerge);
                }
                note = if note.is_empty() {
                    into.to_string()
                } else {
                    format!("{into}\n{note}")
                };
            }
            Action::Start | Action::Pend | Action::Resolve | Action::Escalate => {
                if !open {
                    return Err(LifecycleError::NotNow(word, "it is not open"));
                }
                if action.state() == state && !matches!(action, Action::Escalate) {
                    return Err(LifecycleError::NotNow(word, "nothing would change"));
                }
            }
        }
        Ok(Transition {
            alert_id: alert,
            state: action.state(),
            actor: actor.trim().to_owned(),
            note,
            resolution,
        })
    }
}

/// An alert with its lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// When the alert event was written.
    pub raised: DateTime<Utc>,
    pub alert: Alert,
    pub timeline: Timeline,
    /// Raised by a drill (its `drill_id` is set, or a drill record names it): kept out of
    /// real response-time statistics.
    pub drill: bool,
}

/// Which alerts [`list`] reads.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Raised at or after.
    pub since: Option<DateTime<Utc>>,
    /// Raised before.
    pub until: Option<DateTime<Utc>>,
    /// Only these alerts.
    pub ids: Vec<Uuid>,
    /// Only open ones.
    pub open_only: bool,
    /// At most this many (newest first); 0: no limit.
    pub limit: usize,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct AlertRowIn {
    alert_id: String,
    time: u32,
    detector: String,
    entity: String,
    severity: i8,
    title: String,
    window_start: u32,
    window_end: u32,
    evidence: Vec<String>,
    drill_id: String,
    in_drill: u8,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct StepRowIn {
    id: String,
    alert_id: String,
    time: u32,
    usec: u32,
    state: i8,
    actor: String,
    note: String,
    resolution: i8,
}

/// Alerts with their timelines, newest first.
pub async fn list(
    db: &Client,
    timeout: Duration,
    filter: &ListFilter,
) -> Result<Vec<AlertRecord>, DetectError> {
    let mut clauses = vec!["1".to_owned()];
    if let Some(t) = filter.since {
        clauses.push(format!("time >= toDateTime({})", t.timestamp().max(0)));
    }
    if let Some(t) = filter.until {
        clauses.push(format!("time < toDateTime({})", t.timestamp().max(0)));
    }
    if !filter.ids.is_empty() {
        let ids: Vec<String> = filter.ids.iter().map(Uuid::to_string).collect();
        clauses.push(format!(
            "toString(alert_id) IN {}",
            quote_list(ids.iter().map(String::as_str))
        ));
    }
    let sql = format!(
        "SELECT toString(alert_id) AS alert_id, toUInt32(time) AS time, detector, entity, \
         toInt8(severity) AS severity, title, toUInt32(window_start) AS window_start, \
         toUInt32(window_end) AS window_end, arrayMap(x -> toString(x), evidence) AS evidence, \
         toString(drill_id) AS drill_id, \
         toUInt8(toString(alert_id) IN (SELECT toString(alert_id) FROM drills)) AS in_drill \
         FROM alerts WHERE {} ORDER BY time DESC, alert_id",
        clauses.join(" AND ")
    );
    let rows: Vec<AlertRowIn> = fetch(db, timeout, &sql).await?;
    let mut seen = std::collections::HashSet::new();
    let mut alerts = Vec::new();
    for r in rows {
        let Ok(id) = Uuid::parse_str(&r.alert_id) else {
            continue;
        };
        if !seen.insert(id) {
            continue;
        }
        let drill_id = Uuid::parse_str(&r.drill_id).ok().filter(|d| !d.is_nil());
        alerts.push((
            read_time(r.time, 0),
            Alert {
                alert_id: id,
                detector: r.detector,
                entity: r.entity,
                severity: read_severity(r.severity),
                title: r.title,
                window_start: read_time(r.window_start, 0),
                window_end: read_time(r.window_end, 0),
                evidence: r
                    .evidence
                    .iter()
                    .filter_map(|e| Uuid::parse_str(e).ok())
                    .collect(),
                drill_id,
            },
            r.in_drill != 0 || drill_id.is_some(),
        ));
    }
    let ids: Vec<Uuid> = alerts.iter().map(|(_, a, _)| a.alert_id).collect();
    let mut timelines = load_timelines(db, timeout, &ids).await?;
    let mut out: Vec<AlertRecord> = alerts
        .into_iter()
        .map(|(raised, alert, drill)| AlertRecord {
            raised,
            timeline: timelines.remove(&alert.alert_id).unwrap_or_default(),
            alert,
            drill,
        })
        .filter(|r| !filter.open_only || r.timeline.is_open())
        .collect();
    if filter.limit > 0 {
        out.truncate(filter.limit);
    }
    Ok(out)
}

fn alert_state(v: i8) -> Option<AlertState> {
    use AlertState as S;
    Some(match v {
        1 => S::New,
        2 => S::Acknowledged,
        3 => S::Assigned,
        4 => S::InProgress,
        5 => S::Pending,
        6 => S::Contained,
        7 => S::Resolved,
        8 => S::Closed,
        9 => S::Merged,
        10 => S::Escalated,
        11 => S::Reopened,
        12 => S::SignedOff,
        13 => S::Noted,
        14 => S::Lifted,
        _ => return None,
    })
}

fn resolution(v: i8) -> Resolution {
    match v {
        1 => Resolution::TruePositiveWithImpact,
        2 => Resolution::TruePositiveWithoutImpact,
        3 => Resolution::FalsePositive,
        4 => Resolution::LegitimateActivity,
        5 => Resolution::Unknown,
        _ => Resolution::None,
    }
}

/// The timelines of `ids` (an alert without transitions has none in the map).
pub async fn load_timelines(
    db: &Client,
    timeout: Duration,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Timeline>, DetectError> {
    let mut out: HashMap<Uuid, Timeline> = HashMap::new();
    // Bounded IN lists: a long period is read in chunks.
    for chunk in ids.chunks(crate::alert::ID_CHUNK) {
        let strings: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        let sql = format!(
            "SELECT toString(id) AS id, toString(alert_id) AS alert_id, toUInt32(time) AS time, usec, \
             toInt8(state) AS state, actor, note, toInt8(resolution) AS resolution \
             FROM alert_transitions WHERE toString(alert_id) IN {} ORDER BY time, usec, id",
            quote_list(strings.iter().map(String::as_str))
        );
        let rows: Vec<StepRowIn> = fetch(db, timeout, &sql).await?;
        let mut seen = std::collections::HashSet::new();
        for r in rows {
            let (Ok(alert), Some(state)) = (Uuid::parse_str(&r.alert_id), alert_state(r.state))
            else {
                continue;
            };
            if !seen.insert(r.id) {
                continue;
            }
            out.entry(alert).or_default().steps.push(Step {
                time: read_time(r.time, r.usec),
                state,
                actor: r.actor,
                note: r.note,
                resolution: resolution(r.resolution),
            });
        }
    }
    Ok(out)
}

/// The alerts whose id starts with `prefix` (ids are long; operators type the first
/// characters), at most ten.
pub async fn find(db: &Client, timeout: Duration, prefix: &str) -> Result<Vec<Uuid>, DetectError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    let sql = format!(
        "SELECT DISTINCT toString(alert_id) FROM alerts WHERE startsWith(toString(alert_id), {}) LIMIT 10",
        quote(&prefix)
    );
    let found: Vec<String> = fetch(db, timeout, &sql).await?;
    Ok(found
        .iter()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect())
}

/// The operator at this terminal: the user `sudo` was run by, else the login user, else
/// the name `/etc/passwd` gives this process's user id.
pub fn operator() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .or_else(passwd_name)
        .unwrap_or_else(|| "operator".to_owned())
}

/// This process's user name from `/etc/passwd` (real user id from `/proc/self/status`).
fn passwd_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// Why an operator's action was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    ClickHouse(#[from] DetectError),
    #[error("cannot record the transition: {0}")]
    Emit(#[from] EmitError),
    #[error(transparent)]
    Containment(#[from] ContainmentError),
    #[error("no alert {0}")]
    NoAlert(String),
    #[error("`{0}` starts several alert ids: give more of it")]
    Ambiguous(String),
}

/// Where the SOC's actions go: the one path the command line and the console share. An
/// action is checked against the alert's transitions as ClickHouse has them now, then
/// recorded durably (in the spool before it returns); a containment is written to the
/// containment file first, so the transition never claims a block that is not there.
pub struct Desk<'a> {
    pub db: &'a Client,
    pub timeout: Duration,
    pub producer: &'a Producer,
    /// Producer id of the transitions (`node/console`).
    pub producer_id: &'a str,
    /// The containment file the firewalls watch.
    pub containment: &'a Path,
}

impl Desk<'_> {
    /// The alert whose id is or starts with `id`.
    pub async fn alert(&self, id: &str) -> Result<AlertRecord, DeskError> {
        let found = match Uuid::parse_str(id.trim()) {
            Ok(u) => vec![u],
            Err(_) => find(self.db, self.timeout, id).await?,
        };
        let filter = match found[..] {
            [one] => ListFilter {
                ids: vec![one],
                ..ListFilter::default()
            },
            [] => return Err(DeskError::NoAlert(id.to_owned())),
            _ => return Err(DeskError::Ambiguous(id.to_owned())),
        };
        list(self.db, self.timeout, &filter)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DeskError::NoAlert(id.to_owned()))
    }

    /// `actor` takes `action` on `alert`.
    pub async fn act(
        &self,
        alert: &str,
        action: &Action,
        actor: &str,
        note: &str,
    ) -> Result<Transition, DeskError> {
        let record = self.alert(alert).await?;
        let t = record
            .timeline
            .apply(record.alert.alert_id, action, actor, note)?;
        self.record(t.clone()).await?;
        Ok(t)
    }

    /// Blocks `target` for `duration` on every firewall; with an alert, only when the
    /// alert may be contained now, and recorded as its `contained` transition.
    pub async fn contain(
        &self,
        alert: Option<&str>,
        target: Target,
        duration: Duration,
        actor: &str,
        note: &str,
    ) -> Result<Block, DeskError> {
        let record = match alert {
            Some(a) => Some(self.alert(a).await?),
            None => None,
        };
        let block = Block::new(
            target,
            Utc::now(),
            duration,
            actor,
            record.as_ref().map(|r| r.alert.alert_id.to_string()),
            note,
        );
        let what = format!(
            "{} blocked for {} ({})",
            block.target,
            humantime::format_duration(duration),
            block.id
        );
        let transition = match &record {
            Some(r) => {
                Some(
                    r.timeline
                        .apply(r.alert.alert_id, &Action::Contain(what), actor, note)?,
                )
            }
            None => None,
        };
        let block = Containment::add(self.containment, block)?;
        if let Some(t) = transition {
            self.record(t).await?;
        }
        Ok(block)
    }

    /// Lifts the block `id` before it expires; recorded on its alert when it has one.
    pub async fn lift(&self, id: &str, actor: &str, note: &str) -> Result<Block, DeskError> {
        let block = Containment::lift(self.containment, id, Utc::now())?;
        if let Some(alert) = &block.alert {
            let record = self.alert(alert).await?;
            let t = record.timeline.apply(
                record.alert.alert_id,
                &Action::Lift(format!("{} unblocked ({})", block.target, block.id)),
                actor,
                note,
            )?;
            self.record(t).await?;
        }
        Ok(block)
    }

    async fn record(&self, t: Transition) -> Result<(), DeskError> {
        self.producer
            .emit_durable(vec![Event::new(self.producer_id, Body::Transition(t))])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn step(t: i64, state: AlertState, actor: &str) -> Step {
        Step {
            time: at(t),
            state,
            actor: actor.into(),
            note: String::new(),
            resolution: Resolution::None,
        }
    }

    /// Applies `action` at `t` and records the transition it makes.
    fn act(tl: &mut Timeline, t: i64, action: Action, actor: &str, note: &str) {
        let tr = tl
            .apply(Uuid::nil(), &action, actor, note)
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        tl.steps.push(Step {
            time: at(t),
            state: tr.state,
            actor: tr.actor,
            note: tr.note,
            resolution: tr.resolution,
        });
    }

    #[test]
    fn a_whole_lifecycle_with_its_timers() {
        let id = Uuid::nil();
        let mut tl = Timeline {
            steps: vec![step(0, AlertState::New, ACTOR)],
        };
        assert_eq!(tl.state(), AlertState::New);
        act(&mut tl, 30, Action::Acknowledge, "wang", "");
        assert!(tl.apply(id, &Action::Acknowledge, "wang", "").is_err());
        act(&mut tl, 40, Action::Assign("li".into()), "wang", "shift B");
        assert_eq!(tl.assignee(), Some("li"));
        assert_eq!(tl.steps[2].note, "li\nshift B");
        act(&mut tl, 50, Action::Escalate, "li", "");
        assert_eq!(tl.state(), AlertState::Assigned, "escalating annotates");
        act(
            &mut tl,
            90,
            Action::Contain("block account analyst_li for 1h".into()),
            "li",
            "",
        );
        assert_eq!(
            tl.apply(id, &Action::Close(Resolution::None), "li", ""),
            Err(LifecycleError::NoResolution)
        );
        act(
            &mut tl,
            300,
            Action::Close(Resolution::TruePositiveWithoutImpact),
            "li",
            "done",
        );
        assert_eq!(tl.state(), AlertState::Closed);
        assert!(!tl.is_open());
        assert_eq!(tl.resolution(), Resolution::TruePositiveWithoutImpact);
        assert!(tl.apply(id, &Action::Note, "li", "  ").is_err());
        assert_eq!(
            tl.apply(id, &Action::SignOff, "li", ""),
            Err(LifecycleError::OwnSignOff("li".into()))
        );
        act(&mut tl, 400, Action::SignOff, "zhao", "");
        assert_eq!(tl.signed_off_by(), Some("zhao"));
        assert!(tl.apply(id, &Action::SignOff, "qian", "").is_err());
        assert_eq!(
            tl.sla(),
            Sla {
                acknowledge: Some(Duration::from_secs(30)),
                contain: Some(Duration::from_secs(90)),
                close: Some(Duration::from_secs(300)),
            }
        );
        // Reopened: open again, no close time, no sign-off; a second close stands.
        act(&mut tl, 500, Action::Reopen, "zhao", "new evidence");
        assert!(tl.is_open());
        assert_eq!(tl.sla().close, None);
        assert_eq!(tl.signed_off_by(), None);
        assert_eq!(tl.resolution(), Resolution::None);
        act(
            &mut tl,
            700,
            Action::Close(Resolution::TruePositiveWithImpact),
            "li",
            "",
        );
        assert_eq!(tl.sla().close, Some(Duration::from_secs(700)));
        assert_eq!(tl.sla().acknowledge, Some(Duration::from_secs(30)));
    }

    #[test]
    fn closed_alerts_take_no_work_and_merges_need_another_alert() {
        let id = Uuid::from_u128(7);
        let mut tl = Timeline {
            steps: vec![step(0, AlertState::New, ACTOR)],
        };
        // Acting without acknowledging first still counts as the first response.
        act(&mut tl, 12, Action::Start, "wang", "");
        assert_eq!(tl.sla().acknowledge, Some(Duration::from_secs(12)));
        assert!(
            tl.apply(id, &Action::Start, "wang", "").is_err(),
            "no change"
        );
        assert_eq!(
            tl.apply(id, &Action::Merge(id), "wang", ""),
            Err(LifecycleError::SelfMerge)
        );
        act(&mut tl, 20, Action::Merge(Uuid::from_u128(8)), "wang", "");
        assert_eq!(tl.state(), AlertState::Merged);
        for a in [
            Action::Start,
            Action::Resolve,
            Action::Assign("li".into()),
            Action::Close(Resolution::Unknown),
        ] {
            assert!(
                matches!(
                    tl.apply(id, &a, "wang", ""),
                    Err(LifecycleError::NotNow(..))
                ),
                "{a:?}"
            );
        }
        assert!(
            tl.apply(id, &Action::Note, "wang", "kept for the record")
                .is_ok()
        );
        assert!(
            tl.apply(id, &Action::Acknowledge, " ", "").is_err(),
            "an actor is needed"
        );
    }

    #[test]
    fn the_operator_is_named_without_the_environment_too() {
        // The test runs as some user that /etc/passwd lists (root in CI).
        let name = passwd_name().expect("this process's user is in /etc/passwd");
        assert!(!name.is_empty() && !name.contains(':'));
    }

    #[test]
    fn resolutions_round_trip_through_their_names() {
        for r in [
            Resolution::TruePositiveWithImpact,
            Resolution::TruePositiveWithoutImpact,
            Resolution::FalsePositive,
            Resolution::LegitimateActivity,
            Resolution::Unknown,
        ] {
            assert_eq!(parse_resolution(resolution_name(r)), Some(r));
            assert_eq!(resolution(r as i8), r);
        }
        assert_eq!(parse_resolution("none"), None);
        for v in 1..=14 {
            let s = alert_state(v).expect("a state");
            assert_eq!(s as i8, v);
        }
        assert_eq!(alert_state(15), None);
    }
}
