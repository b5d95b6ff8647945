//! `tianmu console`: the SOC's terminal (the `console` crate), with the operator's
//! transitions written through this host's event pipeline (spool role `console`).

use std::process::ExitCode;
use std::time::Duration;

use analyzer::pipeline::{Mode, Pipeline};
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::{ConfigArg, load};

/// How long the console waits at exit for the operator's last steps to reach ClickHouse
/// (what is not shipped stays in the spool for the next start).
const DRAIN: Duration = Duration::from_secs(10);

/// `tianmu console -c tianmu.toml`.
pub async fn run(c: ConfigArg) -> Result<ExitCode> {
    let cfg = load(&c)?;
    let read_only = cfg.console.read_only;
    let pipeline = if read_only {
        None
    } else {
        Some(
            Pipeline::start(&cfg.spool("console"), &cfg.clickhouse, Mode::Drain)
                .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?,
        )
    };
    let desk = pipeline.as_ref().map(|p| console::DeskParts {
        producer: p.producer(),
        producer_id: cfg.producer("console"),
        containment: cfg.policy.containment.clone(),
    });
    let log = console::log_file();
    console::run(console::Options {
        console: cfg.console.clone(),
        clickhouse: cfg.clickhouse.clone(),
        actor: analyzer::lifecycle::operator(),
        desk,
        log: log.clone(),
        injector: Some(std::sync::Arc::new(crate::cmd::drill::TrafficInjector::of(
            &cfg,
            Some(crate::cmd::drill::DEFAULT_API),
        ))),
    })
    .await
    .context("console")?;
    if let Some(p) = pipeline {
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DRAIN).await;
            c.cancel();
        });
        if let Err(e) = p.finish(cancel).await {
            eprintln!("tianmu console: the last steps stay in the spool until the next start: {e}");
        }
    }
    if let Some(log) = log {
        eprintln!("tianmu console: log in {}", log.display());
    }
    Ok(ExitCode::SUCCESS)
}
