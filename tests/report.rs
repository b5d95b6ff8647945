//! `tianmu report` end to end on the real ClickHouse: one day (2025-03-10, China Standard
//! Time) with known incidents — statements by six accounts at levels 1–4, blocked
//! statements, an uncatalogued table, an unregistered account, three real alerts with
//! their lifecycle (one closed with a resolution and signed off), two drill alerts (one by
//! its `drill_id`, one named only by a drill record) and two drills — is shipped through
//! the real pipeline, plus records the day before that must not count. The JSON report must
//! list exactly those with the right counts and keep the drill alerts out of MTTA/MTTR; an
//! empty period says so in every format; the HTML renders in headless Chromium (a
//! screenshot and an A4 PDF are written and checked); ClickHouse down names the URL.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use analyzer::event::{
    Action, Alert, AlertState, Body, Drill, DrillPhase, Event, Observer, Protocol, Resolution,
    Severity, Statement, StatementKind, Touched, Transition,
};
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use common::*;
use serde_json::Value;
use uuid::Uuid;

/// 2025-03-10 `hh:mm:ss` China Standard Time.
fn cst(day: u32, hh: u32, mm: u32, ss: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|o| o.with_ymd_and_hms(2025, 3, day, hh, mm, ss).single())
        .expect("valid time")
        .with_timezone(&Utc)
}

struct Read<'a> {
    account: &'a str,
    table: &'a str,
    table_level: u8,
    columns: &'a [(&'a str, u8)],
    action: Action,
    rule: &'a str,
}

fn statement(at: DateTime<Utc>, r: &Read<'_>) -> Event {
    let table = format!("publicdata.{}", r.table);
    let blocked = r.action == Action::Block;
    Event::at(
        "test-report/pg-main",
        at,
        Body::Statement(Statement {
            observer: Observer::Firewall,
            protocol: Protocol::Postgres,
            account: r.account.into(),
            client: "10.20.1.7:40000".into(),
            server: "127.0.0.1:5432".into(),
            application: "psql".into(),
            database: "publicdata".into(),
            normalized: format!("SELECT * FROM {} WHERE id = ?", r.table),
            fingerprint: 7,
            kind: StatementKind::Read,
            objects: vec![Touched {
                name: table.clone(),
                level: r.table_level,
            }],
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
            severity: if blocked {
                Severity::High
            } else {
                Severity::None
            },
            rows: if blocked { 0 } else { 10 },
            bytes: if blocked { 0 } else { 1000 },
            duration_us: 300,
            error_code: if blocked {
                "42501".into()
            } else {
                String::new()
            },
        }),
    )
}

fn read<'a>(account: &'a str, table: &'a str, level: u8, columns: &'a [(&'a str, u8)]) -> Read<'a> {
    Read {
        account,
        table,
        table_level: level,
        columns,
        action: Action::Allow,
        rule: "",
    }
}

fn blocked<'a>(
    account: &'a str,
    table: &'a str,
    level: u8,
    columns: &'a [(&'a str, u8)],
    rule: &'a str,
) -> Read<'a> {
    Read {
        action: Action::Block,
        rule,
        ..read(account, table, level, columns)
    }
}

/// `n` statements like `r`, one a minute from `from`; their ids.
fn burst(ev: &mut Vec<Event>, from: DateTime<Utc>, n: usize, r: &Read<'_>) -> Vec<Uuid> {
    let made: Vec<Event> = (0..n)
        .map(|i| statement(from + Span::seconds(60 * i as i64), r))
        .collect();
    let ids = made.iter().map(|e| e.id).collect();
    ev.extend(made);
    ids
}

fn alert(
    ev: &mut Vec<Event>,
    raised: DateTime<Utc>,
    detector: &str,
    entity: &str,
    severity: Severity,
    evidence: Vec<Uuid>,
    drill_id: Option<Uuid>,
) -> Uuid {
    // Named as the analyzer names alerts (a hash of detector, entity and window).
    let id = analyzer::alert::alert_id(detector, entity, raised - Span::seconds(3600));
    ev.push(Event::at(
        "test-report/analyzer",
        raised,
        Body::Alert(Alert {
            alert_id: id,
            detector: detector.into(),
            entity: entity.into(),
            severity,
            title: format!("{detector} by {entity}"),
            window_start: raised - Span::seconds(3600),
            window_end: raised,
            evidence,
            drill_id,
        }),
    ));
    step(
        ev,
        id,
        raised,
        0,
        AlertState::New,
        "analyzer",
        Resolution::None,
    );
    id
}

