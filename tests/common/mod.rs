//! What the end-to-end tests share: the `tianmu` binary, a scratch folder with its own
//! config and ClickHouse database, a private ClickHouse server for tests that stop it, and
//! queries through `curl` (a real client, installed by `deploy/install.sh`).
//!
//! A test that needs ClickHouse and cannot reach it fails and says how to start it; it never
//! passes silently.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod firewall;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tianmu");

/// The shared ClickHouse the test run uses (`deploy/test.sh` starts it).
pub fn clickhouse_url() -> String {
    std::env::var("TIANMU_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a query over HTTP and returns its trimmed TSV output; panics with the server's
/// message on failure.
pub fn query(url: &str, sql: &str) -> String {
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
        "ClickHouse query failed at {url}: {sql}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn ping(url: &str) -> bool {
    Command::new("curl")
        .args(["-sf", "--max-time", "2", &format!("{url}/ping")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails the test unless the shared ClickHouse answers.
pub fn require_clickhouse() -> String {
    let url = clickhouse_url();
    assert!(
        ping(&url),
        "ClickHouse is not reachable at {url}: start it with `bash deploy/clickhouse.sh start` \
         (or run the whole suite with `bash deploy/test.sh`), or point TIANMU_TEST_CLICKHOUSE at one"
    );
    url
}

/// A folder with a config for one test: its own spool and its own ClickHouse database,
/// dropped at the end.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub database: String,
}

impl Scratch {
    /// `extra_spool` is added to the `[spool]` section, e.g. `segment-size = "64 KiB"`.
    pub fn new(name: &str, url: &str, extra_spool: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tianmu-{name}-"))
            .tempdir()
            .expect("temp dir");
        let database = format!("tianmu_test_{name}_{}", std::process::id());
        let config = format!(
            "node = \"test-{name}\"\n\n[clickhouse]\nurl = \"{url}\"\ndatabase = \"{database}\"\ntimeout = \"5s\"\n\n[spool]\npath = \"spool\"\n{extra_spool}\n"
        );
        std::fs::write(dir.path().join("tianmu.toml"), config).expect("write config");
        let s = Scratch {
            dir,
            url: url.to_owned(),
            database,
        };
        s.drop_database();
        s
    }

    /// Ships `events` to the scratch database through a real spool and shipper.
    pub fn ship(&self, events: Vec<analyzer::event::Event>) {
        use analyzer::config::{ClickHouseConfig, SpoolConfig};
        use analyzer::pipeline::{Mode, Pipeline};
        let ch = ClickHouseConfig {
            url: self.url.clone(),
            database: self.database.clone(),
            user: "default".into(),
            password: String::new(),
            timeout: Duration::from_secs(10),
            retention_days: 180,
        };
        let spool = SpoolConfig::at(self.dir.path().join("spool").join("inject"));
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        rt.block_on(async {
            let pipeline = Pipeline::start(&spool, &ch, Mode::Drain).expect("pipeline starts");
            let n = events.len();
            let written = pipeline
                .producer()
                .emit_durable(events)
                .await
                .expect("events spooled");
            assert_eq!(written, n);
            pipeline
                .finish(tokio_util::sync::CancellationToken::new())
                .await
                .expect("events shipped");
        });
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("tianmu.toml")
    }

    /// The spool `pipeline inject` writes (role `inject`).
    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool").join("inject")
    }

    /// `tianmu <args> -c <config>` with logs on stderr.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("-c")
            .arg(self.config())
            .env("TIANMU_LOG", "info")
            .env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run tianmu")
    }

    /// Rows of statements + api_calls as (count, distinct ids), read without FINAL: exact
    /// counts must not depend on background merges.
    pub fn delivered(&self) -> (u64, u64) {
        let db = &self.database;
        let out = query(
            &self.url,
            &format!(
                "SELECT (SELECT count() FROM {db}.statements) + (SELECT count() FROM {db}.api_calls), \
                 (SELECT uniqExact(id) FROM {db}.statements) + (SELECT uniqExact(id) FROM {db}.api_calls)"
            ),
        );
        let mut it = out.split('\t').map(|v| v.parse::<u64>().expect("a number"));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }

    /// Like [`Scratch::delivered`] but 0 while the tables do not exist yet.
    pub fn delivered_so_far(&self) -> u64 {
        let exists = query(
            &self.url,
            &format!("EXISTS TABLE {}.api_calls", self.database),
        );
        if exists == "1" { self.delivered().0 } else { 0 }
    }

    /// Drops the scratch database. ClickHouse finishes a `CREATE TABLE` whose client has
    /// gone (a firewall killed while migrating its schema), and refuses to drop a database
    /// a table appears in meanwhile (code 219): that is tried again.
    pub fn drop_database(&self) {
        if !ping(&self.url) {
            return;
        }
        let sql = format!("DROP DATABASE IF EXISTS {}", self.database);
        for _ in 0..20 {
            let out = Command::new("curl")
                .args([
                    "-sS",
                    "--fail-with-body",
                    "--max-time",
                    "30",
                    "--data-binary",
                    &sql,
                ])
                .arg(&self.url)
                .output()
                .expect("curl runs (deploy/install.sh installs it)");
            let body = String::from_utf8_lossy(&out.stdout);
            if out.status.success() || !body.contains("Code: 219") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        query(&self.url, &sql);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.drop_database();
        }
    }
}

/// A running `tianmu` whose stdout lines and stderr are collected in the background.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tianmu");
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
            s
        });
        Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// Waits for a stdout line starting with `prefix`.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stdout line starting with {prefix:?} within {timeout:?}; saw {:?}",
                    self.stdout
                ),
            }
        }
    }

    /// Waits for the process to exit; returns its status, all stdout lines and stderr.
    pub fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.join().unwrap_or_default();
                panic!("tianmu did not exit within {timeout:?}; stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.stdout.extend(self.lines.try_iter());
        let stderr = self.stderr.join().unwrap_or_default();
        (status, self.stdout, stderr)
    }
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A ClickHouse server of the test's own (deploy/clickhouse.sh under a temp folder, on free
/// ports), for tests that stop and start it.
pub struct PrivateClickHouse {
    home: tempfile::TempDir,
    http: u16,
    tcp: u16,
    pub url: String,
}

