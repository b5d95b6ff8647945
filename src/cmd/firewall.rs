//! `tianmu firewall`: the listeners of the configuration, or one listener from flags.

use std::path::PathBuf;
use std::process::ExitCode;

use analyzer::pipeline::{Mode, Pipeline};
use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::policy_files;
use crate::{ConfigArg, DEFAULT_CONFIG, ProtocolArg, cancel_on_signal_or, load};

/// `tianmu firewall`: the listeners of the configuration, or one listener from flags.
#[derive(clap::Args)]
pub struct FirewallArgs {
    /// Configuration: its listeners (unless --listen is given), pipeline and policy.
    #[arg(short, long, value_name = "FILE", env = "TIANMU_CONFIG")]
    config: Option<PathBuf>,
    /// Protocol of the single listener given by flags.
    #[arg(long, value_enum, default_value = "postgres", requires = "listen")]
    protocol: ProtocolArg,
    /// Run one listener on this address instead of the configured ones.
    #[arg(long, value_name = "IP:PORT", requires = "upstream")]
    listen: Option<std::net::SocketAddr>,
    /// The database server of the single listener, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", requires = "listen")]
    upstream: Option<String>,
    /// A policy file (`catalog.toml` and `accounts.toml` are read from its folder) instead
    /// of the configuration's `[policy]`.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// What the single listener does with a statement it cannot judge.
    #[arg(long, value_enum, default_value = "closed", requires = "listen")]
    fail_mode: FailModeArg,
    /// MySQL: the account that stops statements cut at a limit (`KILL QUERY`); without
    /// it a cut ends the client's connection.
    #[arg(long, value_name = "USER", requires = "listen")]
    kill_user: Option<String>,
    /// Password of --kill-user (visible in the process list: prefer `kill-password` in
    /// the configuration file).
    #[arg(long, value_name = "PASSWORD", requires = "kill_user")]
    kill_password: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FailModeArg {
    Closed,
    Open,
}

/// `tianmu firewall`.
pub async fn run(args: FirewallArgs) -> Result<ExitCode> {
    use firewall::audit::Sink;
    use firewall::config::{FailMode, Listener, parse_host_port};
    use rules::policy::reload::{Live, PolicyFiles};
    let cfg = match (&args.config, &args.listen) {
        (Some(path), _) => Some(load(&ConfigArg {
            config: path.clone(),
        })?),
        (None, None) => Some(load(&ConfigArg {
            config: PathBuf::from(DEFAULT_CONFIG),
        })?),
        (None, Some(_)) => None,
    };
    let (listeners, keys) = match (&args.listen, &args.upstream) {
        (Some(listen), Some(upstream)) => {
            let upstream =
                parse_host_port(upstream).map_err(|e| anyhow::anyhow!("--upstream: {e}"))?;
            let listener = Listener {
                name: "cli".into(),
                protocol: match args.protocol {
                    ProtocolArg::Postgres => analyzer::event::Protocol::Postgres,
                    ProtocolArg::Mysql => analyzer::event::Protocol::Mysql,
                },
                listen: *listen,
                upstream,
                fail_mode: match args.fail_mode {
                    FailModeArg::Closed => FailMode::Closed,
                    FailModeArg::Open => FailMode::Open,
                },
                tls: None,
                kill: args
                    .kill_user
                    .clone()
                    .map(|user| firewall::config::KillAccount {
                        user,
                        password: args.kill_password.clone().unwrap_or_default(),
                    }),
            };
            (vec![listener], vec!["--listen".to_owned()])
        }
        _ => {
            let cfg = cfg.as_ref().context("no configuration")?;
            let keys = (0..cfg.firewall.listeners.len())
                .map(|i| format!("firewall.listeners[{i}].listen"))
                .collect();
            (cfg.firewall.listeners.clone(), keys)
        }
    };
    let files = match &args.policy {
        Some(p) => PolicyFiles {
            containment: cfg.as_ref().map(|c| c.policy.containment.clone()),
            ..PolicyFiles::beside(p)
        },
        None => policy_files(args.config.clone())?,
    };
    // Reloads log themselves.
    let live = Live::start(files, |_| {})?;
    let stop = cancel_on_signal_or(None);
    let (sink, pipeline, producer) = match &cfg {
        Some(cfg) => {
            let spool = cfg.spool("firewall");
            let pipeline = Pipeline::start(&spool, &cfg.clickhouse, Mode::Daemon)
                .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?;
            let sink = Sink::Pipeline(pipeline.producer());
            (sink, Some(pipeline), cfg.producer("firewall"))
        }
        None => (Sink::Stdout, None, "cli/firewall".to_owned()),
    };
    let fw = firewall::run::Firewall {
        listeners,
        keys,
        max_connections: cfg.as_ref().map_or(1000, |c| c.firewall.max_connections),
        metrics: cfg.as_ref().and_then(|c| c.firewall.metrics),
        policy: live.cell(),
        containment: live.containment(),
        sink,
        producer,
    };
    let result = firewall::run::run(fw, stop).await;
    if let Some(p) = pipeline {
        let done = CancellationToken::new();
        done.cancel();
        p.finish(done).await?;
    }
    drop(live);
    result?;
    Ok(ExitCode::SUCCESS)
}
