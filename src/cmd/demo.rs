//! `tianmu demo`: the demo appliance on this host.

use std::process::ExitCode;
use std::time::Duration;

use analyzer::pipeline::{Mode, Pipeline};
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::cancel_on_signal_or;
use crate::config::Config;

/// The demo platform's databases: `publicdata` in the local PostgreSQL and MariaDB with
/// DEMO.md's data (seed 1) and accounts, loaded unless it is there already. A server that
/// cannot be reached is reported and the demo goes on without it.
async fn demo_data(seed: u64) {
    let result = tokio::task::spawn_blocking(move || {
        use demo::data::{Counts, Target, generate, is_loaded, load};
        let target = Target::default();
        let dataset = generate(seed, &Counts::default());
        if is_loaded(&target, &dataset)? {
            return Ok(None);
        }
        load(&target, &dataset).map(Some)
    })
    .await;
    match result {
        Ok(Ok(None)) => {
            eprintln!("tianmu demo: demo databases: publicdata already loaded (seed 1)")
        }
        Ok(Ok(Some(r))) => eprintln!(
            "tianmu demo: demo databases: loaded publicdata ({}) in {:.1} s",
            r.counts,
            r.elapsed.as_secs_f64()
        ),
        Ok(Err(e)) => eprintln!("tianmu demo: demo databases: {e}; going on without them"),
        Err(e) => eprintln!("tianmu demo: demo databases: loader failed: {e}"),
    }
}

/// Normal demo traffic, straight to the servers until the firewall exists, until `stop`.
/// The firewall's PostgreSQL listeners of the demo config, auditing into the demo's
/// pipeline. Returns the task, the policy watcher (kept alive by the caller) and the
/// addresses the demo traffic should use for PostgreSQL and MariaDB: each protocol's first
/// listener when it started, else the server itself. Anything that fails is reported and
/// the demo goes on without it.
async fn demo_firewall(
    cfg: &Config,
    pipeline: &Pipeline,
    stop: CancellationToken,
) -> (
    Option<tokio::task::JoinHandle<()>>,
    Option<rules::policy::reload::Live>,
    [std::net::SocketAddr; 2],
) {
    use analyzer::event::Protocol;
    use rules::policy::reload::Live;
    let direct: [std::net::SocketAddr; 2] =
        [([127, 0, 0, 1], 5432).into(), ([127, 0, 0, 1], 3306).into()];
    let files = match cfg.policy.live(&cfg.path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tianmu demo: firewall: {e}; skipped");
            return (None, None, direct);
        }
    };
    let live = match Live::start(files, |_| {}) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tianmu demo: firewall: {e}; skipped");
            return (None, None, direct);
        }
    };
    let listeners = cfg.firewall.listeners.clone();
    let first = |protocol| {
        listeners
            .iter()
            .find(|l| l.protocol == protocol)
            .map(|l| l.listen)
    };
    let wanted = [first(Protocol::Postgres), first(Protocol::Mysql)];
    let keys = (0..listeners.len())
        .map(|i| format!("firewall.listeners[{i}].listen"))
        .collect();
    let fw = firewall::run::Firewall {
        listeners,
        keys,
        max_connections: cfg.firewall.max_connections,
        metrics: cfg.firewall.metrics,
        policy: live.cell(),
        containment: live.containment(),
        sink: firewall::audit::Sink::Pipeline(pipeline.producer()),
        producer: cfg.producer("firewall"),
    };
    let task = tokio::spawn(async move {
        if let Err(e) = firewall::run::run(fw, stop).await {
            eprintln!("tianmu demo: firewall: {e}; going on without it");
        }
    });
    let mut route = direct;
    for ((addr, name), to) in wanted
        .into_iter()
        .zip(["PostgreSQL", "MySQL"])
        .zip(&mut route)
    {
        let Some(addr) = addr else { continue };
        for _ in 0..50 {
            if task.is_finished() {
                return (None, None, direct);
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                eprintln!(
                    "tianmu demo: firewall: {name} listener on {addr}, demo traffic goes through it"
                );
                *to = addr;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (Some(task), Some(live), route)
}

/// The analyzer's detection loop in the demo, its alerts through a spool of its own.
fn demo_analyzer(cfg: &Config, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let platform = match cfg.platform() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tianmu demo: analyzer: {e}\nskipped");
            return None;
        }
    };
    let (ch, spool, analyzer, producer) = (
        cfg.clickhouse.clone(),
        cfg.spool("analyzer"),
        cfg.analyzer.clone(),
        cfg.producer("analyzer"),
    );
    eprintln!(
        "tianmu demo: analyzer: detectors every {:?}, alerts into ClickHouse (tianmu analyzer --once prints them)",
        analyzer.interval
    );
    Some(tokio::spawn(async move {
        if let Err(e) = analyzer::cycle::run(&ch, &spool, analyzer, platform, &producer, stop).await
        {
            eprintln!("tianmu demo: analyzer: {e}; going on without it");
        }
    }))
}

fn demo_traffic(
    demo: &demo::config::DemoConfig,
    [postgres, mariadb]: [std::net::SocketAddr; 2],
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use demo::traffic::{Profile, TrafficConfig, run};
    let (rate, seed, api) = (demo.traffic_rate, demo.seed, demo.api);
    if rate <= 0.0 {
        return tokio::spawn(async {});
    }
    eprintln!(
        "tianmu demo: normal traffic at {rate} actions/s (tianmu traffic --profile <scenario> injects one)"
    );
    tokio::spawn(async move {
        let cfg = TrafficConfig {
            postgres,
            mariadb,
            api: Some(api),
            database: "publicdata".into(),
            seed,
            rate,
            duration: Duration::from_secs(365 * 24 * 3600),
            record: None,
        };
        if let Err(e) = run(cfg, Profile::Normal, stop).await {
            eprintln!("tianmu demo: traffic: {e}");
        }
    })
}

