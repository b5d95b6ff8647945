//! The analyzer end to end: statement, API-call and health events shaped like DEMO.md's
//! scenarios (bulk-exfil, off-hours, a first access, vendor-prod, an sqli campaign from an
//! account and one from an address, a silent sensor, flowback, an hour's volume far above
//! that hour in earlier weeks, a password-guessing burst that succeeds, a direct connection
//! around the firewall, and ID-card numbers from an unconditionally shared API) mixed into
//! normal traffic are shipped to the real ClickHouse through the real pipeline; `tianmu
//! analyzer --once` must raise exactly one alert per scenario — right detector, entity,
//! severity and evidence — and none for the normal traffic; a second run must raise
//! nothing and duplicate nothing.
//!
//! Failed logins and API calls with inspection counts are shaped as a sensor would emit
//! them: today's sensor only counts failed logins and has no HTTP follower yet.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use analyzer::event::{
    Action, ApiCall, Body, Event, Health, HealthStatus, Observer, Protocol, Severity, Statement,
    StatementKind, Touched,
};
use chrono::{DateTime, Duration as Span, NaiveTime, Utc};
use common::*;

/// Local time of the platform: China Standard Time, the analyzer's default `utc-offset`.
const CST: i64 = 8 * 3600;

/// Yesterday at `hh:mm` local time, as UTC; `days_back` more days before that.
fn local(days_back: i64, hh: u32, mm: u32) -> DateTime<Utc> {
    let today_local = (Utc::now() + Span::seconds(CST)).date_naive();
    let day = today_local - chrono::Days::new((1 + days_back) as u64);
    let t = day.and_time(NaiveTime::from_hms_opt(hh, mm, 0).expect("valid time"));
    t.and_utc() - Span::seconds(CST)
}

struct Read<'a> {
    account: &'a str,
    client: &'a str,
    /// (table, level)
    table: (&'a str, u8),
    columns: &'a [(&'a str, u8)],
    rows: u64,
    action: Action,
    rule: &'a str,
}

fn statement(at: DateTime<Utc>, r: &Read<'_>) -> Event {
    let table = format!("publicdata.{}", r.table.0);
    Event::at(
        "test-analyzer/pg-main",
        at,
        Body::Statement(Statement {
            observer: Observer::Firewall,
            protocol: Protocol::Postgres,
            account: r.account.into(),
            client: r.client.into(),
            server: "127.0.0.1:5432".into(),
            application: "psql".into(),
            database: "publicdata".into(),
            normalized: format!("SELECT * FROM {} WHERE id = ?", r.table.0),
            fingerprint: 42,
            kind: StatementKind::Read,
            objects: if r.table.0.is_empty() {
                vec![]
            } else {
                vec![Touched {
                    name: table.clone(),
                    level: r.table.1,
                }]
            },
            columns: r
                .columns
                .iter()
                .map(|(c, l)| Touched {
                    name: format!("{table}.{c}"),
                    level: *l,
                })
                .collect(),
            action: r.action,
            rule: r.rule.into(),
            severity: if r.action == Action::Block {
                Severity::High
            } else {
                Severity::None
            },
            rows: r.rows,
            bytes: r.rows * 100,
            duration_us: 500,
            error_code: if r.action == Action::Block {
                "42501".into()
            } else {
                String::new()
            },
        }),
    )
}

/// `n` statements like `r`, one every `every` seconds from `from`.
fn burst(
    out: &mut Vec<Event>,
    from: DateTime<Utc>,
    every: i64,
    n: usize,
    r: &Read<'_>,
) -> Vec<String> {
    burst_with(out, from, every, n, r, |_| {})
}

/// `burst`, each statement then changed by `change` (observer, server, error, …).
fn burst_with(
    out: &mut Vec<Event>,
    from: DateTime<Utc>,
    every: i64,
    n: usize,
    r: &Read<'_>,
    change: impl Fn(&mut Statement),
) -> Vec<String> {
    let made: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = statement(from + Span::seconds(every * i as i64), r);
            if let Body::Statement(s) = &mut e.body {
                change(s);
            }
            e
        })
        .collect();
    let ids = made.iter().map(|e| e.id.to_string()).collect();
    out.extend(made);
    ids
}

