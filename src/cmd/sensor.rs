//! `tianmu sensor`: a capture file read to its end, or live capture.

use std::path::PathBuf;
use std::process::ExitCode;

use analyzer::pipeline::{self, Mode, Pipeline};
use analyzer::ship::Outcome;
use anyhow::{Context, Result};

use crate::config::Config;
use crate::{ConfigArg, DEFAULT_CONFIG, cancel_on_signal_or, load, not_built};

#[derive(clap::Args)]
pub struct SensorArgs {
    /// Configuration: ports, flow and reassembly caps, `[policy]` (optional with --pcap).
    #[arg(short, long, value_name = "FILE", env = "TIANMU_CONFIG")]
    config: Option<PathBuf>,
    /// Read this pcap or pcapng file instead of capturing, then exit.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
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

/// `tianmu sensor`.
pub async fn run(args: SensorArgs) -> Result<ExitCode> {
    use sensor::event::{Analyst, Events};
    use sensor::run::{Sensor, read_pcap};
    use std::io::Write;
    let cfg = match (&args.config, &args.pcap) {
        (Some(path), _) => Some(load(&ConfigArg {
            config: path.clone(),
        })?),
        (None, None) => Some(load(&ConfigArg {
            config: PathBuf::from(DEFAULT_CONFIG),
        })?),
        (None, Some(_)) => None,
    };
    let Some(pcap) = args.pcap else {
        let cfg = cfg.context("no configuration")?;
        eprintln!(
            "configured capture on {} for ports {:?}",
            cfg.sensor.interfaces.join(", "),
            cfg.sensor.ports
        );
        return not_built("sensor (live capture)");
    };
    let analyst = match cfg.as_ref().map(|c| &c.policy) {
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
    };
    let (limits, producer) = match &cfg {
        Some(c) => (c.sensor.flow_limits(), c.producer("sensor")),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into());
            (
                sensor::config::SensorConfig::default().flow_limits(),
                format!("{host}/sensor"),
            )
        }
    };
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
