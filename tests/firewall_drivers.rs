//! Real drivers through the PostgreSQL firewall: psycopg 3 (Python) and the PostgreSQL JDBC
//! driver (Java), each running a program of its own (tests/drivers/) that does the same
//! work straight on 127.0.0.1:5432 and through `tianmu firewall` with the demo policy, as
//! the same account, and compares the results; then checks what the policy does to that
//! driver's traffic (blocks with 42501 and a usable connection afterwards, masks, limits).
//! The programs print `ok NAME` per check and exit non-zero with a `FAIL NAME: ...` line
//! on a mismatch; the audit events in ClickHouse show the traffic went through the
//! firewall.
//!
//! A missing driver fails the test with the install step to run (`deploy/install.sh`
//! installs both). The demo tables are only read; writes go to TEMP tables.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::firewall::Firewall;
use common::repo_root;

/// How long one driver program may run before `timeout` ends it.
const DRIVER_TIMEOUT: &str = "300";

/// The firewall in front of 127.0.0.1:5432 with the demo policy, audit into a scratch
/// ClickHouse database.
struct Proxy(Firewall);

impl std::ops::Deref for Proxy {
    type Target = Firewall;
    fn deref(&self) -> &Firewall {
        &self.0
    }
}

impl Proxy {
    fn start(name: &str) -> Proxy {
        Proxy(Firewall::start(name, &["--upstream", "127.0.0.1:5432"]))
    }

    /// Runs a driver program (which gets the proxy port as its last argument) under
    /// `timeout`; on a non-zero exit fails with the program's output and the firewall's
    /// log. Returns stdout.
    fn run_driver(&mut self, what: &str, program: &str, args: &[&str]) -> String {
        let out: Output = Command::new("timeout")
            .args(["-k", "10", DRIVER_TIMEOUT, program])
            .args(args)
            .arg(self.port.to_string())
            .current_dir(repo_root())
            .output()
            .unwrap_or_else(|e| panic!("run {program} for {what}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let firewall = self.0.stop(true);
            panic!(
                "{what} failed through the firewall ({}; 124 = timed out after {DRIVER_TIMEOUT}s)\n\
                 --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- firewall log ---\n{firewall}",
                out.status
            );
        }
        stdout
    }
}

/// Every check must have printed its `ok` line, and the closing line must say all held.
fn assert_all_ok(stdout: &str, checks: &[&str], closing: &str) {
    for check in checks {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("ok {check}: "))),
            "no `ok {check}` line:\n{stdout}"
        );
    }
    assert!(
        !stdout.lines().any(|l| l.starts_with("FAIL ")),
        "a check failed:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == closing),
        "no closing line {closing:?}:\n{stdout}"
    );
}

/// The interpreter `deploy/install.sh` installed psycopg for: `$TIANMU_PYTHON` or
/// `python3`. Fails with the install step when it cannot import psycopg 3.
fn python_with_psycopg() -> String {
    let python = std::env::var("TIANMU_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import psycopg; print(psycopg.__version__)"])
        .output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "psycopg 3 is not installed for `{python}`: run `bash deploy/install.sh` \
             (it runs `{python} -m pip install 'psycopg[binary]'`), or set TIANMU_PYTHON to \
             an interpreter that has it\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "`{python}` cannot be run ({e}): install Python 3 and run `bash deploy/install.sh` \
             (pip install 'psycopg[binary]'), or set TIANMU_PYTHON"
        ),
    }
}

const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";

/// The Debian JDBC driver and a JDK, or a failure naming the install step.
fn require_jdbc() -> PathBuf {
    let jar = PathBuf::from(JDBC_JAR);
    assert!(
        jar.is_file(),
        "{JDBC_JAR} not found: run `apt-get install -y libpostgresql-jdbc-java` \
         (or `bash deploy/install.sh`, which installs it)"
    );
    for tool in ["javac", "java"] {
        let ok = Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "`{tool}` not found: run `apt-get install -y openjdk-17-jdk-headless` \
             (or `bash deploy/install.sh`, which installs it)"
        );
    }
    jar
}

/// Compiles tests/drivers/JdbcCheck.java into a temp folder; returns it (keep it alive)
/// and the class path to run it with.
fn compile_jdbc_check() -> (tempfile::TempDir, String) {
    let jar = require_jdbc();
    let classes = tempfile::Builder::new()
        .prefix("tianmu-jdbc-")
        .tempdir()
        .expect("temp dir");
    let source = repo_root().join("tests/drivers/JdbcCheck.java");
    let compiled = Command::new("javac")
        .arg("-cp")
        .arg(&jar)
        .arg("-d")
        .arg(classes.path())
        .arg(&source)
        .output()
        .expect("javac runs");
    assert!(
        compiled.status.success(),
        "javac {}:\n{}{}",
        source.display(),
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );
    let classpath = format!("{}:{}", classes.path().display(), jar.display());
    (classes, classpath)
}