/// A failed login as the sensor's follower sees one: the account the client announced,
/// no statement, the server's error code.
fn failed_login(s: &mut Statement, code: &str) {
    s.kind = StatementKind::Session;
    s.normalized = String::new();
    s.fingerprint = 0;
    s.objects.clear();
    s.columns.clear();
    s.rows = 0;
    s.bytes = 0;
    s.error_code = code.into();
}

/// The same statement seen on the wire by a sensor.
fn seen_by_sensor(s: &mut Statement) {
    s.observer = Observer::Sensor;
    s.application = String::new();
}

/// `n` calls to a sharing interface, one every `every` seconds from `from`, each answer
/// holding `sensitive` values as the sensor's inspection counts them.
fn api_calls(
    out: &mut Vec<Event>,
    from: DateTime<Utc>,
    every: i64,
    n: usize,
    (app_key, path, status): (&str, &str, u16),
    sensitive: &[(&str, u32)],
) -> Vec<String> {
    let made: Vec<Event> = (0..n)
        .map(|i| {
            Event::at(
                "test-analyzer/sensor-api",
                from + Span::seconds(every * i as i64),
                Body::ApiCall(ApiCall {
                    app_key: app_key.into(),
                    client: "10.50.0.8:52000".into(),
                    server: "10.50.0.1:8088".into(),
                    method: "GET".into(),
                    path_template: path.into(),
                    status,
                    records: 1,
                    bytes: 600,
                    sensitive: sensitive.iter().map(|(k, n)| ((*k).into(), *n)).collect(),
                    duration_us: 3_000,
                }),
            )
        })
        .collect();
    let ids = made.iter().map(|e| e.id.to_string()).collect();
    out.extend(made);
    ids
}

fn health(producer: &str, component: &str, at: DateTime<Utc>) -> Event {
    Event::at(
        producer,
        at,
        Body::Health(Health {
            component: component.into(),
            status: HealthStatus::Ok,
            counters: vec![],
            message: String::new(),
        }),
    )
}

const POPULATION: (&str, u8) = ("population", 4);
const POP_COLS: &[(&str, u8)] = &[("name", 3), ("phone", 3)];
const LICENSE: (&str, u8) = ("license", 3);
const LICENSE_COLS: &[(&str, u8)] = &[("license_no", 3), ("issue_date", 2)];
const CREDIT: (&str, u8) = ("credit_record", 3);
const CREDIT_COLS: &[(&str, u8)] = &[("detail", 3)];
const LEGAL: (&str, u8) = ("legal_person", 2);
const LEGAL_COLS: &[(&str, u8)] = &[("uscc", 1), ("name", 1)];
const OPEN: (&str, u8) = ("open_dataset", 1);
const OPEN_COLS: &[(&str, u8)] = &[("id", 1)];
/// What the sharing API reads for one credit lookup, and what flowback pages through.
const CREDIT_LOOKUP_COLS: &[(&str, u8)] = &[
    ("uscc", 1),
    ("record_type", 2),
    ("detail", 3),
    ("record_date", 2),
];
const NOTHING: (&str, u8) = ("", 0);

fn read<'a>(
    account: &'a str,
    table: (&'a str, u8),
    columns: &'a [(&'a str, u8)],
    rows: u64,
) -> Read<'a> {
    Read {
        account,
        client: "10.20.1.7:40000",
        table,
        columns,
        rows,
        action: Action::Allow,
        rule: "",
    }
}

fn blocked<'a>(
    account: &'a str,
    client: &'a str,
    table: (&'a str, u8),
    columns: &'a [(&'a str, u8)],
    rule: &'a str,
) -> Read<'a> {
    Read {
        account,
        client,
        table,
        columns,
        rows: 0,
        action: Action::Block,
        rule,
    }
}

