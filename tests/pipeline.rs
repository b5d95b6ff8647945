//! The event pipeline end to end: the real `tianmu` binary, its spool on disk and the real
//! ClickHouse server, with the faults the pipeline promises to survive — a ClickHouse outage,
//! a SIGKILL in the middle of a batch, a corrupted spool segment.

mod common;

use common::*;
use std::time::Duration;

/// A small batch makes shipping take many inserts, so that faults land in the middle.
const SMALL_BATCHES: &str = "batch-events = 200\nbatch-wait = \"10ms\"";

#[test]
fn inject_survives_a_clickhouse_outage_with_exact_counts() {
    let ch = PrivateClickHouse::start();
    let s = Scratch::new("outage", &ch.url, SMALL_BATCHES);
    let total = 100_000u64;

    let mut inject =
        Running::spawn(s.command(&["pipeline", "inject", "--count", &total.to_string()]));
    wait_until(
        "the first rows in ClickHouse",
        Duration::from_secs(60),
        || s.delivered_so_far() > 0,
    );
    ch.kill();
    inject.wait_line("spooled ", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2)); // the shipper retries against a dead server
    // inject exits only once everything is delivered: still running means the outage hit
    // the middle of the delivery.
    assert!(
        inject.child.try_wait().expect("try_wait").is_none(),
        "inject finished before ClickHouse went away; the test proves nothing"
    );
    ch.restart();

    let (status, stdout, stderr) = inject.finish(Duration::from_secs(300));
    assert!(status.success(), "inject failed: {stdout:?}\n{stderr}");
    assert!(
        stdout
            .iter()
            .any(|l| l.starts_with(&format!("delivered {total} events"))),
        "inject did not report delivering {total}: {stdout:?}"
    );
    assert_eq!(
        s.delivered(),
        (total, total),
        "rows and distinct ids after the outage"
    );
    let outages = stderr.matches("ClickHouse unavailable").count();
    let recoveries = stderr.matches("ClickHouse reachable again").count();
    assert!(outages >= 1, "the outage was not logged:\n{stderr}");
    assert_eq!(
        outages, recoveries,
        "each outage is logged once and its end once:\n{stderr}"
    );
}

#[test]
fn sigkill_in_the_middle_of_shipping_loses_and_duplicates_nothing() {
    let url = require_clickhouse();
    let s = Scratch::new("sigkill", &url, SMALL_BATCHES);
    let total = 60_000u64;

    let mut inject =
        Running::spawn(s.command(&["pipeline", "inject", "--count", &total.to_string()]));
    let spooled = inject.wait_line("spooled ", Duration::from_secs(60));
    assert_eq!(spooled, format!("spooled {total} events"));
    wait_until("shipping to begin", Duration::from_secs(60), || {
        s.delivered_so_far() > 0
    });
    inject.child.kill().expect("SIGKILL inject");
    let (_, _, _) = inject.finish(Duration::from_secs(10));
    let after_first_kill = s.delivered().0;
    assert!(
        after_first_kill < total,
        "inject finished before it was killed"
    );

    // A second shipper is killed too, then a third one finishes the job.
    let mut flush = Running::spawn(s.command(&["pipeline", "flush", "--timeout", "120s"]));
    wait_until(
        "the second shipper to make progress",
        Duration::from_secs(60),
        || s.delivered().0 > after_first_kill,
    );
    flush.child.kill().expect("SIGKILL flush");
    let _ = flush.finish(Duration::from_secs(10));

    let out = s.run(&["pipeline", "flush", "--timeout", "120s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "flush failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("spool is empty"),
        "flush left events behind: {stdout}"
    );
    assert_eq!(
        s.delivered(),
        (total, total),
        "rows and distinct ids after two SIGKILLs"
    );
}

#[test]
fn a_corrupted_segment_is_quarantined_and_the_rest_delivered() {
    let url = require_clickhouse();
    let total = 5_000u64;
    let offline = spool_offline("corrupt", total);

    let mut segments: Vec<_> = std::fs::read_dir(offline.spool())
        .expect("spool dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    assert!(
        segments.len() >= 4,
        "expected several segments, got {segments:?}"
    );
    let per_segment: Vec<usize> = segments.iter().map(|p| record_offsets(p).len()).collect();
    assert_eq!(
        per_segment.iter().sum::<usize>() as u64,
        total,
        "records on disk"
    );

    // Flip one payload byte of the 10th record of the second segment.
    let victim = &segments[1];
    let offsets = record_offsets(victim);
    let mut bytes = std::fs::read(victim).expect("read segment");
    let at = offsets[10] as usize + 8 + 3;
    bytes[at] ^= 0xff;
    std::fs::write(victim, bytes).expect("write segment");
    let lost = (per_segment[1] - 10) as u64;

    // Now ship to the real server.
    let online = Scratch::new("corrupt", &url, SEGMENTS);
    move_spool(&offline, &online);
    let out = online.run(&["pipeline", "flush", "--timeout", "120s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "flush failed:\n{stderr}");
    let name = victim
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    assert!(
        stderr.contains("Quarantined a damaged spool segment") && stderr.contains(&name),
        "the damaged segment was not reported with its path:\n{stderr}"
    );
    assert!(
        online.spool().join("quarantine").join(&name).exists(),
        "{name} not in quarantine/"
    );
    let expected = total - lost;
    assert_eq!(
        online.delivered(),
        (expected, expected),
        "everything but the damaged tail"
    );

    let stats = online.run(&["pipeline", "stats"]);
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(
        stats.contains("quarantined    1 segments"),
        "stats: {stats}"
    );
}

#[test]
fn events_shipped_twice_are_counted_once() {
    let url = require_clickhouse();
    let total = 3_000u64;
    let offline = spool_offline("twice", total);
    let copy = tempfile::tempdir().expect("temp dir");
    copy_dir(&offline.spool(), copy.path());

    // The same spool shipped twice, as after a crash between an insert and its commit.
    let online = Scratch::new("twice", &url, SEGMENTS);
    move_spool(&offline, &online);
    for round in 1..=2 {
        let out = online.run(&["pipeline", "flush", "--timeout", "60s"]);
        assert!(
            out.status.success(),
            "flush {round} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            online.delivered(),
            (total, total),
            "after shipping round {round}"
        );
        std::fs::remove_dir_all(online.spool()).expect("remove spool");
        copy_dir(copy.path(), &online.spool());
    }
}

const SEGMENTS: &str = "segment-size = \"64 KiB\"";

/// Spools `total` synthetic events while ClickHouse is unreachable, so that all of them stay
/// on disk in small segments; stops inject with SIGTERM once they are spooled.
fn spool_offline(name: &str, total: u64) -> Scratch {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let offline = Scratch::new(name, &dead, SEGMENTS);
    let mut inject =
        Running::spawn(offline.command(&["pipeline", "inject", "--count", &total.to_string()]));
    inject.wait_line("spooled ", Duration::from_secs(60));
    let term = std::process::Command::new("kill")
        .args(["-TERM", &inject.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let (status, stdout, stderr) = inject.finish(Duration::from_secs(30));
    assert!(
        !status.success(),
        "inject cannot succeed without ClickHouse: {stdout:?}\n{stderr}"
    );
    offline
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

fn move_spool(from: &Scratch, to: &Scratch) {
    let dest = to.spool();
    std::fs::create_dir_all(dest.parent().expect("a parent")).expect("create the spool root");
    std::fs::rename(from.spool(), dest).expect("move the spool");
}
