//! `tianmu sensor`: a capture file read to its end, or live capture on the TPACKET_V3 ring
//! (`sensor::live`) until SIGINT/SIGTERM, its events printed or shipped through the
//! pipeline with a `Health` event every 10 s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use analyzer::event::{Body, Event, Health, HealthStatus};

use analyzer::pipeline::{self, Mode, Pipeline};
use analyzer::ship::Outcome;
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::{ConfigArg, DEFAULT_CONFIG, cancel_on_signal_or, load};

#[derive(clap::Args)]
pub struct SensorArgs {
    /// Configuration: interfaces, ports, flow and reassembly caps, the capture ring,
    /// `[policy]` (optional with --pcap, or with --interface and --format).
    #[arg(short, long, value_name = "FILE", env = "TIANMU_CONFIG")]
    config: Option<PathBuf>,
    /// Read this pcap or pcapng file instead of capturing, then exit.
    #[arg(long, value_name = "FILE", conflicts_with = "interface")]
    pcap: Option<PathBuf>,
    /// Capture on this interface (repeatable) instead of the configured ones, until
    /// SIGINT or SIGTERM. Needs CAP_NET_RAW.
    #[arg(short, long, value_name = "IF")]
    interface: Vec<String>,
    /// Print the events on standard output in this format instead of shipping them
    /// through the pipeline (spool, then ClickHouse) of the configuration.
    #[arg(long, value_enum)]
    format: Option<EventFormat>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EventFormat {
    /// One JSON event per line.
    Jsonl,
}

/// How statements are analysed: with the configuration's policy catalog when it names
/// all three policy files, else plainly.
fn analyst(cfg: Option<&Config>) -> Result<sensor::event::Analyst> {
    use sensor::event::Analyst;
    Ok(match cfg.map(|c| &c.policy) {
        Some(p) if p.catalog.is_some() && p.accounts.is_some() && p.rules.is_some() => {
            let (catalog, accounts, rules) = (&p.catalog, &p.accounts, &p.rules);
            let policy = rules::policy::Policy::load(
                catalog.as_deref().context("catalog")?,
                accounts.as_deref().context("accounts")?,
                rules.as_deref().context("rules")?,
                None,
            )
            .map_err(|e| anyhow::anyhow!("invalid policy:\n{e}"))?;
            Analyst::Policy(std::sync::Arc::new(policy))
        }
        _ => Analyst::Plain,
    })
}

/// `tianmu sensor`.
pub async fn run(args: SensorArgs) -> Result<ExitCode> {
    use sensor::event::Events;
    use sensor::run::{Sensor, read_pcap};
    use std::io::Write;
    // Without -c, a capture file or a live capture printed on standard output needs no
    // configuration; shipping needs one.
    let standalone = args.pcap.is_some() || (!args.interface.is_empty() && args.format.is_some());
    let cfg = match &args.config {
        Some(path) => Some(load(&ConfigArg {
            config: path.clone(),
        })?),
        None if standalone => None,
        None => Some(load(&ConfigArg {
            config: PathBuf::from(DEFAULT_CONFIG),
        })?),
    };
    let analyst = analyst(cfg.as_ref())?;
    let (mut sensor_cfg, producer) = match &cfg {
        Some(c) => (c.sensor.clone(), c.producer("sensor")),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into());
            (
                sensor::config::SensorConfig::default(),
                format!("{host}/sensor"),
            )
        }
    };
    let Some(pcap) = args.pcap else {
        if !args.interface.is_empty() {
            sensor_cfg.interfaces = args.interface;
        }
        let id = producer.clone();
        let events = move || Events::new(producer.clone(), analyst.clone());
        return match args.format {
            Some(EventFormat::Jsonl) => live_jsonl(&sensor_cfg, events, id).await,
            None => {
                let cfg = cfg.context("shipping live events needs a configuration (-c)")?;
                live_ship(&cfg, &sensor_cfg, events).await
            }
        };
    };
    let limits = sensor_cfg.flow_limits();
    let mut engine = Sensor::new(limits, Events::new(producer, analyst));
    if args.format.is_none() {
        let cfg = cfg.context(
            "--pcap without --format ships the events through the pipeline: give -c CONFIG, or --format jsonl",
        )?;
        return sensor_ship(&cfg, pcap, engine).await;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed: Option<std::io::Error> = None;
    let summary = read_pcap(&pcap, &mut engine, &mut |event| {
        if failed.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut out, &event)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e).context("writing events to standard output");
    }
    out.flush().context("writing events to standard output")?;
    sensor_summary(&pcap, &summary);
    Ok(ExitCode::SUCCESS)
}

