//! Statement events: what the followers saw, analysed by `rules` and shaped as the one
//! event model (`analyzer::event`) — the same fields the firewall's audit fills, with
//! `observer: sensor` and `action: allow` (the sensor watches, it does not decide), so the
//! analyzer can set what passed through a firewall beside what the wire shows.

use std::sync::Arc;

use analyzer::event::{Body, Event, Observer, Protocol, Statement, Touched};
use chrono::{DateTime, Utc};
use rules::decision::{Action, Severity};
use rules::policy::{Policy, Request};
use rules::sql::{Analysis, Context, Dialect, StatementKind, name::NoSchema};

use crate::flow::Observed;

/// How statements are analysed.
#[derive(Debug, Clone, Default)]
pub enum Analyst {
    /// Without a catalog: kind, normalized text, fingerprint and the names of objects and
    /// columns; every level is 0 (unclassified: no catalog says otherwise).
    #[default]
    Plain,
    /// With the policy's catalog: names resolved against it, with their levels. Only the
    /// analysis is used — the sensor neither decides nor learns fingerprints.
    Policy(Arc<Policy>),
}

/// Turns what the flow table observed into events.
#[derive(Debug, Clone)]
pub struct Events {
    pub producer: String,
    pub analyst: Analyst,
}

fn time(us: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(i64::try_from(us).unwrap_or(i64::MAX)).unwrap_or_default()
}

impl Events {
    /// The event for one statement.
    pub fn statement(&self, o: &Observed<'_>) -> Event {
        let x = &o.exchange;
        let s = o.session;
        let at = time(x.started_us);
        let (analysis, objects, columns) = match &self.analyst {
            Analyst::Plain => {
                let a = rules::sql::analyze(&x.text, &Context::postgres(Some("public")), &NoSchema);
                let (objects, columns) = plain_touched(&a, &s.database);
                (a, objects, columns)
            }
            Analyst::Policy(p) => {
                let a = p.analyze(&x.text, Dialect::Postgres, &s.database, None);
                let req = Request {
                    account: &s.account,
                    client: o.client.ip(),
                    database: &s.database,
                    dialect: Dialect::Postgres,
                    time: at,
                };
                let t = p.touched(&req, &a);
                let list = |v: Vec<(String, u8)>| {
                    v.into_iter()
                        .map(|(name, level)| Touched { name, level })
                        .collect()
                };
                (a, list(t.objects), list(t.columns))
            }
        };
        let kind = analysis
            .statements
            .first()
            .map_or(StatementKind::Unparsed, |st| st.kind);
        Event::at(
            self.producer.clone(),
            at,
            Body::Statement(Statement {
                observer: Observer::Sensor,
                protocol: Protocol::Postgres,
                account: s.account.clone(),
                client: o.client.to_string(),
                server: o.server.to_string(),
                application: s.application.clone(),
                database: s.database.clone(),
                normalized: analysis.normalized,
                fingerprint: analysis.fingerprint,
                kind,
                objects,
                columns,
                action: Action::Allow,
                rule: String::new(),
                severity: Severity::None,
                rows: x.rows,
                bytes: x.bytes,
                duration_us: x.ended_us.saturating_sub(x.started_us),
                error_code: x.error_code.clone(),
            }),
        )
    }
}

/// Objects and columns named catalog-style without a catalog, level 0.
fn plain_touched(a: &Analysis, database: &str) -> (Vec<Touched>, Vec<Touched>) {
    let mut objects: Vec<Touched> = Vec::new();
    for o in a.objects() {
        let name = Policy::table_name(Dialect::Postgres, database, &o.name).to_string();
        if !objects.iter().any(|t| t.name == name) {
            objects.push(Touched { name, level: 0 });
        }
    }
    let mut columns: Vec<Touched> = Vec::new();
    for st in &a.statements {
        for c in &st.columns {
            let name = match &c.column.table {
                Some(t) => format!(
                    "{}.{}",
                    Policy::table_name(Dialect::Postgres, database, t),
                    c.column.name
                ),
                None => c.column.name.clone(),
            };
            if !columns.iter().any(|t| t.name == name) {
                columns.push(Touched { name, level: 0 });
            }
        }
    }
    (objects, columns)
}
