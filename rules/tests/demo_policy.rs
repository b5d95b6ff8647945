//! The demo policy (deploy/demo/) decides as ../shared/DEMO.md says, for a table of
//! statements per account — including the evasions a proxy firewall is classically beaten
//! with.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rules::decision::Action;
use rules::policy::{Decision, Policy, Request};
use rules::sql::Dialect;

fn policy() -> Policy {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo");
    Policy::load(
        &dir.join("catalog.toml"),
        &dir.join("accounts.toml"),
        &dir.join("policy.toml"),
        None,
    )
    .unwrap_or_else(|e| panic!("the demo policy loads:\n{e}"))
}

/// 10:00 in Hangzhou, inside office hours.
fn office_time() -> DateTime<Utc> {
    "2026-11-23T02:00:00Z".parse().expect("time")
}

fn decide_at(
    p: &Policy,
    account: &str,
    dialect: Dialect,
    sql: &str,
    time: DateTime<Utc>,
) -> Decision {
    let a = p.analyze(sql, dialect, "publicdata", None);
    p.decide(
        &Request {
            account,
            client: "10.1.2.3".parse().expect("ip"),
            database: "publicdata",
            dialect,
            time,
        },
        &a,
    )
}

use Action::{Allow, Block, Limit, Mask};
use Dialect::{MySql as M, Postgres as P};

/// (account, dialect, statement, action, deciding rule, masked output columns)
type Case = (
    &'static str,
    Dialect,
    &'static str,
    Action,
    &'static str,
    &'static [&'static str],
);