#[test]
fn psycopg_results_match_a_direct_connection_and_the_policy_holds() {
    let python = python_with_psycopg();
    let mut p = Proxy::start("drv_psycopg");
    let stdout = p.run_driver("psycopg", &python, &["tests/drivers/psycopg_check.py"]);
    println!("{stdout}");
    assert_all_ok(
        &stdout,
        &[
            "same_simple",
            "same_parameters",
            "same_binary",
            "same_server_cursor",
            "same_copy_out",
            "same_copy_in",
            "same_prepared",
            "same_transactions",
            "same_pipeline",
            "same_errors",
            "policy_blocked",
            "policy_blocked_in_pipeline",
            "policy_masked",
            "policy_row_limit",
        ],
        "psycopg: all 14 checks hold",
    );
    // The firewall saw it all: psycopg's blocked and masked statements are in the audit.
    let audit = p.0.audited();
    let count = |account: &str, action: &str, code: &str| audit.count(account, action, code);
    let got = &audit.0;
    println!("audit (account, action, error code, statements):\n{got}");
    assert!(count("app_portal", "block", "42501") >= 6, "{got}");
    assert!(count("vendor_dev", "block", "42501") >= 1, "{got}");
    assert!(count("app_portal", "mask", "") >= 5, "{got}");
    assert!(count("analyst_li", "mask", "") >= 1, "{got}");
    assert!(count("app_portal", "limit", "54000") >= 1, "{got}");
    assert!(count("dba_admin", "allow", "") >= 50, "{got}");
}

#[test]
fn jdbc_results_match_a_direct_connection_and_the_policy_holds() {
    let (_classes, classpath) = compile_jdbc_check();
    let mut p = Proxy::start("drv_jdbc");
    let stdout = p.run_driver("JDBC", "java", &["-cp", &classpath, "JdbcCheck"]);
    println!("{stdout}");
    assert!(
        stdout.starts_with("PostgreSQL JDBC Driver "),
        "driver line: {stdout}"
    );
    assert_all_ok(
        &stdout,
        &[
            "sameStatement",
            "samePrepared",
            "samePreparedThreshold1",
            "samePreparedForceBinary",
            "sameSimpleProtocol",
            "sameFetchSize",
            "sameFetchSizeThreshold1",
            "sameBatch",
            "sameBatchRewritten",
            "sameTransactions",
            "sameErrors",
            "policyBlocked",
            "policyMasked",
            "policyRowLimit",
        ],
        "jdbc: all 14 checks hold",
    );
    // The firewall saw it all: the driver's blocked and masked statements are audited.
    let audit = p.0.audited();
    let count = |account: &str, action: &str, code: &str| audit.count(account, action, code);
    let got = &audit.0;
    println!("audit (account, action, error code, statements):\n{got}");
    assert!(count("app_portal", "block", "42501") >= 5, "{got}");
    assert!(count("app_portal", "mask", "") >= 7, "{got}");
    assert!(count("analyst_li", "mask", "") >= 1, "{got}");
    assert!(count("app_portal", "limit", "54000") >= 1, "{got}");
    assert!(count("dba_admin", "allow", "") >= 50, "{got}");
}

// At a row limit the firewall cuts the result and sends a CancelRequest upstream. Should
// that cancel reach the backend after the cut statement has finished, it would hit the
// client's next statement (57014 "canceling statement due to user request"); the session
// forwards nothing until the server has taken the cancel in. These tests run 40 cuts each
// with statements after them, and failed 2-5 times in 40 before that wait existed.

#[test]
fn psycopg_statements_after_a_row_limit_cut_run() {
    let python = python_with_psycopg();
    let mut p = Proxy::start("drv_psycopg_limit");
    let stdout = p.run_driver(
        "statements after row-limit cuts",
        &python,
        &[
            "tests/drivers/psycopg_check.py",
            "--only",
            "policy_usable_after_limit",
        ],
    );
    assert_all_ok(
        &stdout,
        &["policy_usable_after_limit"],
        "psycopg: all 1 checks hold",
    );
}

#[test]
fn jdbc_statements_after_a_row_limit_cut_run() {
    let (_classes, classpath) = compile_jdbc_check();
    let mut p = Proxy::start("drv_jdbc_limit");
    let stdout = p.run_driver(
        "statements after row-limit cuts",
        "java",
        &[
            "-cp",
            &classpath,
            "-Dtianmu.checks=policyUsableAfterLimit",
            "JdbcCheck",
        ],
    );
    assert_all_ok(
        &stdout,
        &["policyUsableAfterLimit"],
        "jdbc: all 1 checks hold",
    );
}