/// Starts the demo's sharing API, reading PostgreSQL at `postgres` (the firewall's
/// listener when it runs: an application that went around it would be a bypass); a port in
/// use is reported and the demo goes on.
async fn demo_api(
    cfg: &Config,
    postgres: std::net::SocketAddr,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut api = demo::api::ApiConfig::demo(cfg.demo.api);
    api.database = format!(
        "host={} port={} user=share_api password=share_api dbname=publicdata",
        postgres.ip(),
        postgres.port()
    );
    let file = cfg.path.display().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        if let Err(e) = demo::api::serve(api, stop, Some(tx)).await {
            eprintln!(
                "tianmu demo: sharing API: {e} (change `demo.api` in {file}); going on without it"
            );
        }
    });
    match rx.await {
        Ok(addr) => {
            eprintln!(
                "tianmu demo: sharing API on http://{addr} (GET /api/v1/legal-person/{{uscc}}, /api/v1/credit?uscc=; header X-App-Key: {})",
                demo::api::DEMO_APP_KEYS[0]
            );
            Some(task)
        }
        Err(_) => {
            let _ = task.await;
            None
        }
    }
}

/// A ClickHouse for the demo: when none answers at the configured local URL, the project's
/// `deploy/clickhouse.sh` starts one under the checkout's data folder.
async fn demo_clickhouse(cfg: &Config) {
    let ch = analyzer::ship::ClickHouse::new(&cfg.clickhouse);
    if ch.version().await.is_ok() {
        return;
    }
    let url = &cfg.clickhouse.url;
    let local = url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:");
    let port = url
        .rsplit(':')
        .next()
        .unwrap_or("8123")
        .trim_end_matches('/')
        .to_owned();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/clickhouse.sh");
    if !local || !script.is_file() {
        eprintln!(
            "tianmu demo: ClickHouse does not answer at {url}; events wait in the spool until it does"
        );
        return;
    }
    eprintln!(
        "tianmu demo: ClickHouse does not answer at {url}; starting one ({})",
        script.display()
    );
    let status = tokio::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .env("TIANMU_CH_HTTP_PORT", &port)
        .status()
        .await;
    if !status.is_ok_and(|s| s.success()) {
        eprintln!(
            "tianmu demo: could not start ClickHouse; events wait in the spool until one answers"
        );
    }
}

/// `tianmu demo`: runs what is built so far on this host — for now the event pipeline,
/// reporting its health every few seconds — until Ctrl-C.
pub async fn run(cfg: Config) -> Result<ExitCode> {
    use analyzer::event::{Body, Event, Health, HealthStatus};
    demo_clickhouse(&cfg).await;
    let spool = cfg.spool("demo");
    let pipeline = Pipeline::start(&spool, &cfg.clickhouse, Mode::Daemon)
        .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?;
    eprintln!(
        "tianmu demo: event pipeline running: spool {} → ClickHouse {} (database {})",
        spool.path.display(),
        cfg.clickhouse.url,
        cfg.clickhouse.database
    );
    demo_data(cfg.demo.seed).await;
    let stop = cancel_on_signal_or(None);
    let (firewall, _policy, route) = demo_firewall(&cfg, &pipeline, stop.clone()).await;
    let api = demo_api(&cfg, route[0], stop.clone()).await;
    let traffic = demo_traffic(&cfg.demo, route, stop.clone());
    let analyzer = demo_analyzer(&cfg, stop.clone());
    let sensor = super::sensor::demo(&cfg, pipeline.producer(), stop.clone());
    eprintln!(
        "tianmu demo: the console: `tianmu console -c {}` in a second terminal",
        cfg.path.display()
    );
    eprintln!("tianmu demo: press Ctrl-C to stop");
    let producer = pipeline.producer();
    let id = cfg.producer("pipeline");
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {
                let c = producer.counters().values();
                let reachable = pipeline.link.reachable.load(std::sync::atomic::Ordering::Relaxed);
                let health = Health {
                    component: "pipeline".into(),
                    status: if reachable { HealthStatus::Ok } else { HealthStatus::Degraded },
                    counters: vec![
                        ("appended".into(), c.appended),
                        ("shipped".into(), c.shipped),
                        ("retried".into(), c.retried),
                        ("dropped_full".into(), c.dropped_full),
                        ("dropped_io".into(), c.dropped_io),
                        ("quarantined_segments".into(), c.quarantined_segments),
                    ],
                    message: String::new(),
                };
                producer.emit(vec![Event::new(id.clone(), Body::Health(health))]).await?;
            }
        }
    }
    drop(producer);
    eprintln!("tianmu demo: stopping");
    if let Some(api) = api {
        let _ = api.await;
    }
    let _ = traffic.await;
    if let Some(f) = firewall {
        let _ = f.await;
    }
    if let Some(a) = analyzer {
        let _ = a.await;
    }
    if let Some(s) = sensor {
        let _ = s.await;
    }
    let done = CancellationToken::new();
    done.cancel();
    pipeline.finish(done).await?;
    Ok(ExitCode::SUCCESS)
}
