//! `tianmu analyzer`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{ConfigArg, cancel_on_signal_or, load};

#[derive(clap::Args)]
pub struct AnalyzerArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Run the detectors once and print the alerts raised as JSON lines.
    #[arg(long)]
    once: bool,
    /// With --once: judge the events ingested within this long before now.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration, requires = "once")]
    since: Duration,
}
/// `tianmu analyzer`: the detection loop until Ctrl-C, or one cycle with `--once`.
pub async fn run(args: AnalyzerArgs) -> Result<ExitCode> {
    let cfg = load(&args.config)?;
    let platform = cfg.platform()?;
    let spool = cfg.spool("analyzer");
    let producer = cfg.producer("analyzer");
    let stop = cancel_on_signal_or(None);
    if !args.once {
        analyzer::cycle::run(
            &cfg.clickhouse,
            &spool,
            cfg.analyzer.clone(),
            platform,
            &producer,
            stop,
        )
        .await
        .with_context(|| format!("analyzer ({})", cfg.path.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let cycle = analyzer::cycle::run_once(
        &cfg.clickhouse,
        &spool,
        cfg.analyzer.clone(),
        platform,
        &producer,
        args.since,
        stop,
    )
    .await
    .with_context(|| format!("analyzer --once ({})", cfg.path.display()))?;
    for a in &cycle.alerts {
        println!("{}", serde_json::to_string(a)?);
    }
    eprintln!(
        "tianmu analyzer: {} windows judged, {} alerts raised, {} already raised",
        cycle.windows,
        cycle.alerts.len(),
        cycle.known
    );
    for (detector, error) in &cycle.failed {
        eprintln!("tianmu analyzer: detector {detector} failed: {error}");
    }
    Ok(if cycle.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
