//! Realistic, deterministic data for the screen snapshots and the render benchmark: the
//! demo platform (DEMO.md) an hour into a shift, with a bulk exfiltration, an injection
//! campaign, a vendor probing production and a silent sensor.

use analyzer::event::{Action, Alert, AlertState, HealthStatus, Resolution, Severity};
use analyzer::lifecycle::{AlertRecord, Step, Timeline};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::data::{EventPage, EventRow, MINUTES, Minute, ProducerHealth, Situation, Snapshot};

/// The fixture's clock: 2025-03-03 06:30:00 UTC (14:30 in Hangzhou).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_740_983_400, 0).unwrap_or_default()
}

fn id(n: u64) -> Uuid {
    Uuid::from_u64_pair(0x0195_5a00_0000_7000, 0x8000_0000_0000_0000 | n)
}

fn step(at: DateTime<Utc>, state: AlertState, actor: &str, note: &str) -> Step {
    Step {
        time: at,
        state,
        actor: actor.into(),
        note: note.into(),
        resolution: Resolution::None,
    }
}

const ACCOUNTS: [&str; 5] = [
    "app_portal",
    "share_api",
    "analyst_li",
    "vendor_dev",
    "dba_admin",
];
const TABLES: [(&str, u8); 6] = [
    ("publicdata.population", 4),
    ("publicdata.legal_person", 4),
    ("publicdata.credit_record", 3),
    ("publicdata.license", 4),
    ("publicdata.bank_account", 4),
    ("publicdata.open_dataset", 1),
];

/// `n` statements, newest first, ending at `now`.
pub fn events(n: usize, now: DateTime<Utc>) -> Vec<EventRow> {
    (0..n)
        .map(|i| {
            let account = ACCOUNTS[i % 5];
            let (table, level) = TABLES[(i * 7 + i / 5) % 6];
            let name = table.rsplit('.').next().unwrap_or(table);
            let action = match (account, i % 11) {
                ("vendor_dev", _) if level > 1 => Action::Block,
                (_, 3) => Action::Mask,
                (_, 7) => Action::Limit,
                _ => Action::Allow,
            };
            EventRow {
                id: id(10_000 + i as u64),
                time: now - Duration::milliseconds(1_700 * i as i64),
                producer: if i % 4 == 0 {
                    "fw-hz-01/mysql-main".into()
                } else {
                    "fw-hz-01/pg-main".into()
                },
                account: account.into(),
                client: format!("10.20.{}.{}:5{:04}", i % 3, 10 + i % 40, i % 9999),
                database: "publicdata".into(),
                normalized: format!(
                    "SELECT id, name, phone FROM {name} WHERE district_code = ? LIMIT ?"
                ),
                objects: vec![table.into()],
                max_level: level,
                action,
                rule: match action {
                    Action::Block => "vendor-prod-block".into(),
                    Action::Mask => "mask-above-clearance".into(),
                    Action::Limit => "row-limit".into(),
                    Action::Allow => String::new(),
                },
                severity: if action == Action::Block {
                    Severity::High
                } else {
                    Severity::None
                },
                rows: if action == Action::Limit {
                    200
                } else {
                    (i as u64 * 37) % 180
                },
            }
        })
        .collect()
}

