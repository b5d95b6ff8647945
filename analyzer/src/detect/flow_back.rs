//! **flow-back** (数据回流): restricted data read in bulk by an account through which data
//! flows back from the platform to lower (city and county) platforms — the sharing and
//! exchange channels named in `channels`. Flowing data back is the channels' job when a
//! lower platform asks for its own records one key at a time; DEMO.md's `flowback`
//! scenario is the other shape: the sharing account (`share_api`) pages through
//! `credit_record`'s restricted details 500 rows a statement, each page under its row
//! limit, so nothing is blocked while the table leaves in bulk.
//!
//! What counts: statements of a channel, not blocked, returning at least
//! `min-statement-rows` rows (a key lookup returns a handful), with a column of level ≥
//! `min-level` from a table whose sharing attribute is restricted or not shared in the
//! catalog (`[policy] catalog`; without one, a column of that level from any table). An
//! alert when such reads reach `min-rows` rows in one window; one per channel and window.
//!
//! These reads are this detector's to judge: bulk-exfiltration leaves them out of its sums
//! ([`claimed`]), so the scenario raises one alert, not two. ClickHouse does the filtering
//! and sums. Severity: high; critical when a level-4 column was among them.

use futures_util::future::BoxFuture;
use rules::catalog::Sharing;

use super::{Context, DetectError, Detector, Finding, by_level, ids, quote, quote_list};
use crate::event::Severity;

pub struct FlowBack;

pub const NAME: &str = "flow-back";

#[derive(clickhouse::Row, serde::Deserialize)]
struct Bulk {
    account: String,
    window: u32,
    rows: u64,
    statements: u64,
    level: u8,
    tables: Vec<String>,
    evidence: Vec<String>,
}

