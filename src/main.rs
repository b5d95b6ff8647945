//! `tianmu`: one binary for every role on a host. This file parses the command line and
//! holds what the commands share; each command lives in `cmd/`.

mod cmd;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

// Every part of Tianmu allocates per event and per statement; glibc's allocator spends a
// third of the pipeline's CPU on that, mimalloc a fraction of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tianmu",
    version,
    about = "Tianmu (天目): security situational awareness and data firewall for public-data platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_CONFIG: &str = "/etc/tianmu/tianmu.toml";

/// `-c/--config`, shared by every command that reads the configuration.
#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// Configuration file.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = DEFAULT_CONFIG,
        env = "TIANMU_CONFIG"
    )]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the demo appliance up on this host (pipeline, and every part built so far).
    Demo(ConfigArg),
    /// Run the inline database firewall listeners.
    Firewall(cmd::firewall::FirewallArgs),
    /// Run the passive sensor (capture, reassembly, protocol parsing).
    Sensor(cmd::sensor::SensorArgs),
    /// Run the analyzer (detectors, alerts, containment).
    Analyzer(cmd::analyzer::AnalyzerArgs),
    /// Open the SOC terminal console.
    Console(ConfigArg),
    /// Check or explain the policy files.
    Rules {
        #[command(subcommand)]
        command: cmd::rules::RulesCommand,
    },
    /// Handle alerts: list, show, acknowledge, assign, contain, close, sign off, …
    Alert {
        #[command(subcommand)]
        command: cmd::alert::AlertCommand,
    },
    /// Block an account, address or statement shape on every firewall for a while.
    Contain {
        #[command(subcommand)]
        command: cmd::alert::ContainCommand,
    },
    /// Export a risk-assessment report for a period.
    Report(cmd::report::ReportArgs),
    /// List or run emergency drills.
    Drill {
        #[command(subcommand)]
        command: cmd::drill::DrillCommand,
    },
    /// Generate demo-platform traffic (normal or a scenario).
    Traffic(cmd::traffic::TrafficArgs),
    /// Inspect and drive the event pipeline (spool → ClickHouse).
    Pipeline {
        #[command(subcommand)]
        command: cmd::pipeline::PipelineCommand,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProtocolArg {
    Postgres,
    Mysql,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIANMU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(arg: &ConfigArg) -> Result<Config> {
    Config::load(&arg.config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Demo(c) => cmd::demo::run(load(&c)?).await,
        Command::Firewall(args) => cmd::firewall::run(args).await,
        Command::Sensor(args) => cmd::sensor::run(args).await,
        Command::Analyzer(args) => cmd::analyzer::run(args).await,
        Command::Console(c) => cmd::console::run(c).await,
        Command::Rules { command } => match command {
            cmd::rules::RulesCommand::Check { config, files } => cmd::rules::check(config, files),
            cmd::rules::RulesCommand::Explain(args) => cmd::rules::explain(args),
            cmd::rules::RulesCommand::Coverage {
                protocol,
                failures,
                files,
            } => cmd::rules::coverage(protocol, failures, &files),
        },
        Command::Report(args) => cmd::report::run(args).await,
        Command::Alert { command } => cmd::alert::alert(command).await,
        Command::Contain { command } => cmd::alert::contain(command).await,
        Command::Drill { command } => cmd::drill::run(command).await,
        Command::Traffic(args) => cmd::traffic::run(args).await,
        Command::Pipeline { command } => cmd::pipeline::run(command).await,
    }
}

/// The policy files the configuration names, with the learned fingerprints and the
/// containment blocks.
fn policy_files(config: Option<PathBuf>) -> Result<rules::policy::reload::PolicyFiles> {
    let path = config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let cfg = Config::load(&path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    cfg.policy.live(&path)
}

/// A token cancelled by SIGINT, SIGTERM or (when given) a timeout.
fn cancel_on_signal_or(timeout: Option<Duration>) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let timeout = async {
            match timeout {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = timeout => {}
        }
        t.cancel();
    });
    token
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
