//! Learning modes do exactly what their names say, and only `recording` learns.

use rules::decision::{Action, Severity};
use rules::policy::{Policy, Request};
use rules::sql::Dialect;

const CATALOG: &str = "default-level = 1\n";
const RULES: &str = "";

fn policy(mode: &str) -> Policy {
    let accounts = format!(
        "[[account]]\nname = 'app'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 4\nlearning = {{ db = '{mode}' }}\n"
    );
    Policy::parse(CATALOG, &accounts, RULES).unwrap_or_else(|e| panic!("{e}"))
}

/// Evaluates `sql` as the application would, recording when told to, like the firewall.
fn send(p: &Policy, sql: &str) -> rules::policy::Decision {
    let req = Request {
        account: "app",
        client: [127, 0, 0, 1].into(),
        database: "db",
        dialect: Dialect::Postgres,
        time: chrono::Utc::now(),
    };
    let a = p.analyze(sql, Dialect::Postgres, "db", None);
    let d = p.decide(&req, &a);
    if d.learning.record {
        p.learned
            .record("app", "db", a.fingerprint, &a.normalized)
            .expect("record in memory");
    }
    d
}

#[test]
fn off_ignores_fingerprints() {
    let p = policy("off");
    let d = send(&p, "SELECT 1 FROM t");
    assert_eq!(
        (d.action, d.severity, d.learning.record),
        (Action::Allow, Severity::None, false)
    );
    assert!(p.learned.is_empty());
}

#[test]
fn recording_learns_without_alerting() {
    let p = policy("recording");
    let first = send(&p, "SELECT a FROM t WHERE id = 1");
    assert!(first.learning.record && !first.learning.known);
    assert_eq!(
        (first.action, first.severity),
        (Action::Allow, Severity::None)
    );
    let again = send(&p, "SELECT a FROM t WHERE id = 2");
    assert!(
        again.learning.known && !again.learning.record,
        "same shape, other literal: known"
    );
    assert_eq!(p.learned.len(), 1);
}

#[test]
fn detecting_alerts_on_new_shapes_and_learns_nothing() {
    let p = policy("detecting");
    for _ in 0..3 {
        let d = send(&p, "SELECT a FROM t WHERE id = 1");
        assert_eq!(
            (d.action, d.severity, d.rule.as_str()),
            (Action::Allow, Severity::Medium, "learning")
        );
    }
    assert!(
        p.learned.is_empty(),
        "repeating a statement while detecting does not make it known"
    );
}

#[test]
fn protecting_blocks_new_shapes_and_allows_known_ones() {
    let p = policy("protecting");
    p.learned
        .record(
            "app",
            "db",
            p.analyze(
                "SELECT a FROM t WHERE id = 1",
                Dialect::Postgres,
                "db",
                None,
            )
            .fingerprint,
            "",
        )
        .expect("seed");
    let known = send(&p, "SELECT a FROM t WHERE id = 42");
    assert_eq!(known.action, Action::Allow);
    let new = send(&p, "SELECT b FROM t WHERE id = 42");
    assert_eq!(
        (new.action, new.rule.as_str(), new.severity),
        (Action::Block, "learning", Severity::High)
    );
    let again = send(&p, "SELECT b FROM t WHERE id = 42");
    assert_eq!(
        again.action,
        Action::Block,
        "blocked statements never become known"
    );
}
