//! Issue 8's end-to-end check on the real ClickHouse: each DEMO.md scenario injected into
//! running normal traffic raises its alert within 10 s of its start, and normal traffic by
//! itself raises none.
//!
//! The platform is real: `tianmu firewall` with a PostgreSQL and a MySQL listener and the
//! demo policy, the demo's sharing API reading PostgreSQL through that firewall, `tianmu
//! traffic` sending real SQL and HTTP, and `tianmu analyzer` running every second over the
//! scratch ClickHouse database the firewall audits into. Which alert answers which scenario
//! is the drill runner's mapping ([`analyzer::drill::SCENARIOS`]).
//!
//! Normal traffic is judged by every detector for the whole test, and must raise nothing.
//! The analyst's office hours come from a scratch copy of the demo accounts file, placed
//! after now so the result does not depend on the wall clock: the analyst is outside them
//! for the whole test, `off-hours` (level-3 reads at night) must alert and the analyst's
//! normal traffic (aggregates of level 1–2 columns) must not.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use analyzer::drill::{SCENARIOS, Scenario};
use chrono::{DateTime, Timelike, Utc};
use common::firewall::demo_data;
use common::{Running, Scratch, free_port, query, repo_root, require_clickhouse, wait_until};
use tokio_util::sync::CancellationToken;

/// The two tests start a platform each; run one at a time so that neither's timing depends
/// on the other's load (CI has two cores).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Normal traffic's rate, actions per second: the demo's own (`[demo] traffic-rate`).
const NORMAL_RATE: f64 = 5.0;

/// The issue's bound, from a scenario's first action to its alert.
const WITHIN: Duration = Duration::from_secs(10);

/// Scenarios of DEMO.md that this test does not see alert, and why. Each is named here so
/// that leaving one out is a decision on record, not an accident.
fn not_here() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "api-scrape",
            "its detectors are sharing-violation, which judges the sensor's inspection of API \
             responses (no sensor runs here: it needs a capture interface), and volume-anomaly, \
             which needs 24 hours of an account's history before it judges (cold start)",
        ),
        (
            "sensor-down",
            "not a traffic profile and not in the drill runner's mapping: it is a sensor going \
             silent (silent-producer, after 60 s by default), covered by tests/analyzer.rs",
        ),
    ]
}

/// A child that is killed when dropped (a test that fails leaves nothing running).
struct Proc(Option<Running>);

impl Proc {
    fn spawn(cmd: Command) -> Proc {
        Proc(Some(Running::spawn(cmd)))
    }

    /// SIGINT (as an operator's Ctrl-C), then the exit status, stdout lines and stderr.
    fn interrupt(&mut self) -> (std::process::ExitStatus, Vec<String>, String) {
        let running = self.0.take().expect("running");
        let _ = Command::new("kill")
            .args(["-INT", &running.child.id().to_string()])
            .status();
        running.finish(Duration::from_secs(30))
    }

    fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<String>, String) {
        self.0.take().expect("running").finish(timeout)
    }

    fn exited(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|r| r.child.try_wait().ok().flatten().is_some())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(r) = &mut self.0 {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// The demo's sharing API (`demo::api::serve`, as `tianmu demo` starts it), reading
/// PostgreSQL as `share_api` through the firewall's listener.
struct Api {
    addr: SocketAddr,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Api {
    fn start(postgres: u16) -> Api {
        let cancel = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stop = cancel.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            rt.block_on(async move {
                let mut cfg = demo::api::ApiConfig::demo(([127, 0, 0, 1], 0).into());
                cfg.database = format!(
                    "host=127.0.0.1 port={postgres} user=share_api password=share_api dbname=publicdata"
                );
                if let Err(e) = demo::api::serve(cfg, stop, Some(tx)).await {
                    eprintln!("sharing API: {e}");
                }
            });
        });
        let addr = rx
            .blocking_recv()
            .expect("the sharing API listens (see its error above)");
        Api {
            addr,
            cancel,
            thread: Some(thread),
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The analyst's office hours, local time (UTC+8, the demo policy's and the analyzer's
/// offset): from two hours ahead for four hours (the last hour and the next one are
/// outside them).
fn analyst_office_hours() -> String {
    let local = Utc::now() + chrono::Duration::hours(8);
    let (from, to) = (2, 6);
    let from = local + chrono::Duration::hours(from);
    let to = local + chrono::Duration::hours(to);
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        from.hour(),
        from.minute(),
        to.hour(),
        to.minute()
    )
}

/// Writes the scratch accounts file (the demo's, the analyst's office hours moved) and
/// appends the platform's sections to the scratch config: both listeners, the demo policy,
/// the analyzer every second, the demo's flow-back channel and sharing interfaces.
fn configure(s: &Scratch, pg: u16, my: u16) {
    let demo = repo_root().join("deploy/demo");
    let accounts = std::fs::read_to_string(demo.join("accounts.toml")).expect("demo accounts");
    let line = "office-hours = \"08:00-20:00\"";
    assert_eq!(
        accounts.matches(line).count(),
        1,
        "deploy/demo/accounts.toml no longer gives analyst_li {line}: update this test"
    );
    let accounts = accounts.replace(
        line,
        &format!("office-hours = \"{}\"", analyst_office_hours()),
    );
    let accounts_path = s.dir.path().join("accounts.toml");
    std::fs::write(&accounts_path, accounts).expect("write accounts");
    let mut config = std::fs::read_to_string(s.config()).expect("read config");
    config.push_str(&format!(
        r#"
[[firewall.listeners]]
name = "pg"
protocol = "postgres"
listen = "127.0.0.1:{pg}"
upstream = "127.0.0.1:5432"

[[firewall.listeners]]
name = "mysql"
protocol = "mysql"
listen = "127.0.0.1:{my}"
upstream = "127.0.0.1:3306"
kill-user = "root"

[analyzer]
interval = "1s"

[analyzer.flow-back]
channels = ["share_api"]

[analyzer.sharing-violation]
interfaces = [
    {{ path = "/api/v1/legal-person/{{uscc}}", tables = ["publicdata.legal_person"] }},
    {{ path = "/api/v1/credit", tables = ["publicdata.credit_record"] }},
]

[policy]
catalog = "{catalog}"
accounts = "{accounts}"
rules = "{rules}"
"#,
        catalog = demo.join("catalog.toml").display(),
        accounts = accounts_path.display(),
        rules = demo.join("policy.toml").display(),
    ));
    std::fs::write(s.config(), config).expect("write config");
}

/// The demo platform behind a running firewall: the scratch config, the firewall and the
/// sharing API.
struct Platform {
    scratch: Scratch,
    firewall: Option<Proc>,
    api: Option<Api>,
}

impl Platform {
    fn start(name: &str) -> Platform {
        demo_data();
        let url = require_clickhouse();
        let (pg, my) = (free_port(), free_port());
        let scratch = Scratch::new(name, &url, "");
        configure(&scratch, pg, my);
        let firewall = Proc::spawn(scratch.command(&["firewall"]));
        for port in [pg, my] {
            wait_until("the firewall listens", Duration::from_secs(20), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
        }
        let api = Api::start(pg);
        Platform {
            scratch,
            firewall: Some(firewall),
            api: Some(api),
        }
    }

    fn db(&self) -> &str {
        &self.scratch.database
    }

    fn query(&self, sql: &str) -> String {
        query(&self.scratch.url, &sql.replace("{db}", self.db()))
    }

    fn count(&self, sql: &str) -> u64 {
        let out = self.query(sql);
        out.parse()
            .unwrap_or_else(|e| panic!("not a count ({e}): {out:?} from {sql}"))
    }

    /// `tianmu traffic --profile P --rate R --duration D`, its record at `record`.
    fn traffic(&self, profile: &str, rate: f64, duration: Duration, record: &Path) -> Proc {
        let api = self.api.as_ref().expect("the API runs").addr.to_string();
        let duration = format!("{}ms", duration.as_millis());
        let rate = rate.to_string();
        let record = record.display().to_string();
        Proc::spawn(self.scratch.command(&[
            "traffic",
            "--profile",
            profile,
            "--rate",
            &rate,
            "--duration",
            &duration,
            "--api",
            &api,
            "--record",
            &record,
        ]))
    }

    /// Stops the API and the firewall (SIGINT: sessions drained, events spooled) and ships
    /// what its spool still holds.
    fn stop(&mut self) {
        drop(self.api.take());
        if let Some(mut fw) = self.firewall.take() {
            let (status, _, stderr) = fw.interrupt();
            assert!(status.success(), "firewall exit {status:?}:\n{stderr}");
        }
        let out = self
            .scratch
            .run(&["pipeline", "flush", "--role", "firewall"]);
        assert!(
            out.status.success(),
            "flush: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The time of the first action in a traffic record (a JSON line per action), once there
/// is one.
fn first_action(record: &Path) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(record).ok()?;
    let line = text.lines().next()?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["time"].as_str()?.parse().ok()
}

/// An alert as the test reads it back.
#[derive(Debug, Clone)]
struct Raised {
    detector: String,
    entity: String,
    time: DateTime<Utc>,
}

fn alerts(p: &Platform, after: DateTime<Utc>) -> Vec<Raised> {
    p.query(&format!(
        "SELECT detector, entity, toUInt64(time) * 1000000 + usec FROM {{db}}.alerts \
         WHERE toUInt64(time) * 1000000 + usec >= {} ORDER BY time, usec FORMAT TSV",
        after.timestamp_micros()
    ))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 3, "an alert row: {l:?}");
        let us: i64 = f[2].parse().expect("a time");
        Raised {
            detector: f[0].to_owned(),
            entity: f[1].to_owned(),
            time: DateTime::from_timestamp_micros(us).expect("a time"),
        }
    })
    .collect()
}

/// Whether `a` is an alert that answers scenario `s` (its detectors, about its entity: the
/// account itself or `account → table`).
fn answers(s: &Scenario, a: &Raised) -> bool {
    s.detectors.contains(&a.detector.as_str())
        && s.entity.is_none_or(|e| {
            a.entity == e || a.entity.strip_prefix(e).is_some_and(|r| r.starts_with(' '))
        })
}

/// Scenarios in the order they are injected: `off-hours` first, because `bulk-exfil` pages
/// through `population` reading `name` (level 3) as the same analyst: off hours, it rightly
/// raises an off-hours alert for analyst_li as well, which, in the same window, would be the
/// alert the off-hours scenario is waiting for.
fn injected() -> Vec<&'static Scenario> {
    let mut v: Vec<&'static Scenario> = SCENARIOS
        .iter()
        .filter(|s| !not_here().iter().any(|(n, _)| *n == s.name))
        .collect();
    v.sort_by_key(|s| s.name != "off-hours");
    v
}

#[test]
fn each_scenario_injected_into_normal_traffic_raises_its_alert_within_10_s() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Every scenario of the drill runner is either injected or stated as not here.
    for s in SCENARIOS {
        assert!(
            injected().iter().any(|i| i.name == s.name)
                || not_here().iter().any(|(n, _)| *n == s.name),
            "{} is neither injected nor stated as not covered",
            s.name
        );
    }
    for (name, why) in not_here() {
        println!("not injected: {name}: {why}");
    }

    let p = Platform::start("scenarios");
    let analyzer = Proc::spawn(p.scratch.command(&["analyzer"]));
    let dir = p.scratch.dir.path().to_owned();
    let normal_record = dir.join("normal.jsonl");
    let normal_from = Utc::now();
    let mut normal = p.traffic(
        "normal",
        NORMAL_RATE,
        Duration::from_secs(600),
        &normal_record,
    );

    // Normal traffic alone first: 75 of its statements (15 s of it) through the firewall
    // into ClickHouse, and an analyzer cycle that started after the last of them was.
    let quiet = (15.0 * NORMAL_RATE) as u64;
    wait_until(
        &format!("{quiet} statements of normal traffic in ClickHouse"),
        Duration::from_secs(90),
        || {
            assert!(!normal.exited(), "normal traffic stopped");
            p.query("EXISTS TABLE {db}.statements") == "1"
                && p.count("SELECT count() FROM {db}.statements") >= quiet
        },
    );
    let seen = Utc::now();
    wait_until(
        "an analyzer cycle after them",
        Duration::from_secs(30),
        || {
            p.count(&format!(
                "SELECT count() FROM {{db}}.health WHERE producer LIKE '%/analyzer' \
                 AND time >= toDateTime({})",
                seen.timestamp() + 1
            )) > 0
        },
    );
    let normal_only = alerts(&p, normal_from - chrono::Duration::hours(1));
    assert!(
        normal_only.is_empty(),
        "normal traffic alone raised alerts: {normal_only:#?}"
    );
    let statements = p.count("SELECT count() FROM {db}.statements");
    println!("normal traffic alone: {statements} statements audited, no alert");

    let mut timings = Vec::new();
    let mut starts = Vec::new();
    for s in injected() {
        let record = dir.join(format!("{}.jsonl", s.name));
        let spawned = Utc::now();
        let mut traffic = p.traffic(s.name, s.rate, s.inject_for, &record);
        // Polled from the spawn: the simulator first regenerates the data set's keys, and
        // its record is buffered, so the first action's time is read once it has stopped.
        let give_up = Instant::now() + Duration::from_secs(60);
        let found = loop {
            let found = alerts(&p, spawned).into_iter().find(|a| answers(s, a));
            if found.is_some() || Instant::now() > give_up {
                break found;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let seen = Utc::now();
        let (status, _, stderr) = traffic.interrupt();
        assert!(
            status.success(),
            "tianmu traffic {}: {status:?}\n{stderr}",
            s.name
        );
        // The scenario starts with its first action (the drill runner measures from there
        // too).
        let start =
            first_action(&record).unwrap_or_else(|| panic!("{} made no action:\n{stderr}", s.name));
        starts.push((s, start));
        let Some(alert) = found else {
            panic!(
                "{}: no {:?} alert about {:?} within 60 s of its start (first action at {start}); \
                 alerts so far: {:#?}\ntraffic stderr:\n{stderr}",
                s.name,
                s.detectors,
                s.entity,
                alerts(&p, normal_from)
            )
        };
        let took = (alert.time - start).to_std().unwrap_or_default();
        let visible = (seen - start).to_std().unwrap_or_default();
        println!(
            "{:<12} {} about {}: raised {:.1} s after the first action, read back from \
             ClickHouse {:.1} s after it",
            s.name,
            alert.detector,
            alert.entity,
            took.as_secs_f64(),
            visible.as_secs_f64()
        );
        assert!(
            alert.time >= start && visible <= WITHIN,
            "{}: its alert was raised {took:?} and in ClickHouse {visible:?} after its first \
             action (within {WITHIN:?} wanted)",
            s.name
        );
        timings.push((s.name, took));
    }

    // The alerts present are the scenarios': each answers a scenario injected before it
    // was raised; normal traffic raised none.
    assert!(!normal.exited(), "normal traffic ran throughout");
    let all = alerts(&p, normal_from - chrono::Duration::hours(1));
    for a in &all {
        assert!(
            starts
                .iter()
                .any(|(s, start)| answers(s, a) && a.time >= *start),
            "an alert no scenario answers for (normal traffic raised it): {a:?}\nall: {all:#?}"
        );
    }
    for (s, _) in &starts {
        assert!(all.iter().any(|a| answers(s, a)));
    }
    let (_, report, _) = normal.interrupt();
    drop(analyzer);
    println!(
        "{} alerts raised; normal traffic: {}",
        all.len(),
        report.last().map_or("", String::as_str)
    );
    println!("times: {timings:?}");
}

/// How long the normal traffic that is played back as an hour runs, and how many simulators
/// send it side by side (each as fast as the platform answers).
const HOUR_RUN: Duration = Duration::from_secs(40);
const HOUR_SIMULATORS: usize = 3;

/// An hour of normal traffic, time-compressed, raises no alert.
///
/// What it shows: `tianmu traffic --profile normal` runs as fast as the platform answers
/// (several simulators side by side) through the real firewall, whose audit lands in one
/// scratch database; those statements — exactly as audited, rows, levels, actions and all —
/// are then copied into a second scratch database with their event times stretched evenly
/// over the last hour (the order and the mix kept, the rate divided by the stretch), and one
/// `tianmu analyzer --once` cycle judges that hour with every detector, in every 5-minute
/// window, and must raise nothing. Running the simulator at that rate in real time instead
/// would not be normal traffic: the hour's volume in a minute is what bulk-exfiltration is
/// for. The simulators share one seed (the data set's keys), so their streams repeat each
/// other. The hour's rate is printed (about half the demo's [`NORMAL_RATE`] on a two-core
/// machine, a debug build) and must be at least a fifth of it.
///
/// What it does not show: detectors with a learning period (first-access: an account seen
/// for a day; volume-anomaly: 24 hours of history) judge nothing in a fresh database, and no
/// health reports are copied (silent-producer has no producer to miss).
#[test]
fn an_hour_of_normal_traffic_time_compressed_raises_no_alert() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut p = Platform::start("hour_src");
    let dir = p.scratch.dir.path().to_owned();
    let simulators: Vec<Proc> = (0..HOUR_SIMULATORS)
        .map(|i| {
            p.traffic(
                "normal",
                1000.0,
                HOUR_RUN,
                &dir.join(format!("normal-{i}.jsonl")),
            )
        })
        .collect();
    let mut sent = 0u64;
    for sim in simulators {
        let (status, out, err) = sim.finish(HOUR_RUN + Duration::from_secs(120));
        assert!(status.success(), "tianmu traffic: {status:?}\n{err}");
        let report: serde_json::Value = out
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("a report on stdout: {out:?}\n{err}"));
        let n = report["statements"].as_u64().expect("statements");
        assert_eq!(report["refused"], 0, "normal traffic is served: {report}");
        assert_eq!(report["api_refused"], 0, "API calls are served: {report}");
        sent += n;
    }
    p.stop();
    let audited = p.count("SELECT count() FROM {db}.statements");
    assert!(
        audited >= sent,
        "every statement sent was audited: {sent} sent, {audited} in ClickHouse"
    );
    let per_account = p.query(
        "SELECT account, count(), sum(rows), max(max_level) FROM {db}.statements \
         GROUP BY account ORDER BY account FORMAT TSV",
    );

    // The hour: the audit's event times stretched over [now - 61 min, now - 1 min].
    let url = p.scratch.url.clone();
    let hour = Scratch::new("hour", &url, "");
    configure(&hour, free_port(), free_port());
    let out = hour.run(&["analyzer", "--once", "--since", "1m"]);
    assert!(
        out.stdout.is_empty(),
        "an empty database raised alerts: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let src = format!("{}.statements", p.db());
    let span = query(
        &url,
        &format!(
            "SELECT min(toUInt64(time) * 1000000 + usec), max(toUInt64(time) * 1000000 + usec) \
             FROM {src} FORMAT TSV"
        ),
    );
    let (t0, t1) = span
        .split_once('\t')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .unwrap_or_else(|| panic!("a time span: {span:?}"));
    assert!(t1 > t0, "the audit spans some time: {span}");
    let end = u64::try_from((Utc::now() - chrono::Duration::minutes(1)).timestamp_micros())
        .expect("after 1970");
    let start = end - 3_600_000_000;
    let stretched = format!(
        "toUInt64({start} + (toUInt64(time) * 1000000 + usec - {t0}) * {k})",
        k = 3_600_000_000f64 / (t1 - t0) as f64
    );
    let columns = query(
        &url,
        &format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = 'statements' \
             AND name != 'ingested' FORMAT TSV",
            p.db()
        ),
    );
    let columns: Vec<&str> = columns.lines().collect();
    assert!(
        columns.contains(&"time") && columns.contains(&"usec"),
        "statements has time and usec: {columns:?}"
    );
    let select: Vec<String> = columns
        .iter()
        .map(|c| match *c {
            "time" => format!("toDateTime(intDiv({stretched}, 1000000))"),
            "usec" => format!("toUInt32({stretched} % 1000000)"),
            c => c.to_owned(),
        })
        .collect();
    query(
        &url,
        &format!(
            "INSERT INTO {}.statements ({}) SELECT {} FROM {src}",
            hour.database,
            columns.join(", "),
            select.join(", ")
        ),
    );
    let db = &hour.database;
    let shape = query(
        &url,
        &format!(
            "SELECT count(), max(time) - min(time), uniqExact(intDiv(toUInt32(time), 300)) \
             FROM {db}.statements FORMAT TSV"
        ),
    );
    let f: Vec<u64> = shape.split('\t').filter_map(|v| v.parse().ok()).collect();
    assert_eq!(f.len(), 3, "{shape}");
    assert_eq!(f[0], audited, "every audited statement is in the hour");
    assert!(f[1] >= 3_590, "the statements span an hour: {shape}");
    assert!(f[2] >= 12, "over every 5-minute window of it: {shape}");
    let rate = audited as f64 / 3600.0;
    println!(
        "an hour of normal traffic: {audited} statements ({rate:.1}/s; the demo runs {NORMAL_RATE}/s), \
         sent in {HOUR_RUN:?} by {HOUR_SIMULATORS} simulators; per account (statements, rows, \
         highest level):\n{per_account}"
    );
    assert!(
        rate >= NORMAL_RATE / 5.0,
        "too little traffic to stand for an hour: {rate:.1} statements/s"
    );

    // One cycle over it, as `tianmu analyzer` runs it.
    let out = hour.run(&["analyzer", "--once", "--since", "10m"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "analyzer --once failed (a detector that fails judges nothing):\n{stdout}\n{stderr}"
    );
    let judged: u64 = stderr
        .split("tianmu analyzer: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the windows judged: {stderr}"));
    assert!(judged >= 12, "every window of the hour judged: {stderr}");
    assert!(
        stdout.trim().is_empty(),
        "an hour of normal traffic raised alerts:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        query(&url, &format!("SELECT count() FROM {db}.alerts")),
        "0"
    );
}
