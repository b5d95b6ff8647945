//! Synthetic events for load and fault tests (`tianmu pipeline inject`, the ingest
//! benchmark): statement and API-call events shaped like the demo platform's traffic, so
//! that their sizes and column values resemble what the firewall and sensor produce.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::event::{
    Action, ApiCall, Body, Event, Observer, Protocol, Severity, Statement, StatementKind, Touched,
};

const ACCOUNTS: [&str; 5] = [
    "app_portal",
    "share_api",
    "analyst_li",
    "vendor_dev",
    "dba_admin",
];

/// A table, its level and its columns with their levels.
type Table = (&'static str, u8, &'static [(&'static str, u8)]);

const TABLES: [Table; 4] = [
    (
        "public.population",
        4,
        &[("name", 3), ("id_card", 4), ("phone", 3), ("address", 3)],
    ),
    (
        "public.legal_person",
        4,
        &[("uscc", 1), ("name", 1), ("legal_rep_id_card", 4)],
    ),
    (
        "public.credit_record",
        3,
        &[("uscc", 1), ("record_type", 2), ("detail", 3)],
    ),
    ("public.open_dataset", 1, &[("id", 1), ("title", 1)]),
];

/// A deterministic source of synthetic events.
pub struct Synthetic {
    rng: StdRng,
    producer: String,
}

impl Synthetic {
    pub fn new(producer: impl Into<String>, seed: u64) -> Synthetic {
        Synthetic {
            rng: StdRng::seed_from_u64(seed),
            producer: producer.into(),
        }
    }

    /// The next event: nine statements for every API call.
    pub fn next_event(&mut self) -> Event {
        let body = if self.rng.random_ratio(1, 10) {
            self.api_call()
        } else {
            self.statement()
        };
        Event::new(self.producer.clone(), body)
    }

    fn statement(&mut self) -> Body {
        let r = &mut self.rng;
        let account = ACCOUNTS[r.random_range(0..ACCOUNTS.len())];
        let (table, level, cols) = TABLES[r.random_range(0..TABLES.len())];
        let ncols = r.random_range(1..=cols.len());
        let columns: Vec<Touched> = cols[..ncols]
            .iter()
            .map(|(c, l)| Touched {
                name: format!("{table}.{c}"),
                level: *l,
            })
            .collect();
        let projection: Vec<&str> = cols[..ncols].iter().map(|(c, _)| *c).collect();
        let normalized = format!(
            "SELECT {} FROM {table} WHERE id = ? LIMIT ?",
            projection.join(", ")
        );
        let blocked = r.random_ratio(1, 50);
        let rows = if blocked { 0 } else { r.random_range(0..200) };
        Body::Statement(Statement {
            observer: Observer::Firewall,
            protocol: if r.random_bool(0.5) {
                Protocol::Postgres
            } else {
                Protocol::Mysql
            },
            account: account.into(),
            client: format!(
                "10.20.{}.{}:{}",
                r.random_range(0..8),
                r.random_range(1..255),
                r.random_range(30000..60000)
            ),
            server: "10.10.0.5:5432".into(),
            application: "portal-backend".into(),
            database: "publicdata".into(),
            fingerprint: fingerprint(&normalized),
            normalized,
            kind: StatementKind::Read,
            objects: vec![Touched {
                name: table.into(),
                level,
            }],
            columns,
            action: if blocked {
                Action::Block
            } else {
                Action::Allow
            },
            rule: if blocked {
                "deny-unlisted-table".into()
            } else {
                String::new()
            },
            severity: if blocked {
                Severity::Medium
            } else {
                Severity::None
            },
            rows,
            bytes: rows * r.random_range(40..400),
            duration_us: r.random_range(80..20_000),
            error_code: if blocked {
                "42501".into()
            } else {
                String::new()
            },
        })
    }

    fn api_call(&mut self) -> Body {
        let r = &mut self.rng;
        let records = r.random_range(0..20);
        Body::ApiCall(ApiCall {
            app_key: format!("app-{:04}", r.random_range(0..50)),
            client: format!(
                "10.30.0.{}:{}",
                r.random_range(1..255),
                r.random_range(30000..60000)
            ),
            server: "10.10.0.8:8080".into(),
            method: "GET".into(),
            path_template: "/api/v1/credit".into(),
            status: if r.random_ratio(1, 100) { 500 } else { 200 },
            records,
            bytes: records * 180 + 60,
            sensitive: vec![("uscc".into(), records as u32)],
            duration_us: r.random_range(500..50_000),
        })
    }
}

/// FNV-1a of the normalized text; the real fingerprint comes from `rules` statement analysis.
fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
