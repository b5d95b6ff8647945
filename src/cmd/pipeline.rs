//! `tianmu pipeline stats | flush | inject | schema`.

use std::process::ExitCode;
use std::time::Duration;

use analyzer::pipeline;
use analyzer::ship::Outcome;
use anyhow::{Context, Result};

use crate::config::{self, Config};
use crate::{ConfigArg, cancel_on_signal_or, load};

#[derive(clap::Subcommand)]
pub enum PipelineCommand {
    /// Spool depth and bytes, oldest pending event, shipped/retried/dropped, ClickHouse.
    Stats {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this role's spool (firewall, sensor, analyzer, demo, inject); all by default.
        #[arg(long)]
        role: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ship what the spool holds; exit when it is empty (0) or at the timeout (1).
    Flush {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this role's spool (firewall, sensor, analyzer, demo, inject); all by default.
        #[arg(long)]
        role: Option<String>,
        /// Give up after this long, e.g. `60s`, `5m`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        timeout: Duration,
    },
    /// Send N synthetic events through the real spool and shipper and wait until they are
    /// delivered, retrying through outages. Interrupted, it leaves the rest in the spool.
    Inject {
        #[command(flatten)]
        config: ConfigArg,
        /// Number of events.
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        /// Seed of the synthetic event generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print the ClickHouse DDL the daemons apply (for review or manual setup).
    Schema {
        /// Render for a cluster of this name (replicated + distributed tables).
        #[arg(long)]
        cluster: Option<String>,
    },
}

/// The roles a pipeline command works on: the one asked for, or every role whose spool
/// exists.
fn roles(cfg: &Config, role: Option<&str>) -> Result<Vec<&'static str>> {
    match role {
        Some(r) => match config::ROLES.iter().find(|&&k| k == r) {
            Some(&k) => Ok(vec![k]),
            None => anyhow::bail!(
                "unknown role `{r}`; expected one of {}",
                config::ROLES.join(", ")
            ),
        },
        None => Ok(config::ROLES
            .into_iter()
            .filter(|r| cfg.spool(r).path.is_dir())
            .collect()),
    }
}

pub async fn run(command: PipelineCommand) -> Result<ExitCode> {
    match command {
        PipelineCommand::Stats { config, role, json } => {
            let cfg = load(&config)?;
            let mut all = Vec::new();
            for role in roles(&cfg, role.as_deref())? {
                let stats = pipeline::stats(&cfg.spool(role), &cfg.clickhouse).await?;
                all.push(serde_json::json!({ "role": role, "stats": stats }));
                if !json {
                    println!("role             {role}");
                    print_stats(&stats);
                    println!();
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Flush {
            config,
            role,
            timeout,
        } => {
            let cfg = load(&config)?;
            let cancel = cancel_on_signal_or(Some(timeout));
            let mut drained = true;
            for role in roles(&cfg, role.as_deref())? {
                let flushed = pipeline::flush(&cfg.spool(role), &cfg.clickhouse, cancel.clone())
                    .await
                    .with_context(|| format!("flushing the {role} spool"))?;
                println!("{role}: shipped {} events", flushed.shipped);
                drained &= flushed.outcome == Outcome::Drained;
            }
            if drained {
                println!("spool is empty");
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "stopped before the spool was empty; `tianmu pipeline stats` shows what is left"
                );
                Ok(ExitCode::FAILURE)
            }
        }
        PipelineCommand::Inject {
            config,
            count,
            seed,
        } => {
            let cfg = load(&config)?;
            let cancel = cancel_on_signal_or(None);
            let producer = cfg.producer("inject");
            let done = pipeline::inject(
                &cfg.spool("inject"),
                &cfg.clickhouse,
                &producer,
                count,
                seed,
                cancel,
                |n| {
                    println!("spooled {n} events");
                },
            )
            .await?;
            match done.outcome {
                Outcome::Drained => {
                    let secs = done.elapsed.as_secs_f64();
                    println!(
                        "delivered {} events in {secs:.2} s ({:.0} events/s)",
                        done.spooled,
                        done.spooled as f64 / secs.max(1e-9)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Outcome::Cancelled => {
                    println!(
                        "interrupted; undelivered events stay in the spool for the next process that ships"
                    );
                    Ok(ExitCode::from(130))
                }
            }
        }
        PipelineCommand::Schema { cluster } => {
            let target = match &cluster {
                Some(name) => analyzer::schema::Target::Cluster(name),
                None => analyzer::schema::Target::Single,
            };
            print!("{}", analyzer::schema::render_file(target));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_stats(s: &pipeline::Stats) {
    let c = &s.spool.counters;
    let age = s
        .spool
        .oldest_pending
        .map(|t| {
            let secs = (chrono::Utc::now() - t).num_seconds().max(0);
            format!("{secs} s ago ({t})")
        })
        .unwrap_or_else(|| "none".into());
    println!("spool            {}", s.spool.path.display());
    println!(
        "  owner          {}",
        s.spool
            .owner
            .as_deref()
            .map_or("none".into(), |p| format!("pid {p}"))
    );
    println!(
        "  pending        {} events, {} bytes",
        s.spool.pending_events, s.spool.pending_bytes
    );
    println!("  oldest pending {age}");
    println!(
        "  on disk        {} bytes in {} segments",
        s.spool.bytes, s.spool.segments
    );
    println!(
        "  quarantined    {} segments (files in quarantine/: {})",
        c.quarantined_segments, s.spool.quarantined_files
    );
    println!("counters (as last saved by the owner)");
    println!("  appended       {}", c.appended);
    println!("  shipped        {}", c.shipped);
    println!("  retried        {} insert attempts", c.retried);
    println!(
        "  dropped        {} (spool full {}, disk errors {}, oversize {}, queue full {})",
        c.dropped_full + c.dropped_io + c.dropped_oversize + c.dropped_queue,
        c.dropped_full,
        c.dropped_io,
        c.dropped_oversize,
        c.dropped_queue
    );
    match (&s.clickhouse_version, &s.clickhouse_error) {
        (Some(v), _) => println!(
            "clickhouse       {} reachable (version {v})",
            s.clickhouse_url
        ),
        (None, Some(e)) => println!("clickhouse       {} UNREACHABLE: {e}", s.clickhouse_url),
        _ => {}
    }
}
