//! `tianmu report`: the risk-assessment report for a period.

use std::path::PathBuf;
use std::process::ExitCode;

use analyzer::report::{self, Format, Inputs, Rendered};
use anyhow::{Context, Result, anyhow};
use chrono::Utc;

use crate::{ConfigArg, load};

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// One self-contained HTML file with inline SVG charts, printable on A4.
    Html,
    /// Markdown.
    Md,
    /// A folder with issues.csv, risks.csv and alerts.csv (the appendices).
    Csv,
    /// The whole report model.
    Json,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Start of the period: YYYY-MM-DD or "YYYY-MM-DD HH:MM[:SS]" at the analyzer's
    /// utc-offset, or RFC 3339.
    #[arg(long, value_name = "TIME")]
    from: String,
    /// End of the period, excluded; a date alone means the end of that day.
    #[arg(long, value_name = "TIME")]
    to: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "html")]
    format: FormatArg,
    /// Output file (html, md, json; `-` for standard output), or folder (csv).
    #[arg(short, long, value_name = "PATH")]
    output: PathBuf,
}

/// Builds the report from ClickHouse and the policy files and writes it.
pub async fn run(args: ReportArgs) -> Result<ExitCode> {
    if matches!(args.format, FormatArg::Csv) && args.output.as_os_str() == "-" {
        return Err(anyhow!(
            "--format csv writes a folder of files: give -o a folder, not `-`"
        ));
    }
    let cfg = load(&args.config)?;
    let offset = cfg.analyzer.utc_offset;
    let from = report::parse_time(&args.from, offset, false).ok_or_else(|| {
        anyhow!(
            "--from `{}`: expected YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\" or RFC 3339",
            args.from
        )
    })?;
    let to = report::parse_time(&args.to, offset, true).ok_or_else(|| {
        anyhow!(
            "--to `{}`: expected YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\" or RFC 3339",
            args.to
        )
    })?;
    let catalog = match &cfg.policy.catalog {
        Some(path) => rules::catalog::Catalog::load(path)
            .map_err(|e| anyhow!("invalid catalog file:\n{e}"))?,
        None => {
            tracing::warn!(config = %cfg.path.display(), "No [policy] catalog: the asset inventory will be empty.");
            rules::catalog::Catalog::empty(2)
        }
    };
    let accounts = match &cfg.policy.accounts {
        Some(path) => Some(
            rules::account::Accounts::load(path)
                .map_err(|e| anyhow!("invalid accounts file:\n{e}"))?,
        ),
        None => None,
    };
    let inputs = Inputs {
        clickhouse: &cfg.clickhouse,
        catalog: &catalog,
        accounts: accounts.as_ref(),
        settings: &cfg.report,
        utc_offset: offset,
        from,
        to,
        now: Utc::now(),
    };
    let r = report::build(&inputs)
        .await
        .with_context(|| format!("report ({})", cfg.path.display()))?;
    let format = match args.format {
        FormatArg::Html => Format::Html,
        FormatArg::Md => Format::Markdown,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    let summary = format!(
        "{} risks, {} issues, {} alerts ({} drill alerts left out of the statistics), {} statements{}",
        r.risks.len(),
        r.issues.len(),
        r.alerts.total,
        r.alerts.drill,
        r.access.statements,
        if r.meta.empty {
            "; the period holds no records and the report says so"
        } else {
            ""
        }
    );
    // Rendering is CPU work: off the async threads.
    let rendered = tokio::task::spawn_blocking(move || report::render(&r, format))
        .await
        .context("rendering the report")??;
    let out = &args.output;
    match rendered {
        Rendered::Document(text) if out.as_os_str() == "-" => print!("{text}"),
        Rendered::Document(text) => {
            std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?
        }
        Rendered::Files(files) => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create the folder {}", out.display()))?;
            for (name, text) in files {
                let path = out.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    eprintln!("tianmu report: {}: {summary}", out.display());
    Ok(ExitCode::SUCCESS)
}
