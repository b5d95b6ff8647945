//! The data loader against the real ClickHouse: statements, health reports, an alert and
//! its transitions are shipped into a private database through the real pipeline (spool →
//! shipper), and one load must show them on every screen's terms; a loader pointed at a
//! server that does not answer must report a failure (the stale marker) instead of hanging.
//!
//! Needs ClickHouse at 127.0.0.1:8123 (`bash deploy/clickhouse.sh start`) or
//! `TIANMU_TEST_CLICKHOUSE`; fails, saying so, without it.

use std::process::Command;
use std::time::Duration;

use analyzer::config::{ClickHouseConfig, SpoolConfig};
use analyzer::event::{
    Action, Alert, AlertState, Body, Event, Health, HealthStatus, Observer, Protocol, Resolution,
    Severity, Statement, StatementKind, Touched, Transition,
};
use analyzer::pipeline::{Mode, Pipeline};
use chrono::Utc;
use console::data::{self, EventFilter, Source, Update};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn url() -> String {
    std::env::var("TIANMU_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

fn query(url: &str, sql: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "--max-time",
            "30",
            "--data-binary",
            sql,
            url,
        ])
        .output()
        .expect("curl runs (deploy/install.sh installs it)");
    assert!(
        out.status.success(),
        "ClickHouse at {url} does not answer `{sql}`: {}{} — start it with `bash deploy/clickhouse.sh start` \
         or point TIANMU_TEST_CLICKHOUSE at one",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn statement(account: &str, table: (&str, u8), action: Action, rows: u64, ago: i64) -> Event {
    Event::at(
        "test-console/pg-main",
        Utc::now() - chrono::Duration::seconds(ago),
        Body::Statement(Statement {
            observer: Observer::Firewall,
            protocol: Protocol::Postgres,
            account: account.into(),
            client: "10.0.0.7:50123".into(),
            server: "127.0.0.1:5432".into(),
            application: "psql".into(),
            database: "publicdata".into(),
            normalized: format!("SELECT * FROM {} WHERE id = ?", table.0),
            fingerprint: 7,
            kind: StatementKind::Read,
            objects: vec![Touched {
                name: format!("publicdata.{}", table.0),
                level: table.1,
            }],
            columns: vec![],
            action,
            rule: String::new(),
            severity: Severity::None,
            rows,
            bytes: rows * 100,
            duration_us: 900,
            error_code: String::new(),
        }),
    )
}

fn transition(alert: Uuid, state: AlertState, actor: &str) -> Event {
    Event::new(
        "test-console/analyzer",
        Body::Transition(Transition {
            alert_id: alert,
            state,
            actor: actor.into(),
            note: String::new(),
            resolution: Resolution::None,
        }),
    )
}

#[test]
fn a_load_shows_what_the_pipeline_delivered_and_an_outage_is_reported() {
    let url = url();
    let database = format!("tianmu_test_console_{}", std::process::id());
    query(&url, &format!("DROP DATABASE IF EXISTS {database}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let ch = ClickHouseConfig {
        url: url.clone(),
        database: database.clone(),
        user: "default".into(),
        password: String::new(),
        timeout: Duration::from_secs(10),
        retention_days: 180,
    };

    let mut events = Vec::new();
    for i in 0..30 {
        events.push(statement(
            "app_portal",
            ("population", 4),
            Action::Mask,
            1,
            i * 10,
        ));
    }
    for i in 0..5 {
        events.push(statement(
            "vendor_dev",
            ("bank_account", 4),
            Action::Block,
            0,
            i * 20,
        ));
    }
    events.push(statement(
        "analyst_li",
        ("credit_record", 3),
        Action::Limit,
        10_000,
        30,
    ));
    let evidence: Vec<Uuid> = events[30..35].iter().map(|e| e.id).collect();
    for (producer, component, status) in [
        ("test-console/firewall", "firewall", HealthStatus::Ok),
        ("test-console/sensor", "sensor", HealthStatus::Degraded),
    ] {
        for ago in [40, 5] {
            events.push(Event::at(
                producer,
                Utc::now() - chrono::Duration::seconds(ago),
                Body::Health(Health {
                    component: component.into(),
                    status,
                    counters: vec![("drops".into(), ago as u64)],
                    message: String::new(),
                }),
            ));
        }
    }
    let alert = Alert {
        alert_id: analyzer::alert::alert_id("non-production-account", "vendor_dev", Utc::now()),
        detector: "non-production-account".into(),
        entity: "vendor_dev".into(),
        severity: Severity::High,
        title: "vendor_dev touched level-4 data in production".into(),
        window_start: Utc::now() - chrono::Duration::minutes(5),
        window_end: Utc::now(),
        evidence: evidence.clone(),
        drill_id: None,
    };
    events.extend(analyzer::alert::events("test-console/analyzer", &alert));
    events.push(transition(
        alert.alert_id,
        AlertState::Acknowledged,
        "zhang.wei",
    ));

    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let spool = SpoolConfig::at(dir.path().join("spool"));
        let pipeline = Pipeline::start(&spool, &ch, Mode::Drain).expect("pipeline starts");
        pipeline
            .producer()
            .emit_durable(events)
            .await
            .expect("spooled");
        pipeline
            .finish(CancellationToken::new())
            .await
            .expect("shipped");

        let source = Source::new(&ch);
        let s = data::snapshot(&source, &EventFilter::default(), Utc::now())
            .await
            .expect("a load");
        let sit = &s.situation;
        let minute = |f: fn(&data::Minute) -> u64| sit.minutes.iter().map(f).sum::<u64>();
        assert_eq!(sit.minutes.len(), data::MINUTES);
        assert_eq!(minute(|m| m.total), 36);
        assert_eq!(minute(|m| m.blocked), 5);
        assert_eq!(minute(|m| m.masked), 30);
        assert_eq!(minute(|m| m.limited), 1);
        assert!(sit.events_per_sec > 0.0, "{}", sit.events_per_sec);
        assert_eq!(
            sit.top_rows.first(),
            Some(&("analyst_li".to_owned(), 10_000))
        );
        assert_eq!(
            sit.top_tables.first(),
            Some(&("publicdata.population".to_owned(), 30))
        );
        assert!(
            sit.top_level
                .iter()
                .any(|(a, l, n)| a == "vendor_dev" && *l == 4 && *n == 5)
        );
        let producers: Vec<_> = sit
            .producers
            .iter()
            .map(|p| (p.producer.as_str(), p.status, p.counters.clone()))
            .collect();
        assert_eq!(
            producers,
            [
                (
                    "test-console/firewall",
                    HealthStatus::Ok,
                    vec![("drops".to_owned(), 5)]
                ),
                (
                    "test-console/sensor",
                    HealthStatus::Degraded,
                    vec![("drops".to_owned(), 5)]
                ),
            ],
            "the latest report of each producer"
        );
        assert_eq!(s.alerts.len(), 1);
        let r = &s.alerts[0];
        assert_eq!(r.alert.alert_id, alert.alert_id);
        assert_eq!(r.timeline.state(), AlertState::Acknowledged);
        assert_eq!(s.events.matching, 36);
        assert_eq!(s.events.rows.len(), 36);
        assert!(
            s.events.rows.windows(2).all(|w| w[0].time >= w[1].time),
            "newest first"
        );

        // The explorer's filter runs in ClickHouse.
        let f = EventFilter::parse("account=vendor_dev decision=block table=bank level>=4")
            .expect("filter");
        let s = data::snapshot(&source, &f, Utc::now())
            .await
            .expect("a filtered load");
        assert_eq!(s.events.matching, 5);
        assert!(
            s.events
                .rows
                .iter()
                .all(|e| e.account == "vendor_dev" && e.action == Action::Block)
        );

        // The evidence behind the alert.
        let rows = data::evidence(
            &source,
            &alert.evidence,
            (alert.window_start, alert.window_end),
        )
        .await
        .expect("evidence");
        let mut got: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut want = evidence.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);

        // The background loader sends a snapshot, then one per refresh.
        let mut loader = data::spawn(
            source.clone(),
            Duration::from_millis(300),
            EventFilter::default(),
        );
        for _ in 0..2 {
            let u = tokio::time::timeout(Duration::from_secs(20), loader.updates.recv()).await;
            assert!(matches!(u, Ok(Some(Update::Snapshot(_)))), "{u:?}");
        }
        drop(loader);

        // A server that accepts and never answers: a failure within the timeout, no hang.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead = ClickHouseConfig {
            url: format!("http://{}", silent.local_addr().expect("addr")),
            timeout: Duration::from_millis(500),
            ..ch.clone()
        };
        let mut loader = data::spawn(
            Source::new(&dead),
            Duration::from_secs(60),
            EventFilter::default(),
        );
        let u = tokio::time::timeout(Duration::from_secs(10), loader.updates.recv()).await;
        assert!(
            matches!(&u, Ok(Some(Update::Failed { error, .. })) if error.contains("within")),
            "{u:?}"
        );
    });
    query(&url, &format!("DROP DATABASE IF EXISTS {database}"));
}
