//! `tianmu sensor --pcap FILE --format jsonl` end to end: the binary reads a capture and
//! prints one statement event per line, then its counters on standard error.
//!
//! The public captures of the OISF suricata-verify suite (testdata/
//! suricata-verify/, one test per capture) say what Suricata's PostgreSQL parser reports
//! for each; these tests assert the same facts on the sensor's events. Suricata's
//! `data_size` counts the values of the rows; the events' `bytes` count the whole DataRow
//! (or CopyData) messages, so `bytes = data_size + rows × (7 + 4 × fields)` for rows
//! (type byte, length, field count, a length per field) and `data_size + 5 × messages` for
//! COPY. Statement texts are compared through the analysis (`normalized`), as the events
//! carry them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn suricata(dir: &str) -> PathBuf {
    let root = common::repo_root()
        .join("testdata/suricata-verify")
        .join(dir);
    let pcap = std::fs::read_dir(&root)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the suricata-verify captures are part of the repository)",
                root.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pcap"));
    pcap.unwrap_or_else(|| panic!("no .pcap in {}", root.display()))
}

/// What one run printed: the statements and the counters of the summary.
struct Run {
    statements: Vec<Value>,
    counters: std::collections::HashMap<String, u64>,
    stderr: String,
}

impl Run {
    fn counter(&self, name: &str) -> u64 {
        *self
            .counters
            .get(name)
            .unwrap_or_else(|| panic!("no counter {name} in:\n{}", self.stderr))
    }

    fn normalized(&self) -> Vec<&str> {
        self.statements
            .iter()
            .map(|s| s["normalized"].as_str().unwrap_or_default())
            .collect()
    }
}

fn sensor(pcap: &Path, extra: &[&str]) -> Run {
    let out = Command::new(common::BIN)
        .args(["sensor", "--pcap"])
        .arg(pcap)
        .args(["--format", "jsonl"])
        .args(extra)
        .env_remove("TIANMU_CONFIG")
        .output()
        .expect("tianmu runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "tianmu sensor failed on {}:\n{stderr}",
        pcap.display()
    );
    let statements = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            e["body"]["Statement"].clone()
        })
        .collect::<Vec<_>>();
    for s in &statements {
        assert_eq!(s["observer"], "sensor");
        assert_eq!(s["action"], "allow");
        assert_eq!(s["protocol"], "postgres");
    }
    let counters = stderr
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect();
    Run {
        statements,
        counters,
        stderr,
    }
}

