//! `tianmu`: one binary for every role on a host. This file only parses the command line,
//! loads the configuration and calls into the crates that do the work.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use analyzer::pipeline::{self, Mode, Pipeline};
use analyzer::ship::Outcome;
use anyhow::{Context, Result};
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
    Firewall(FirewallArgs),
    /// Run the passive sensor (capture, reassembly, protocol parsing).
    Sensor(SensorArgs),
    /// Run the analyzer (detectors, alerts, containment).
    Analyzer(AnalyzerArgs),
    /// Open the SOC terminal console.
    Console(ConfigArg),
    /// Check or explain the policy files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Export a risk-assessment report for a period.
    Report(ConfigArg),
    /// List or run emergency drills.
    Drill(ConfigArg),
    /// Generate demo-platform traffic (normal or a scenario).
    Traffic(TrafficArgs),
    /// Inspect and drive the event pipeline (spool → ClickHouse).
    Pipeline {
        #[command(subcommand)]
        command: PipelineCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate catalog, accounts and policy files: the FILEs given (told apart by their
    /// keys; policy files are checked against the accounts files given with them), or the
    /// files `[policy]` of the configuration names.
    Check {
        /// Configuration file, when no FILE is given.
        #[arg(short, long, value_name = "FILE", env = "TIANMU_CONFIG")]
        config: Option<PathBuf>,
        files: Vec<PathBuf>,
    },
    /// Show how a statement would be analyzed and decided, and why.
    Explain(ExplainArgs),
    /// Measure how many statements of SQL scripts or statement logs the analysis reads.
    Coverage {
        #[arg(long, value_enum, default_value = "postgres")]
        protocol: ExplainProtocol,
        /// Failure examples to print.
        #[arg(long, default_value_t = 10)]
        failures: usize,
        /// Files of statements separated by `;` (psql meta-commands and COPY data skipped).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ExplainArgs {
    /// Configuration file whose `[policy]` names the files.
    #[arg(
        short,
        long,
        value_name = "FILE",
        env = "TIANMU_CONFIG",
        conflicts_with = "policy"
    )]
    config: Option<PathBuf>,
    /// A policy file; `catalog.toml` and `accounts.toml` are read from its folder.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The account (database user or app key) sending the statement.
    #[arg(long, short)]
    user: String,
    #[arg(long, value_enum, default_value = "postgres")]
    protocol: ExplainProtocol,
    /// The session's database; defaults to the catalog's database when it lists one.
    #[arg(long, short)]
    database: Option<String>,
    /// The client's address.
    #[arg(long, default_value = "127.0.0.1")]
    client: std::net::IpAddr,
    /// When the statement arrives (RFC 3339, e.g. 2026-11-23T03:00:00+08:00); now by default.
    #[arg(long)]
    at: Option<chrono::DateTime<chrono::FixedOffset>>,
    #[arg(long, value_enum, default_value = "text")]
    format: ExplainFormat,
    /// The statement.
    sql: String,
}

#[derive(clap::Args)]
struct TrafficArgs {
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

/// `tianmu sensor`: a capture file read to its end, or (not built yet) live capture.
#[derive(clap::Args)]
struct AnalyzerArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Run the detectors once and print the alerts raised as JSON lines.
    #[arg(long)]
    once: bool,
    /// With --once: judge the events ingested within this long before now.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration, requires = "once")]
    since: Duration,
}