impl PrivateClickHouse {
    pub fn start() -> PrivateClickHouse {
        let home = tempfile::Builder::new()
            .prefix("tianmu-ch-")
            .tempdir()
            .expect("temp dir");
        let http = free_port();
        let tcp = free_port();
        let ch = PrivateClickHouse {
            home,
            http,
            tcp,
            url: format!("http://127.0.0.1:{http}"),
        };
        ch.script("start");
        ch
    }

    /// Kills the server with SIGKILL: a crash, in the middle of whatever it was doing. (A
    /// graceful stop of ClickHouse 18.16 keeps serving open keep-alive connections for
    /// seconds, long enough for a shipper to finish.)
    pub fn kill(&self) {
        let pid_file = self.home.path().join("clickhouse/clickhouse-server.pid");
        let pid = std::fs::read_to_string(&pid_file).expect("ClickHouse pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -KILL {pid} failed");
        wait_until("ClickHouse to die", Duration::from_secs(10), || {
            !ping(&self.url)
        });
    }

    pub fn restart(&self) {
        self.script("start");
    }

    fn script(&self, verb: &str) {
        let out = self.run_script(verb);
        assert!(
            out.status.success(),
            "deploy/clickhouse.sh {verb} failed (is clickhouse-server installed? run deploy/install.sh):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn run_script(&self, verb: &str) -> Output {
        Command::new("bash")
            .arg(repo_root().join("deploy/clickhouse.sh"))
            .arg(verb)
            .env("TIANMU_HOME", self.home.path())
            .env("TIANMU_CH_HTTP_PORT", self.http.to_string())
            .env("TIANMU_CH_TCP_PORT", self.tcp.to_string())
            .env("TIANMU_CH_MAX_MEMORY", (1u64 << 30).to_string())
            .output()
            .expect("run deploy/clickhouse.sh")
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        let _ = self.run_script("stop");
    }
}

/// Reads a spool segment the way the format is documented (16-byte header, then records
/// `u32 length | u32 crc32c | payload`) and returns the file offset of each record; stops at
/// the end or at the first record that does not fit.
pub fn record_offsets(segment: &Path) -> Vec<u64> {
    let bytes = std::fs::read(segment).expect("read segment");
    let mut offsets = Vec::new();
    let mut at = 16usize;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        if at + 8 + len > bytes.len() {
            break;
        }
        offsets.push(at as u64);
        at += 8 + len;
    }
    offsets
}
