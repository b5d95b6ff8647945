//! Console frames while events arrive: the render loop of `console::run` against the real
//! ClickHouse while the real pipeline ships 10,000 statements a second into it.
//!
//!     cargo bench -p tianmu-console --bench live
//!     TIANMU_BENCH_SECS=60 TIANMU_BENCH_RATE=20000 cargo bench -p tianmu-console --bench live
//!
//! - a private database (`tianmu_bench_console_<pid>`) in the ClickHouse at
//!   `TIANMU_BENCH_CLICKHOUSE` (default http://127.0.0.1:8123), dropped at the end;
//! - 2,000 alerts with their timelines (the render benchmark's fixture, dated now) shipped
//!   through the pipeline first, so the alert queue is full;
//! - a producer task emitting synthetic statements through the real pipeline (spool on
//!   disk, fsync per batch, shipper) at `TIANMU_BENCH_RATE` events/s (default 10,000),
//!   paced every 10 ms;
//! - the console's own loader (`data::spawn`, the same queries) every
//!   `TIANMU_BENCH_REFRESH` (default 1s), feeding an `App`;
//! - on the main thread, frames at `TIANMU_BENCH_FPS` (default 50) for `TIANMU_BENCH_SECS`
//!   (default 20) on ratatui's TestBackend at 120×40, the situation, the alert queue and
//!   the event explorer in turn (one second each). A frame is what the console's loop does
//!   per wake-up: take whatever the loader has sent (`try_recv`, never waiting), handle it,
//!   draw.
//!
//! It prints the achieved event rate, frame time p50/p99/max (target ≤ 16 ms), the loader's
//! snapshot latency (load start → snapshot), and whether any frame waited on data.

use std::time::{Duration, Instant};

use analyzer::config::{ClickHouseConfig, SpoolConfig};
use analyzer::event::{Body, Event, Kind, Transition};
use analyzer::pipeline::{Mode, Pipeline, Producer};
use analyzer::schema;
use analyzer::ship::{ClickHouse, Outcome};
use analyzer::synthetic::Synthetic;
use chrono::{DateTime, Utc};
use console::app::App;
use console::config::{ConsoleConfig, Language};
use console::data::{self, EventFilter, Source, Update};
use console::fixture;
use console::keys::Action;
use console::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::error::TryRecvError;
use tokio_util::sync::CancellationToken;

const SIZE: (u16, u16) = (120, 40);
const BUDGET: Duration = Duration::from_millis(16);
/// Alerts in the queue: the fixture's six named ones and these.
const EXTRA_ALERTS: usize = 1_994;
const PRODUCER: &str = "bench-console/firewall";
const PACE: Duration = Duration::from_millis(10);
/// A frame whose `try_recv`s took longer than this would have waited on data.
const WAITED: Duration = Duration::from_millis(1);
const SCREENS: [(&str, Action); 3] = [
    ("situation", Action::GotoSituation),
    ("alert queue", Action::GotoAlerts),
    ("events", Action::GotoEvents),
];

struct Frame {
    start: DateTime<Utc>,
    took: Duration,
    /// Waiting for a CPU during the frame (`/proc/thread-self/schedstat`).
    runqueue: Duration,
    /// Time spent in `try_recv` (taking the loader's updates).
    recv: Duration,
    screen: usize,
    /// A snapshot was handled in this frame.
    update: bool,
}

struct Snap {
    taken: DateTime<Utc>,
    /// Age of the newest statement shown, at `taken`.
    newest_age: Option<chrono::Duration>,
    alerts: usize,
    events_per_sec: f64,
}

struct Fed {
    sent: u64,
    elapsed: Duration,
    /// Longest the producer fell behind its schedule.
    max_lag: Duration,
}