/// What each scenario must raise: (detector, entity) → (severity, evidence ids).
type Expected = BTreeMap<(String, String), (&'static str, BTreeSet<String>)>;

fn traffic() -> (Vec<Event>, Expected) {
    let mut ev = Vec::new();
    let mut want = Expected::new();
    let mut expect = |d: &str, e: &str, sev: &'static str, ids: Vec<String>| {
        want.insert((d.into(), e.into()), (sev, ids.into_iter().collect()));
    };

    // History three days earlier, in office hours: what the accounts normally read.
    let h = local(3, 10, 0);
    burst(
        &mut ev,
        h,
        20,
        30,
        &read("app_portal", POPULATION, POP_COLS, 1),
    );
    burst(
        &mut ev,
        h,
        30,
        10,
        &read("analyst_li", POPULATION, POP_COLS, 50),
    );
    burst(
        &mut ev,
        h,
        30,
        10,
        &read("analyst_li", LICENSE, LICENSE_COLS, 50),
    );
    burst(&mut ev, h, 60, 5, &read("vendor_dev", OPEN, OPEN_COLS, 20));
    burst(&mut ev, h, 60, 5, &read("share_api", LEGAL, LEGAL_COLS, 5));
    burst(
        &mut ev,
        h,
        60,
        5,
        &read("share_api", CREDIT, CREDIT_LOOKUP_COLS, 3),
    );
    // The portal's Thursday-or-whatever 14:00 in each of the four weeks before: ~200 rows.
    for week in 1..=4 {
        burst(
            &mut ev,
            local(7 * week, 14, 0),
            300,
            10,
            &read("app_portal", POPULATION, POP_COLS, 20),
        );
    }

    // Normal traffic yesterday: raises nothing.
    burst(
        &mut ev,
        local(0, 9, 0),
        30,
        200,
        &read("app_portal", POPULATION, POP_COLS, 1),
    );
    burst(
        &mut ev,
        local(0, 9, 0),
        60,
        100,
        &read("share_api", LEGAL, LEGAL_COLS, 20),
    );
    burst(
        &mut ev,
        local(0, 10, 0),
        60,
        20,
        &read("analyst_li", POPULATION, POP_COLS, 40),
    );
    burst(
        &mut ev,
        local(0, 10, 30),
        60,
        10,
        &read("analyst_li", LICENSE, LICENSE_COLS, 40),
    );
    burst(
        &mut ev,
        local(0, 11, 0),
        60,
        10,
        &read("vendor_dev", OPEN, OPEN_COLS, 100),
    );
    // A few blocked statements that are not injection.
    burst(
        &mut ev,
        local(0, 12, 30),
        10,
        3,
        &blocked(
            "share_api",
            "10.20.2.2:5000",
            POPULATION,
            POP_COLS,
            "deny-unlisted-table",
        ),
    );
    // Application accounts read level-3 data at night: they are exempt from off-hours.
    burst(
        &mut ev,
        local(0, 2, 0),
        60,
        20,
        &read("app_portal", POPULATION, POP_COLS, 1),
    );

    // The sharing API's credit lookups: a few rows of restricted detail each, all day.
    burst(
        &mut ev,
        local(0, 9, 0),
        90,
        60,
        &read("share_api", CREDIT, CREDIT_LOOKUP_COLS, 3),
    );
    // One bigger read of the unconditionally shared legal_person: bulk, but not restricted.
    burst(
        &mut ev,
        local(0, 11, 5),
        60,
        1,
        &read("share_api", LEGAL, LEGAL_COLS, 600),
    );
    // Two mistyped passwords, then the analyst gets in; one refused MySQL login.
    burst_with(
        &mut ev,
        local(0, 10, 0) - Span::seconds(30),
        10,
        2,
        &read("analyst_li", NOTHING, &[], 0),
        |s| failed_login(s, "28P01"),
    );
    burst_with(
        &mut ev,
        local(0, 9, 30),
        10,
        1,
        &read("share_api", NOTHING, &[], 0),
        |s| {
            failed_login(s, "1045");
            s.protocol = Protocol::Mysql;
        },
    );
    // A sensor beside the database sees what the firewall let through — the clients' own
    // statements, the firewall's upstream leg from 10.0.0.2, and a connection it picked up
    // midstream (no account) — and statements to a server no firewall protects.
    burst_with(
        &mut ev,
        local(0, 9, 0) + Span::seconds(1),
        30,
        20,
        &read("app_portal", POPULATION, POP_COLS, 1),
        seen_by_sensor,
    );
    burst_with(
        &mut ev,
        local(0, 9, 0) + Span::seconds(1),
        30,
        20,
        &read("app_portal", POPULATION, POP_COLS, 1),
        |s| {
            seen_by_sensor(s);
            s.client = "10.0.0.2:38000".into();
        },
    );
    burst_with(
        &mut ev,
        local(0, 10, 0) + Span::seconds(2),
        60,
        5,
        &read("analyst_li", POPULATION, POP_COLS, 40),
        |s| {
            seen_by_sensor(s);
            s.account = String::new();
        },
    );
    burst_with(
        &mut ev,
        local(0, 10, 0),
        60,
        5,
        &read("analyst_li", OPEN, OPEN_COLS, 10),
        |s| {
            seen_by_sensor(s);
            s.server = "10.9.9.9:5432".into();
            s.fingerprint = 999;
        },
    );
    // Sharing API answers: credit codes from legal-person, credit codes and a phone number
    // from credit (restricted: up to level 3), an ID card echoed in a 400.
    for (i, key) in ["hz-city-portal-7f3a", "nb-social-credit-91c2"]
        .into_iter()
        .enumerate()
    {
        let at = local(0, 9, 0) + Span::seconds(i as i64);
        api_calls(
            &mut ev,
            at,
            120,
            40,
            (key, "/api/v1/legal-person/{uscc}", 200),
            &[("social-credit-code", 1)],
        );
        api_calls(
            &mut ev,
            at,
            120,
            40,
            (key, "/api/v1/credit?uscc={uscc}", 200),
            &[("social-credit-code", 3), ("mobile", 1)],
        );
    }
    api_calls(
        &mut ev,
        local(0, 11, 0),
        10,
        3,
        ("hz-city-portal-7f3a", "/api/v1/legal-person/{uscc}", 400),
        &[("id-card", 1)],
    );
    // bulk-exfil: analyst_li pages through population, 20 × 5,000 rows in a few minutes:
    // level-3 columns of a table that holds level-4 ones, so high, not critical.
    let ids = burst(
        &mut ev,
        local(0, 15, 0),
        10,
        20,
        &read("analyst_li", POPULATION, POP_COLS, 5000),
    );
    expect("bulk-exfiltration", "analyst_li", "high", ids);

    // off-hours: analyst_li reads L3 licence data at 03:00.
    let ids = burst(
        &mut ev,
        local(0, 3, 0),
        20,
        5,
        &read("analyst_li", LICENSE, LICENSE_COLS, 30),
    );
    expect("off-hours", "analyst_li", "medium", ids);

    // first access: analyst_li reads credit_record (L3) for the first time.
    let ids = burst(
        &mut ev,
        local(0, 16, 0),
        20,
        3,
        &read("analyst_li", CREDIT, CREDIT_COLS, 30),
    );
    expect(
        "first-access",
        "analyst_li → publicdata.credit_record",
        "medium",
        ids,
    );

    // vendor-prod: vendor_dev probes population; every statement blocked.
    let ids = burst(
        &mut ev,
        local(0, 11, 20),
        15,
        6,
        &blocked(
            "vendor_dev",
            "10.40.0.9:51000",
            POPULATION,
            POP_COLS,
            "deny-unlisted-table",
        ),
    );
    expect("non-production-account", "vendor_dev", "high", ids);

    // sqli through the portal account: 8 injection shapes blocked.
    let mut ids = burst(
        &mut ev,
        local(0, 12, 0),
        5,
        4,
        &blocked(
            "app_portal",
            "10.20.0.99:41000",
            POPULATION,
            POP_COLS,
            "sqli-tautology",
        ),
    );
    ids.extend(burst(
        &mut ev,
        local(0, 12, 0) + Span::seconds(2),
        5,
        4,
        &blocked(
            "app_portal",
            "10.20.0.99:41001",
            POPULATION,
            POP_COLS,
            "sqli-union-catalog",
        ),
    ));
    expect("injection-campaign", "app_portal", "high", ids);

    // One host tries three accounts, two injections each: a campaign by address.
    let mut ids = Vec::new();
    for (i, account) in ["share_api", "analyst_li", "dba_admin"]
        .into_iter()
        .enumerate()
    {
        let port = format!("10.66.6.6:{}", 50000 + i);
        let r = blocked(account, &port, LEGAL, LEGAL_COLS, "sqli-time-delay");
        ids.extend(burst(
            &mut ev,
            local(0, 13, 0) + Span::seconds(i as i64),
            10,
            2,
            &r,
        ));
    }
    expect("injection-campaign", "10.66.6.6", "high", ids);

    // flowback: the sharing account pages through credit_record's restricted details, 500
    // rows a statement (under its limit of 1,000), over MySQL.
    let ids = burst_with(
        &mut ev,
        local(0, 17, 0),
        20,
        8,
        &read("share_api", CREDIT, CREDIT_LOOKUP_COLS, 500),
        |s| {
            s.protocol = Protocol::Mysql;
            s.client = "10.30.0.5:41000".into();
            s.server = "127.0.0.1:3306".into();
            s.normalized = "SELECT uscc, record_type, detail, record_date FROM credit_record ORDER BY id LIMIT ? OFFSET ?".into();
            s.fingerprint = 4242;
        },
    );
    expect("flow-back", "share_api", "high", ids);

    // volume-anomaly: the portal reads ~9,600 rows between 14:00 and 15:00, spread so that
    // no window passes bulk-exfiltration's bar, where earlier weeks read ~200.
    let ids = burst(
        &mut ev,
        local(0, 14, 0),
        75,
        48,
        &read("app_portal", POPULATION, POP_COLS, 200),
    );
    expect("volume-anomaly", "app_portal", "medium", ids);

    // An auth-failure burst: a host guesses dba_admin's password twelve times, then gets in.
    let mut ids = burst_with(
        &mut ev,
        local(0, 13, 30),
        10,
        12,
        &Read {
            client: "10.77.0.5:40100",
            ..read("dba_admin", NOTHING, &[], 0)
        },
        |s| failed_login(s, "28P01"),
    );
    ids.extend(burst_with(
        &mut ev,
        local(0, 13, 32) + Span::seconds(10),
        10,
        1,
        &Read {
            client: "10.77.0.5:40101",
            ..read("dba_admin", NOTHING, &[], 1)
        },
        |s| s.normalized = "SELECT ?".into(),
    ));
    expect("auth-failure-burst", "10.77.0.5", "high", ids);

    // bypass: the analyst connects to PostgreSQL directly from another host; only the
    // sensor sees it.
    let ids = burst_with(
        &mut ev,
        local(0, 11, 40),
        30,
        4,
        &Read {
            client: "10.20.1.99:50500",
            ..read("analyst_li", LICENSE, LICENSE_COLS, 30)
        },
        |s| {
            seen_by_sensor(s);
            s.fingerprint = 777;
        },
    );
    expect("bypass", "10.20.1.99", "high", ids);

    // sharing-violation: legal-person (unconditional sharing) answers with the legal
    // representatives' ID-card numbers (level 4).
    let ids = api_calls(
        &mut ev,
        local(0, 14, 30),
        15,
        6,
        (
            "wz-market-supervision-44de",
            "/api/v1/legal-person/{uscc}",
            200,
        ),
        &[("social-credit-code", 1), ("id-card", 1)],
    );
    expect(
        "sharing-violation",
        "/api/v1/legal-person/{uscc}",
        "critical",
        ids,
    );

    // sensor-down: sensor-a reported until five minutes ago; firewall-b is alive.
    let now = Utc::now();
    ev.push(health(
        "test-analyzer/sensor-a",
        "sensor",
        now - Span::seconds(600),
    ));
    let last = health("test-analyzer/sensor-a", "sensor", now - Span::seconds(300));
    expect(
        "silent-producer",
        "test-analyzer/sensor-a",
        "high",
        vec![last.id.to_string()],
    );
    ev.push(last);
    ev.push(health(
        "test-analyzer/firewall-b",
        "firewall",
        now - Span::seconds(3),
    ));

    (ev, want)
}

