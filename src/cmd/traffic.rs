//! `tianmu traffic`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::cancel_on_signal_or;
use crate::config::Config;

#[derive(clap::Args)]
pub struct TrafficArgs {
    /// Configuration: its firewall listeners, when it has any, are where the SQL goes.
    #[arg(short, long, value_name = "FILE", env = "TIANMU_CONFIG")]
    config: Option<PathBuf>,
    /// `normal`, or a scenario: bulk-exfil, sqli, vendor-prod, off-hours, api-scrape, flowback.
    #[arg(long, default_value = "normal")]
    profile: String,
    /// How long, e.g. `60s`, `10m`.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Actions per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seed of the loaded demo data (its keys are used).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The sharing API.
    #[arg(long, default_value = "127.0.0.1:8088")]
    api: std::net::SocketAddr,
    /// Append a JSON line per action made (the record that tells injected traffic apart).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

/// `tianmu traffic`: demo traffic through the firewall listeners of the configuration, or
/// straight to the local servers.
pub async fn run(args: TrafficArgs) -> Result<ExitCode> {
    use demo::traffic::{Profile, TrafficConfig, run};
    let Some(profile) = Profile::from_name(&args.profile) else {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        anyhow::bail!(
            "unknown profile `{}`; expected one of {}",
            args.profile,
            names.join(", ")
        );
    };
    let mut postgres: std::net::SocketAddr = "127.0.0.1:5432".parse()?;
    let mut mariadb: std::net::SocketAddr = "127.0.0.1:3306".parse()?;
    if let Some(path) = &args.config {
        let cfg = Config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
        for l in &cfg.firewall.listeners {
            match l.protocol {
                analyzer::event::Protocol::Postgres => postgres = l.listen,
                analyzer::event::Protocol::Mysql => mariadb = l.listen,
            }
        }
    }
    eprintln!(
        "tianmu traffic: {} for {:?} at {}/s: PostgreSQL {postgres}, MariaDB {mariadb}, API {}",
        profile.name(),
        args.duration,
        args.rate,
        args.api
    );
    let cfg = TrafficConfig {
        postgres,
        mariadb,
        api: Some(args.api),
        database: "publicdata".into(),
        seed: args.seed,
        rate: args.rate,
        duration: args.duration,
        record: args.record,
    };
    let report = run(cfg, profile, cancel_on_signal_or(None)).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
