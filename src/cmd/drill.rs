//! `tianmu drill list|run`: emergency drills from the command line, through the same runner
//! as the console's Drills screen (`analyzer::drill::Drills`). The binary is where the two
//! halves meet: the analyzer records and scores, the demo's traffic simulator injects
//! ([`TrafficInjector`]).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use analyzer::drill::{self, Drills, Injected, Injector, Progress, SCENARIOS, Scenario};
use analyzer::event::DrillPhase;
use analyzer::pipeline::{Mode, Pipeline};
use analyzer::ship::ClickHouse;
use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::{ConfigArg, cancel_on_signal_or, load};

/// How long `drill run` waits at the end for its last records to reach ClickHouse.
const SHIP_WAIT: Duration = Duration::from_secs(15);
/// Where the demo's sharing API listens (api-scrape calls it).
pub const DEFAULT_API: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8088);
/// How often a drill asks ClickHouse for its alert and the alert's transitions.
const POLL: Duration = Duration::from_secs(1);

#[derive(clap::Subcommand)]
pub enum DrillCommand {
    /// The scenarios a drill can run, and the drills run so far with their scores.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// How many past drills to show.
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// Run a drill: inject the scenario through the configured firewalls, then time the
    /// team handling its alert (with `tianmu alert …` or the console) until it is closed.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// bulk-exfil, sqli, vendor-prod, off-hours, api-scrape or flowback.
        scenario: String,
        /// Abort the drill when its alert is not closed within this long.
        #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// The sharing API (api-scrape calls it).
        #[arg(long, default_value = "127.0.0.1:8088")]
        api: SocketAddr,
    },
}

/// The demo's traffic simulator as a drill's injector: the scenario's profile through the
/// configured firewall listeners (or straight to the local servers when there are none).
#[derive(Debug, Clone)]
pub struct TrafficInjector {
    pub postgres: SocketAddr,
    pub mariadb: SocketAddr,
    pub api: Option<SocketAddr>,
    /// Seed of the loaded demo data (its keys are used).
    pub seed: u64,
}

impl TrafficInjector {
    /// Where `cfg`'s firewall listeners are.
    pub fn of(cfg: &Config, api: Option<SocketAddr>) -> TrafficInjector {
        let mut t = TrafficInjector {
            postgres: SocketAddr::from(([127, 0, 0, 1], 5432)),
            mariadb: SocketAddr::from(([127, 0, 0, 1], 3306)),
            api,
            seed: 1,
        };
        for l in &cfg.firewall.listeners {
            match l.protocol {
                analyzer::event::Protocol::Postgres => t.postgres = l.listen,
                analyzer::event::Protocol::Mysql => t.mariadb = l.listen,
            }
        }
        t
    }
}

impl Injector for TrafficInjector {
    fn inject<'a>(
        &'a self,
        scenario: &'a Scenario,
        steps: mpsc::Sender<Injected>,
        cancel: CancellationToken,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            use demo::traffic::{Profile, TrafficConfig, run_tapped};
            let profile = Profile::from_name(scenario.name)
                .ok_or_else(|| format!("the simulator has no scenario {}", scenario.name))?;
            let cfg = TrafficConfig {
                postgres: self.postgres,
                mariadb: self.mariadb,
                api: self.api,
                database: "publicdata".into(),
                seed: self.seed,
                rate: scenario.rate,
                duration: scenario.inject_for,
                record: None,
            };
            let (tap, mut done) = mpsc::channel(64);
            let forward = async move {
                while let Some(d) = done.recv().await {
                    let d: demo::traffic::Done = d;
                    let step = Injected {
                        time: d.time,
                        detail: format!(
                            "{} {}{}: {}",
                            d.account,
                            d.channel,
                            if d.ok { "" } else { " (refused)" },
                            d.text
                        ),
                    };
                    if steps.send(step).await.is_err() {
                        break;
                    }
                }
            };
            let (report, ()) = tokio::join!(run_tapped(cfg, profile, cancel, Some(tap)), forward);
            let r = report.map_err(|e| e.to_string())?;
            Ok(format!(
                "{} statements ({} refused), {} API calls",
                r.statements, r.refused, r.api_calls
            ))
        })
    }
}

/// `tianmu drill …`.
pub async fn run(command: DrillCommand) -> Result<ExitCode> {
    match command {
        DrillCommand::List { config, last } => list(&load(&config)?, last).await,
        DrillCommand::Run {
            config,
            scenario,
            timeout,
            api,
        } => run_one(&load(&config)?, &scenario, timeout, api).await,
    }
}

fn secs(s: Option<u64>) -> String {
    s.map_or("—".to_owned(), |s| {
        console::ui::span(Duration::from_secs(s))
    })
}

