//! Audit (日志审计): every statement a listener sees, allowed or not, becomes one
//! [`Statement`](analyzer::event::Statement) event in the pipeline.

use std::net::SocketAddr;
use std::time::Duration;

use analyzer::event::{Body, Event, Observer, Protocol, Statement, Touched};
use analyzer::pipeline::Producer;
use rules::decision::{Action, Severity};

use crate::decide::Judged;

/// The session a statement ran on, as the audit records it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub protocol: Protocol,
    pub account: String,
    pub client: SocketAddr,
    /// `client` as the events record it, written once per session rather than per
    /// statement.
    pub(crate) client_text: String,
    pub server: String,
    pub application: String,
    pub database: String,
}

impl SessionInfo {
    /// A session of `client` to `server`; account, application and database empty.
    pub fn new(protocol: Protocol, client: SocketAddr, server: String) -> SessionInfo {
        SessionInfo {
            protocol,
            account: String::new(),
            client,
            client_text: client.to_string(),
            server,
            application: String::new(),
            database: String::new(),
        }
    }
}

/// How a statement ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub rows: u64,
    pub bytes: u64,
    pub duration: Duration,
    /// SQLSTATE (PostgreSQL) or error number (MySQL); empty on success.
    pub error_code: String,
    /// What the result itself raised after the decision (a limit reached, a row-count
    /// alert); it replaces the decision's action and rule in the event.
    pub raised: Option<Raised>,
}

/// An action and alert that came from the result rather than from the statement text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raised {
    pub action: Action,
    pub rule: String,
    pub severity: Severity,
}

impl Raised {
    /// What a finished result raised: the cut at a limit (`cut`), else the row-count alert
    /// when `rows` (the result's total, across fetches) passed it. A limit that applied
    /// but was not reached is recorded as `allow`: in the audit, `limit` means a result cut.
    pub fn by_result(judged: &Judged, cut: Option<Raised>, rows: u64) -> Option<Raised> {
        if cut.is_some() {
            return cut;
        }
        if let Some(alert) = &judged.evaluated.decision.alert_rows
            && rows > alert.rows
        {
            return Some(Raised {
                action: judged.action,
                rule: alert.rule.clone(),
                severity: alert.severity,
            });
        }
        (judged.action == Action::Limit).then(|| Raised {
            action: Action::Allow,
            rule: judged.rule.clone(),
            severity: judged.severity,
        })
    }
}

/// The event for one statement.
pub fn statement_event(
    producer_id: &str,
    session: &SessionInfo,
    judged: &Judged,
    outcome: &Outcome,
) -> Event {
    let a = &judged.evaluated.analysis;
    let list = |v: &[(String, u8)]| {
        v.iter()
            .map(|(name, level)| Touched {
                name: name.clone(),
                level: *level,
            })
            .collect()
    };
    let kind = a
        .statements
        .first()
        .map_or(rules::sql::StatementKind::Unparsed, |s| s.kind);
    Event::new(
        producer_id,
        Body::Statement(Statement {
            observer: Observer::Firewall,
            protocol: session.protocol,
            account: session.account.clone(),
            client: session.client_text.clone(),
            server: session.server.clone(),
            application: session.application.clone(),
            database: session.database.clone(),
            normalized: a.normalized.clone(),
            fingerprint: a.fingerprint,
            kind,
            objects: list(&judged.evaluated.touched.objects),
            columns: list(&judged.evaluated.touched.columns),
            action: outcome.raised.as_ref().map_or(judged.action, |r| r.action),
            rule: outcome
                .raised
                .as_ref()
                .map_or_else(|| judged.rule.clone(), |r| r.rule.clone()),
            severity: outcome
                .raised
                .as_ref()
                .map_or(judged.severity, |r| r.severity.max(judged.severity)),
            rows: outcome.rows,
            bytes: outcome.bytes,
            duration_us: u64::try_from(outcome.duration.as_micros()).unwrap_or(u64::MAX),
            error_code: outcome.error_code.clone(),
        }),
    )
}

/// Where a firewall's events go.
#[derive(Clone)]
pub enum Sink {
    /// The pipeline (spool, then ClickHouse).
    Pipeline(Producer),
    /// Standard output, one JSON object per line (a listener started from flags alone).
    Stdout,
    /// Kept in memory, for the state machines' unit tests.
    #[cfg(test)]
    Memory(std::sync::Arc<std::sync::Mutex<Vec<Event>>>),
}

impl Sink {
    /// Hands the event on without ever making the session wait: when the pipeline's queue
    /// is full the event is dropped and counted (`dropped_queue`), the statement goes on.
    pub fn record(&self, event: Event) {
        match self {
            Sink::Pipeline(p) => {
                p.try_emit(vec![event]);
            }
            Sink::Stdout => {
                use std::io::Write;
                if let Ok(line) = serde_json::to_string(&event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                }
            }
            #[cfg(test)]
            Sink::Memory(events) => {
                if let Ok(mut events) = events.lock() {
                    events.push(event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FailMode;
    use crate::decide::judge;
    use rules::policy::{Policy, Request};
    use rules::sql::Dialect;

    #[test]
    fn the_event_carries_the_decision_and_what_was_touched() {
        let catalog = "default-level = 1\n[[table]]\nname = 'db.t'\ncategory = 'c'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [{ name = 'secret', level = 3 }]\n";
        let accounts = "[[account]]\nname = 'app'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 2\n";
        let rules = "[[rule]]\nname = 'no-taut'\nshapes = ['tautology']\naction = 'block'\nreason = 'no'\nalert = 'high'\n";
        let p = Policy::parse(catalog, accounts, rules).unwrap_or_else(|e| panic!("{e}"));
        let req = Request {
            account: "app",
            client: [10, 0, 0, 1].into(),
            database: "db",
            dialect: Dialect::Postgres,
            time: chrono::Utc::now(),
        };
        let j = judge(
            &p,
            &Default::default(),
            &req,
            "SELECT secret FROM t WHERE id = 1 OR 1=1",
            FailMode::Closed,
        );
        let session = SessionInfo {
            account: "app".into(),
            application: "psql".into(),
            database: "db".into(),
            ..SessionInfo::new(
                Protocol::Postgres,
                "10.0.0.1:5555".parse().expect("addr"),
                "127.0.0.1:5432".into(),
            )
        };
        let e = statement_event("n1/firewall", &session, &j, &Outcome::default());
        let Body::Statement(s) = e.body else {
            panic!("a statement event")
        };
        assert_eq!(
            (s.action, s.rule.as_str(), s.severity),
            (Action::Block, "no-taut", Severity::High)
        );
        assert_eq!(
            s.objects,
            [Touched {
                name: "db.public.t".into(),
                level: 3
            }]
        );
        assert!(
            s.columns
                .iter()
                .any(|c| c.name == "db.public.t.secret" && c.level == 3)
        );
        assert_eq!(s.normalized, "SELECT secret FROM t WHERE id = ? OR ? = ?");
        assert_eq!(e.producer, "n1/firewall");
        assert_eq!(s.client, "10.0.0.1:5555");
    }
}