/// The fixture's alerts: six named ones, then `extra` more (for the benchmark).
pub fn alerts(now: DateTime<Utc>, extra: usize) -> Vec<AlertRecord> {
    let m = |mins: i64| now - Duration::minutes(mins);
    let a = ACTOR_ANALYZER;
    let mut out = vec![
        record(
            1,
            m(4),
            "bulk-exfiltration",
            "analyst_li",
            Severity::High,
            "analyst_li read 120,345 rows of level-4 data in 5 minutes (usual: 2,100)",
            vec![step(m(4), AlertState::New, a, "")],
            12,
        ),
        record(
            2,
            m(12),
            "injection-campaign",
            "app_portal",
            Severity::Critical,
            "14 statements from app_portal blocked as SQL injection (sqli-tautology)",
            vec![
                step(m(12), AlertState::New, a, ""),
                step(m(10), AlertState::Acknowledged, "zhang.wei", ""),
                step(m(9), AlertState::Assigned, "zhang.wei", "li.na"),
                step(m(8), AlertState::Escalated, "li.na", "portal team paged"),
            ],
            14,
        ),
        record(
            3,
            m(26),
            "non-production-account",
            "vendor_dev",
            Severity::High,
            "vendor_dev (dev, vendor) touched level-4 data in production: 6 statements blocked",
            vec![
                step(m(26), AlertState::New, a, ""),
                step(m(25), AlertState::Acknowledged, "zhang.wei", ""),
                step(
                    m(22),
                    AlertState::Contained,
                    "zhang.wei",
                    "account vendor_dev for 1h",
                ),
            ],
            6,
        ),
        record(
            4,
            m(41),
            "off-hours",
            "analyst_li",
            Severity::Medium,
            "analyst_li read level-3 data at 03:12, outside 08:00–20:00",
            vec![step(m(41), AlertState::New, a, "")],
            3,
        ),
        record(
            5,
            m(55),
            "silent-producer",
            "fw-hz-02/sensor",
            Severity::High,
            "fw-hz-02/sensor has sent no health report for 5m",
            vec![step(m(55), AlertState::New, a, "")],
            0,
        ),
        {
            let mut r = record(
                6,
                m(300),
                "first-access",
                "dba_admin",
                Severity::Low,
                "dba_admin read publicdata.bank_account for the first time in 30 days",
                vec![
                    step(m(300), AlertState::New, a, ""),
                    step(m(290), AlertState::Acknowledged, "wang.fang", ""),
                ],
                2,
            );
            let mut close = step(m(250), AlertState::Closed, "wang.fang", "quarterly audit");
            close.resolution = Resolution::LegitimateActivity;
            r.timeline.steps.push(close);
            r
        },
    ];
    for i in 0..extra {
        let n = 100 + i as u64;
        let sev = [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][i % 4];
        out.push(record(
            n,
            m(60 + i as i64),
            "bulk-exfiltration",
            ACCOUNTS[i % 5],
            sev,
            "bulk read above the account's baseline",
            vec![step(m(60 + i as i64), AlertState::New, a, "")],
            3,
        ));
    }
    out
}

const ACTOR_ANALYZER: &str = analyzer::alert::ACTOR;

#[allow(clippy::too_many_arguments)]
fn record(
    n: u64,
    raised: DateTime<Utc>,
    detector: &str,
    entity: &str,
    severity: Severity,
    title: &str,
    steps: Vec<Step>,
    evidence: u64,
) -> AlertRecord {
    AlertRecord {
        raised,
        alert: Alert {
            alert_id: id(n),
            detector: detector.into(),
            entity: entity.into(),
            severity,
            title: title.into(),
            window_start: raised - Duration::minutes(6),
            window_end: raised - Duration::minutes(1),
            evidence: (0..evidence).map(|e| id(10_000 + e)).collect(),
            drill_id: None,
        },
        timeline: Timeline { steps },
        drill: false,
    }
}