fn main() {
    let url =
        std::env::var("TIANMU_BENCH_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let secs: u64 = env_or("TIANMU_BENCH_SECS", 20);
    let rate: u64 = env_or("TIANMU_BENCH_RATE", 10_000);
    let fps: u64 = env_or("TIANMU_BENCH_FPS", 50);
    let refresh = std::env::var("TIANMU_BENCH_REFRESH")
        .ok()
        .map(|v| humantime::parse_duration(&v).expect("TIANMU_BENCH_REFRESH is a duration"))
        .unwrap_or(Duration::from_secs(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let _rt = rt.enter();

    let cfg = ClickHouseConfig {
        url: url.clone(),
        database: format!("tianmu_bench_console_{}", std::process::id()),
        user: "default".into(),
        password: String::new(),
        timeout: Duration::from_secs(10),
        retention_days: 3650,
    };
    let ch = ClickHouse::new(&cfg);
    let version: String = rt
        .block_on(ch.server.query("SELECT version()").fetch_one())
        .unwrap_or_else(|e| {
            panic!("ClickHouse is not reachable at {url} ({e}): start it with `bash deploy/clickhouse.sh start`")
        });
    rt.block_on(schema::migrate(&ch.server, &cfg.url, &cfg.database))
        .expect("the schema is applied");
    println!(
        "console live: {rate} events/s for {secs} s, frames at {fps} fps on {}×{}, refresh {}, ClickHouse {version} at {url} (database {})",
        SIZE.0,
        SIZE.1,
        humantime::format_duration(refresh),
        cfg.database
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let spool = SpoolConfig::at(dir.path().join("spool"));
    let pipeline = Pipeline::start(&spool, &cfg, Mode::Drain).expect("the pipeline starts");
    let producer = pipeline.producer();

    // The alert queue: 2,000 alerts with their steps, in ClickHouse before the clock starts.
    let alerts = rt.block_on(seed_alerts(&producer));
    rt.block_on(wait_for_alerts(&ch, alerts));

    // Events at the given rate.
    let stop = CancellationToken::new();
    let feeder = rt.spawn(feed(producer.clone(), rate, stop.clone()));
    drop(producer);

    // The console: its loader and its state.
    let console_cfg = ConsoleConfig {
        language: Language::Zh,
        refresh,
        read_only: false,
    };
    let mut app = App::new(&console_cfg, "bench", Utc::now());
    app.resize(SIZE.0, SIZE.1);
    let loader_started = Utc::now();
    let mut loader = data::spawn(Source::new(&cfg), refresh, EventFilter::default());
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("test backend");

    let period = Duration::from_nanos(1_000_000_000 / fps.max(1));
    let started = Instant::now();
    let run_for = Duration::from_secs(secs);
    let mut next = started;
    let mut frames: Vec<Frame> = Vec::new();
    let mut snaps: Vec<Snap> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut pickup: Vec<Duration> = Vec::new();
    let mut late = 0usize;
    let mut screen = usize::MAX;
    let sched = Sched::open();
    let load_before = loadavg();
    while started.elapsed() < run_for {
        let sched_before = sched.read();
        let t = Instant::now();
        let start = Utc::now();
        let s = ((started.elapsed().as_secs()) % SCREENS.len() as u64) as usize;
        if s != screen {
            screen = s;
            let _ = app.handle(SCREENS[s].1);
        }
        app.tick(start);
        let mut recv = Duration::ZERO;
        let mut update = false;
        loop {
            let r = Instant::now();
            let got = loader.updates.try_recv();
            recv += r.elapsed();
            match got {
                Ok(u) => {
                    match &u {
                        Update::Snapshot(s) => {
                            update = true;
                            pickup.push((Utc::now() - s.taken).to_std().unwrap_or_default());
                            snaps.push(Snap {
                                taken: s.taken,
                                newest_age: s.events.rows.first().map(|r| s.taken - r.time),
                                alerts: s.alerts.len(),
                                events_per_sec: s.situation.events_per_sec,
                            });
                        }
                        Update::Failed { error, .. } => failures.push(error.clone()),
                        Update::Evidence { .. } => {}
                    }
                    app.update(u);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => panic!("the loader stopped"),
            }
        }
        terminal
            .draw(|f| ui::draw(f, &app))
            .expect("a test backend draws");
        let took = t.elapsed();
        let runqueue = sched.since(sched_before);
        frames.push(Frame {
            start,
            took,
            runqueue,
            recv,
            screen,
            update,
        });
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            if now - next > period {
                late += 1;
            }
            next = now;
        }
    }
    let rendered_for = started.elapsed();
    let load_after = loadavg();
    stop.cancel();
    let fed = rt.block_on(feeder).expect("the producer task");
    drop(loader);

    // Everything emitted reaches ClickHouse.
    let give_up = CancellationToken::new();
    let timer = {
        let give_up = give_up.clone();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_secs(120)).await;
            give_up.cancel();
        })
    };
    let outcome = rt
        .block_on(pipeline.finish(give_up))
        .expect("the pipeline finishes");
    timer.abort();
    let stored: u64 = rt
        .block_on(
            ch.db
                .query("SELECT count() FROM statements WHERE producer = ?")
                .bind(PRODUCER)
                .fetch_one(),
        )
        .expect("statements counted");

    report(Report {
        rate,
        fed: &fed,
        outcome,
        stored,
        frames: &frames,
        rendered_for,
        period,
        late,
        snaps: &snaps,
        failures: &failures,
        pickup: &pickup,
        loader_started,
        refresh,
        load: (load_before, load_after),
    });

    rt.block_on(
        ch.server
            .query(&format!("DROP DATABASE IF EXISTS {}", cfg.database))
            .execute(),
    )
    .expect("the database is dropped");
}

struct Report<'a> {
    rate: u64,
    fed: &'a Fed,
    outcome: Outcome,
    stored: u64,
    frames: &'a [Frame],
    rendered_for: Duration,
    period: Duration,
    late: usize,
    snaps: &'a [Snap],
    failures: &'a [String],
    pickup: &'a [Duration],
    loader_started: DateTime<Utc>,
    refresh: Duration,
    load: (String, String),
}