async fn list(cfg: &Config, last: usize) -> Result<ExitCode> {
    println!("scenarios:");
    for s in SCENARIOS {
        println!(
            "  {:<12} {}  (alert: {}{})",
            s.name,
            s.en,
            s.detectors.join(" or "),
            s.entity.map(|e| format!(" about {e}")).unwrap_or_default()
        );
    }
    let ch = ClickHouse::new(&cfg.clickhouse);
    analyzer::schema::migrate(&ch.server, &cfg.clickhouse.url, &cfg.clickhouse.database)
        .await
        .with_context(|| format!("ClickHouse at {}", cfg.clickhouse.url))?;
    let past = drill::history(&ch.db, cfg.clickhouse.timeout, last)
        .await
        .with_context(|| format!("reading drills from ClickHouse at {}", cfg.clickhouse.url))?;
    println!();
    if past.is_empty() {
        println!("no drills run yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<10} {:<19} {:<12} {:<10} {:>8} {:>8} {:>8} {:>8}  alert",
        "drill", "started", "scenario", "outcome", "detect", "ack", "contain", "close"
    );
    for d in &past {
        println!(
            "{:<10} {:<19} {:<12} {:<10} {:>8} {:>8} {:>8} {:>8}  {}",
            drill::short(&d.drill_id),
            d.started
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            d.scenario,
            drill::outcome_name(d.outcome),
            secs(d.detect_secs),
            secs(d.acknowledge_secs),
            secs(d.contain_secs),
            secs(d.close_secs),
            d.alert_id
                .map(|a| a.simple().to_string()[..8].to_owned())
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_one(cfg: &Config, name: &str, timeout: Duration, api: SocketAddr) -> Result<ExitCode> {
    let Some(scenario) = drill::scenario(name) else {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        anyhow::bail!(
            "unknown scenario `{name}`; expected one of {}",
            names.join(", ")
        );
    };
    let ch = ClickHouse::new(&cfg.clickhouse);
    analyzer::schema::migrate(&ch.server, &cfg.clickhouse.url, &cfg.clickhouse.database)
        .await
        .with_context(|| format!("ClickHouse at {}", cfg.clickhouse.url))?;
    let pipeline = Pipeline::start(&cfg.spool("drill"), &cfg.clickhouse, Mode::Drain)
        .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?;
    let producer = pipeline.producer();
    let producer_id = cfg.producer("drill");
    let injector = TrafficInjector::of(cfg, Some(api));
    let actor = analyzer::lifecycle::operator();
    println!(
        "drill {}: {} — {}; PostgreSQL {}, MariaDB {}; handle its alert with `tianmu alert …` or the console; Ctrl-C aborts",
        scenario.name, scenario.en, actor, injector.postgres, injector.mariadb
    );
    let drills = Drills {
        db: &ch.db,
        timeout: cfg.clickhouse.timeout,
        producer: &producer,
        producer_id: &producer_id,
        poll: POLL,
    };
    let (tx, rx) = mpsc::channel::<Progress>(64);
    let cancel = cancel_on_signal_or(None);
    let printer = tokio::spawn(print_progress(rx));
    let finished = drills
        .run(scenario, &injector, &actor, timeout, tx, cancel)
        .await;
    let _ = printer.await;
    let finished = finished.context("drill")?;
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SHIP_WAIT).await;
        s.cancel();
    });
    if let Err(e) = pipeline.finish(stop).await {
        eprintln!("tianmu drill: the last records stay in the spool until the next run: {e}");
    }
    let Some(r) = finished.result else {
        return Ok(ExitCode::FAILURE);
    };
    println!(
        "drill {} {}: detect {}, acknowledge {}, contain {}, close {}",
        drill::short(&r.drill_id),
        drill::outcome_name(r.outcome),
        secs(r.detect_secs),
        secs(r.acknowledge_secs),
        secs(r.contain_secs),
        secs(r.close_secs)
    );
    Ok(if r.outcome == analyzer::report::DrillOutcome::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `+mm:ss` since `start`.
fn clock(start: chrono::DateTime<Utc>, t: chrono::DateTime<Utc>) -> String {
    let s = (t - start).to_std().unwrap_or_default().as_secs();
    format!("+{:02}:{:02}", s / 60, s % 60)
}

/// Prints each phase as it is recorded, with the time since the start (injected steps
/// summarised every ten), and every 10 s the running timer and what the drill waits for.
async fn print_progress(mut rx: mpsc::Receiver<Progress>) {
    let mut started = None;
    let mut injected = 0u64;
    let mut waiting = "its alert";
    let mut timer = tokio::time::interval(Duration::from_secs(10));
    timer.tick().await;
    loop {
        let p = tokio::select! {
            p = rx.recv() => match p {
                Some(p) => p,
                None => break,
            },
            _ = timer.tick() => {
                if let Some(start) = started {
                    println!("{} waiting for {waiting}", clock(start, Utc::now()));
                }
                continue;
            }
        };
        let start = *started.get_or_insert(p.time);
        let clock = clock(start, p.time);
        waiting = match p.phase {
            DrillPhase::Detected => "the alert to be acknowledged",
            DrillPhase::Acknowledged => "the alert to be contained and closed",
            DrillPhase::Contained => "the alert to be closed",
            _ => waiting,
        };
        if p.phase == DrillPhase::Injected {
            injected += 1;
            if injected == 1 || injected.is_multiple_of(10) {
                println!("{clock} injected #{injected}: {}", cut(&p.detail, 100));
            }
            continue;
        }
        let local = p.time.with_timezone(&chrono::Local).format("%H:%M:%S");
        match p.phase {
            DrillPhase::Started => println!(
                "{clock} started  {local}  drill {}",
                drill::short(&p.drill_id)
            ),
            phase => println!(
                "{clock} {:<12} {local}  {}",
                drill::phase_name(phase),
                p.detail
            ),
        }
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    out
}
