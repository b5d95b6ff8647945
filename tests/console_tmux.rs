//! The console end to end, driven with keystrokes in tmux as an operator would: a firewall
//! in front of PostgreSQL, a private ClickHouse database, `bulk-exfil` traffic through the
//! firewall and `tianmu analyzer --once`; then, in `tianmu console` running in a detached
//! tmux session (120×40), keys only — the alert appears, is acknowledged, contained (its
//! account for 1 h) and closed with a resolution. ClickHouse has the transitions in order
//! with the OS user as their actor, and psql as the account is refused by the firewall.
//! Then a drill is run from the console's Drills screen, its alert handled with keys in the
//! queue, and the drill ends completed with a score recorded in `drills`.
//!
//! Needs tmux (deploy/install.sh installs it), ClickHouse and PostgreSQL; fails saying so
//! when one is missing.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::firewall::{Firewall, psql};
use common::*;

/// A tmux server of the test's own (`-L`), so that the user's sessions are never touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("tianmu-test-{name}-{}", std::process::id()),
        };
        let out = t
            .cmd()
            .args(["new-session", "-d", "-s", "console"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .output()
            .expect("tmux runs (deploy/install.sh installs it)");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Sends tmux key names (`Enter`, `Escape`) or literal text, one argument each.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let status = self
                .cmd()
                .args(["send-keys", "-t", "console", k])
                .status()
                .expect("tmux send-keys");
            assert!(status.success(), "tmux send-keys {k}");
            // One key at a time, as typed: the console redraws between them.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "console"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `ok`; fails with the screen after `timeout`.
    fn wait(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; the console shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The queue row of the alert whose id starts with `short` is not shown by id; rows are
    /// found by their detector and state.
    fn wait_row(&self, detector: &str, state: &str, timeout: Duration) -> String {
        self.wait(
            &format!("a {detector} row in state {state}"),
            timeout,
            |s| {
                s.lines()
                    .any(|l| l.contains(detector) && l.contains(&format!(" {state} ")))
            },
        )
    }
}

/// A background `tianmu` killed when the test ends, passed or not.
struct Killed(Running);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the console's last screen:\n{}", self.screen());
        }
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The OS user, as `id -un` names it.
fn os_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs `tianmu ARGS -c CONFIG`; returns (success, stdout, stderr).
fn tianmu(fw: &Firewall, args: &[&str]) -> (bool, String, String) {
    let out = fw.scratch.run(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn steps(fw: &Firewall, id: &str) -> Vec<String> {
    let rows = query(
        &fw.scratch.url,
        &format!(
            "SELECT state, actor FROM {}.alert_transitions WHERE alert_id = toUUID('{id}') ORDER BY time, usec",
            fw.scratch.database
        ),
    );
    rows.lines().map(str::to_owned).collect()
}

/// Acknowledge, contain (the prefilled account, 1 h) and close (tp-no-impact) the selected
/// alert with keys, waiting for each step to show.
fn handle_with_keys(t: &Tmux, detector: &str) {
    t.keys(&["a"]);
    t.wait_row(detector, "acknowledged", Duration::from_secs(20));
    t.keys(&["c"]);
    t.wait("the containment form", Duration::from_secs(10), |s| {
        s.contains("[account]") && s.contains("analyst_li") && s.contains("1h")
    });
    t.keys(&["Enter"]);
    t.wait(
        "the containment confirmation",
        Duration::from_secs(10),
        |s| s.contains("Put this containment in place?"),
    );
    t.keys(&["y"]);
    t.wait_row(detector, "contained", Duration::from_secs(20));
    t.keys(&["x"]);
    t.wait("the resolutions", Duration::from_secs(10), |s| {
        s.contains("tp-no-impact")
    });
    t.keys(&["2", "Enter"]);
    t.wait("the close confirmation", Duration::from_secs(10), |s| {
        s.contains("Close this alert?")
    });
    t.keys(&["y"]);
    t.wait_row(detector, "closed", Duration::from_secs(20));
}

#[test]
fn an_alert_is_handled_with_keystrokes_in_tmux_and_a_drill_is_scored() {
    let tmux_ok = Command::new("tmux").arg("-V").output();
    assert!(
        tmux_ok.is_ok_and(|o| o.status.success()),
        "tmux is missing: run deploy/install.sh (it installs Debian's tmux)"
    );
    // The firewall on a free port; the config's listener is where traffic and drills go.
    // Short windows: the drill's alert must not fall into the window of the first alert.
    let fw = Firewall::start_with("tmux", |port| {
        let extra = format!(
            "\n[[firewall.listeners]]\nname = \"pg\"\nprotocol = \"postgres\"\n\
             listen = \"127.0.0.1:{port}\"\nupstream = \"127.0.0.1:5432\"\n\n\
             [console]\nlanguage = \"en\"\nrefresh = \"1s\"\n\n\
             [analyzer]\ninterval = \"2s\"\nwindow = \"1m\"\n"
        );
        let args = ["firewall", "--listen"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain([
                format!("127.0.0.1:{port}"),
                "--upstream".to_owned(),
                "127.0.0.1:5432".to_owned(),
            ])
            .collect();
        (extra, args)
    });
    let port = fw.port;
    let user = os_user();
    let (ok, text) = psql(port, "analyst_li", "SELECT count(*) FROM population");
    assert!(ok, "analyst_li is served before: {text}");

    // The console, as the OS user (no USER/LOGNAME/SUDO_USER: the name comes from
    // /etc/passwd, as in a tmux started without them).
    let console = format!(
        "env -u SUDO_USER -u USER -u LOGNAME TIANMU_LOG=info XDG_STATE_HOME={state} {bin} console -c {config}; sleep 30",
        state = fw.scratch.dir.path().display(),
        bin = BIN,
        config = fw.scratch.config().display()
    );
    let t = Tmux::start("console", 120, 40, &console);
    t.wait("the console", Duration::from_secs(20), |s| {
        s.contains("1 Situation") && s.contains("4 Drills") && s.contains("data ")
    });

    // bulk-exfil through the firewall, then one detection cycle.
    let (ok, _, err) = tianmu(
        &fw,
        &[
            "traffic",
            "--profile",
            "bulk-exfil",
            "--duration",
            "10s",
            "--rate",
            "5",
        ],
    );
    assert!(ok, "tianmu traffic: {err}");
    let db = fw.scratch.database.clone();
    wait_until(
        "the firewall's statements in ClickHouse",
        Duration::from_secs(30),
        || {
            query(
                &fw.scratch.url,
                &format!("SELECT count() FROM {db}.statements WHERE account = 'analyst_li'"),
            )
            .parse::<u64>()
            .unwrap_or(0)
                >= 50
        },
    );
    // (Its exit status also reports the other detectors, which this test is not about.)
    let (_, out, err) = tianmu(&fw, &["analyzer", "--once", "--since", "10m"]);
    assert!(
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|a| a["detector"] == "bulk-exfiltration" && a["entity"] == "analyst_li"),
        "no bulk-exfiltration alert: {out}\n{err}"
    );

    // Keys only from here: the queue, filtered to the detector, the alert new.
    t.keys(&["2", "/"]);
    t.keys(&["bulk-exfiltration", "Enter"]);
    t.wait_row("bulk-exfiltration", "new", Duration::from_secs(20));
    handle_with_keys(&t, "bulk-exfiltration");

    // The alert handled: the one closed (the traffic may have spanned two windows).
    let closed = query(
        &fw.scratch.url,
        &format!(
            "SELECT DISTINCT toString(alert_id) FROM {db}.alert_transitions WHERE state = 'closed'"
        ),
    );
    let id = closed.trim().to_owned();
    assert_eq!(id.len(), 36, "one alert closed: {closed}");
    assert_eq!(
        steps(&fw, &id),
        [
            "new\tanalyzer".to_owned(),
            format!("acknowledged\t{user}"),
            format!("contained\t{user}"),
            format!("closed\t{user}"),
        ]
    );
    let resolution = query(
        &fw.scratch.url,
        &format!(
            "SELECT resolution FROM {db}.alert_transitions WHERE alert_id = toUUID('{id}') AND state = 'closed'"
        ),
    );
    assert_eq!(resolution, "tp_no_impact");
    // The firewall refuses the account (the block was written before `contained`).
    let (ok, text) = psql(port, "analyst_li", "SELECT count(*) FROM population");
    assert!(
        !ok && text.contains("blocked by containment"),
        "analyst_li refused: {text}"
    );

    // A drill from the console: lift the block so its traffic is served, keep an analyzer
    // running, start bulk-exfil on the Drills screen and handle its alert in the queue.
    let (ok, listed, _) = tianmu(&fw, &["contain", "list"]);
    assert!(ok);
    let block = listed
        .split_whitespace()
        .find(|w| w.starts_with("c-"))
        .unwrap_or_else(|| panic!("a block listed: {listed}"))
        .to_owned();
    let (ok, _, err) = tianmu(&fw, &["contain", "lift", &block]);
    assert!(ok, "lift: {err}");
    wait_until("analyst_li served again", Duration::from_secs(5), || {
        psql(port, "analyst_li", "SELECT 1").0
    });
    // The next 1 min window, so the drill's alert is a new one.
    let secs = chrono::Utc::now().timestamp();
    std::thread::sleep(Duration::from_secs((60 - secs % 60) as u64 + 1));
    let analyzer = Killed(Running::spawn(fw.scratch.command(&["analyzer"])));
    t.keys(&["4"]);
    t.wait("the Drills screen", Duration::from_secs(10), |s| {
        s.contains("Scenarios") && s.contains("> bulk-exfil")
    });
    t.keys(&["Enter"]);
    t.wait("the drill confirmation", Duration::from_secs(10), |s| {
        s.contains("Start this drill?")
    });
    t.keys(&["y"]);
    t.wait("the drill's detection", Duration::from_secs(60), |s| {
        s.contains("detected") && s.contains("running")
    });
    // Its alert, the newest of the filtered queue, handled with keys.
    t.keys(&["2", ":"]);
    t.keys(&["sort time", "Enter", "g"]);
    t.wait_row("bulk-exfiltration", "new", Duration::from_secs(20));
    handle_with_keys(&t, "bulk-exfiltration");
    t.keys(&["4"]);
    let done = t.wait("the drill's end", Duration::from_secs(30), |s| {
        s.contains("completed") && s.contains("score:")
    });
    println!("{done}");
    drop(analyzer);

    // The record: one drill, its phases in order (once the console's spool has shipped
    // the last of them).
    wait_until(
        "the drill's close in ClickHouse",
        Duration::from_secs(30),
        || {
            query(
                &fw.scratch.url,
                &format!("SELECT count() FROM {db}.drills WHERE phase = 'closed'"),
            ) == "1"
        },
    );
    let phases = query(
        &fw.scratch.url,
        &format!(
            "SELECT phase, count() FROM {db}.drills GROUP BY phase ORDER BY min(time), phase FORMAT TSV"
        ),
    );
    let names: Vec<&str> = phases
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(
        names,
        [
            "started",
            "injected",
            "detected",
            "acknowledged",
            "contained",
            "closed"
        ],
        "{phases}"
    );
    let (ok, listed, err) = tianmu(&fw, &["drill", "list"]);
    assert!(ok, "drill list: {err}");
    let row = listed
        .lines()
        .find(|l| l.contains("bulk-exfil") && l.contains("completed"))
        .unwrap_or_else(|| panic!("a completed drill listed:\n{listed}"));
    println!("{row}");
    // Detected within the 10 s of the first injection.
    let detect = query(
        &fw.scratch.url,
        &format!(
            "SELECT (SELECT min(toUInt64(time) * 1000000 + usec) FROM {db}.drills WHERE phase = 'detected') - \
             (SELECT min(toUInt64(time) * 1000000 + usec) FROM {db}.drills WHERE phase = 'injected')"
        ),
    );
    let detect_us: u64 = detect.parse().unwrap_or(u64::MAX);
    assert!(
        detect_us <= 10_000_000,
        "detected {detect_us} µs after the first injection"
    );
    t.keys(&["q"]);
}