fn report(r: Report<'_>) {
    let achieved = r.fed.sent as f64 / r.fed.elapsed.as_secs_f64().max(1e-9);
    println!(
        "events: {} statements in {:.1} s = {achieved:.0} events/s (target {}), producer at most {:.1?} behind schedule; {} stored in ClickHouse ({:?})",
        r.fed.sent,
        r.fed.elapsed.as_secs_f64(),
        r.rate,
        r.fed.max_lag,
        r.stored,
        r.outcome
    );
    let fps = r.frames.len() as f64 / r.rendered_for.as_secs_f64().max(1e-9);
    println!(
        "frames: {} in {:.1} s ({fps:.1} fps, period {:.1?}; {} late by more than a period)",
        r.frames.len(),
        r.rendered_for.as_secs_f64(),
        r.period,
        r.late
    );
    println!(
        "machine: {} cores, load average {} before, {} after",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.load.0,
        r.load.1
    );
    let all: Vec<Duration> = r.frames.iter().map(|f| f.took).collect();
    print_times("all screens", &all);
    let over: Vec<&Frame> = r.frames.iter().filter(|f| f.took > BUDGET).collect();
    let preempted = over
        .iter()
        .filter(|f| f.took.saturating_sub(f.runqueue) <= BUDGET)
        .count();
    println!(
        "  {} frames over {} ms, {preempted} of them within it but for time spent waiting for a CPU",
        over.len(),
        BUDGET.as_millis()
    );
    for (i, (name, _)) in SCREENS.iter().enumerate() {
        let times: Vec<Duration> = r
            .frames
            .iter()
            .filter(|f| f.screen == i)
            .map(|f| f.took)
            .collect();
        print_times(name, &times);
    }
    let with_update: Vec<Duration> = r
        .frames
        .iter()
        .filter(|f| f.update)
        .map(|f| f.took)
        .collect();
    print_times("frames handling a snapshot", &with_update);

    // Load k starts at the loader's tick or, if the previous load overran, when it ended
    // (the interval delays missed ticks); the snapshot is stamped when the load ends.
    let mut latencies = Vec::new();
    let mut loading: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut tick = r.loader_started;
    let refresh = chrono::Duration::from_std(r.refresh).unwrap_or_default();
    let mut prev_end = r.loader_started;
    for s in r.snaps {
        let begin = tick.max(prev_end);
        latencies.push((s.taken - begin).to_std().unwrap_or_default());
        loading.push((begin, s.taken));
        tick = begin + refresh;
        prev_end = s.taken;
    }
    println!(
        "loader: {} snapshots, {} failed loads{}",
        r.snaps.len(),
        r.failures.len(),
        r.failures
            .first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    print_times("snapshot latency (load)", &latencies);
    print_times("snapshot → frame", r.pickup);
    let ages: Vec<Duration> = r
        .snaps
        .iter()
        .filter_map(|s| s.newest_age.and_then(|a| a.to_std().ok()))
        .collect();
    print_times("newest statement's age", &ages);
    if let Some(last) = r.snaps.last() {
        println!(
            "  last snapshot: {} alerts, {:.0} events/s on the situation screen (1-minute window)",
            last.alerts, last.events_per_sec
        );
    }

    let during_load = r
        .frames
        .iter()
        .filter(|f| loading.iter().any(|(b, e)| f.start >= *b && f.start < *e))
        .count();
    // `try_recv` never sleeps: time in it beyond the frame's wait for a CPU is waiting.
    let waited = r
        .frames
        .iter()
        .filter(|f| f.recv.saturating_sub(f.runqueue) > WAITED)
        .count();
    let max_recv = r.frames.iter().map(|f| f.recv).max().unwrap_or_default();
    println!(
        "waited on data: {} ({waited} frames spent more than {WAITED:?} taking updates besides waiting for a CPU; longest take {max_recv:.1?}); {during_load} of {} frames drawn while a load was running",
        if waited == 0 { "no" } else { "YES" },
        r.frames.len()
    );
    let p99 = percentile(&all, 0.99);
    println!(
        "target ≤ {} ms per frame: {} (p99 {:.2} ms, max {:.2} ms)",
        BUDGET.as_millis(),
        if p99 <= BUDGET { "met" } else { "MISSED" },
        ms(p99),
        ms(all.iter().copied().max().unwrap_or_default())
    );
}

fn print_times(name: &str, times: &[Duration]) {
    if times.is_empty() {
        println!("  {name:<28} none");
        return;
    }
    println!(
        "  {name:<28} n={:<5} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
        times.len(),
        ms(percentile(times, 0.5)),
        ms(percentile(times, 0.99)),
        ms(times.iter().copied().max().unwrap_or_default())
    );
}

fn percentile(times: &[Duration], q: f64) -> Duration {
    let mut v = times.to_vec();
    v.sort();
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1)) - 1;
    v.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The fixture's alerts, dated now, and their steps, through the pipeline; returns how many