fn step(
    ev: &mut Vec<Event>,
    alert: Uuid,
    raised: DateTime<Utc>,
    after: i64,
    state: AlertState,
    actor: &str,
    resolution: Resolution,
) {
    ev.push(Event::at(
        "test-report/console",
        raised + Span::seconds(after),
        Body::Transition(Transition {
            alert_id: alert,
            state,
            actor: actor.into(),
            note: String::new(),
            resolution,
        }),
    ));
}

fn drill(
    ev: &mut Vec<Event>,
    id: Uuid,
    at: DateTime<Utc>,
    after: i64,
    phase: DrillPhase,
    alert: Option<Uuid>,
) {
    ev.push(Event::at(
        "test-report/drill",
        at + Span::seconds(after),
        Body::Drill(Drill {
            drill_id: id,
            scenario: "off-hours".into(),
            phase,
            alert_id: alert,
            detail: String::new(),
        }),
    ));
}

const OPEN_COLS: &[(&str, u8)] = &[("id", 1)];
const LEGAL_COLS: &[(&str, u8)] = &[("uscc", 1), ("name", 1)];
const LICENSE_COLS: &[(&str, u8)] = &[("license_no", 3)];
const BANK_COLS: &[(&str, u8)] = &[("card_no", 4)];
const POP_COLS: &[(&str, u8)] = &[("name", 3), ("id_card", 4)];
const TMP_COLS: &[(&str, u8)] = &[("x", 2)];

/// What the day holds, as the report must count it.
struct Known {
    bulk: Uuid,
    sqli: Uuid,
    vendor: Uuid,
    drill_by_id: Uuid,
    drill_by_record: Uuid,
    completed_drill: Uuid,
    aborted_drill: Uuid,
}