fn sensor_summary(pcap: &std::path::Path, summary: &sensor::run::Summary) {
    let secs = summary.elapsed.as_secs_f64();
    eprintln!(
        "tianmu sensor: {}: {} packets, {:.1} MB in {secs:.3}s ({:.0} packets/s, {:.1} MB/s)\n{}",
        pcap.display(),
        summary.counters.packets,
        summary.counters.bytes as f64 / 1e6,
        summary.packets_per_second(),
        summary.megabytes_per_second(),
        summary.counters
    );
}

/// A capture file's events into the sensor's spool, then until ClickHouse has them all
/// (Ctrl-C stops the wait; what is not shipped stays in the spool for the next run or
/// `tianmu pipeline flush`). Reading waits whenever the pipeline's queue is full: an
/// offline file loses nothing.
async fn sensor_ship(
    cfg: &Config,
    pcap: PathBuf,
    mut engine: sensor::run::Sensor,
) -> Result<ExitCode> {
    const BATCH: usize = 1000;
    let pipeline = Pipeline::start(&cfg.spool("sensor"), &cfg.clickhouse, Mode::Drain)
        .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?;
    let producer = pipeline.producer();
    let runtime = tokio::runtime::Handle::current();
    let file = pcap.clone();
    let (summary, shipped) = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let mut shipped: Result<u64, pipeline::EmitError> = Ok(0);
        let mut emit = |batch: Vec<analyzer::event::Event>| {
            let n = batch.len() as u64;
            if let Ok(total) = &mut shipped {
                match runtime.block_on(producer.emit(batch)) {
                    Ok(()) => *total += n,
                    Err(e) => shipped = Err(e),
                }
            }
        };
        let summary = sensor::run::read_pcap(&file, &mut engine, &mut |event| {
            batch.push(event);
            if batch.len() >= BATCH {
                emit(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        });
        emit(batch);
        (summary, shipped)
    })
    .await
    .context("reading the capture file")?;
    let summary = summary?;
    let shipped = shipped.context("handing events to the pipeline")?;
    sensor_summary(&pcap, &summary);
    eprintln!(
        "tianmu sensor: {shipped} events spooled; shipping them to ClickHouse (Ctrl-C stops waiting, the rest stays in the spool)"
    );
    match pipeline.finish(cancel_on_signal_or(None)).await? {
        Outcome::Drained => {
            eprintln!("tianmu sensor: all events are in ClickHouse");
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Cancelled => {
            eprintln!(
                "tianmu sensor: stopped; what was not shipped stays in the spool (`tianmu pipeline flush`)"
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// How often a live sensor reports its health.
const HEALTH_EVERY: Duration = Duration::from_secs(10);

/// The sensor's `Health` event: every counter, `degraded` while the kernel drops packets.
/// `drops_before` is the drop count of the previous report.
fn health(producer: &str, c: &sensor::counters::Counters, drops_before: u64) -> Event {
    let dropped = c.drops.saturating_sub(drops_before);
    Event::new(
        producer.to_owned(),
        Body::Health(Health {
            component: "sensor".into(),
            status: if dropped > 0 {
                HealthStatus::Degraded
            } else {
                HealthStatus::Ok
            },
            counters: c.pairs().into_iter().map(|(k, v)| (k.into(), v)).collect(),
            message: if dropped > 0 {
                format!(
                    "the kernel dropped {dropped} packets since the last report (capture ring full)"
                )
            } else {
                String::new()
            },
        }),
    )
}

fn live_summary(live: &[&str], c: &sensor::counters::Counters, elapsed: Duration) {
    let mut interfaces = live.to_vec();
    interfaces.dedup();
    eprintln!(
        "tianmu sensor: {}: {} packets, {} dropped by the kernel, {} statements in {:.1}s\n{c}",
        interfaces.join(", "),
        c.packets,
        c.drops,
        c.statements,
        elapsed.as_secs_f64()
    );
}

/// Live capture printed as JSON lines (statements, and a `Health` event at start, every
/// 10 s and at the end) until SIGINT/SIGTERM or until standard output closes. A slow reader holds the
/// workers back and the kernel then drops packets (counted).
async fn live_jsonl(
    cfg: &sensor::config::SensorConfig,
    events: impl Fn() -> sensor::event::Events,
    producer: String,
) -> Result<ExitCode> {
    use std::io::Write;
    let stop = cancel_on_signal_or(None);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(256);
    let started = Instant::now();
    let live = sensor::live::Live::start(cfg, events, |_| {
        let tx = tx.clone();
        Box::new(move |batch| {
            let _ = tx.send(batch);
        })
    })?;
    let interfaces: Vec<String> = live.interfaces().into_iter().map(String::from).collect();
    eprintln!(
        "tianmu sensor: capturing on {} for ports {:?} (Ctrl-C stops)",
        interfaces.join(", "),
        cfg.ports
    );
    let closed = stop.clone();
    let printer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let written = (|| {
            for batch in rx {
                for event in batch {
                    serde_json::to_writer(&mut out, &event)?;
                    out.write_all(b"\n")?;
                }
                out.flush()?;
            }
            Ok(())
        })();
        if written.is_err() {
            // Standard output went away: nothing more to capture for.
            closed.cancel();
        }
        written
    });
    // The first tick is at once: a Health event says capture runs.
    let mut every = tokio::time::interval(HEALTH_EVERY);
    let mut drops = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {
                let c = live.counters();
                let _ = tx.try_send(vec![health(&producer, &c, drops)]);
                drops = c.drops;
            }
        }
    }
    let counters = tokio::task::spawn_blocking(move || live.stop())
        .await
        .context("stopping the capture")?;
    let _ = tx.send(vec![health(&producer, &counters, drops)]);
    drop(tx);
    let iface: Vec<&str> = interfaces.iter().map(String::as_str).collect();
    live_summary(&iface, &counters, started.elapsed());
    match printer.join() {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(e).context("writing events to standard output"),
        Err(_) => anyhow::bail!("the event printer panicked"),
    }
}

/// Starts live capture on `sensor_cfg`'s interfaces with every event handed to
/// `producer` (waiting while the pipeline's queue is full: the ring absorbs the wait, and
/// past it the kernel drops and counts), and a `Health` event every 10 s (the first at
/// start) until `stop`. Returns once capture runs; the task ends after `stop`, when the
/// workers have closed their flows, with their counters.
pub fn spawn_live(
    sensor_cfg: &sensor::config::SensorConfig,
    events: impl Fn() -> sensor::event::Events,
    producer: pipeline::Producer,
    id: String,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<sensor::counters::Counters>, sensor::capture::ring::RingError> {
    let runtime = tokio::runtime::Handle::current();
    let live = sensor::live::Live::start(sensor_cfg, events, |_| {
        let (producer, runtime) = (producer.clone(), runtime.clone());
        Box::new(move |batch| {
            if let Err(e) = runtime.block_on(producer.emit(batch)) {
                tracing::warn!(error = %e, "Sensor events not handed to the pipeline.");
            }
        })
    })?;
    Ok(tokio::spawn(async move {
        let mut every = tokio::time::interval(HEALTH_EVERY);
        let mut drops = 0;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = every.tick() => {
                    let c = live.counters();
                    let _ = producer.emit(vec![health(&id, &c, drops)]).await;
                    drops = c.drops;
                }
            }
        }
        let counters = tokio::task::spawn_blocking(move || live.stop())
            .await
            .unwrap_or_default();
        let _ = producer.emit(vec![health(&id, &counters, drops)]).await;
        counters
    }))
}

