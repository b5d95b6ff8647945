//! `tianmu rules check | explain | coverage`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::ProtocolArg;
use crate::policy_files;

#[derive(clap::Subcommand)]
pub enum RulesCommand {
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
        protocol: ProtocolArg,
        /// Failure examples to print.
        #[arg(long, default_value_t = 10)]
        failures: usize,
        /// Files of statements separated by `;` (psql meta-commands and COPY data skipped).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct ExplainArgs {
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
    protocol: ProtocolArg,
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

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

pub fn check(config: Option<PathBuf>, files: Vec<PathBuf>) -> Result<ExitCode> {
    let files = if files.is_empty() {
        let f = policy_files(config)?;
        vec![f.catalog, f.accounts, f.rules]
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

pub fn coverage(protocol: ProtocolArg, failures: usize, files: &[PathBuf]) -> Result<ExitCode> {
    use rules::sql::Dialect;
    use rules::sql::script::{Coverage, measure, split_statements};
    let dialect = match protocol {
        ProtocolArg::Postgres => Dialect::Postgres,
        ProtocolArg::Mysql => Dialect::MySql,
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

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    use rules::policy::{Policy, Request, explain};
    use rules::sql::Dialect;
    let files = match &args.policy {
        Some(p) => rules::policy::reload::PolicyFiles::beside(p),
        None => policy_files(args.config.clone())?,
    };
    // Reads what was learned (to say whether the fingerprint is known); explain records
    // nothing.
    let policy = Policy::load(
        &files.catalog,
        &files.accounts,
        &files.rules,
        files.learned.as_deref(),
    )
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
        ProtocolArg::Postgres => Dialect::Postgres,
        ProtocolArg::Mysql => Dialect::MySql,
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