fn normalized(sql: &str) -> String {
    rules::sql::analyze(
        sql,
        &rules::sql::Context::postgres(Some("public")),
        &rules::sql::name::NoSchema,
    )
    .normalized
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Bytes of `rows` DataRow messages of `fields` columns whose values take `data_size`.
fn row_bytes(data_size: u64, rows: u64, fields: u64) -> u64 {
    data_size + rows * (7 + 4 * fields)
}

#[test]
fn pgsql_5000_query_results() {
    let r = sensor(&suricata("pgsql-5000-query-results"), &[]);
    assert_eq!(
        r.normalized(),
        [normalized("select * from rule limit 5000;")]
    );
    let s = &r.statements[0];
    assert_eq!(
        (num(&s["rows"]), num(&s["bytes"])),
        (5000, row_bytes(3_035_751, 5000, 7))
    );
    assert_eq!(
        (
            s["account"].as_str(),
            s["database"].as_str(),
            s["application"].as_str()
        ),
        (Some("rules"), Some("rules"), Some("psql"))
    );
    assert_eq!(
        (s["client"].as_str(), s["server"].as_str()),
        (Some("172.18.0.1:54408"), Some("172.18.0.2:5432"))
    );
    assert_eq!(s["error_code"], "");
    assert!(num(&s["duration_us"]) > 0);
    // Two connections: SSL refused on both, the first stops at the password prompt.
    assert_eq!(
        (
            r.counter("pg_ssl_refused"),
            r.counter("pg_sessions"),
            r.counter("pg_auth_ok")
        ),
        (2, 2, 1)
    );
    // The capture's last record is cut short: counted, not fatal.
    assert_eq!(r.counter("truncated_records"), 1);
    assert_eq!(r.counter("pg_parse_errors"), 0);
}

#[test]
fn pgsql_5524_jdbc_extended_protocol() {
    let r = sensor(&suricata("pgsql-5524"), &[]);
    assert_eq!(
        r.normalized(),
        [
            normalized("DROP TABLE test_a cascade"),
            normalized("CREATE TABLE test_a(imagename name, image oid, id int4)"),
            normalized("DROP TABLE test_c cascade"),
            normalized("CREATE TABLE test_c(source text, cost money, imageid int4)"),
        ]
    );
    let codes: Vec<_> = r
        .statements
        .iter()
        .map(|s| s["error_code"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(codes, ["42P01", "", "42P01", ""]);
    assert!(
        r.statements
            .iter()
            .all(|s| s["account"] == "test" && s["database"] == "test")
    );
    assert_eq!(
        (r.counter("pg_auth_ok"), r.counter("pg_unexpected")),
        (1, 0)
    );
}

#[test]
fn pgsql_bug_5579_parameters_in_any_order() {
    let r = sensor(&suricata("pgsql-bug-5579"), &[]);
    assert_eq!(
        r.normalized(),
        [normalized(
            "SELECT password FROM accounts WHERE username = 'test' OR 1 = '1' UNION SELECT username FROM accounts"
        )]
    );
    let s = &r.statements[0];
    assert_eq!(
        (num(&s["rows"]), num(&s["bytes"])),
        (4, row_bytes(73, 4, 1))
    );
    assert_eq!(
        (s["account"].as_str(), s["database"].as_str()),
        (Some("ctfpost"), Some("ctfbase"))
    );
}

#[test]
fn pgsql_bug_6080_probe_is_not_postgres() {
    let r = sensor(&suricata("pgsql-bug-6080-probe-test-01"), &[]);
    assert!(r.statements.is_empty(), "{:?}", r.statements);
    assert_eq!((r.counter("flows"), r.counter("pg_sessions")), (1, 0));
}

#[test]
fn pgsql_cancel_request() {
    let r = sensor(&suricata("pgsql-cancel-request"), &[]);
    assert_eq!(r.normalized(), [normalized("select pg_sleep(9)")]);
    assert_eq!(r.statements[0]["error_code"], "57014");
    assert_eq!(
        (r.counter("flows"), r.counter("pg_cancel_requests")),
        (2, 1)
    );
}

#[test]
fn pgsql_copy_data_in() {
    let r = sensor(&suricata("pgsql-copy-data-in"), &[]);
    assert_eq!(r.normalized(), [normalized("COPY tmp FROM STDIN")]);
    let s = &r.statements[0];
    // `COPY 5`, from one CopyData message of 2779 bytes.
    assert_eq!((num(&s["rows"]), num(&s["bytes"])), (5, 2779 + 5));
    assert_eq!(s["kind"], "write");
}

#[test]
fn pgsql_copy_data_out() {
    let r = sensor(&suricata("pgsql-copy-data-out"), &[]);
    assert_eq!(
        r.normalized(),
        [normalized(
            "COPY (SELECT * FROM rules WHERE source = 'tgreen/hunting' LIMIT 5) TO STDOUT"
        )]
    );
    let s = &r.statements[0];
    assert_eq!((num(&s["rows"]), num(&s["bytes"])), (5, 2779 + 5 * 5));
    assert_eq!(s["kind"], "export");
}

#[test]
fn pgsql_events_unknown_message_midstream() {
    let r = sensor(&suricata("pgsql-events"), &[]);
    assert!(r.statements.is_empty());
    assert_eq!(r.counter("pg_midstream"), 1);
}

#[test]
fn pgsql_pwd_output_disabled_logs_in_without_statements() {
    let r = sensor(&suricata("pgsql-pwd-output-disabled"), &[]);
    assert!(r.statements.is_empty());
    assert_eq!(
        (
            r.counter("pg_ssl_refused"),
            r.counter("pg_sessions"),
            r.counter("pg_auth_ok")
        ),
        (1, 1, 1)
    );
}

#[test]
fn pgsql_query_keyword() {
    let r = sensor(&suricata("pgsql-query-keyword-01"), &[]);
    assert_eq!(
        r.normalized(),
        [normalized("LISTEN rules;"), normalized("SELECT 1;")]
    );
    let s = &r.statements[1];
    assert_eq!((num(&s["rows"]), num(&s["bytes"])), (1, row_bytes(1, 1, 1)));
}

#[test]
fn pgsql_simple_query_rollback() {
    let r = sensor(&suricata("pgsql-simple-query-rollback"), &[]);
    let ins = |n: &str, m: &str| format!("INSERT INTO new_table VALUES('{n}', '{m}');");
    let expected: Vec<(String, u64, &str)> = vec![
        ("BEGIN;".into(), 0, ""),
        ("DELETE FROM new_table WHERE NAME='Remus';".into(), 1, ""),
        ("DELETE FROM new_table WHERE NAME='Londubat';".into(), 1, ""),
        ("DELETE FROM new_table WHERE NAME='Hermione';".into(), 1, ""),
        ("DELETE FROM new_table WHERE NAME='Maugre';".into(), 1, ""),
        ("COMMIT;".into(), 0, ""),
        ("BEGIN;".into(), 0, ""),
        (ins("Hermione", "prof_gramger@gmail.com"), 1, ""),
        (ins("Remus", "prof_lupin@gmail.com"), 1, ""),
        ("SELECT 1/0;".into(), 0, "22012"),
        (ins("Maugre", "prof_folloy@gmail.com"), 0, "25P02"),
        (ins("Londubat", "prof_londubat@gmail.com"), 0, "25P02"),
        ("SELECT * FROM new_table;".into(), 0, "25P02"),
        ("COMMIT;".into(), 0, ""),
        ("BEGIN;".into(), 0, ""),
        (ins("Hermione", "prof_gramger@gmail.com"), 1, ""),
        ("COMMIT;".into(), 0, ""),
        (ins("Remus", "prof_lupin@gmail.com"), 1, ""),
        ("SELECT 1/0;".into(), 0, "22012"),
        (ins("Maugre", "prof_folloy@gmail.com"), 1, ""),
        (ins("Londubat", "prof_londubat@gmail.com"), 1, ""),
        ("SELECT * FROM new_table;".into(), 8, ""),
    ];
    let got: Vec<(String, u64, &str)> = r
        .statements
        .iter()
        .map(|s| {
            (
                s["normalized"].as_str().unwrap_or_default().to_owned(),
                num(&s["rows"]),
                s["error_code"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    let want: Vec<(String, u64, &str)> = expected
        .into_iter()
        .map(|(sql, rows, code)| (normalized(&sql), rows, code))
        .collect();
    assert_eq!(got, want);
    assert_eq!(num(&r.statements[21]["bytes"]), row_bytes(236, 8, 2));
    assert!(
        r.statements
            .iter()
            .all(|s| s["account"] == "ju-Test" && s["database"] == "Test")
    );
}

#[test]
fn pgsql_ssl_rejected_md5_auth_simple_query() {
    let r = sensor(&suricata("pgsql-ssl-rejected-md5-auth-simple-query"), &[]);
    assert_eq!(
        r.normalized(),
        [normalized("select * from rules where sid = 2021701;")]
    );
    let s = &r.statements[0];
    assert_eq!(
        (num(&s["rows"]), num(&s["bytes"])),
        (3, row_bytes(1104, 3, 10))
    );
    assert_eq!(
        (
            r.counter("flows"),
            r.counter("pg_ssl_refused"),
            r.counter("pg_auth_ok")
        ),
        (2, 2, 1)
    );
}

#[test]
fn pgsql_upgrade_tls_gives_no_statements() {
    let r = sensor(&suricata("pgsql-upgrade-tls"), &[]);
    assert!(r.statements.is_empty());
    // The first connection switched to TLS; the second (replication) was refused: 28000.
    assert_eq!((r.counter("pg_tls"), r.counter("pg_auth_failed")), (1, 1));
}

/// A capture taken here of psql and pgbench (prepared and extended modes): see
/// sensor/tests/data/README.md.
#[test]
fn psql_and_pgbench_capture() {
    let pcap = common::repo_root().join("sensor/tests/data/psql-pgbench.pcap");
    let r = sensor(&pcap, &[]);
    let select = normalized("SELECT name, id_card FROM person WHERE id = $1");
    let mut want = vec![
        normalized("CREATE TABLE person (id int PRIMARY KEY, name text, id_card text)"),
        normalized(
            "INSERT INTO person SELECT g, 'name-' || g, '33010' || g FROM generate_series(1, 50) g",
        ),
        normalized("SELECT id, name FROM person WHERE id <= 10"),
        normalized("SELECT 1/0"),
        normalized("COPY (SELECT id, name FROM person WHERE id <= 7) TO STDOUT"),
        normalized("BEGIN"),
        normalized("UPDATE person SET name = 'x' WHERE id < 4"),
        normalized("COMMIT"),
    ];
    // Four executions of one named statement, then three unnamed rounds.
    want.extend(std::iter::repeat_n(select.clone(), 7));
    assert_eq!(r.normalized(), want);
    let rows: Vec<u64> = r.statements.iter().map(|s| num(&s["rows"])).collect();
    assert_eq!(rows, [0, 50, 10, 0, 7, 0, 3, 0, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(r.statements[3]["error_code"], "22012");
    let apps: Vec<&str> = r
        .statements
        .iter()
        .map(|s| s["application"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(apps[..8], ["capture-psql"; 8]);
    assert_eq!(apps[8..], ["capture-pgbench"; 7]);
    assert!(
        r.statements
            .iter()
            .all(|s| s["database"] == "sensor_capture" && s["account"] == "postgres")
    );
    // The analysis names what was read.
    let cols: Vec<&str> = r.statements[8]["columns"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        cols.contains(&"sensor_capture.public.person.id_card"),
        "{cols:?}"
    );
    assert_eq!(
        (
            r.counter("pg_sessions"),
            r.counter("pg_auth_ok"),
            r.counter("gaps")
        ),
        (5, 5, 0)
    );
}

/// A capture whose last record is cut, and a file that is no capture at all.
#[test]
fn truncated_and_broken_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = std::fs::read(suricata("pgsql-bug-5579")).expect("readable");
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &good[..good.len() - 10]).expect("writable");
    let r = sensor(&cut, &[]);
    assert_eq!(r.counter("truncated_records"), 1);
    assert_eq!(r.statements.len(), 1, "the query came before the cut");

    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all, just text\n").expect("writable");
    let out = Command::new(common::BIN)
        .args(["sensor", "--format", "jsonl", "--pcap"])
        .arg(&junk)
        .env_remove("TIANMU_CONFIG")
        .output()
        .expect("tianmu runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("junk.pcap") && err.contains("not a pcap"),
        "{err}"
    );
}

/// A configuration's ports apply; live capture on an interface that does not exist is an
/// error naming it.
#[test]
fn configuration_ports_and_a_missing_interface() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("tianmu.toml");
    std::fs::write(
        &config,
        format!(
            "[spool]\npath = '{}'\n[sensor]\nports = [3306]\ninterfaces = ['tianmu-none0']\n",
            dir.path().join("spool").display()
        ),
    )
    .expect("writable");
    let config = config.to_string_lossy().into_owned();
    // 5432 not watched: nothing followed.
    let r = sensor(&suricata("pgsql-bug-5579"), &["-c", &config]);
    assert!(r.statements.is_empty());
    assert_eq!(r.counter("flows"), 0);
    assert!(r.counter("not_watched") > 0);

    for args in [
        &["sensor", "-c", &config][..],
        &["sensor", "-c", &config, "--format", "jsonl"],
        &["sensor", "--interface", "tianmu-none0", "--format", "jsonl"],
    ] {
        let out = Command::new(common::BIN)
            .args(args)
            .env_remove("TIANMU_CONFIG")
            .output()
            .expect("tianmu runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("tianmu-none0: no such network interface"),
            "{args:?}: {err}"
        );
    }
}

/// Live capture needs CAP_NET_RAW: these tests run as root, and fail saying so otherwise.
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned);
    assert_eq!(
        euid.as_deref(),
        Some("0"),
        "live capture tests need root (CAP_NET_RAW): run them as root"
    );
}

/// psql against the local PostgreSQL (127.0.0.1:5432, trust auth), without TLS (the sensor
/// would see only that TLS began), one statement per `-c`.
fn psql(statements: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-X",
        "-At",
    ])
    .env("PGSSLMODE", "disable")
    .env("PGAPPNAME", "tianmu-live-test");
    for s in statements {
        cmd.args(["-c", s]);
    }
    cmd.output()
        .expect("psql runs (Debian package postgresql-client)")
}

fn interrupt(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -INT {}", child.id());
}

/// Waits for the live sensor's first Health event, which it prints once its ring is open.
/// Statements of other tests' traffic on the same interface (loopback) may come first.
fn ring_open(run: &mut common::Running) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = run.wait_line("{", left);
        if line.contains("\"Health\"") {
            return;
        }
    }
}

fn events_of(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `tianmu sensor --interface lo --format jsonl` while psql talks to the local
/// PostgreSQL: each statement once (loopback shows every packet twice), with its text,
/// account, database, application, rows and error, as psql itself saw them.
#[test]
fn live_loopback_statements_match_psql() {
    require_root();
    let mut cmd = Command::new(common::BIN);
    cmd.args(["sensor", "--interface", "lo", "--format", "jsonl"])
        .env_remove("TIANMU_CONFIG");
    let mut run = common::Running::spawn(cmd);
    ring_open(&mut run);

    let out = psql(&[
        "SELECT g AS live_probe_rows FROM generate_series(1, 42) g",
        "SELECT 'a' AS live_probe_one, 2 AS b",
        "SELECT live_probe_missing FROM live_probe_no_such_table",
    ]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().count(), 43, "psql's own rows: {printed}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("42P01")
            || String::from_utf8_lossy(&out.stderr).contains("does not exist")
    );
    // The connection's end (FIN both ways) is in a block within the block timeout.
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&run.child);
    let (status, lines, stderr) = run.finish(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let events = events_of(&lines);
    let ours: Vec<(String, String, String, String, u64, String)> = events
        .iter()
        .filter_map(|e| e["body"].get("Statement"))
        .filter(|s| {
            s["normalized"]
                .as_str()
                .is_some_and(|t| t.contains("live_probe"))
        })
        .map(|s| {
            (
                s["normalized"].as_str().unwrap_or_default().to_owned(),
                s["account"].as_str().unwrap_or_default().to_owned(),
                s["database"].as_str().unwrap_or_default().to_owned(),
                s["application"].as_str().unwrap_or_default().to_owned(),
                num(&s["rows"]),
                s["error_code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let row = |text: &str, rows: u64, error: &str| {
        (
            text.to_owned(),
            "postgres".to_owned(),
            "postgres".to_owned(),
            "tianmu-live-test".to_owned(),
            rows,
            error.to_owned(),
        )
    };
    assert_eq!(
        ours,
        [
            row(
                "SELECT g AS live_probe_rows FROM generate_series(?, ?) g",
                42,
                ""
            ),
            row("SELECT ? AS live_probe_one, ? AS b", 1, ""),
            row(
                "SELECT live_probe_missing FROM live_probe_no_such_table",
                0,
                "42P01"
            ),
        ],
        "stderr:\n{stderr}"
    );
    // The last line is the final Health event with the counters.
    let health = events
        .last()
        .and_then(|e| e["body"].get("Health"))
        .unwrap_or_else(|| panic!("no final Health event: {lines:?}"));
    assert_eq!(health["component"], "sensor");
    let counter = |name: &str| {
        health["counters"]
            .as_array()
            .and_then(|c| c.iter().find(|p| p[0] == name))
            .map(|p| num(&p[1]))
            .unwrap_or_else(|| panic!("no {name} in {health}"))
    };
    assert!(counter("statements") >= 3, "{health}");
    assert!(counter("packets") >= 10, "{health}");
    assert_eq!(counter("retransmissions"), 0, "seen twice? {health}");
    assert!(stderr.contains("lo: "), "{stderr}");
}

/// A reader that does not keep up, and a ring of two 4 KiB blocks: the kernel drops
/// packets, and the final Health event says how many and that the sensor was degraded.
#[test]
fn live_drops_are_counted_in_health() {
    use std::io::BufRead;
    require_root();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("tianmu.toml");
    std::fs::write(
        &config,
        format!(
            "[spool]\npath = '{}'\n[sensor]\ninterfaces = ['lo']\nports = [5432]\n\
             ring-block-size = '4 KiB'\nring-blocks = 2\nring-frame-size = 2048\n",
            dir.path().join("spool").display()
        ),
    )
    .expect("writable");
    let mut child = Command::new(common::BIN)
        .args(["sensor", "--format", "jsonl", "-c"])
        .arg(&config)
        .env_remove("TIANMU_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tianmu runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a first line");
    assert!(first.contains("\"Health\""), "{first}");
    // Standard output is not read meanwhile: the pipe fills, then the event queue, then
    // the ring.
    let script = dir.path().join("rows.sql");
    std::fs::write(
        &script,
        "SELECT g, repeat('x', 200) FROM generate_series(1, 20) g;\n",
    )
    .expect("writable");
    let bench = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .args(["-n", "-T", "3", "-c", "2", "-f"])
        .arg(&script)
        .env("PGSSLMODE", "disable")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pgbench runs (Debian package postgresql-contrib)");
    let bench = bench.wait_with_output().expect("pgbench ends");
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    interrupt(&child);
    let lines: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("tianmu ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let events = events_of(&lines);
    let health = events
        .last()
        .and_then(|e| e["body"].get("Health"))
        .unwrap_or_else(|| panic!("no final Health event; stderr:\n{stderr}"));
    let drops = health["counters"]
        .as_array()
        .and_then(|c| c.iter().find(|p| p[0] == "drops"))
        .map(|p| num(&p[1]))
        .unwrap_or_else(|| panic!("no drops in {health}"));
    assert!(drops > 0, "no drops counted: {health}\n{stderr}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["message"]
            .as_str()
            .is_some_and(|m| m.contains("dropped")),
        "{health}"
    );
    assert!(stderr.contains("dropped by the kernel"), "{stderr}");
}

/// The same capture as pcapng (nanosecond timestamps, options on the interface) gives the
/// same statements, durations included.
#[test]
fn pcapng_gives_the_same_statements() {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        [
            kind.to_le_bytes().as_slice(),
            &len.to_le_bytes(),
            &body,
            &len.to_le_bytes(),
        ]
        .concat()
    }
    let pcap_path = common::repo_root().join("sensor/tests/data/psql-pgbench.pcap");
    let pcap = std::fs::read(&pcap_path).expect("readable");
    let mut ng = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend([1, 0, 0, 0]);
    shb.extend((-1i64).to_le_bytes());
    ng.extend(block(0x0a0d_0d0a, &shb));
    // Ethernet, snap length 262144, if_tsresol 9 (nanoseconds).
    let mut idb = vec![1, 0, 0, 0];
    idb.extend(262_144u32.to_le_bytes());
    idb.extend([9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    ng.extend(block(1, &idb));
    let word = |at: usize| u32::from_le_bytes([pcap[at], pcap[at + 1], pcap[at + 2], pcap[at + 3]]);
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let (sec, usec, len) = (word(at), word(at + 4), word(at + 8) as usize);
        let ns = (u64::from(sec) * 1_000_000 + u64::from(usec)) * 1000;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend(((ns >> 32) as u32).to_le_bytes());
        epb.extend((ns as u32).to_le_bytes());
        epb.extend((len as u32).to_le_bytes());
        epb.extend((len as u32).to_le_bytes());
        epb.extend(&pcap[at + 16..at + 16 + len]);
        ng.extend(block(6, &epb));
        at += 16 + len;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ng_path = dir.path().join("psql-pgbench.pcapng");
    std::fs::write(&ng_path, ng).expect("writable");
    let fields = |r: &Run| -> Vec<(String, u64, u64, u64)> {
        r.statements
            .iter()
            .map(|s| {
                (
                    s["normalized"].as_str().unwrap_or_default().to_owned(),
                    num(&s["rows"]),
                    num(&s["bytes"]),
                    num(&s["duration_us"]),
                )
            })
            .collect()
    };
    let (a, b) = (sensor(&pcap_path, &[]), sensor(&ng_path, &[]));
    assert_eq!(fields(&a).len(), 15);
    assert_eq!(fields(&a), fields(&b));
}

/// Without `--format`, the events go through the configuration's pipeline: spooled, then
/// shipped until ClickHouse has every one; the same events the JSON lines show.
#[test]
fn without_a_format_the_events_land_in_clickhouse() {
    let url = common::require_clickhouse();
    let scratch = common::Scratch::new("sensor_ship", &url, "");
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("sensor/tests/data/psql-pgbench.pcap");
    let printed = sensor(&pcap, &[]);
    let path = pcap.display().to_string();
    let out = scratch
        .command(&["sensor", "--pcap", &path])
        .output()
        .expect("tianmu runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("all events are in ClickHouse"), "{stderr}");
    let got = common::query(
        &url,
        &format!(
            "SELECT count(), countIf(observer = 'sensor'), uniqExact(normalized) FROM {}.statements FORMAT TSV",
            scratch.database
        ),
    );
    let distinct: std::collections::BTreeSet<&str> = printed.normalized().into_iter().collect();
    let n = printed.statements.len();
    assert!(n > 10, "the capture has statements: {n}");
    assert_eq!(got, format!("{n}\t{n}\t{}", distinct.len()));
}

/// Removes the test's network namespace and veth pair, and stops its relay, however the
/// test ends.
struct Netns {
    name: String,
    host_if: String,
    relay: Option<std::process::Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut r) = self.relay.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip runs (Debian package iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client in a network namespace of the test's own talks over a veth pair (10.203.78.0/30)
/// to the local PostgreSQL (through a socat relay on the host's end); the sensor captures
/// on the host's end, an Ethernet interface where the server's answers are outgoing
/// packets — kept, unlike loopback's duplicates.
#[test]
fn live_veth_client_in_another_namespace() {
    require_root();
    let pid = std::process::id();
    let mut ns = Netns {
        name: format!("tianmu-test-{pid}"),
        host_if: format!("tmh{pid}"),
        relay: None,
    };
    let peer_if = format!("tmn{pid}");
    ip(&["netns", "add", &ns.name]);
    ip(&[
        "link",
        "add",
        &ns.host_if,
        "type",
        "veth",
        "peer",
        "name",
        &peer_if,
        "netns",
        &ns.name,
    ]);
    ip(&["addr", "add", "10.203.78.1/30", "dev", &ns.host_if]);
    ip(&["link", "set", &ns.host_if, "up"]);
    ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        "10.203.78.2/30",
        "dev",
        &peer_if,
    ]);
    ip(&["-n", &ns.name, "link", "set", &peer_if, "up"]);
    ns.relay = Some(
        Command::new("socat")
            .args([
                "TCP-LISTEN:5432,bind=10.203.78.1,fork,reuseaddr",
                "TCP:127.0.0.1:5432",
            ])
            .spawn()
            .expect("socat runs (Debian package socat)"),
    );
    common::wait_until(
        "the relay on 10.203.78.1:5432",
        Duration::from_secs(10),
        || std::net::TcpStream::connect("10.203.78.1:5432").is_ok(),
    );

    let mut cmd = Command::new(common::BIN);
    cmd.args(["sensor", "--interface", &ns.host_if, "--format", "jsonl"])
        .env_remove("TIANMU_CONFIG");
    let mut run = common::Running::spawn(cmd);
    ring_open(&mut run);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "psql",
            "-h",
            "10.203.78.1",
            "-U",
            "postgres",
        ])
        .args(["-d", "postgres", "-X", "-At", "-c"])
        .arg("SELECT g AS veth_probe FROM generate_series(1, 5) g")
        .env("PGSSLMODE", "disable")
        .env("PGAPPNAME", "tianmu-veth-test")
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&run.child);
    let (status, lines, stderr) = run.finish(Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    let events = events_of(&lines);
    let ours: Vec<&Value> = events
        .iter()
        .filter_map(|e| e["body"].get("Statement"))
        .collect();
    assert_eq!(ours.len(), 1, "{lines:?}\n{stderr}");
    let s = ours[0];
    assert_eq!(
        s["normalized"],
        "SELECT g AS veth_probe FROM generate_series(?, ?) g"
    );
    assert_eq!(num(&s["rows"]), 5);
    assert_eq!(s["account"], "postgres");
    assert_eq!(s["application"], "tianmu-veth-test");
    assert_eq!(s["server"], "10.203.78.1:5432");
    assert!(
        s["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("10.203.78.2:")),
        "{s}"
    );
}
