//! The PostgreSQL firewall end to end: `tianmu firewall` in front of the real PostgreSQL
//! with the demo policy, real clients (psql, pgbench, tokio-postgres, raw sockets) through
//! it, the server's own state checked directly, and the audit events found in ClickHouse.
//!
//! The demo policy's catalog names the tables of `publicdata`, so these tests use the demo
//! database itself (loaded with seed 1 when it is not there) and never change its data:
//! every write they try is one the policy blocks, and the tests check it did not happen.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::firewall::Firewall;
use common::free_port;

/// The firewall in front of 127.0.0.1:5432 (or `upstream`), demo policy, audit into a
/// scratch ClickHouse database.
struct Proxy(Firewall);

impl std::ops::Deref for Proxy {
    type Target = Firewall;
    fn deref(&self) -> &Firewall {
        &self.0
    }
}

impl Proxy {
    fn start(name: &str) -> Proxy {
        Proxy::start_to(name, "127.0.0.1:5432")
    }

    fn start_to(name: &str, upstream: &str) -> Proxy {
        Proxy(Firewall::start(name, &["--upstream", upstream]))
    }

    /// psql through the proxy as `user` (password = user name, as in the demo).
    fn psql(&self, user: &str, db: &str, sql: &str) -> (bool, String, String) {
        psql_at(self.port, user, db, sql, &[])
    }

    fn events(self, sql: &str) -> String {
        self.0.events(sql)
    }
}

fn psql_at(port: u16, user: &str, db: &str, sql: &str, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", user, "-d", db])
        .args(extra)
        .args(["-c", sql])
        .env("PGPASSWORD", user)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// psql straight to the server, as the superuser.
fn direct(db: &str, sql: &str) -> String {
    let (ok, out, err) = psql_at(5432, "postgres", db, sql, &[]);
    assert!(ok, "direct psql failed: {err}");
    out
}

#[test]
fn allowed_results_are_identical_to_a_direct_connection() {
    let p = Proxy::start("fw_identical");
    let statements = [
        "SELECT uscc, name, legal_rep_id_card, registered_capital FROM legal_person ORDER BY uscc LIMIT 50",
        "SELECT 1 AS a; SELECT 'two' AS b, NULL AS c",
        "SELECT license_type, count(*) FROM license GROUP BY 1 ORDER BY 1",
        "BEGIN; SELECT count(*) FROM open_dataset; COMMIT",
        "COPY (SELECT id, holder_id_card FROM license ORDER BY id LIMIT 20) TO STDOUT",
        "SHOW server_version",
    ];
    for sql in statements {
        let want = {
            let (ok, out, err) = psql_at(5432, "dba_admin", "publicdata", sql, &[]);
            assert!(ok, "direct {sql}: {err}");
            out
        };
        let (ok, got, err) = p.psql("dba_admin", "publicdata", sql);
        assert!(ok, "through the firewall {sql}: {err}");
        assert_eq!(got, want, "{sql}");
    }
}

#[test]
fn copy_in_and_notifications_pass() {
    let p = Proxy::start("fw_copy");
    // COPY FROM STDIN through psql's stdin.
    let mut child = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .args([
            "-p",
            &p.port.to_string(),
            "-U",
            "dba_admin",
            "-d",
            "publicdata",
        ])
        .env("PGPASSWORD", "dba_admin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    let script = "CREATE TEMP TABLE t(a int, b text);\nCOPY t FROM STDIN;\n1\tx\n2\ty\n3\tz\n\\.\nSELECT count(*), string_agg(b, ',' ORDER BY a) FROM t;\nLISTEN tianmu_test;\nNOTIFY tianmu_test, 'hello';\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("psql ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3|x,y,z"), "{stdout}");
    assert!(
        stdout.contains("Asynchronous notification \"tianmu_test\" with payload \"hello\""),
        "{stdout}"
    );
}

#[test]
fn pgbench_runs_in_every_query_mode() {
    let p = Proxy::start("fw_pgbench");
    let db = "tianmu_fw_bench";
    if direct(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
    ) == "0"
    {
        direct("postgres", &format!("CREATE DATABASE {db}"));
        let out = Command::new("pgbench")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-i",
                "-s",
                "1",
                "-q",
                db,
            ])
            .output()
            .expect("pgbench -i");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    direct(
        db,
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO dba_admin",
    );
    for mode in ["simple", "extended", "prepared"] {
        for script in [&["-S"][..], &["-N"][..]] {
            let out = Command::new("pgbench")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &p.port.to_string(),
                    "-U",
                    "dba_admin",
                ])
                .args(["-M", mode, "-c", "4", "-t", "200"])
                .args(script)
                .arg(db)
                .env("PGPASSWORD", "dba_admin")
                .output()
                .expect("pgbench");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "-M {mode} {script:?}: {stdout}\n{stderr}"
            );
            assert!(
                stdout.contains("number of transactions actually processed: 800/800"),
                "-M {mode} {script:?}: {stdout}"
            );
            assert!(
                stdout.contains("number of failed transactions: 0"),
                "-M {mode}: {stdout}"
            );
        }
    }
    let got = p.events(
        "SELECT (SELECT count() FROM {db}.statements WHERE account = 'dba_admin' AND rows = 1 AND normalized LIKE 'SELECT abalance%'), \
         (SELECT count() FROM {db}.health WHERE component = 'firewall' AND has(counter_names, 'cli.accepted')) \
         FORMAT TSV",
    );
    let (n, reports) = got.split_once('\t').expect("two columns");
    let n: u64 = n.parse().expect("count");
    assert!(n >= 2400, "select-only executions audited: {n}");
    // The firewall reports its health (at start, then every 10 s) with its listener's
    // connection counters.
    let reports: u64 = reports.parse().expect("count");
    assert!(reports >= 1, "firewall health reports: {reports}");
}