const CASES: &[Case] = &[
    // The portal: key lookups on its tables, masked above clearance 3 (id_card is L4).
    (
        "app_portal",
        P,
        "SELECT name, phone FROM population WHERE id_card = $1",
        Limit,
        "account.limits",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT name, id_card FROM population WHERE id = 7",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "SELECT * FROM public.population WHERE id = 7",
        Mask,
        "clearance",
        &["id_card"],
    ),
    // A server-side cursor's DECLARE is judged like its query: its FETCHes return those rows.
    (
        "app_portal",
        P,
        "DECLARE \"c1\" CURSOR WITHOUT HOLD FOR SELECT name, id_card FROM population",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        M,
        "SELECT `id_card` FROM `publicdata`.`population` WHERE id = 7",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "SELECT p.id_card AS x FROM population p WHERE p.id = 1",
        Mask,
        "clearance",
        &["x"],
    ),
    (
        "app_portal",
        P,
        "sElEcT   ID_CARD\n\tFrOm\n  PopulatioN  wHeRe id=1",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "SELECT CAST(id_card AS text) FROM population WHERE id = 1",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "SELECT id_card::varchar AS c FROM population WHERE id = 1",
        Mask,
        "clearance",
        &["c"],
    ),
    (
        "app_portal",
        P,
        "SELECT (SELECT id_card FROM population WHERE id = 1) AS c",
        Mask,
        "clearance",
        &["c"],
    ),
    (
        "app_portal",
        P,
        "SELECT CASE WHEN id > 0 THEN id_card END AS c FROM population WHERE id = 1",
        Mask,
        "clearance",
        &["c"],
    ),
    (
        "app_portal",
        P,
        "SELECT publicdata.public.population.id_card FROM publicdata.public.population WHERE id = 1",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "SELECT id_card FROM /* hidden */ population WHERE id = 1",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "WITH t AS (SELECT id_card FROM population) SELECT * FROM t",
        Mask,
        "clearance",
        &["id_card"],
    ),
    (
        "app_portal",
        P,
        "SELECT x FROM (SELECT id_card AS x FROM population) d",
        Mask,
        "clearance",
        &["x"],
    ),
    // Derived from a masked column: no mask is faithful, so the statement is blocked.
    (
        "app_portal",
        P,
        "SELECT concat(id_card) FROM population WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        M,
        "SELECT CONCAT(id_card, '') FROM population WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT id_card || '' FROM population WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT encode(id_card::bytea, 'hex') FROM population WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT upper(id_card) FROM population WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT name FROM population WHERE id = 1 UNION SELECT id_card FROM population WHERE id = 2",
        Mask,
        "clearance",
        &["name"],
    ),
    // Inference: pattern and range predicates on a hidden column enumerate it.
    (
        "app_portal",
        P,
        "SELECT id FROM population WHERE id_card LIKE '3301%'",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT id FROM population WHERE id_card BETWEEN '33' AND '34'",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT id FROM population WHERE substr(id_card, 1, 6) = '330102'",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        M,
        "SELECT id FROM population WHERE id_card REGEXP '^3301'",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT id FROM population WHERE id_card = '330102199003071234'",
        Limit,
        "account.limits",
        &[],
    ),
    // Copying hidden values where they could be read back unmasked.
    (
        "app_portal",
        P,
        "UPDATE population SET phone = id_card WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "INSERT INTO license (license_no) SELECT id_card FROM population WHERE id = 1",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "INSERT INTO license (license_no, license_type) VALUES ($1, $2)",
        Allow,
        "",
        &[],
    ),
    // Exports are not result rows: hidden columns cannot be masked in them.
    (
        "app_portal",
        P,
        "COPY population TO STDOUT",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "COPY (SELECT id, gender FROM population) TO STDOUT",
        Limit,
        "account.limits",
        &[],
    ),
    // Tables outside its grants.
    (
        "app_portal",
        P,
        "SELECT card_no FROM bank_account WHERE id = 1",
        Block,
        "account.read",
        &[],
    ),
    (
        "app_portal",
        P,
        "select \"card_no\" from \"bank_account\" where id = 1",
        Block,
        "account.read",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT l.id FROM license l JOIN bank_account b ON b.holder_id_card = l.holder_id_card",
        Block,
        "account.read",
        &[],
    ),
    // Writes: its own tables, with a WHERE.
    (
        "app_portal",
        P,
        "UPDATE population SET phone = $1 WHERE id = $2",
        Allow,
        "",
        &[],
    ),
    (
        "app_portal",
        P,
        "UPDATE population SET phone = '1'",
        Block,
        "no-unbounded-change",
        &[],
    ),
    (
        "app_portal",
        P,
        "DELETE FROM credit_record WHERE id = 1",
        Block,
        "account.write",
        &[],
    ),
    // Injection shapes.
    (
        "app_portal",
        P,
        "SELECT name FROM population WHERE id = 1 OR 1=1",
        Block,
        "sqli-tautology",
        &[],
    ),
    (
        "app_portal",
        M,
        "SELECT name FROM population WHERE id = 1 OR 2>1",
        Block,
        "sqli-tautology",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT name FROM population WHERE id = 1 UNION SELECT usename FROM pg_user",
        Block,
        "sqli-union-catalog",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT id FROM population WHERE id = 1; DROP TABLE population",
        Block,
        "sqli-stacked",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT pg_sleep(5)",
        Block,
        "sqli-time-delay",
        &[],
    ),
    (
        "app_portal",
        M,
        "SELECT id FROM population WHERE id = 1 AND SLEEP(5)",
        Block,
        "sqli-time-delay",
        &[],
    ),
    (
        "app_portal",
        P,
        "SEL/**/ECT name FROM population",
        Block,
        "sqli-comment-evasion",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT name FROM population WHERE id = 1 AND",
        Block,
        "clearance",
        &[],
    ),
    (
        "app_portal",
        P,
        "SELECT title FROM open_dataset WHERE id = 1 AND",
        Block,
        "unparsed-applications",
        &[],
    ),
    (
        "analyst_li",
        P,
        "SELECT name FROM population WHERE id = 1 AND",
        Block,
        "clearance",
        &[],
    ),
    (
        "dba_admin",
        P,
        "SELECT name FROM population WHERE id = 1 AND",
        Allow,
        "unparsed-people",
        &[],
    ),
    (
        "analyst_li",
        P,
        "EXECUTE hidden_plan(1)",
        Block,
        "dynamic-sql",
        &[],
    ),
    // Vendor: the open dataset only.
    (
        "vendor_dev",
        P,
        "SELECT title, url FROM open_dataset LIMIT 10",
        Limit,
        "account.limits",
        &[],
    ),
    (
        "vendor_dev",
        P,
        "SELECT name FROM population LIMIT 1",
        Block,
        "account.read",
        &[],
    ),
    (
        "vendor_dev",
        M,
        "SELECT name FROM PublicData.Population LIMIT 1",
        Block,
        "account.read",
        &[],
    ),
    (
        "vendor_dev",
        P,
        "SELECT table_name FROM information_schema.tables",
        Block,
        "catalogs-dba-only",
        &[],
    ),
    // The analyst: clearance 2, no bank accounts, every other table.
    (
        "analyst_li",
        P,
        "SELECT district_code, count(*) FROM population GROUP BY district_code",
        Limit,
        "account.limits",
        &[],
    ),
    (
        "analyst_li",
        P,
        "SELECT count(DISTINCT id_card) FROM population",
        Limit,
        "account.limits",
        &[],
    ),
    (
        "analyst_li",
        P,
        "SELECT name, gender FROM population WHERE id = 1",
        Mask,
        "clearance",
        &["name"],
    ),
    (
        "analyst_li",
        P,
        "SELECT max(id_card) FROM population",
        Block,
        "clearance",
        &[],
    ),
    (
        "analyst_li",
        P,
        "SELECT bank FROM bank_account",
        Block,
        "account.read",
        &[],
    ),
    (
        "analyst_li",
        P,
        "SELECT name FROM population WHERE id = 1 AND (SELECT 1) = 1 OR 1",
        Block,
        "sqli-tautology",
        &[],
    ),
    // Global rules.
    (
        "dba_admin",
        P,
        "TRUNCATE population",
        Block,
        "no-truncate",
        &[],
    ),
    (
        "dba_admin",
        P,
        "COPY population TO '/tmp/p.csv'",
        Block,
        "no-server-files",
        &[],
    ),
    (
        "dba_admin",
        P,
        "COPY population TO PROGRAM 'gzip > /tmp/p.gz'",
        Block,
        "no-server-files",
        &[],
    ),
    (
        "dba_admin",
        M,
        "SELECT * FROM population INTO OUTFILE '/tmp/p.csv'",
        Block,
        "no-server-files",
        &[],
    ),
    (
        "dba_admin",
        M,
        "SELECT LOAD_FILE('/etc/passwd')",
        Block,
        "no-server-files",
        &[],
    ),
    (
        "dba_admin",
        P,
        "DELETE FROM population",
        Block,
        "no-unbounded-change",
        &[],
    ),
    (
        "dba_admin",
        P,
        "CREATE TABLE t (id int)",
        Allow,
        "ddl-dba-alerted",
        &[],
    ),
    (
        "dba_admin",
        P,
        "SELECT relname FROM pg_class",
        Allow,
        "catalogs-dba-alerted",
        &[],
    ),
    ("dba_admin", P, "SELECT * FROM population", Allow, "", &[]),
    (
        "share_api",
        P,
        "CREATE TABLE t (id int)",
        Block,
        "ddl-dba-only",
        &[],
    ),
    (
        "share_api",
        P,
        "SELECT uscc, name FROM legal_person WHERE uscc = $1",
        Limit,
        "account.limits",
        &[],
    ),
    (
        "share_api",
        P,
        "SELECT legal_rep_id_card FROM legal_person WHERE uscc = $1",
        Mask,
        "clearance",
        &["legal_rep_id_card"],
    ),
    ("nobody", P, "SELECT 1", Block, "account", &[]),
];