#[derive(clap::Args)]
struct SensorArgs {
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
enum EventFormat {
    /// One JSON event per line.
    Jsonl,
}

/// `tianmu firewall`: the listeners of the configuration, or one listener from flags.
#[derive(clap::Args)]
struct FirewallArgs {
    /// Configuration: its listeners (unless --listen is given), pipeline and policy.
    #[arg(short, long, value_name = "FILE", env = "TIANMU_CONFIG")]
    config: Option<PathBuf>,
    /// Protocol of the single listener given by flags.
    #[arg(long, value_enum, default_value = "postgres", requires = "listen")]
    protocol: ExplainProtocol,
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
enum FailModeArg {
    Closed,
    Open,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExplainProtocol {
    Postgres,
    Mysql,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExplainFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum PipelineCommand {
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

/// Exit code of a command that exists but whose component is not built yet.
const NOT_BUILT: u8 = 2;

fn not_built(what: &str) -> Result<ExitCode> {
    eprintln!("tianmu {what}: not built yet in this version of Tianmu.");
    Ok(ExitCode::from(NOT_BUILT))
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Demo(c) => demo(load(&c)?).await,
        Command::Firewall(args) => firewall(args).await,
        Command::Sensor(args) => sensor(args).await,
        Command::Analyzer(args) => run_analyzer(args).await,
        Command::Console(c) => {
            let cfg = load(&c)?;
            eprintln!(
                "configured language {:?}, refresh {:?}, read-only {}",
                cfg.console.language, cfg.console.refresh, cfg.console.read_only
            );
            not_built("console")
        }
        Command::Rules { command } => match command {
            RulesCommand::Check { config, files } => rules_check(config, files),
            RulesCommand::Explain(args) => rules_explain(args),
            RulesCommand::Coverage {
                protocol,
                failures,
                files,
            } => rules_coverage(protocol, failures, &files),
        },
        Command::Report(_) => not_built("report"),
        Command::Drill(_) => not_built("drill"),
        Command::Traffic(args) => traffic(args).await,
        Command::Pipeline { command } => pipeline_command(command).await,
    }
}

/// `tianmu sensor`.
async fn sensor(args: SensorArgs) -> Result<ExitCode> {
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

/// The three policy files the configuration names, and the learned fingerprints.
fn policy_files(config: Option<PathBuf>) -> Result<([PathBuf; 3], Option<PathBuf>)> {
    let path = config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let cfg = Config::load(&path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let p = cfg.policy;
    let missing = |what: &str| anyhow::anyhow!("{}: [policy] names no {what} file", path.display());
    Ok((
        [
            p.catalog.ok_or_else(|| missing("catalog"))?,
            p.accounts.ok_or_else(|| missing("accounts"))?,
            p.rules.ok_or_else(|| missing("rules"))?,
        ],
        p.learned,
    ))
}

/// `tianmu firewall`.
async fn firewall(args: FirewallArgs) -> Result<ExitCode> {
    use firewall::audit::Sink;
    use firewall::config::{FailMode, Listener, parse_host_port};
    use rules::policy::reload::{Live, PolicyFiles, Reload};
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
                    ExplainProtocol::Postgres => analyzer::event::Protocol::Postgres,
                    ExplainProtocol::Mysql => analyzer::event::Protocol::Mysql,
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
    let ([catalog, accounts, rules], learned) = match &args.policy {
        Some(p) => {
            let dir = p.parent().unwrap_or(std::path::Path::new("."));
            (
                [
                    dir.join("catalog.toml"),
                    dir.join("accounts.toml"),
                    p.clone(),
                ],
                None,
            )
        }
        None => policy_files(args.config.clone())?,
    };
    let live = Live::start(
        PolicyFiles {
            catalog,
            accounts,
            rules,
            learned,
        },
        |r| match r {
            Reload::Applied { rules } => tracing::info!(rules, "Policy reloaded."),
            Reload::Refused(e) => {
                tracing::error!(error = %e, "Policy change refused; the previous policy stays in force.")
            }
        },
    )?;
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

fn rules_check(config: Option<PathBuf>, files: Vec<PathBuf>) -> Result<ExitCode> {
    let files = if files.is_empty() {
        policy_files(config)?.0.to_vec()
    } else {
        files
    };
    let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    match rules::policy::check_files(&paths) {
        Ok(lines) => {
            for l in lines {
                println!("ok  {l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            eprintln!("{problems}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn rules_coverage(
    protocol: ExplainProtocol,
    failures: usize,
    files: &[PathBuf],
) -> Result<ExitCode> {
    use rules::sql::Dialect;
    use rules::sql::script::{Coverage, measure, split_statements};
    let dialect = match protocol {
        ExplainProtocol::Postgres => Dialect::Postgres,
        ExplainProtocol::Mysql => Dialect::MySql,
    };
    let line = |name: &str, c: &Coverage| {
        println!(
            "{name}: {} statements, parsed {:.1}%, fallback {:.1}%, unreadable {:.1}%",
            c.total,
            c.percent(c.parsed),
            c.percent(c.fallback),
            c.percent(c.unreadable)
        )
    };
    let mut total = Coverage::default();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let statements = split_statements(&text, dialect);
        let c = measure(statements.iter().map(String::as_str), dialect, failures);
        line(&f.display().to_string(), &c);
        total.merge(&c, failures);
    }
    if files.len() > 1 {
        line("total", &total);
    }
    for (sql, error) in &total.failures {
        println!("  not parsed: {sql}\n    {error}");
    }
    Ok(ExitCode::SUCCESS)
}

fn rules_explain(args: ExplainArgs) -> Result<ExitCode> {
    use rules::policy::{Policy, Request, explain};
    use rules::sql::Dialect;
    let ([catalog, accounts, policy], learned) = match &args.policy {
        Some(p) => {
            let dir = p.parent().unwrap_or(std::path::Path::new("."));
            let files = [
                dir.join("catalog.toml"),
                dir.join("accounts.toml"),
                p.clone(),
            ];
            (files, None)
        }
        None => policy_files(args.config.clone())?,
    };
    // Reads what was learned (to say whether the fingerprint is known); explain records
    // nothing.
    let policy = Policy::load(&catalog, &accounts, &policy, learned.as_deref())
        .map_err(|e| anyhow::anyhow!("invalid policy:\n{e}"))?;
    let database = match args.database {
        Some(d) => d,
        None => {
            let mut dbs: Vec<&str> = policy
                .catalog
                .tables()
                .iter()
                .map(|t| t.name.database.as_str())
                .collect();
            dbs.dedup();
            match dbs.as_slice() {
                [one] => (*one).to_owned(),
                _ => anyhow::bail!(
                    "the catalog lists several databases or none; say which with --database"
                ),
            }
        }
    };
    let dialect = match args.protocol {
        ExplainProtocol::Postgres => Dialect::Postgres,
        ExplainProtocol::Mysql => Dialect::MySql,
    };
    let analysis = policy.analyze(&args.sql, dialect, &database, None);
    let req = Request {
        account: &args.user,
        client: args.client,
        database: &database,
        dialect,
        time: args
            .at
            .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc)),
    };
    let decision = policy.decide(&req, &analysis);
    match args.format {
        ExplainFormat::Text => print!("{}", explain::text(&policy, &req, &analysis, &decision)),
        ExplainFormat::Json => println!("{}", explain::json(&req, &analysis, &decision)),
    }
    Ok(ExitCode::SUCCESS)
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

async fn pipeline_command(command: PipelineCommand) -> Result<ExitCode> {
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

/// A token cancelled by SIGINT, SIGTERM or (when given) a timeout.
/// `tianmu analyzer`: the detection loop until Ctrl-C, or one cycle with `--once`.
async fn run_analyzer(args: AnalyzerArgs) -> Result<ExitCode> {
    let cfg = load(&args.config)?;
    let accounts = match &cfg.policy.accounts {
        Some(path) => Some(
            rules::account::Accounts::load(path)
                .map_err(|e| anyhow::anyhow!("invalid accounts file:\n{e}"))?,
        ),
        None => None,
    };
    let spool = cfg.spool("analyzer");
    let producer = cfg.producer("analyzer");
    let stop = cancel_on_signal_or(None);
    if !args.once {
        analyzer::cycle::run(
            &cfg.clickhouse,
            &spool,
            cfg.analyzer.clone(),
            accounts,
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
        accounts,
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

/// `tianmu traffic`: demo traffic through the firewall listeners of the configuration, or
/// straight to the local servers.
async fn traffic(args: TrafficArgs) -> Result<ExitCode> {
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
    use rules::policy::reload::{Live, PolicyFiles};
    let direct: [std::net::SocketAddr; 2] =
        [([127, 0, 0, 1], 5432).into(), ([127, 0, 0, 1], 3306).into()];
    let p = &cfg.policy;
    let (Some(catalog), Some(accounts), Some(rules)) =
        (p.catalog.clone(), p.accounts.clone(), p.rules.clone())
    else {
        eprintln!(
            "tianmu demo: firewall: [policy] is incomplete in {}; skipped",
            cfg.path.display()
        );
        return (None, None, direct);
    };
    let live = match Live::start(
        PolicyFiles {
            catalog,
            accounts,
            rules,
            learned: p.learned.clone(),
        },
        |_| {},
    ) {
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
    let accounts = match cfg
        .policy
        .accounts
        .as_deref()
        .map(rules::account::Accounts::load)
    {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            eprintln!("tianmu demo: analyzer: invalid accounts file:\n{e}\nskipped");
            return None;
        }
        None => None,
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
        if let Err(e) = analyzer::cycle::run(&ch, &spool, analyzer, accounts, &producer, stop).await
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

/// Starts the demo's sharing API; a port in use is reported and the demo goes on.
async fn demo_api(cfg: &Config, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let addr = cfg.demo.api;
    let file = cfg.path.display().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        if let Err(e) = demo::api::serve(demo::api::ApiConfig::demo(addr), stop, Some(tx)).await {
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
async fn demo(cfg: Config) -> Result<ExitCode> {
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
    let api = demo_api(&cfg, stop.clone()).await;
    let (firewall, _policy, route) = demo_firewall(&cfg, &pipeline, stop.clone()).await;
    let traffic = demo_traffic(&cfg.demo, route, stop.clone());
    let analyzer = demo_analyzer(&cfg, stop.clone());
    for part in ["sensor (live capture)", "console"] {
        eprintln!("tianmu demo: {part}: not built yet, skipped");
    }
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
    let done = CancellationToken::new();
    done.cancel();
    pipeline.finish(done).await?;
    Ok(ExitCode::SUCCESS)
}