#[test]
fn the_demo_rules_hold_through_the_proxy() {
    let p = Proxy::start("fw_rules");
    let db = "publicdata";
    let before = direct(
        db,
        "SELECT (SELECT count(*) FROM open_dataset) || ',' || (SELECT count(*) FROM population)",
    );

    // Masks: the portal (clearance 3) sees names but not ID-card numbers.
    let real = direct(
        db,
        "SELECT name || '|' || id_card FROM population WHERE id = 1",
    );
    let (real_name, real_card) = real.split_once('|').expect("two columns");
    let (ok, got, err) = p.psql(
        "app_portal",
        db,
        "SELECT name, id_card FROM population WHERE id = 1",
    );
    assert!(ok, "{err}");
    let (name, card) = got.split_once('|').expect("two columns");
    assert_eq!(name, real_name);
    assert_eq!(card.len(), 18);
    assert_eq!(&card[..6], &real_card[..6]);
    assert_eq!(&card[6..14], "********");
    assert_eq!(&card[14..], &real_card[14..]);
    // The analyst (clearance 2) sees names masked too, in a server-side cursor's FETCH as well.
    let (ok, got, err) = p.psql(
        "analyst_li",
        db,
        "BEGIN; DECLARE c CURSOR FOR SELECT name FROM population WHERE id = 1; FETCH 1 FROM c; COMMIT",
    );
    assert!(ok, "{err}");
    let first: String = real_name.chars().take(1).collect();
    let stars = "*".repeat(real_name.chars().count() - 1);
    assert!(got.contains(&format!("{first}{stars}")), "{got}");
    assert!(!got.contains(real_name), "{got}");

    // Blocks: 42501 naming the rule; nothing reaches the server.
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
        ("app_portal", "SELECT pg_sleep(5)"),
    ];
    for (user, sql) in blocked {
        let started = std::time::Instant::now();
        let (ok, out, err) = p.psql(user, db, sql);
        assert!(!ok, "{user}: {sql} was not blocked: {out}");
        assert!(
            err.contains("blocked by the data firewall (rule "),
            "{user}: {sql}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(4), "{sql} ran");
    }
    // With the error code, and inside a transaction the transaction is aborted as
    // PostgreSQL would abort it.
    let (_, _, err) = psql_at(
        p.port,
        "app_portal",
        db,
        "SELECT 1",
        &[
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "BEGIN",
            "-c",
            "SELECT * FROM bank_account",
            "-c",
            "SELECT 2",
            "-c",
            "ROLLBACK",
        ],
    );
    assert!(err.contains("42501"), "{err}");
    assert!(err.contains("25P02"), "the transaction is aborted: {err}");
    let after = direct(
        db,
        "SELECT (SELECT count(*) FROM open_dataset) || ',' || (SELECT count(*) FROM population)",
    );
    assert_eq!(before, after, "blocked writes did not happen");

    // Limits: the portal's 200 rows.
    let (ok, out, err) = p.psql("app_portal", db, "SELECT id FROM population");
    assert!(!ok, "{out}");
    assert!(err.contains("limit of 200 rows"), "{err}");
    // Under the limit: fine.
    let (ok, out, err) = p.psql(
        "app_portal",
        db,
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
            has(user, "block", Some(0), "42501"),
            "{user} block event: {got}"
        );
    }
    assert!(has("app_portal", "limit", Some(200), "54000"), "{got}");
    // Under its limit a statement is audited as allowed: `limit` means a result was cut.
    assert!(has("app_portal", "allow", Some(1), ""), "{got}");
}

#[test]
fn cancel_requests_reach_the_right_backend() {
    let p = Proxy::start("fw_cancel");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let conn = format!(
            "host=127.0.0.1 port={} user=dba_admin password=dba_admin dbname=publicdata",
            p.port
        );
        let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .expect("connect through the firewall");
        tokio::spawn(connection);
        let token = client.cancel_token();
        let slow = tokio::spawn(async move {
            client
                .simple_query("SELECT count(*) FROM generate_series(1, 2000000000)")
                .await
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel through the firewall");
        let r = tokio::time::timeout(Duration::from_secs(20), slow)
            .await
            .expect("the query ends")
            .expect("task");
        let e = r.expect_err("cancelled");
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
            "{e}"
        );
    });
}

#[test]
fn malformed_messages_close_only_their_connection() {
    let p = Proxy::start("fw_malformed");
    let addr = ("127.0.0.1", p.port);
    // Bytes before start-up that are no start-up message; a length past the limit; a
    // typed message with a negative length after a good start-up.
    let mut startup = Vec::new();
    let body = b"\x00\x03\x00\x00user\0dba_admin\0database\0publicdata\0\0";
    startup.extend(((body.len() + 4) as u32).to_be_bytes());
    startup.extend(body);
    for garbage in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        [startup.clone(), b"Q\xff\xff\xff\xffSELECT 1\0".to_vec()].concat(),
    ] {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = s.write_all(&garbage);
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        // Closed by the proxy (read_to_end returned), whatever it said first.
    }
    // Everyone else is still served.
    let (ok, out, err) = p.psql("dba_admin", "publicdata", "SELECT 42");
    assert!(ok && out == "42", "{out} {err}");
}

#[test]
fn an_unreachable_server_is_a_clear_client_error() {
    let dead = free_port();
    let p = Proxy::start_to("fw_dead", &format!("127.0.0.1:{dead}"));
    let (ok, _, err) = p.psql("dba_admin", "publicdata", "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "the data firewall cannot reach the database server 127.0.0.1:{dead}"
        )),
        "{err}"
    );
}