/// alerts.
async fn seed_alerts(producer: &Producer) -> usize {
    let records = fixture::alerts(Utc::now(), EXTRA_ALERTS);
    let mut events = Vec::new();
    for r in &records {
        events.push(Event::at(
            "bench-console/analyzer",
            r.raised,
            Body::Alert(r.alert.clone()),
        ));
        for s in &r.timeline.steps {
            events.push(Event::at(
                "bench-console/console",
                s.time,
                Body::Transition(Transition {
                    alert_id: r.alert.alert_id,
                    state: s.state,
                    actor: s.actor.clone(),
                    note: s.note.clone(),
                    resolution: s.resolution,
                }),
            ));
        }
    }
    producer
        .emit_durable(events)
        .await
        .expect("the alerts are spooled");
    records.len()
}

async fn wait_for_alerts(ch: &ClickHouse, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let have: u64 = ch
            .db
            .query("SELECT count() FROM alerts")
            .fetch_one()
            .await
            .expect("alerts counted");
        if have >= n as u64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {n} alerts reached ClickHouse in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Synthetic statements through the pipeline at `rate` a second until `stop`.
async fn feed(producer: Producer, rate: u64, stop: CancellationToken) -> Fed {
    let mut synthetic = Synthetic::new(PRODUCER, 9);
    let mut tick = tokio::time::interval(PACE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut max_lag = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let elapsed = started.elapsed();
        let due = (rate as f64 * elapsed.as_secs_f64()) as u64;
        let n = due.saturating_sub(sent);
        // How far behind the schedule the events about to be sent are.
        let behind = n.saturating_sub(rate * PACE.as_millis() as u64 / 1000);
        max_lag = max_lag.max(Duration::from_secs_f64(behind as f64 / rate.max(1) as f64));
        let mut events = Vec::with_capacity(n as usize);
        while (events.len() as u64) < n {
            let e = synthetic.next_event();
            if e.kind() == Kind::Statement {
                events.push(e);
            }
        }
        producer
            .emit(events)
            .await
            .expect("the pipeline takes events");
        sent += n;
    }
    Fed {
        sent,
        elapsed: started.elapsed(),
        max_lag,
    }
}

/// This thread's scheduler accounting.
struct Sched(Option<std::fs::File>);

impl Sched {
    fn open() -> Sched {
        Sched(std::fs::File::open("/proc/thread-self/schedstat").ok())
    }

    /// Nanoseconds spent waiting on a run queue (the second field; the first, time on the
    /// CPU, is only brought up to date at scheduler events).
    fn read(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let Some(f) = &self.0 else { return 0 };
        let mut buf = [0u8; 128];
        let n = f.read_at(&mut buf, 0).unwrap_or(0);
        let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
        text.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn since(&self, before: u64) -> Duration {
        Duration::from_nanos(self.read().saturating_sub(before))
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let v: Vec<&str> = l.split_whitespace().take(3).collect();
            (v.len() == 3).then(|| v.join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}
