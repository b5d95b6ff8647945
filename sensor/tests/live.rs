//! The live ring against the real kernel: capture on loopback while psql talks to the local
//! PostgreSQL (127.0.0.1:5432, trust auth, as on the project's machines), and a ring too
//! small for a stalled worker, whose drops the kernel must report.
//!
//! Needs root (CAP_NET_RAW) and PostgreSQL; without them the tests fail saying so.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use analyzer::event::{Body, Event};
use sensor::config::SensorConfig;
use sensor::event::{Analyst, Events};
use sensor::live::{Live, Sink};

fn require_root() {
    // SAFETY-free check: /proc/self/status's effective uid.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        euid, "0",
        "live capture tests need root (CAP_NET_RAW): run them as root"
    );
}

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "-At", "-c", sql])
        // TLS would hide the statements (the sensor sees only that TLS began).
        .env("PGSSLMODE", "disable")
        .output()
        .expect("psql runs (Debian package postgresql-client)");
    assert!(
        out.status.success(),
        "psql failed (is PostgreSQL at 127.0.0.1:5432?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config(ring: &[(&str, &str)]) -> SensorConfig {
    let mut toml = String::from("interfaces = [\"lo\"]\nports = [5432]\n");
    for (k, v) in ring {
        toml.push_str(&format!("{k} = {v}\n"));
    }
    let raw: sensor::config::SensorRaw = toml::from_str(&toml).expect("valid [sensor]");
    let mut problems = rules::file::Problems::default();
    let cfg = raw.validate("sensor", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    cfg
}

fn start(cfg: &SensorConfig, sink: impl Fn() -> Sink) -> Live {
    require_root();
    Live::start(
        cfg,
        || Events::new("test/sensor", Analyst::Plain),
        |_| sink(),
    )
    .expect("the ring opens on lo")
}

fn statements(events: &[Event]) -> Vec<(String, String, u64)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Statement(s) => Some((s.normalized.clone(), s.account.clone(), s.rows)),
            _ => None,
        })
        .collect()
}

#[test]
fn loopback_postgres_statements_are_seen_once() {
    let (tx, rx) = mpsc::channel::<Vec<Event>>();
    let live = start(&config(&[]), || {
        let tx = tx.clone();
        Box::new(move |batch| {
            let _ = tx.send(batch);
        })
    });
    psql("SELECT g FROM generate_series(1, 7) g -- live ring test");
    // The statement ends with the connection: FIN both ways, within a block timeout.
    std::thread::sleep(Duration::from_millis(500));
    let counters = live.stop();
    drop(tx);
    let events: Vec<Event> = rx.iter().flatten().collect();
    let ours: Vec<_> = statements(&events)
        .into_iter()
        .filter(|(text, _, _)| text.contains("generate_series"))
        .collect();
    // Loopback delivers each packet twice; one copy only reaches the flow table, or the
    // statement would be reported twice (or its bytes seen as retransmissions).
    assert_eq!(
        ours,
        [(
            "SELECT g FROM generate_series(?, ?) g".to_owned(),
            "postgres".to_owned(),
            7
        )],
        "counters: {counters}"
    );
    assert!(counters.packets >= 10, "{counters}");
    assert_eq!(counters.retransmissions, 0, "{counters}");
    assert_eq!(counters.drops, 0, "{counters}");
}

/// A worker stalled by its sink, a ring of two 4 KiB blocks and traffic meanwhile: the
/// kernel drops packets and the sensor's `drops` counter says how many.
#[test]
fn a_full_ring_counts_kernel_drops() {
    let cfg = config(&[
        ("ring-block-size", "\"4 KiB\""),
        ("ring-blocks", "2"),
        ("ring-frame-size", "2048"),
    ]);
    let live = start(&cfg, || {
        let mut first = true;
        Box::new(move |_batch| {
            if first {
                first = false;
                std::thread::sleep(Duration::from_secs(3));
            }
        })
    });
    // The first statement stalls the worker; the rest arrive while it is stalled.
    psql("SELECT 1");
    let flood = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let to = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    for _ in 0..2000 {
        let _ = flood.send_to(&[0u8; 512], to.local_addr().expect("addr"));
    }
    std::thread::sleep(Duration::from_secs(4));
    let counters = live.stop();
    assert!(counters.drops > 0, "no drops counted: {counters}");
    assert!(counters.packets > 0, "{counters}");
}