/// Live capture shipped through the pipeline (spool, then ClickHouse) until SIGINT/SIGTERM;
/// then what is queued is written to the spool, and shipped by the next run or
/// `tianmu pipeline flush` if ClickHouse does not take it now.
async fn live_ship(
    cfg: &Config,
    sensor_cfg: &sensor::config::SensorConfig,
    events: impl Fn() -> sensor::event::Events,
) -> Result<ExitCode> {
    let pipeline = Pipeline::start(&cfg.spool("sensor"), &cfg.clickhouse, Mode::Daemon)
        .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?;
    let stop = cancel_on_signal_or(None);
    let started = Instant::now();
    let task = spawn_live(
        sensor_cfg,
        events,
        pipeline.producer(),
        cfg.producer("sensor"),
        stop.clone(),
    )?;
    eprintln!(
        "tianmu sensor: capturing on {} for ports {:?}; events into the spool {} (Ctrl-C stops)",
        sensor_cfg.interfaces.join(", "),
        sensor_cfg.ports,
        cfg.spool("sensor").path.display()
    );
    let counters = task.await.context("the capture task")?;
    let interfaces: Vec<&str> = sensor_cfg.interfaces.iter().map(String::as_str).collect();
    live_summary(&interfaces, &counters, started.elapsed());
    let done = CancellationToken::new();
    done.cancel();
    pipeline.finish(done).await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's sensor: live capture on the configured interfaces (`lo`) into the demo's
/// pipeline, until `stop`. When the capture cannot start (no CAP_NET_RAW, say), one line
/// says why and the demo goes on without it.
pub fn demo(
    cfg: &Config,
    producer: pipeline::Producer,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<sensor::counters::Counters>> {
    let analyst = match analyst(Some(cfg)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tianmu demo: sensor: {e:#}; skipped");
            return None;
        }
    };
    let id = cfg.producer("sensor");
    let events = {
        let id = id.clone();
        move || sensor::event::Events::new(id.clone(), analyst.clone())
    };
    match spawn_live(&cfg.sensor, events, producer, id, stop) {
        Ok(task) => {
            eprintln!(
                "tianmu demo: sensor: capturing on {} for ports {:?}",
                cfg.sensor.interfaces.join(", "),
                cfg.sensor.ports
            );
            Some(task)
        }
        Err(e) => {
            eprintln!("tianmu demo: sensor: {e}; skipped");
            None
        }
    }
}