fn incidents() -> (Vec<Event>, Known) {
    let mut ev = Vec::new();
    let d = 10;
    burst(
        &mut ev,
        cst(d, 9, 0, 0),
        20,
        &read("app_portal", "open_dataset", 1, OPEN_COLS),
    );
    burst(
        &mut ev,
        cst(d, 9, 30, 0),
        15,
        &read("share_api", "legal_person", 2, LEGAL_COLS),
    );
    let bulk_evidence = burst(
        &mut ev,
        cst(d, 10, 0, 0),
        10,
        &read("analyst_li", "license", 3, LICENSE_COLS),
    );
    burst(
        &mut ev,
        cst(d, 11, 0, 0),
        3,
        &read("analyst_li", "tmp_export", 2, TMP_COLS),
    );
    let dba = burst(
        &mut ev,
        cst(d, 12, 0, 0),
        5,
        &read("dba_admin", "bank_account", 4, BANK_COLS),
    );
    let vendor_evidence = burst(
        &mut ev,
        cst(d, 13, 0, 0),
        4,
        &blocked(
            "vendor_dev",
            "population",
            4,
            POP_COLS,
            "deny-unlisted-table",
        ),
    );
    let sqli_evidence = burst(
        &mut ev,
        cst(d, 14, 0, 0),
        6,
        &blocked("app_portal", "population", 4, POP_COLS, "sqli-tautology"),
    );
    burst(
        &mut ev,
        cst(d, 15, 0, 0),
        2,
        &read("etl_job", "open_dataset", 1, OPEN_COLS),
    );
    // The day before: neither its statements nor its alert belong to the period.
    let before = burst(
        &mut ev,
        cst(d - 1, 10, 0, 0),
        7,
        &read("analyst_li", "license", 3, LICENSE_COLS),
    );
    alert(
        &mut ev,
        cst(d - 1, 11, 0, 0),
        "off-hours",
        "analyst_li",
        Severity::Medium,
        before,
        None,
    );

    // bulk-exfiltration: acknowledged after 2 min, contained after 10, closed after 30 with
    // a resolution, signed off by a reviewer.
    let t = cst(d, 10, 10, 0);
    let bulk = alert(
        &mut ev,
        t,
        "bulk-exfiltration",
        "analyst_li",
        Severity::Critical,
        bulk_evidence,
        None,
    );
    step(
        &mut ev,
        bulk,
        t,
        120,
        AlertState::Acknowledged,
        "wang",
        Resolution::None,
    );
    step(
        &mut ev,
        bulk,
        t,
        600,
        AlertState::Contained,
        "wang",
        Resolution::None,
    );
    step(
        &mut ev,
        bulk,
        t,
        1800,
        AlertState::Closed,
        "wang",
        Resolution::TruePositiveWithoutImpact,
    );
    step(
        &mut ev,
        bulk,
        t,
        2400,
        AlertState::SignedOff,
        "li",
        Resolution::None,
    );
    // injection-campaign: acknowledged after 5 min, still open.
    let t = cst(d, 14, 10, 0);
    let sqli = alert(
        &mut ev,
        t,
        "injection-campaign",
        "app_portal",
        Severity::High,
        sqli_evidence,
        None,
    );
    step(
        &mut ev,
        sqli,
        t,
        300,
        AlertState::Acknowledged,
        "wang",
        Resolution::None,
    );
    // non-production-account: never touched.
    let vendor = alert(
        &mut ev,
        cst(d, 13, 10, 0),
        "non-production-account",
        "vendor_dev",
        Severity::High,
        vendor_evidence,
        None,
    );

    // A completed drill whose alert carries the drill id; handled in seconds, which would
    // drag MTTA and MTTR down if it were counted.
    let completed_drill = analyzer::alert::alert_id("drill", "off-hours", cst(d, 16, 0, 0));
    let t = cst(d, 16, 0, 0);
    drill(&mut ev, completed_drill, t, 0, DrillPhase::Started, None);
    drill(&mut ev, completed_drill, t, 5, DrillPhase::Injected, None);
    let drill_by_id = alert(
        &mut ev,
        t + Span::seconds(20),
        "off-hours",
        "analyst_li",
        Severity::Medium,
        vec![],
        Some(completed_drill),
    );
    drill(
        &mut ev,
        completed_drill,
        t,
        20,
        DrillPhase::Detected,
        Some(drill_by_id),
    );
    step(
        &mut ev,
        drill_by_id,
        t + Span::seconds(20),
        10,
        AlertState::Acknowledged,
        "wang",
        Resolution::None,
    );
    drill(
        &mut ev,
        completed_drill,
        t,
        30,
        DrillPhase::Acknowledged,
        Some(drill_by_id),
    );
    step(
        &mut ev,
        drill_by_id,
        t + Span::seconds(20),
        30,
        AlertState::Contained,
        "wang",
        Resolution::None,
    );
    drill(
        &mut ev,
        completed_drill,
        t,
        50,
        DrillPhase::Contained,
        Some(drill_by_id),
    );
    step(
        &mut ev,
        drill_by_id,
        t + Span::seconds(20),
        60,
        AlertState::Closed,
        "wang",
        Resolution::LegitimateActivity,
    );
    drill(
        &mut ev,
        completed_drill,
        t,
        80,
        DrillPhase::Closed,
        Some(drill_by_id),
    );
    // An aborted drill whose alert is named only by the drill record.
    let aborted_drill = analyzer::alert::alert_id("drill", "off-hours", cst(d, 17, 0, 0));
    let t = cst(d, 17, 0, 0);
    drill(&mut ev, aborted_drill, t, 0, DrillPhase::Started, None);
    drill(&mut ev, aborted_drill, t, 10, DrillPhase::Injected, None);
    let drill_by_record = alert(
        &mut ev,
        t + Span::seconds(40),
        "first-access",
        "dba_admin → publicdata.bank_account",
        Severity::High,
        dba,
        None,
    );
    drill(
        &mut ev,
        aborted_drill,
        t,
        40,
        DrillPhase::Detected,
        Some(drill_by_record),
    );
    step(
        &mut ev,
        drill_by_record,
        t + Span::seconds(40),
        5,
        AlertState::Acknowledged,
        "wang",
        Resolution::None,
    );
    drill(&mut ev, aborted_drill, t, 100, DrillPhase::Aborted, None);

    (
        ev,
        Known {
            bulk,
            sqli,
            vendor,
            drill_by_id,
            drill_by_record,
            completed_drill,
            aborted_drill,
        },
    )
}

