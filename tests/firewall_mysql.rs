//! The MySQL firewall end to end: `tianmu firewall --protocol mysql` in front of the real
//! MariaDB with the demo policy, real clients through it (the `mariadb` CLI, sysbench,
//! PyMySQL with buffered and server-side streaming cursors, the MariaDB JDBC driver with
//! server-side prepared statements, raw sockets), the server's own state checked directly,
//! and the audit events found in ClickHouse.
//!
//! The demo policy's catalog names the tables of `publicdata`, so these tests use the demo
//! database itself (loaded with seed 1 when it is not there) and never change its data:
//! every write they try is one the policy blocks or one rolled back, and the tests check
//! nothing changed. sysbench gets a scratch database of its own (`tianmu_fw_sbtest`),
//! prepared directly as root. The firewall stops statements cut at a limit with
//! `KILL QUERY` as MariaDB's root (no password), given with `--kill-user`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::firewall::Firewall;
use common::{free_port, repo_root, wait_until};

/// The firewall in front of MariaDB (or `upstream`), demo policy, audit into a scratch
/// ClickHouse database; statements cut at a limit killed as `kill_user`.
struct Proxy(Firewall);

impl std::ops::Deref for Proxy {
    type Target = Firewall;
    fn deref(&self) -> &Firewall {
        &self.0
    }
}

impl Proxy {
    fn start(name: &str) -> Proxy {
        Proxy::start_with(name, "127.0.0.1:3306", Some("root"))
    }

    fn start_with(name: &str, upstream: &str, kill_user: Option<&str>) -> Proxy {
        let mut args = vec!["--protocol", "mysql", "--upstream", upstream];
        if let Some(user) = kill_user {
            args.extend(["--kill-user", user]);
        }
        Proxy(Firewall::start(name, &args))
    }

    /// The mariadb CLI through the proxy as `user` (password = user name, as in the demo).
    fn sql(&self, user: &str, sql: &str) -> (bool, String, String) {
        mariadb_at(self.port, user, sql)
    }

    fn events(self, sql: &str) -> String {
        self.0.events(sql)
    }
}

