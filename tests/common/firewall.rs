//! `tianmu firewall` as the end-to-end tests run it: the demo database loaded, the
//! firewall on a free port with the demo policy and a scratch config whose events go to a
//! scratch ClickHouse database, stopped as an operator would (SIGINT) and its audit read
//! back from ClickHouse.

use std::net::TcpStream;
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use super::{Running, Scratch, free_port, query, repo_root, require_clickhouse, wait_until};

/// Loads `publicdata` into PostgreSQL and MariaDB (seed 1) unless it is there.
pub fn demo_data() {
    static LOADED: Once = Once::new();
    LOADED.call_once(|| {
        use demo::data::{Counts, Target, generate, is_loaded, load};
        let target = Target::default();
        let dataset = generate(1, &Counts::default());
        if !is_loaded(&target, &dataset).expect("PostgreSQL and MariaDB answer") {
            load(&target, &dataset).unwrap_or_else(|e| panic!("demo data load failed: {e}"));
        }
    });
}

/// A running firewall.
pub struct Firewall {
    pub port: u16,
    pub scratch: Scratch,
    running: Option<Running>,
}

impl Firewall {
    /// `tianmu firewall --listen 127.0.0.1:PORT --policy <demo policy> ARGS` on a free
    /// port, with a scratch config named `name`.
    pub fn start(name: &str, args: &[&str]) -> Firewall {
        Firewall::start_with(name, |port| {
            let mut a = vec![
                "firewall".to_owned(),
                "--listen".to_owned(),
                format!("127.0.0.1:{port}"),
            ];
            a.extend(args.iter().map(|s| (*s).to_owned()));
            (String::new(), a)
        })
    }

    /// `tianmu ARGS --policy <demo policy>` with a scratch config named `name` that has
    /// `EXTRA` appended, where `(EXTRA, ARGS) = setup(port)` for a free port; returns once
    /// the port accepts connections.
    pub fn start_with(name: &str, setup: impl FnOnce(u16) -> (String, Vec<String>)) -> Firewall {
        demo_data();
        let url = require_clickhouse();
        let port = free_port();
        let (extra, mut args) = setup(port);
        let scratch = Scratch::new(name, &url, &extra);
        let policy = repo_root().join("deploy/demo/policy.toml");
        args.extend(["--policy".to_owned(), policy.display().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = Running::spawn(scratch.command(&args));
        wait_until("the firewall listens", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Firewall {
            port,
            scratch,
            running: Some(running),
        }
    }

    /// Stops the firewall (SIGINT: sessions drained, events spooled) and returns its
    /// stderr, asserting a clean exit unless `for_a_failure`.
    pub fn stop(&mut self, for_a_failure: bool) -> String {
        let Some(running) = self.running.take() else {
            return String::new();
        };
        let _ = Command::new("kill")
            .args(["-INT", &running.child.id().to_string()])
            .status();
        let (status, _, stderr) = running.finish(Duration::from_secs(30));
        assert!(
            for_a_failure || status.success(),
            "firewall exit {status:?}:\n{stderr}"
        );
        stderr
    }

    /// Stops the firewall, ships its spool and returns the rows of `sql` (over the
    /// scratch database's `statements`, named `{db}.statements`).
    pub fn events(mut self, sql: &str) -> String {
        self.stop(false);
        let out = self
            .scratch
            .run(&["pipeline", "flush", "--role", "firewall"]);
        assert!(
            out.status.success(),
            "flush: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sql = sql.replace("{db}", &self.scratch.database);
        query(&self.scratch.url, &sql)
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        if let Some(r) = &mut self.running {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// The statements a firewall audited, in order: account, action, rule, rows, error code,
/// protocol (one TSV line each).
pub struct Audited(pub String);

impl Audited {
    pub fn lines(&self) -> impl Iterator<Item = Vec<&str>> {
        self.0.lines().map(|l| l.split('\t').collect())
    }

    /// Whether some statement of `account` ended with `action`, `rows` (when given) and
    /// error `code` (empty: none).
    pub fn has(&self, account: &str, action: &str, rows: Option<u64>, code: &str) -> bool {
        self.lines().any(|f| {
            f[0] == account
                && f[1] == action
                && rows.is_none_or(|r| f[3] == r.to_string())
                && f[4] == code
        })
    }

    /// How many statements of `account` ended with `action` and error `code`.
    pub fn count(&self, account: &str, action: &str, code: &str) -> u64 {
        let n = self
            .lines()
            .filter(|f| f[0] == account && f[1] == action && f[4] == code)
            .count();
        n as u64
    }
}

impl Firewall {
    /// Stops the firewall, ships its spool and returns what it audited.
    pub fn audited(self) -> Audited {
        Audited(self.events(
            "SELECT account, action, rule, rows, error_code, protocol FROM {db}.statements ORDER BY time, usec FORMAT TSV",
        ))
    }
}

/// psql through a firewall on `port` to `publicdata` as `user` (password = user name, as in
/// the demo): whether it succeeded, and stdout and stderr together.
pub fn psql(port: u16, user: &str, sql: &str) -> (bool, String) {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", user, "-d", "publicdata", "-c", sql])
        .env("PGPASSWORD", user)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text.trim().to_owned())
}