/// A scratch database with the demo catalog and accounts and a `[report]` section.
fn scratch(name: &str, url: &str) -> Scratch {
    let s = Scratch::new(name, url, "");
    let demo = repo_root().join("deploy/demo");
    let mut config = std::fs::read_to_string(s.config()).expect("read config");
    config.push_str(&format!(
        "\n[policy]\ncatalog = \"{}\"\naccounts = \"{}\"\n\n[report]\norganization = \"某市大数据局\"\nplatform = \"市公共数据平台\"\nassessor = \"张三\"\nreviewer = \"李四\"\napprover = \"王五\"\n",
        demo.join("catalog.toml").display(),
        demo.join("accounts.toml").display()
    ));
    std::fs::write(s.config(), config).expect("write config");
    s
}

/// `tianmu report` for `from`..`to`; its stdout and stderr, asserting success.
fn report(s: &Scratch, from: &str, to: &str, format: &str, out: &Path) -> String {
    let o = s.run(&[
        "report",
        "--from",
        from,
        "--to",
        to,
        "--format",
        format,
        "-o",
        &out.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "tianmu report --format {format} failed:\n{stderr}"
    );
    stderr
}

fn json_report(s: &Scratch, from: &str, to: &str) -> Value {
    let out = s.dir.path().join("report.json");
    report(s, from, to, "json", &out);
    let text = std::fs::read_to_string(&out).expect("report.json written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("report.json is not JSON ({e}):\n{text}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_period_with_known_incidents_lists_exactly_them() {
    let url = require_clickhouse();
    let s = scratch("report", &url);
    let (events, k) = incidents();
    s.ship(events);
    let r = json_report(&s, "2025-03-10", "2025-03-10");

    assert_eq!(r["meta"]["empty"], false);
    assert_eq!(r["meta"]["number"], "TM-RA-20250310-20250310");
    assert_eq!(r["meta"]["from"], "2025-03-09T16:00:00Z");
    assert_eq!(r["meta"]["to"], "2025-03-10T16:00:00Z");

    // Access: 65 statements in the day (the 7 of the day before left out), by level.
    let a = &r["access"];
    assert_eq!(u(&a["statements"]), 65);
    assert_eq!(u(&a["blocked"]), 10);
    // A statement counts at the level of the columns it read: share_api's 15 reads of
    // level-1 columns of the level-2 legal_person table are level 1.
    assert_eq!(a["by_level"], serde_json::json!([0, 37, 3, 10, 15]));
    let accounts: Vec<(String, u64, u64, bool)> = a["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|x| {
            (
                x["account"].as_str().unwrap_or_default().to_owned(),
                u(&x["statements"]),
                u(&x["blocked"]),
                x["registered"] == true,
            )
        })
        .collect();
    let want: Vec<(String, u64, u64, bool)> = [
        ("analyst_li", 13, 0, true),
        ("app_portal", 26, 6, true),
        ("dba_admin", 5, 0, true),
        ("etl_job", 2, 0, false),
        ("share_api", 15, 0, true),
        ("vendor_dev", 4, 4, true),
    ]
    .iter()
    .map(|(n, s, b, reg)| ((*n).to_owned(), *s, *b, *reg))
    .collect();
    assert_eq!(accounts, want);
    let app = &a["accounts"][1];
    assert_eq!(app["by_level"], serde_json::json!([0, 20, 0, 0, 6]));
    let groups: Vec<(String, String, u64)> = a["blocked_groups"]
        .as_array()
        .expect("blocked groups")
        .iter()
        .map(|g| {
            (
                g["account"].as_str().unwrap_or_default().to_owned(),
                g["rule"].as_str().unwrap_or_default().to_owned(),
                u(&g["statements"]),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("app_portal".to_owned(), "sqli-tautology".to_owned(), 6),
            ("vendor_dev".to_owned(), "deny-unlisted-table".to_owned(), 4)
        ]
    );

    // Assets: the demo catalog, with the day's reads per table.
    let tables = r["assets"]["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 6);
    let reads = |name: &str| {
        tables
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| u(&t["statements"]))
            .unwrap_or_else(|| panic!("{name} not in the asset list"))
    };
    assert_eq!(reads("publicdata.open_dataset"), 22);
    assert_eq!(reads("publicdata.population"), 10);
    assert_eq!(reads("publicdata.license"), 10);
    assert_eq!(reads("publicdata.credit_record"), 0);

    // Alerts: the five of the day, two of them drills; statistics over the three real ones.
    let al = &r["alerts"];
    let list = al["list"].as_array().expect("alert list");
    let listed: Vec<(String, bool)> = list
        .iter()
        .map(|x| {
            (
                x["alert_id"].as_str().unwrap_or_default().to_owned(),
                x["drill"] == true,
            )
        })
        .collect();
    let want: Vec<(String, bool)> = vec![
        (k.bulk.to_string(), false),
        (k.vendor.to_string(), false),
        (k.sqli.to_string(), false),
        (k.drill_by_id.to_string(), true),
        (k.drill_by_record.to_string(), true),
    ];
    assert_eq!(listed, want, "alerts of the period, oldest first");
    assert_eq!(u(&al["total"]), 3);
    assert_eq!(u(&al["drill"]), 2);
    assert_eq!(u(&al["closed"]), 1);
    assert_eq!(al["by_severity"], serde_json::json!([0, 0, 0, 2, 1]));
    assert_eq!(al["closure_rate"].as_f64(), Some(1.0 / 3.0));
    // Real alerts only: (120 + 300) / 2; with the drills' 10 s and 5 s it would be 108.75.
    assert_eq!(al["mtta_secs"].as_f64(), Some(210.0));
    assert_eq!(al["mttc_secs"].as_f64(), Some(600.0));
    assert_eq!(al["mttr_secs"].as_f64(), Some(1800.0));
    assert_eq!(
        u(&al["late_acknowledge"]),
        1,
        "the vendor alert was never acknowledged"
    );
    assert_eq!(u(&al["late_close"]), 2);
    let detectors: Vec<(String, u64, u64)> = al["by_detector"]
        .as_array()
        .expect("by detector")
        .iter()
        .map(|d| {
            (
                d["detector"].as_str().unwrap_or_default().to_owned(),
                u(&d["total"]),
                u(&d["closed"]),
            )
        })
        .collect();
    assert_eq!(
        detectors,
        [
            ("bulk-exfiltration".to_owned(), 1, 1),
            ("injection-campaign".to_owned(), 1, 0),
            ("non-production-account".to_owned(), 1, 0)
        ]
    );
    let bulk = list
        .iter()
        .find(|x| x["alert_id"] == k.bulk.to_string().as_str())
        .expect("bulk alert");
    assert_eq!(bulk["state"], "closed");
    assert_eq!(bulk["resolution"], "true-positive-without-impact");
    assert_eq!(u(&bulk["acknowledge_secs"]), 120);
    assert_eq!(u(&bulk["close_secs"]), 1800);
    assert_eq!(u(&bulk["max_level"]), 3);
    assert_eq!(
        bulk["personal"], true,
        "licence holds holder_id_card (level 4)"
    );

    // Drills, timed from the first injection.
    let drills = r["drills"].as_array().expect("drills");
    assert_eq!(drills.len(), 2);
    assert_eq!(
        drills[0]["drill_id"],
        k.completed_drill.to_string().as_str()
    );
    assert_eq!(drills[0]["outcome"], "completed");
    assert_eq!(
        [
            &drills[0]["detect_secs"],
            &drills[0]["acknowledge_secs"],
            &drills[0]["contain_secs"],
            &drills[0]["close_secs"]
        ]
        .map(u),
        [15, 25, 45, 75]
    );
    assert_eq!(drills[1]["drill_id"], k.aborted_drill.to_string().as_str());
    assert_eq!(drills[1]["outcome"], "aborted");
    assert_eq!(u(&drills[1]["detect_secs"]), 30);

    // Catalog gaps: the uncatalogued table (the drill's first access is not one).
    let gaps = r["catalog_gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    assert_eq!(gaps[0]["object"], "publicdata.tmp_export");
    assert_eq!(gaps[0]["gap"], "uncatalogued");
    assert_eq!(u(&gaps[0]["statements"]), 3);

    // Issues: three real alerts, two blocked groups, the gap, the unregistered account,
    // late handling, the aborted drill.
    let issues = r["issues"].as_array().expect("issues");
    let kinds: Vec<&str> = issues
        .iter()
        .map(|i| i["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "personal-information",
            "supply-chain",
            "injection",
            "injection",
            "access-violation",
            "catalog-gap",
            "unregistered-account",
            "late-response",
            "drill-incomplete"
        ]
    );
    assert_eq!(strs(&issues[0]["evidence"]), [k.bulk.to_string()]);
    assert_eq!(issues[0]["status"], "closed");
    assert_eq!(
        issues[2]["status"], "controlled",
        "the injection was blocked"
    );
    let mut late = strs(&issues[7]["evidence"]);
    late.sort();
    let mut want_late = vec![k.sqli.to_string(), k.vendor.to_string()];
    want_late.sort();
    assert_eq!(late, want_late);

    // Risks: one per kind, by area, scored.
    let risks: Vec<(String, String, u64, u64, String)> = r["risks"]
        .as_array()
        .expect("risks")
        .iter()
        .map(|x| {
            (
                x["area"].as_str().unwrap_or_default().to_owned(),
                x["kind"].as_str().unwrap_or_default().to_owned(),
                u(&x["likelihood"]),
                u(&x["impact"]),
                x["level"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64, u64, String)> = [
        ("management", "supply-chain", 1, 5, "low"),
        ("management", "unregistered-account", 3, 3, "medium"),
        ("management", "catalog-gap", 3, 3, "medium"),
        ("management", "late-response", 3, 4, "medium"),
        ("management", "drill-incomplete", 3, 3, "medium"),
        ("technical", "injection", 2, 5, "medium"),
        ("technical", "access-violation", 1, 5, "low"),
        ("personal-information", "personal-information", 3, 5, "high"),
    ]
    .iter()
    .map(|(a, k, l, i, v)| ((*a).into(), (*k).into(), *l, *i, (*v).into()))
    .collect();
    assert_eq!(risks, want);
    assert_eq!(r["conclusion"]["overall"], "high");

    // Remediation: the three real alerts with their state.
    let states: Vec<(String, String)> = r["remediation"]
        .as_array()
        .expect("remediation")
        .iter()
        .map(|m| {
            (
                m["alert_id"].as_str().unwrap_or_default().to_owned(),
                m["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (k.bulk.to_string(), "closed".to_owned()),
            (k.vendor.to_string(), "open".to_owned()),
            (k.sqli.to_string(), "open".to_owned())
        ]
    );
    assert_eq!(r["sign_off"]["assessor"], "张三");
    assert_eq!(r["sign_off"]["approver"], "王五");
    assert_eq!(r["basic"]["platform"], "市公共数据平台");

    // The other formats say the same.
    let md = s.dir.path().join("report.md");
    report(&s, "2025-03-10", "2025-03-10", "md", &md);
    let md = std::fs::read_to_string(md).expect("report.md");
    for needle in [
        "# 数据安全风险评估报告",
        "## 五、问题清单（Issue list）",
        "| Q-009 |",
        "| R-08 |",
        "3分30秒",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}");
    }
    let csv = s.dir.path().join("csv");
    report(&s, "2025-03-10", "2025-03-10", "csv", &csv);
    for (file, rows) in [("issues.csv", 9), ("risks.csv", 8), ("alerts.csv", 5)] {
        let text =
            std::fs::read_to_string(csv.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.starts_with('\u{feff}'), "{file} starts with a BOM");
        assert_eq!(text.lines().count(), 1 + rows, "{file}:\n{text}");
    }
    let alerts_csv = std::fs::read_to_string(csv.join("alerts.csv")).expect("alerts.csv");
    assert_eq!(
        alerts_csv.matches(",是,").count(),
        2,
        "two drill alerts flagged:\n{alerts_csv}"
    );
}

#[test]
fn an_empty_period_says_so_in_every_format() {
    let url = require_clickhouse();
    let s = scratch("report_empty", &url);
    let (events, _) = incidents();
    s.ship(events);
    // A week later: the database holds data, the period none.
    let r = json_report(&s, "2025-03-17", "2025-03-17 12:00");
    assert_eq!(r["meta"]["empty"], true);
    assert_eq!(u(&r["access"]["statements"]), 0);
    assert_eq!(u(&r["alerts"]["total"]), 0);
    assert!(r["alerts"]["mtta_secs"].is_null());
    assert!(r["issues"].as_array().is_some_and(|v| v.is_empty()));
    assert!(r["risks"].as_array().is_some_and(|v| v.is_empty()));
    assert_eq!(
        r["assets"]["tables"].as_array().map(Vec::len),
        Some(6),
        "the catalog is still listed"
    );
    assert!(
        r["conclusion"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("无监测记录"))
    );

    let html = s.dir.path().join("empty.html");
    report(&s, "2025-03-17", "2025-03-17 12:00", "html", &html);
    let md = s.dir.path().join("empty.md");
    report(&s, "2025-03-17", "2025-03-17 12:00", "md", &md);
    for path in [&html, &md] {
        let text = std::fs::read_to_string(path).expect("report written");
        assert!(
            text.contains("本评估期内未采集到任何数据访问记录"),
            "{} does not say the period is empty",
            path.display()
        );
    }
    let csv = s.dir.path().join("empty-csv");
    let stderr = report(&s, "2025-03-17", "2025-03-17 12:00", "csv", &csv);
    assert!(stderr.contains("the period holds no records"), "{stderr}");
    for file in ["issues.csv", "risks.csv", "alerts.csv"] {
        let text = std::fs::read_to_string(csv.join(file)).expect("csv written");
        assert_eq!(text.lines().count(), 2, "{file}: {text}");
        assert!(text.contains("本评估期内无监测记录"), "{file}: {text}");
    }
}

#[test]
fn clickhouse_down_is_a_clear_error_naming_the_url() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let s = scratch("report_down", &url);
    let out = s.dir.path().join("r.html");
    let o = s.run(&[
        "report",
        "--from",
        "2025-03-10",
        "--to",
        "2025-03-10",
        "-o",
        &out.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "succeeded without ClickHouse");
    assert!(stderr.contains(&format!("ClickHouse at {url}")), "{stderr}");
    assert!(!out.exists(), "no report is written");
    // A period that ends before it starts is refused before ClickHouse is asked.
    let o = s.run(&[
        "report",
        "--from",
        "2025-03-10",
        "--to",
        "2025-03-09 12:00",
        "-o",
        &out.display().to_string(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("the period is empty"));
}

fn chromium() -> PathBuf {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    PathBuf::from(found.unwrap_or_else(|| {
        panic!("headless Chromium is needed to render the HTML report: run deploy/install.sh (Debian package `chromium`)")
    }))
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let browser = chromium();
    let url = require_clickhouse();
    let s = scratch("report_html", &url);
    let (events, _) = incidents();
    s.ship(events);
    let html = s.dir.path().join("report.html");
    report(&s, "2025-03-10", "2025-03-10", "html", &html);
    let text = std::fs::read_to_string(&html).expect("report.html");
    // One self-contained file: no script, no external resource.
    for banned in ["<script", "src=", "href=", "url(", "@import", "<link"] {
        assert!(!text.contains(banned), "report.html contains {banned}");
    }
    assert!(text.contains("@page") && text.contains("size: A4"));
    assert_eq!(text.matches("<svg").count(), text.matches("</svg>").count());
    assert!(text.matches("<svg").count() >= 7, "charts are inline SVG");

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&out).expect("output folder");
    let png = out.join("report.png");
    let pdf = out.join("report.pdf");
    std::fs::copy(&html, out.join("report.html")).expect("keep the HTML next to its renderings");
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&pdf);
    let profile = s.dir.path().join("chromium-profile");
    let run = |args: &[String]| {
        let o = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("chromium runs");
        assert!(
            o.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        format!("--screenshot={}", png.display()),
        "--window-size=900,4000".into(),
    ]);
    run(&[
        format!("--print-to-pdf={}", pdf.display()),
        "--no-pdf-header-footer".into(),
    ]);

    let image = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (w, h) = (
        u32::from_be_bytes([image[16], image[17], image[18], image[19]]),
        u32::from_be_bytes([image[20], image[21], image[22], image[23]]),
    );
    assert_eq!((w, h), (900, 4000));
    assert!(
        image.len() > 50_000,
        "the screenshot is nearly blank ({} bytes)",
        image.len()
    );
    let doc = std::fs::read(&pdf).expect("chromium wrote the PDF");
    assert!(doc.starts_with(b"%PDF-"), "not a PDF");
    let doc = String::from_utf8_lossy(&doc);
    // Every page is A4 (595 × 842 points, as Chromium rounds it, not Letter's 612 × 792);
    // every chapter starts a page: cover, summary and eleven chapters at least.
    let boxes: Vec<(f64, f64)> = doc
        .split("/MediaBox [0 0 ")
        .skip(1)
        .filter_map(|s| {
            let mut it = s
                .split(']')
                .next()?
                .split_whitespace()
                .map(str::parse::<f64>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .collect();
    assert!(boxes.len() >= 13, "{} pages", boxes.len());
    for (w, h) in &boxes {
        assert!(
            (w - 595.3).abs() < 2.0 && (h - 841.9).abs() < 2.0,
            "page of {w} × {h} points is not A4"
        );
    }
    eprintln!("HTML, screenshot and PDF in {}", out.display());
}