fn analyze(s: &Scratch) -> Vec<serde_json::Value> {
    let out = s.run(&["analyzer", "--once", "--since", "10m"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "analyzer --once failed:\n{stdout}\n{stderr}"
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn each_scenario_raises_its_alert_once_and_normal_traffic_none() {
    let url = require_clickhouse();
    let s = Scratch::new("analyzer", &url, "");
    let demo = repo_root().join("deploy/demo");
    let mut config = std::fs::read_to_string(s.config()).expect("read config");
    config.push_str(&format!(
        r#"
[analyzer.flow-back]
channels = ["share_api"]

[analyzer.bypass]
firewall-addresses = ["10.0.0.2"]

[analyzer.sharing-violation]
interfaces = [
    {{ path = "/api/v1/legal-person/{{uscc}}", tables = ["publicdata.legal_person"] }},
    {{ path = "/api/v1/credit", tables = ["publicdata.credit_record"] }},
]

[policy]
accounts = "{}"
catalog = "{}"
"#,
        demo.join("accounts.toml").display(),
        demo.join("catalog.toml").display(),
    ));
    std::fs::write(s.config(), config).expect("write config");

    let (events, want) = traffic();
    s.ship(events);

    let alerts = analyze(&s);
    let mut got: BTreeMap<(String, String), (String, BTreeSet<String>)> = BTreeMap::new();
    for a in &alerts {
        let text = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
        let evidence = a["evidence"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let previous = got.insert(
            (text("detector"), text("entity")),
            (text("severity"), evidence),
        );
        assert!(
            previous.is_none(),
            "two alerts for one scenario: {alerts:#?}"
        );
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "alerts raised (detector, entity); all alerts: {alerts:#?}"
    );
    for (key, (severity, evidence)) in &want {
        let (got_severity, got_evidence) = &got[key];
        assert_eq!(got_severity, severity, "severity of {key:?}");
        assert_eq!(got_evidence, evidence, "evidence of {key:?}");
    }

    // A second run over the same windows raises nothing, and ClickHouse holds each alert
    // and its `new` transition once.
    let again = analyze(&s);
    assert!(again.is_empty(), "the second run raised {again:#?}");
    let db = &s.database;
    assert_eq!(
        query(
            &url,
            &format!("SELECT count(), uniqExact(alert_id) FROM {db}.alerts")
        ),
        format!("{n}\t{n}", n = want.len())
    );
    assert_eq!(
        query(
            &url,
            &format!(
                "SELECT count(), uniqExact(alert_id) FROM {db}.alert_transitions WHERE state = 'new' AND actor = 'analyzer'"
            )
        ),
        format!("{n}\t{n}", n = want.len())
    );
}

/// A cycle over a busy period asks about thousands of alert ids at once: more than one
/// ClickHouse query may hold (`max_query_size`), so the question is asked in chunks.
#[test]
fn thousands_of_alert_ids_are_checked_against_clickhouse() {
    use analyzer::event::Alert;
    let url = require_clickhouse();
    let s = Scratch::new("raised", &url, "");
    let now = Utc::now();
    let alert = Alert {
        alert_id: uuid::Uuid::now_v7(),
        detector: "bulk-exfiltration".into(),
        entity: "analyst_li".into(),
        severity: Severity::High,
        title: "t".into(),
        window_start: now,
        window_end: now,
        evidence: vec![],
        drill_id: None,
    };
    s.ship(vec![Event::new(
        "test/analyzer",
        Body::Alert(alert.clone()),
    )]);
    let mut ids: Vec<uuid::Uuid> = (0..7_000u128).map(uuid::Uuid::from_u128).collect();
    ids.insert(3_500, alert.alert_id);
    let ch = analyzer::ship::ClickHouse::new(&analyzer::config::ClickHouseConfig {
        url: url.clone(),
        database: s.database.clone(),
        user: "default".into(),
        password: String::new(),
        timeout: std::time::Duration::from_secs(30),
        retention_days: 180,
    });
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let found = rt
        .block_on(analyzer::alert::already_raised(
            &ch.db,
            std::time::Duration::from_secs(30),
            &ids,
        ))
        .expect("asked in chunks");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), [alert.alert_id]);
    s.drop_database();
}