#[test]
fn demo_policy_decides_the_table() {
    let p = policy();
    let mut failures = Vec::new();
    for (account, dialect, sql, action, rule, masked) in CASES {
        let d = decide_at(&p, account, *dialect, sql, office_time());
        let got: Vec<&str> = d.masks.iter().map(|m| m.output.as_str()).collect();
        if d.action != *action || d.rule != *rule || got != *masked {
            failures.push(format!(
                "{account} {dialect:?} {sql}\n    want {action:?} by {rule:?} masking {masked:?}\n    got  {:?} by {:?} masking {got:?}; matched: {:?}",
                d.action,
                d.rule,
                d.matched.iter().map(|m| format!("{} {:?}: {}", m.rule, m.action, m.why)).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} decisions differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn masks_follow_the_catalog() {
    let p = policy();
    let d = decide_at(
        &p,
        "analyst_li",
        P,
        "SELECT name, phone, address, birth_date FROM population WHERE id = 1",
        office_time(),
    );
    let masks: Vec<String> = d
        .masks
        .iter()
        .map(|m| format!("{}={}", m.output, m.mask))
        .collect();
    assert_eq!(
        masks,
        [
            "name=keep 1 0",
            "phone=keep 3 4",
            "address=keep 6 0",
            "birth_date=year"
        ]
    );
    assert_eq!(
        d.limit.as_ref().and_then(|l| l.rows),
        Some(10_000),
        "mask and limit combine"
    );
}

#[test]
fn the_analyst_at_night_is_allowed_and_alerted() {
    let p = policy();
    let night: DateTime<Utc> = "2026-11-22T19:00:00Z".parse().expect("time"); // 03:00 local
    let d = decide_at(
        &p,
        "analyst_li",
        P,
        "SELECT gender FROM population WHERE id = 1",
        night,
    );
    assert_eq!(d.action, Limit);
    assert_eq!(d.severity, rules::decision::Severity::Medium);
    assert!(
        d.matched.iter().any(|m| m.rule == "account.hours"),
        "{:?}",
        d.matched
    );
}

#[test]
fn the_dba_is_alerted_past_ten_thousand_rows() {
    let p = policy();
    let d = decide_at(
        &p,
        "dba_admin",
        P,
        "SELECT * FROM population",
        office_time(),
    );
    let alert = d.alert_rows.expect("a row alert");
    assert_eq!((alert.rows, alert.rule.as_str()), (10_000, "dba-bulk-read"));
    assert!(d.limit.is_none() && d.masks.is_empty());
}

#[test]
fn the_cache_keys_on_the_text_and_what_the_policy_looks_at() {
    use std::sync::atomic::Ordering::Relaxed;
    let p = policy();
    let req = |time| Request {
        account: "analyst_li",
        client: "10.1.2.3".parse().expect("ip"),
        database: "publicdata",
        dialect: P,
        time,
    };
    let day = office_time();
    let sql = "SELECT gender FROM population WHERE id = 1";
    let first = p.evaluate(&req(day), sql);
    let again = p.evaluate(&req(day), sql);
    assert!(
        std::sync::Arc::ptr_eq(&first, &again),
        "the second evaluation is a hit"
    );
    assert_eq!(
        (
            p.cache_stats().hits.load(Relaxed),
            p.cache_stats().misses.load(Relaxed)
        ),
        (1, 1)
    );
    // The analyst has office hours: at night the same text is decided anew, and alerted.
    let night = p.evaluate(&req("2026-11-22T19:00:00Z".parse().expect("time")), sql);
    assert_eq!(night.decision.severity, rules::decision::Severity::Medium);
    assert_eq!(first.decision.severity, rules::decision::Severity::None);
    // Same fingerprint, other literals, other decision: the cache must not mix them up.
    let benign = p.evaluate(
        &req(day),
        "SELECT gender FROM population WHERE id = 1 OR 1=2",
    );
    let attack = p.evaluate(
        &req(day),
        "SELECT gender FROM population WHERE id = 1 OR 1=1",
    );
    assert_eq!(benign.analysis.fingerprint, attack.analysis.fingerprint);
    assert_eq!(
        (benign.decision.action, attack.decision.action),
        (Limit, Block)
    );
}

#[test]
fn touched_objects_and_columns_carry_their_levels() {
    let p = policy();
    let req = Request {
        account: "app_portal",
        client: "10.1.2.3".parse().expect("ip"),
        database: "publicdata",
        dialect: M,
        time: office_time(),
    };
    let a = p.analyze(
        "SELECT name FROM population WHERE id_card = ?",
        M,
        "publicdata",
        None,
    );
    let t = p.touched(&req, &a);
    assert_eq!(t.objects, [("publicdata.population".to_owned(), 4)]);
    let mut cols = t.columns.clone();
    cols.sort();
    assert_eq!(
        cols,
        [
            ("publicdata.population.id_card".to_owned(), 4),
            ("publicdata.population.name".to_owned(), 3)
        ]
    );
}
