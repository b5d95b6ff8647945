//! The closed loop end to end: an alert in ClickHouse handled with `tianmu alert` —
//! acknowledged, contained (its account blocked on the running firewall), closed, signed
//! off by another operator — and a block lifted; psql through the firewall shows the
//! account refused within 2 s of the block and served again within 2 s of the lift, and
//! the transitions are in ClickHouse in order, each with its actor.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use analyzer::event::{Alert, AlertState, Body, Event, Resolution, Severity, Transition};
use chrono::Utc;
use common::firewall::{Firewall, psql};
use common::*;

/// The longest a firewall may take to apply a containment change.
const CLOSED_LOOP: Duration = Duration::from_secs(2);

/// Runs `tianmu ARGS` as operator `user` and returns its output, asserting success when
/// `ok`, failure otherwise.
fn tianmu(fw: &Firewall, user: &str, args: &[&str], ok: bool) -> String {
    let out: Output = fw
        .scratch
        .command(args)
        .env("SUDO_USER", user)
        .output()
        .expect("tianmu runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.success(), ok, "tianmu {args:?}:\n{text}");
    text
}

/// Time until `psql` as `user` gives `(ok, containing)`; fails after 3 × CLOSED_LOOP.
fn until(port: u16, user: &str, ok: bool, containing: &str) -> Duration {
    let start = Instant::now();
    loop {
        let (got, text) = psql(port, user, "SELECT count(*) FROM population");
        if got == ok && text.contains(containing) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < CLOSED_LOOP * 3,
            "psql as {user} still gives ({got}, {text})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An alert about analyst_li as the analyzer raises it; its id.
fn raise(fw: &Firewall) -> String {
    let now = Utc::now();
    let alert = Alert {
        alert_id: uuid::Uuid::now_v7(),
        detector: "bulk-exfiltration".into(),
        entity: "analyst_li".into(),
        severity: Severity::Critical,
        title: "analyst_li read 200000 rows in 5 min".into(),
        window_start: now,
        window_end: now,
        evidence: vec![],
        drill_id: None,
    };
    fw.scratch.ship(vec![
        Event::new("test/analyzer", Body::Alert(alert.clone())),
        Event::new(
            "test/analyzer",
            Body::Transition(Transition {
                alert_id: alert.alert_id,
                state: AlertState::New,
                actor: "analyzer".into(),
                note: alert.title.clone(),
                resolution: Resolution::None,
            }),
        ),
    ]);
    alert.alert_id.to_string()
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

#[test]
fn an_alert_is_handled_to_its_close_and_its_containment_blocks_the_account_on_the_firewall() {
    let fw = Firewall::start("contain", &["--upstream", "127.0.0.1:5432"]);
    let port = fw.port;
    let (ok, text) = psql(port, "analyst_li", "SELECT count(*) FROM population");
    assert!(ok, "analyst_li works before: {text}");

    let id = raise(&fw);
    let listed = tianmu(&fw, "wang", &["alert", "list"], true);
    assert!(
        listed.contains(&id[..8]) && listed.contains("new"),
        "{listed}"
    );

    tianmu(&fw, "wang", &["alert", "ack", &id[..8]], true);
    let again = tianmu(&fw, "wang", &["alert", "ack", &id], false);
    assert!(
        again.contains("only new or reopened alerts are acknowledged"),
        "{again}"
    );

    // Containment: the firewall refuses the account within the closed-loop bound.
    let contained = tianmu(
        &fw,
        "wang",
        &[
            "alert",
            "contain",
            &id,
            "--account",
            "analyst_li",
            "--for",
            "1h",
            "--note",
            "stop the bleed",
        ],
        true,
    );
    assert!(
        contained.contains("account analyst_li is blocked by containment c-"),
        "{contained}"
    );
    let took = until(port, "analyst_li", false, "blocked by containment");
    println!("refused {took:?} after `tianmu alert contain` returned");
    assert!(took <= CLOSED_LOOP, "took {took:?}");
    let (ok, text) = psql(port, "app_portal", "SELECT count(*) FROM population");
    assert!(ok, "other accounts are not touched: {text}");

    // Closing needs a resolution; a closer cannot sign their own close off.
    let bad = tianmu(
        &fw,
        "wang",
        &["alert", "close", &id, "--resolution", "maybe"],
        false,
    );
    assert!(bad.contains("expected tp-impact"), "{bad}");
    tianmu(
        &fw,
        "wang",
        &["alert", "close", &id, "--resolution", "tp-no-impact"],
        true,
    );
    let own = tianmu(&fw, "wang", &["alert", "sign-off", &id], false);
    assert!(own.contains("another reviewer must sign it off"), "{own}");
    tianmu(&fw, "zhao", &["alert", "sign-off", &id], true);

    // The block outlives the close until lifted; lifting restores the account.
    let blocks = tianmu(&fw, "wang", &["contain", "list"], true);
    let block = blocks
        .split_whitespace()
        .find(|w| w.starts_with("c-"))
        .unwrap_or_else(|| panic!("a block listed: {blocks}"))
        .to_owned();
    tianmu(&fw, "wang", &["contain", "lift", &block], true);
    let took = until(port, "analyst_li", true, "");
    println!("served {took:?} after `tianmu contain lift` returned");
    assert!(took <= CLOSED_LOOP, "took {took:?}");

    // The lifecycle as ClickHouse has it: states in order, each with its actor.
    let shown = tianmu(&fw, "wang", &["alert", "show", &id], true);
    assert!(
        shown.contains("resolution  tp-no-impact, signed off by zhao"),
        "{shown}"
    );
    assert_eq!(
        steps(&fw, &id),
        [
            "new\tanalyzer",
            "acknowledged\twang",
            "contained\twang",
            "closed\twang",
            "signed_off\tzhao",
            "lifted\twang",
        ]
    );

    // A block that expires: the firewall serves the account again at its end by itself;
    // the analyzer removes it from the file and records the expiry on its alert.
    let second = raise(&fw);
    tianmu(
        &fw,
        "wang",
        &[
            "alert",
            "contain",
            &second,
            "--account",
            "analyst_li",
            "--for",
            "3s",
        ],
        true,
    );
    until(port, "analyst_li", false, "blocked by containment");
    until(port, "analyst_li", true, "");
    // (Its exit status also reports the detectors, which this test is not about.)
    let _ = fw.scratch.run(&["analyzer", "--once", "--since", "1m"]);
    let listed = tianmu(&fw, "wang", &["contain", "list"], true);
    assert!(listed.contains("0 blocks in force"), "{listed}");
    assert_eq!(
        steps(&fw, &second),
        ["new\tanalyzer", "contained\twang", "lifted\tanalyzer"]
    );

    // A duplicate is merged into the alert it repeats (named by a prefix) and takes no
    // more work.
    let third = raise(&fw);
    tianmu(
        &fw,
        "wang",
        &["alert", "merge", &third, "--into", &second[..13]],
        true,
    );
    let refused = tianmu(&fw, "wang", &["alert", "start", &third], false);
    assert!(refused.contains("the alert is merged"), "{refused}");
    assert_eq!(steps(&fw, &third), ["new\tanalyzer", "merged\twang"]);
    let shown = tianmu(&fw, "wang", &["alert", "show", &third], true);
    assert!(shown.contains(&second), "merged into {second}: {shown}");
    // The refusals were audited with the containment as their rule.
    let audited = fw.events(
        "SELECT count() FROM {db}.statements WHERE account = 'analyst_li' AND action = 'block' AND startsWith(rule, 'containment:c-')",
    );
    assert_ne!(audited.trim(), "0", "refusals audited");
}