fn mariadb_at(port: u16, user: &str, sql: &str) -> (bool, String, String) {
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", user])
        .args(["-N", "-B", "--connect-timeout=10", "-D", "publicdata"]);
    if user != "root" {
        cmd.arg(format!("-p{user}"));
    }
    let out = cmd
        .args(["-e", sql])
        .output()
        .expect("mariadb runs (deploy/install.sh installs mariadb-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// The mariadb CLI straight to the server as root.
fn direct(sql: &str) -> String {
    let (ok, out, err) = mariadb_at(3306, "root", sql);
    assert!(ok, "direct mariadb failed: {err}");
    out
}

#[test]
fn allowed_results_are_identical_to_a_direct_connection() {
    let p = Proxy::start("fwm_identical");
    let statements = [
        "SELECT uscc, name, legal_rep_id_card, registered_capital FROM legal_person ORDER BY uscc LIMIT 50",
        "SELECT 1 AS a; SELECT 'two' AS b, NULL AS c",
        "SELECT license_type, count(*) FROM license GROUP BY 1 ORDER BY 1",
        "BEGIN; SELECT count(*) FROM open_dataset; COMMIT",
        "SELECT id, holder_id_card, card_no, bank FROM bank_account ORDER BY id LIMIT 20",
        "SELECT VERSION()",
        "USE publicdata; SELECT DATABASE(), count(*) FROM credit_record",
    ];
    for sql in statements {
        let (ok, want, err) = mariadb_at(3306, "dba_admin", sql);
        assert!(ok, "direct {sql}: {err}");
        let (ok, got, err) = p.sql("dba_admin", sql);
        assert!(ok, "through the firewall {sql}: {err}");
        assert_eq!(got, want, "{sql}");
    }
}

#[test]
fn the_demo_rules_hold_through_the_proxy() {
    let p = Proxy::start("fwm_rules");
    let state = "SELECT (SELECT count(*) FROM open_dataset), (SELECT count(*) FROM population), (SELECT count(*) FROM population WHERE name = 'x')";
    let before = direct(state);

    // Masks: the portal (clearance 3) sees names but not ID-card numbers.
    let real = direct("SELECT name, id_card FROM population WHERE id = 1");
    let (real_name, real_card) = real.split_once('\t').expect("two columns");
    let (ok, got, err) = p.sql(
        "app_portal",
        "SELECT name, id_card FROM population WHERE id = 1",
    );
    assert!(ok, "{err}");
    let (name, card) = got.split_once('\t').expect("two columns");
    assert_eq!(name, real_name);
    assert_eq!(card.len(), 18);
    assert_eq!(&card[..6], &real_card[..6]);
    assert_eq!(&card[6..14], "********");
    assert_eq!(&card[14..], &real_card[14..]);
    // The analyst (clearance 2) sees names masked.
    let (ok, got, err) = p.sql("analyst_li", "SELECT name FROM population WHERE id = 1");
    assert!(ok, "{err}");
    let first: String = real_name.chars().take(1).collect();
    let stars = "*".repeat(real_name.chars().count() - 1);
    assert_eq!(got, format!("{first}{stars}"));

    // Blocks: ERROR 1142 (42000) naming the rule; nothing reaches the server.
    let blocked = [
        ("app_portal", "SELECT * FROM bank_account"),
        ("vendor_dev", "SELECT name FROM population LIMIT 1"),
        (
            "app_portal",
            "SELECT name FROM population WHERE id = 1 OR 1=1",
        ),
        ("share_api", "DELETE FROM open_dataset"),
        ("dba_admin", "TRUNCATE open_dataset"),
        ("analyst_li", "UPDATE population SET name = 'x'"),
        ("app_portal", "SELECT SLEEP(5)"),
        ("vendor_dev", "SELECT * FROM mysql.user"),
        (
            "dba_admin",
            "SELECT name FROM population INTO OUTFILE '/tmp/tianmu_fw_leak'",
        ),
    ];
    for (user, sql) in blocked {
        let started = std::time::Instant::now();
        let (ok, out, err) = p.sql(user, sql);
        assert!(!ok, "{user}: {sql} was not blocked: {out}");
        assert!(
            err.contains("ERROR 1142 (42000)")
                && err.contains("blocked by the data firewall (rule "),
            "{user}: {sql}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(4), "{sql} ran");
    }
    assert!(
        !std::path::Path::new("/tmp/tianmu_fw_leak").exists(),
        "INTO OUTFILE ran"
    );
    // A blocked statement inside a session leaves it usable.
    let (ok, out, err) = p.sql(
        "app_portal",
        "SELECT 1; SELECT * FROM bank_account; SELECT 2",
    );
    assert!(!ok && out == "1" && err.contains("1142"), "{out} {err}");
    let after = direct(state);
    assert_eq!(before, after, "blocked writes did not happen");

    // Limits: the portal's 200 rows.
    let (ok, out, err) = p.sql("app_portal", "SELECT id FROM population");
    assert!(!ok, "{out}");
    assert!(
        err.contains("ERROR 1317 (70100)") && err.contains("limit of 200 rows"),
        "{err}"
    );
    // Under the limit: fine.
    let (ok, out, err) = p.sql(
        "app_portal",
        "SELECT count(*) FROM (SELECT id FROM population LIMIT 200) s",
    );
    assert!(ok && out == "200", "{out} {err}");

    let audited = p.0.audited();
    let got = &audited.0;
    let has = |account: &str, action: &str, rows: Option<u64>, code: &str| {
        audited.has(account, action, rows, code)
    };
    assert!(has("app_portal", "mask", Some(1), ""), "{got}");
    assert!(has("analyst_li", "mask", Some(1), ""), "{got}");
    for (user, _) in blocked {
        assert!(
            has(user, "block", Some(0), "1142"),
            "{user} block event: {got}"
        );
    }
    assert!(has("app_portal", "limit", Some(200), "1317"), "{got}");
    assert!(has("app_portal", "allow", Some(1), ""), "{got}");
    assert!(audited.lines().all(|f| f[5] == "mysql"), "protocol: {got}");
}

#[test]
fn a_limit_cut_stops_the_statement_upstream_and_the_session_goes_on() {
    let p = Proxy::start("fwm_kill");
    // A statement that would run for a long time: the cut must stop it on the server.
    let slow = "SELECT a.id FROM population a JOIN population b ON b.id <= 1000";
    let started = std::time::Instant::now();
    let (ok, out, err) = p.sql(
        "analyst_li",
        &format!("{slow}; SELECT count(*) FROM open_dataset"),
    );
    assert!(!ok, "{}", out.len());
    assert!(err.contains("limit of 10000 rows"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "not stopped");
    wait_until("no statement left running", Duration::from_secs(10), || {
        direct(
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT a.id FROM population a%'",
        ) == "0"
    });
    let n = p.events(
        "SELECT count() FROM {db}.statements WHERE action = 'limit' AND error_code = '1317'",
    );
    assert_eq!(n, "1");
}

#[test]
fn without_a_kill_account_a_cut_closes_the_connection() {
    let p = Proxy::start_with("fwm_nokill", "127.0.0.1:3306", None);
    let (ok, _, err) = p.sql("app_portal", "SELECT id FROM population; SELECT 1");
    assert!(!ok);
    assert!(err.contains("ERROR 1317 (70100)"), "{err}");
    // The listener serves the next client as before.
    let (ok, out, err) = p.sql("app_portal", "SELECT count(*) FROM open_dataset");
    assert!(ok && out == "1000", "{out} {err}");
}

#[test]
fn sysbench_runs_through_the_proxy() {
    let p = Proxy::start("fwm_sysbench");
    let db = "tianmu_fw_sbtest";
    let base = |port: u16, user: &str| {
        let mut c = Command::new("sysbench");
        c.args(["--db-driver=mysql", "--mysql-host=127.0.0.1"])
            .arg(format!("--mysql-port={port}"))
            .arg(format!("--mysql-user={user}"))
            .arg(format!("--mysql-db={db}"))
            .args(["--tables=2", "--table-size=1000"]);
        if user != "root" {
            c.arg(format!("--mysql-password={user}"));
        }
        c
    };
    if direct(&format!(
        "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME IN ('sbtest1', 'sbtest2')"
    )) != "2"
    {
        direct(&format!(
            "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"
        ));
        let out = base(3306, "root")
            .args(["oltp_read_write", "prepare"])
            .output()
            .expect("sysbench runs (deploy/install.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    direct(&format!("GRANT ALL ON {db}.* TO dba_admin"));
    for test in ["oltp_read_only", "oltp_read_write"] {
        for ps in ["on", "off"] {
            let out = base(p.port, "dba_admin")
                .args([test, "run", "--threads=4", "--events=400", "--time=0"])
                .arg(format!(
                    "--db-ps-mode={}",
                    if ps == "on" { "auto" } else { "disable" }
                ))
                .output()
                .expect("sysbench");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{test} ps={ps}: {stdout}\n{stderr}");
            assert!(
                stdout.contains("transactions:                        400 "),
                "{test} ps={ps}: {stdout}"
            );
            // Read-write transactions on 2 × 1000 rows from 4 threads deadlock now and
            // then (1213), directly too; sysbench retries them. Those are checked below.
            assert!(
                test == "oltp_read_write"
                    || stdout.contains("ignored errors:                      0 "),
                "{test} ps={ps}: {stdout}"
            );
        }
    }
    let got = p.events("SELECT countIf(error_code = ''), arrayStringConcat(groupUniqArrayIf(error_code, error_code != ''), ',') FROM {db}.statements WHERE account = 'dba_admin' AND database = 'tianmu_fw_sbtest' FORMAT TSV");
    // The output is trimmed: no error codes leave no second column.
    let (n, errors) = got.split_once('\t').unwrap_or((got.as_str(), ""));
    let n: u64 = n.parse().expect("count");
    assert!(
        errors
            .split(',')
            .all(|e| e.is_empty() || e == "1213" || e == "1205"),
        "only deadlocks and lock waits failed: {errors}"
    );
    // Read-only: 14 statements a transaction (with BEGIN/COMMIT), read-write 18 or more.
    assert!(n >= 2 * 400 * 14 + 2 * 400 * 18, "statements audited: {n}");
}

/// An interpreter that can import `module`: $TIANMU_PYTHON, python3, or Debian's.
fn python_with(module: &str) -> String {
    let candidates = [
        std::env::var("TIANMU_PYTHON").ok(),
        Some("python3".to_owned()),
        Some("/usr/bin/python3".to_owned()),
    ];
    for py in candidates.into_iter().flatten() {
        if Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return py;
        }
    }
    panic!(
        "no python3 can import {module}: run deploy/install.sh (apt-get install -y python3-{module})"
    )
}

#[test]
fn pymysql_results_match_a_direct_connection_and_the_policy_holds() {
    let p = Proxy::start("fwm_pymysql");
    let py = python_with("pymysql");
    let script = repo_root().join("tests/drivers/pymysql_check.py");
    let out = Command::new("timeout")
        .args(["300", &py])
        .arg(&script)
        .args([p.port.to_string(), "3306".to_owned()])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    assert!(stdout.contains("identical SSCursor rows=300"), "{stdout}");
    let n = p.events("SELECT count() FROM {db}.statements WHERE application = 'pymysql'");
    assert_ne!(n, "0");
}

const MARIADB_JDBC: &str = "/usr/share/java/mariadb-java-client.jar";

#[test]
fn mariadb_jdbc_prepared_statements_match_and_the_policy_holds() {
    assert!(
        std::path::Path::new(MARIADB_JDBC).is_file(),
        "{MARIADB_JDBC} not found: run deploy/install.sh (apt-get install -y libmariadb-java)"
    );
    let p = Proxy::start("fwm_jdbc");
    let classes = tempfile::tempdir().expect("temp dir");
    let source: PathBuf = repo_root().join("tests/drivers/MariaJdbcCheck.java");
    let compiled = Command::new("javac")
        .arg("-d")
        .arg(classes.path())
        .arg(&source)
        .output()
        .expect("javac runs (deploy/install.sh installs openjdk-17-jdk-headless)");
    assert!(
        compiled.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let classpath = format!("{MARIADB_JDBC}:{}", classes.path().display());
    let out = Command::new("timeout")
        .args(["300", "java", "-cp", &classpath, "MariaJdbcCheck"])
        .args([p.port.to_string(), "3306".to_owned()])
        .output()
        .expect("java runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for check in [
        "binary-mask",
        "prepare-blocked",
        "binary-limit",
        "after-limit",
        "all",
    ] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    // Every execution of a prepared statement is audited as its statement.
    let n: u64 = p
        .events("SELECT count() FROM {db}.statements WHERE normalized LIKE 'SELECT title FROM open_dataset WHERE id = ?%'")
        .parse()
        .expect("count");
    assert_eq!(n, 5);
}

#[test]
fn malformed_packets_close_only_their_connection() {
    let p = Proxy::start("fwm_malformed");
    let addr = ("127.0.0.1", p.port);
    // A client speaking first, an HTTP request, a packet header announcing 16 MiB of junk
    // whose continuation breaks the sequence, and an answer with a wrong sequence id.
    let mut long = vec![0xff, 0xff, 0xff, 0x01];
    long.extend(std::iter::repeat_n(0u8, 0xff_ffff));
    long.extend([0x01, 0x00, 0x00, 0x07, 0x00]);
    for garbage in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        long,
        vec![0x05, 0x00, 0x00, 0x09, 1, 2, 3, 4, 5],
    ] {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        // Let the greeting arrive first for the last case; the others write at once.
        let mut greeting = [0u8; 4];
        let _ = s.read_exact(&mut greeting);
        let _ = s.write_all(&garbage);
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
    }
    // Everyone else is still served.
    let (ok, out, err) = p.sql("dba_admin", "SELECT 42");
    assert!(ok && out == "42", "{out} {err}");
}

#[test]
fn an_unreachable_server_is_a_clear_client_error() {
    let dead = free_port();
    let p = Proxy::start_with("fwm_dead", &format!("127.0.0.1:{dead}"), None);
    let (ok, _, err) = p.sql("dba_admin", "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "the data firewall cannot reach the database server 127.0.0.1:{dead}"
        )),
        "{err}"
    );
}

/// Authentication passes through untouched, an auth switch included: an account on
/// MariaDB's ed25519 plugin (the server switches the client to it) logs in through the
/// firewall with its password and is refused with the server's own 1045 without it. The
/// account is unknown to the demo policy, so its statements are then refused by the
/// firewall (1142), which is what shows the login itself went through.
#[test]
fn an_ed25519_login_passes_through_the_auth_switch() {
    if direct("SELECT count(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'")
        == "0"
    {
        direct("INSTALL SONAME 'auth_ed25519'");
    }
    direct(
        "CREATE USER IF NOT EXISTS 'tianmu_ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('tianmu_ed'); \
         GRANT SELECT ON publicdata.* TO 'tianmu_ed'@'%'",
    );
    let p = Proxy::start("fwm_ed25519");
    let (ok, _, err) = p.sql("tianmu_ed", "SELECT 1");
    assert!(
        !ok && err.contains("ERROR 1142") && err.contains("not authorized by the data firewall"),
        "logged in, then refused by the policy: {err}"
    );
    let out = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &p.port.to_string()])
        .args([
            "-u",
            "tianmu_ed",
            "-pwrong",
            "--connect-timeout=10",
            "-e",
            "SELECT 1",
        ])
        .output()
        .expect("mariadb runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ERROR 1045"),
        "a wrong password gets the server's own refusal: {err}"
    );
}
