//! The traffic simulator against the real servers: normal traffic and every scenario run,
//! and the databases' own statistics see the statements.

mod common;

use std::time::Duration;

use common::TestDb;
use demo::data::{Counts, generate};
use demo::traffic::{Profile, TrafficConfig, run};

fn pg_scans(db: &str) -> u64 {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-Atc"])
        .arg("SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables")
        .output()
        .expect("psql");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

fn mariadb_selects() -> u64 {
    let out = std::process::Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-N",
            "-e",
            "SHOW GLOBAL STATUS LIKE 'Com_select'",
        ])
        .output()
        .expect("mariadb");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("Com_select")
}

#[test]
fn normal_traffic_and_every_scenario_reach_the_servers() {
    let db = TestDb::new("traffic");
    db.load(&generate(1, &Counts::scaled(0.02)));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // The sharing API on the test database, for the API calls of normal traffic and api-scrape.
    let mut api = demo::api::ApiConfig::demo("127.0.0.1:0".parse().expect("addr"));
    api.database = format!(
        "host=127.0.0.1 port=5432 user=share_api password=share_api dbname={}",
        db.name()
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = rt.spawn(demo::api::serve(api, stop.clone(), Some(tx)));
    let api_addr = rt.block_on(rx).expect("the API binds");
    let record = tempfile::NamedTempFile::new().expect("temp file");
    let cfg = |profile: Profile| TrafficConfig {
        postgres: "127.0.0.1:5432".parse().expect("addr"),
        mariadb: "127.0.0.1:3306".parse().expect("addr"),
        api: Some(api_addr),
        database: db.name().to_owned(),
        seed: 1,
        rate: if profile == Profile::Normal {
            60.0
        } else {
            20.0
        },
        duration: Duration::from_secs(if profile == Profile::Normal { 3 } else { 1 }),
        record: Some(record.path().to_owned()),
    };
    let (scans, selects) = (pg_scans(db.name()), mariadb_selects());
    let normal = rt
        .block_on(run(
            cfg(Profile::Normal),
            Profile::Normal,
            Default::default(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(normal.statements >= 100, "{normal:?}");
    assert_eq!(
        normal.refused, 0,
        "normal traffic is allowed by the servers: {normal:?}"
    );
    for account in ["app_portal", "share_api", "analyst_li"] {
        assert!(
            normal.by_account.get(account).copied().unwrap_or(0) > 0,
            "{account}: {normal:?}"
        );
    }
    // Statistics are flushed when the sessions end; give them a moment.
    let pg_sent = normal
        .by_account
        .iter()
        .filter(|(a, _)| *a != "share_api")
        .map(|(_, n)| n)
        .sum::<u64>();
    let my_sent = normal.by_account.get("share_api").copied().unwrap_or(0);
    let mut seen = (0, 0);
    for _ in 0..50 {
        seen = (pg_scans(db.name()) - scans, mariadb_selects() - selects);
        if seen.0 >= pg_sent && seen.1 >= my_sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.0 >= pg_sent,
        "PostgreSQL saw {} table scans for {pg_sent} statements",
        seen.0
    );
    assert!(
        seen.1 >= my_sent,
        "MariaDB counted {} SELECTs for {my_sent} statements",
        seen.1
    );

    for profile in Profile::ALL
        .into_iter()
        .filter(|p| *p != Profile::Normal && *p != Profile::ApiScrape)
    {
        let r = rt
            .block_on(run(cfg(profile), profile, Default::default()))
            .unwrap_or_else(|e| panic!("{}: {e}", profile.name()));
        assert!(r.statements + r.api_calls >= 3, "{}: {r:?}", profile.name());
    }
    let lines = std::fs::read_to_string(record.path()).expect("record");
    for profile in [
        "normal",
        "bulk-exfil",
        "sqli",
        "vendor-prod",
        "off-hours",
        "flowback",
    ] {
        assert!(
            lines.contains(&format!("\"profile\":\"{profile}\"")),
            "{profile} not recorded"
        );
    }
    stop.cancel();
    rt.block_on(server).expect("join").expect("API served");
    // Without a firewall the servers themselves refuse the vendor's production probes.
    assert!(
        lines
            .lines()
            .any(|l| l.contains("\"account\":\"vendor_dev\"") && l.contains("\"ok\":false"))
    );
}
