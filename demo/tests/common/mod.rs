//! Helpers of the demo crate's integration tests: a per-test database in both real servers,
//! dropped at the end, and direct client calls (`psql`, `mariadb`) to look at what a load
//! left behind. Servers that do not answer make the tests fail with the way to start them.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use demo::data::{Dataset, LoadReport, Target, drop_database, load};

/// A database of its own for one test, in both servers; dropped (with its grants) on drop.
pub struct TestDb {
    pub target: Target,
}

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("publicdata_test_{}_{n}_{tag}", std::process::id());
        TestDb {
            target: Target::with_database(name),
        }
    }

    pub fn name(&self) -> &str {
        &self.target.database
    }

    /// Loads `dataset`, failing the test with the loader's message (which names the server
    /// and how to start it) when a server is unreachable.
    pub fn load(&self, dataset: &Dataset) -> LoadReport {
        load(&self.target, dataset).unwrap_or_else(|e| panic!("demo data load failed: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Err(e) = drop_database(&self.target) {
            eprintln!("could not drop test database {}: {e}", self.name());
        }
    }
}

/// Output of a client call, or its stderr when it failed.
pub type Answer = Result<String, String>;

fn run(mut cmd: Command, what: &str, start: &str) -> Answer {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the {what} client: {e}; install it"));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let lower = stderr.to_lowercase();
        if lower.contains("connection refused") || lower.contains("can't connect") {
            panic!("{what} at 127.0.0.1 is not running ({stderr}); start it with `{start}`");
        }
        Err(stderr)
    }
}

/// Runs `sql` with psql over TCP on 127.0.0.1:5432 as `user` (password `password`, if any);
/// bare `|`-separated rows.
pub fn psql(db: &str, user: &str, password: Option<&str>, sql: &str) -> Answer {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            user,
            "-d",
            db,
            "-c",
            sql,
        ]);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    run(
        cmd,
        "PostgreSQL",
        "pg_ctlcluster --skip-systemctl-redirect 15 main start",
    )
}

/// Runs `sql` with the mariadb client over TCP on 127.0.0.1:3306 as `user`; tab-separated
/// rows without a header.
pub fn mariadb(db: &str, user: &str, password: Option<&str>, sql: &str) -> Answer {
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "--protocol=TCP",
        "-h",
        "127.0.0.1",
        "-P",
        "3306",
        "-u",
        user,
    ])
    .args([
        "--batch",
        "--skip-column-names",
        "--default-character-set=utf8mb4",
    ])
    .args(["-D", db, "-e", sql]);
    if let Some(p) = password {
        cmd.arg(format!("-p{p}"));
    }
    run(
        cmd,
        "MariaDB",
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    )
}

/// `psql` as the `postgres` superuser.
pub fn pg_admin(db: &str, sql: &str) -> String {
    psql(db, "postgres", None, sql).unwrap_or_else(|e| panic!("psql {sql}: {e}"))
}

/// `mariadb` as `root`.
pub fn maria_admin(db: &str, sql: &str) -> String {
    mariadb(db, "root", None, sql).unwrap_or_else(|e| panic!("mariadb {sql}: {e}"))
}

/// Non-empty output lines.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