/// The situation an hour into the shift.
pub fn situation(now: DateTime<Utc>) -> Situation {
    let start = (now.timestamp() / 60 - MINUTES as i64 + 1) * 60;
    let minutes = (0..MINUTES as i64)
        .map(|i| {
            let wave = ((i * 37) % 11) as u64;
            Minute {
                start: start as u32 + i as u32 * 60,
                total: 9_000 + wave * 310,
                blocked: if (40..48).contains(&i) {
                    30 + wave * 4
                } else {
                    wave / 3
                },
                masked: 400 + wave * 25,
                limited: if i > 50 { 12 + wave } else { wave / 5 },
            }
        })
        .collect();
    let ago = |s: i64| now - Duration::seconds(s);
    Situation {
        events_per_sec: 157.4,
        minutes,
        top_rows: vec![
            ("analyst_li".into(), 120_345),
            ("share_api".into(), 48_210),
            ("app_portal".into(), 9_876),
            ("dba_admin".into(), 2_001),
            ("vendor_dev".into(), 0),
        ],
        top_level: vec![
            ("dba_admin".into(), 4, 311),
            ("analyst_li".into(), 4, 207),
            ("app_portal".into(), 4, 95),
            ("share_api".into(), 3, 1_204),
            ("vendor_dev".into(), 1, 0),
        ],
        top_tables: vec![
            ("publicdata.legal_person".into(), 41_233),
            ("publicdata.population".into(), 30_876),
            ("publicdata.credit_record".into(), 18_002),
            ("publicdata.open_dataset".into(), 4_410),
            ("publicdata.license".into(), 1_209),
        ],
        producers: vec![
            ProducerHealth {
                producer: "fw-hz-01/analyzer".into(),
                component: "analyzer".into(),
                status: HealthStatus::Ok,
                last_seen: ago(8),
                counters: vec![
                    ("cycles".into(), 360),
                    ("cycles_skipped".into(), 0),
                    ("alerts_raised".into(), 6),
                    ("detectors_failed".into(), 0),
                ],
                message: String::new(),
            },
            ProducerHealth {
                producer: "fw-hz-01/firewall".into(),
                component: "firewall".into(),
                status: HealthStatus::Ok,
                last_seen: ago(3),
                counters: vec![
                    ("pg-main.accepted".into(), 5_210),
                    ("pg-main.refused".into(), 0),
                    ("pg-main.active".into(), 12),
                    ("pg-main.failed".into(), 1),
                ],
                message: String::new(),
            },
            ProducerHealth {
                producer: "fw-hz-01/pipeline".into(),
                component: "pipeline".into(),
                status: HealthStatus::Ok,
                last_seen: ago(6),
                counters: vec![
                    ("appended".into(), 1_204_332),
                    ("shipped".into(), 1_203_980),
                    ("retried".into(), 2),
                    ("dropped_full".into(), 0),
                    ("dropped_io".into(), 0),
                    ("quarantined_segments".into(), 0),
                ],
                message: String::new(),
            },
            ProducerHealth {
                producer: "fw-hz-01/sensor".into(),
                component: "sensor".into(),
                status: HealthStatus::Degraded,
                last_seen: ago(9),
                counters: vec![("packets".into(), 9_912_004), ("drops".into(), 311)],
                message: "the kernel dropped 311 packets since the last report".into(),
            },
            ProducerHealth {
                producer: "fw-hz-02/sensor".into(),
                component: "sensor".into(),
                status: HealthStatus::Ok,
                last_seen: ago(300),
                counters: vec![("packets".into(), 77_120), ("drops".into(), 0)],
                message: String::new(),
            },
        ],
    }
}

/// A whole snapshot taken 2 s before [`now`], with `extra_alerts` more alerts and
/// `events` statements in the tail.
pub fn snapshot(extra_alerts: usize, events_n: usize) -> Snapshot {
    let now = now();
    let rows = events(events_n, now);
    Snapshot {
        taken: now - Duration::seconds(2),
        situation: situation(now),
        alerts: alerts(now, extra_alerts),
        events: EventPage {
            matching: 12_345.max(rows.len() as u64),
            rows,
        },
        drills: drills(now),
    }
}

/// Past drills: one completed, one aborted before its alert came, one completed slowly.
pub fn drills(now: DateTime<Utc>) -> Vec<analyzer::report::DrillResult> {
    use analyzer::report::{DrillOutcome, DrillResult};
    let d = |n: u128, hours: i64, scenario: &str, secs: [Option<u64>; 4], outcome| DrillResult {
        drill_id: Uuid::from_u128(0xd000 + n),
        scenario: scenario.into(),
        started: now - Duration::hours(hours),
        alert_id: secs[0].map(|_| Uuid::from_u128(0xa000 + n)),
        detect_secs: secs[0],
        acknowledge_secs: secs[1],
        contain_secs: secs[2],
        close_secs: secs[3],
        outcome,
    };
    vec![
        d(
            3,
            2,
            "bulk-exfil",
            [Some(6), Some(41), Some(95), Some(312)],
            DrillOutcome::Completed,
        ),
        d(
            2,
            26,
            "sqli",
            [None, None, None, None],
            DrillOutcome::Aborted,
        ),
        d(
            1,
            50,
            "vendor-prod",
            [Some(9), Some(620), None, Some(1804)],
            DrillOutcome::Completed,
        ),
    ]
}
