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

/// Statements analysed, by database and text: the same statements come back all the time
/// (prepared statements, application queries), and the analysis is the costly part.
const CACHE_ENTRIES: usize = 16_384;

/// What an event takes from a statement's analysis.
#[derive(Debug)]
struct Analysed {
    normalized: String,
    fingerprint: u64,
    kind: StatementKind,
    objects: Vec<Touched>,
    columns: Vec<Touched>,
}

/// Turns what the flow table observed into events.
pub struct Events {
    producer: String,
    analyst: Analyst,
    cache: quick_cache::sync::Cache<u128, Arc<Analysed>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("producer", &self.producer)
            .field("analyst", &self.analyst)
            .finish_non_exhaustive()
    }
}

fn time(us: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(i64::try_from(us).unwrap_or(i64::MAX)).unwrap_or_default()
}

impl Events {
    /// Events from `producer` (`<node>/sensor`), analysed by `analyst`.
    pub fn new(producer: impl Into<String>, analyst: Analyst) -> Events {
        Events {
            producer: producer.into(),
            analyst,
            cache: quick_cache::sync::Cache::new(CACHE_ENTRIES),
        }
    }

    /// The event for one statement.
    pub fn statement(&self, o: &Observed<'_>) -> Event {
        let x = &o.exchange;
        let s = o.session;
        let at = time(x.started_us);
        // With a policy, levels depend on the account only through the catalog view of the
        // database; the key holds both database and text.
        let key = {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(s.database.as_bytes());
            h.update(&[0]);
            h.update(x.text.as_bytes());
            h.digest128()
        };
        let a = match self.cache.get(&key) {
            Some(a) => a,
            None => {
                let a = Arc::new(self.analyse(o, at));
                self.cache.insert(key, a.clone());
                a
            }
        };
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
                normalized: a.normalized.clone(),
                fingerprint: a.fingerprint,
                kind: a.kind,
                objects: a.objects.clone(),
                columns: a.columns.clone(),
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

    fn analyse(&self, o: &Observed<'_>, at: DateTime<Utc>) -> Analysed {
        let x = &o.exchange;
        let s = o.session;
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
        Analysed {
            normalized: analysis.normalized,
            fingerprint: analysis.fingerprint,
            kind,
            objects,
            columns,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::{Exchange, Session};

    fn observed<'a>(session: &'a Session, text: &str) -> Observed<'a> {
        Observed {
            client: "10.0.0.1:40000".parse().expect("address"),
            server: "10.0.0.2:5432".parse().expect("address"),
            session,
            exchange: Exchange {
                text: text.into(),
                started_us: 1_700_000_000_000_000,
                ended_us: 1_700_000_000_002_500,
                rows: 3,
                bytes: 99,
                fields: 1,
                tag: "SELECT 3".into(),
                error_code: String::new(),
                unanswered: false,
            },
        }
    }

    fn statement(e: &Event) -> &Statement {
        match &e.body {
            Body::Statement(s) => s,
            other => panic!("not a statement: {other:?}"),
        }
    }

    #[test]
    fn plain_and_catalog_analysis() {
        let session = Session {
            account: "app".into(),
            database: "db".into(),
            application: "etl".into(),
        };
        let o = observed(&session, "SELECT secret FROM t WHERE id = 1");
        let plain = Events::new("h/sensor", Analyst::Plain);
        let e = plain.statement(&o);
        let s = statement(&e);
        assert_eq!(
            (s.observer, s.action, s.normalized.as_str(), s.kind),
            (
                Observer::Sensor,
                Action::Allow,
                "SELECT secret FROM t WHERE id = ?",
                StatementKind::Read
            )
        );
        assert_eq!((s.rows, s.bytes, s.duration_us), (3, 99, 2500));
        assert_eq!(
            s.objects,
            [Touched {
                name: "db.public.t".into(),
                level: 0
            }]
        );
        assert_eq!(e.time.timestamp_micros(), 1_700_000_000_000_000);
        // The second time comes from the cache, identical.
        let again = plain.statement(&o);
        assert_eq!(statement(&again).normalized, s.normalized);
        assert_eq!(statement(&again).columns, s.columns);

        let catalog = "default-level = 1\n[[table]]\nname = 'db.t'\ncategory = 'c'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [{ name = 'secret', level = 3 }]\n";
        let accounts = "[[account]]\nname = 'app'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 2\n";
        let policy = Policy::parse(catalog, accounts, "").unwrap_or_else(|e| panic!("{e}"));
        let with = Events::new("h/sensor", Analyst::Policy(Arc::new(policy)));
        let e = with.statement(&o);
        let s = statement(&e);
        assert!(
            s.columns
                .iter()
                .any(|c| c.name.ends_with("secret") && c.level == 3),
            "{:?}",
            s.columns
        );
        assert_eq!((s.action, s.severity), (Action::Allow, Severity::None));
    }
}