impl Detector for FlowBack {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

/// SQL condition on a column `c` of level `l` (inside a lambda): restricted data.
fn restricted_column(cx: &Context<'_>) -> String {
    let min = cx.cfg.flow_back.min_level;
    let Some(catalog) = cx.catalog else {
        return format!("l >= {min}");
    };
    // Tables as statements name them: `database.table` (MySQL, or PostgreSQL in the
    // catalog's short form) and `database.schema.table` (PostgreSQL).
    let mut names = Vec::new();
    for t in catalog.tables() {
        if t.sharing == Sharing::Unconditional {
            continue;
        }
        let n = &t.name;
        match &n.schema {
            Some(s) => names.push(format!("{}.{s}.{}", n.database, n.table)),
            None => {
                names.push(format!("{}.{}", n.database, n.table));
                names.push(format!("{}.public.{}", n.database, n.table));
            }
        }
    }
    if names.is_empty() {
        return "0".into();
    }
    let list = names
        .iter()
        .map(|n| quote(n))
        .collect::<Vec<_>>()
        .join(", ");
    format!("l >= {min} AND has([{list}], lower(replaceRegexpOne(c, '\\\\.[^.]*$', '')))")
}

/// SQL condition selecting the statements flow-back judges, `None` when it judges none
/// (not enabled, or no channels). Bulk-exfiltration leaves these out.
pub fn claimed(cx: &Context<'_>) -> Option<String> {
    let c = &cx.cfg.flow_back;
    if c.channels.is_empty() || !cx.cfg.detectors.iter().any(|d| d == NAME) {
        return None;
    }
    Some(format!(
        "(account IN {channels} AND action != 'block' AND rows >= {min_rows} \
         AND arrayExists((c, l) -> {restricted}, columns, column_levels))",
        channels = quote_list(c.channels.iter().map(String::as_str)),
        min_rows = c.min_statement_rows,
        restricted = restricted_column(cx),
    ))
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let Some(claim) = claimed(cx) else {
        tracing::debug!("flow-back: no [analyzer.flow-back] channels; nothing to judge");
        return Ok(Vec::new());
    };
    // The biggest statements first, so that the evidence shows where the rows went.
    let sql = format!(
        "SELECT account, {w} AS win, toUInt64(sum(rows)) AS total, toUInt64(count()) AS statements, \
         toUInt8(max(arrayReduce('max', arrayFilter((l, c) -> {restricted}, column_levels, columns)))) AS level, \
         groupUniqArrayArray(objects) AS tables, groupArray({n})(toString(id)) AS evidence \
         FROM (SELECT account, time, rows, objects, columns, column_levels, id FROM statements \
               WHERE {f} AND {claim} ORDER BY rows DESC) \
         GROUP BY account, win HAVING total >= {min} ORDER BY account, win",
        w = cx.window_expr(),
        f = cx.window_filter(),
        restricted = restricted_column(cx),
        n = cx.cfg.max_evidence,
        min = cx.cfg.flow_back.min_rows,
    );
    let bulk: Vec<Bulk> = cx.fetch(&sql).await?;
    Ok(bulk
        .into_iter()
        .map(|b| {
            let mut tables = b.tables.clone();
            tables.sort_unstable();
            let (window_start, window_end) = cx.bounds(b.window);
            Finding {
                detector: name,
                severity: by_level(b.level, Severity::High, Severity::Critical),
                title: format!(
                    "{} read {} rows of level-{} restricted data in {} bulk statements ({}): flowing back to lower platforms",
                    b.account,
                    b.rows,
                    b.level,
                    b.statements,
                    tables.join(", ")
                ),
                window_start,
                window_end,
                evidence: ids(&b.evidence, cx.cfg.max_evidence),
                entity: b.account,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use rules::catalog::Catalog;

    use super::*;
    use crate::config::AnalyzerConfig;

    const CATALOG: &str = r#"
default-level = 2
[[table]]
name = "publicdata.legal_person"
category = "legal-person"
sharing = "unconditional"
opening = "restricted"
columns = [{ name = "legal_rep_id_card", level = 4 }]
[[table]]
name = "publicdata.credit_record"
category = "credit"
sharing = "restricted"
opening = "restricted"
columns = [{ name = "detail", level = 3 }]
[[table]]
name = "publicdata.ops.bank_account"
category = "finance"
sharing = "not-shared"
opening = "forbidden"
columns = [{ name = "card_no", level = 4 }]
"#;

    fn claim(cfg: &AnalyzerConfig, catalog: Option<&Catalog>) -> Option<String> {
        let db = clickhouse::Client::default();
        let windows = BTreeSet::new();
        let cx = Context {
            db: &db,
            timeout: Duration::from_secs(1),
            cfg,
            accounts: None,
            catalog,
            windows: &windows,
            now: chrono::Utc::now(),
        };
        claimed(&cx)
    }

    #[test]
    fn claims_only_channels_bulk_reads_of_restricted_tables() {
        let catalog =
            Catalog::parse(std::path::Path::new("catalog.toml"), CATALOG).expect("valid catalog");
        let mut cfg = AnalyzerConfig::default();
        // No channels: nothing claimed, bulk-exfiltration judges everything.
        assert_eq!(claim(&cfg, Some(&catalog)), None);
        cfg.flow_back.channels = vec!["share_api".into()];
        let sql = claim(&cfg, Some(&catalog)).expect("claims");
        assert!(sql.contains("account IN ('share_api')"), "{sql}");
        assert!(sql.contains("rows >= 100"), "{sql}");
        // Restricted and not-shared tables, in both PostgreSQL and MySQL spellings;
        // the unconditionally shared one is not restricted data.
        for name in [
            "'publicdata.credit_record'",
            "'publicdata.public.credit_record'",
            "'publicdata.ops.bank_account'",
        ] {
            assert!(sql.contains(name), "{name} in {sql}");
        }
        assert!(!sql.contains("legal_person"), "{sql}");
        // Without a catalog: the level alone.
        let sql = claim(&cfg, None).expect("claims");
        assert!(sql.contains("(c, l) -> l >= 3, columns"), "{sql}");
        // Disabled: bulk-exfiltration takes the reads back.
        cfg.detectors.retain(|d| d != NAME);
        assert_eq!(claim(&cfg, Some(&catalog)), None);
    }
}
