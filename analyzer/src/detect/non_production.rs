//! **non-production-account** (开发测试环境 / 供应链): an account of a development, test
//! or vendor environment — or whose role is `vendor` — touched sensitive data (level ≥
//! `sensitive-level`) on the platform's production databases. Blocked attempts count: a
//! vendor probing production tables is the supply-chain scenario even when the firewall
//! stops every statement.
//!
//! Account kinds come from the policy's accounts file; without `[policy] accounts` the
//! detector has nothing to judge by and finds nothing (logged once per cycle at debug).
//! Severity: high; critical when any of the statements was let through.

use futures_util::future::BoxFuture;
use rules::account::Environment;

use super::{Context, DetectError, Detector, Finding, ids, quote_list};
use crate::event::Severity;

pub struct NonProduction;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Touch {
    account: String,
    window: u32,
    statements: u64,
    passed: u64,
    level: u8,
    evidence: Vec<String>,
}

impl Detector for NonProduction {
    fn name(&self) -> &'static str {
        "non-production-account"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let Some(accounts) = cx.accounts else {
        tracing::debug!("non-production-account: no accounts file; nothing to judge by");
        return Ok(Vec::new());
    };
    let suspects: Vec<&str> = accounts
        .iter()
        .filter(|a| a.environment != Environment::Prod || a.role.eq_ignore_ascii_case("vendor"))
        .map(|a| a.name.as_str())
        .collect();
    if suspects.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT account, {w} AS win, toUInt64(count()) AS statements, \
         toUInt64(countIf(action != 'block')) AS passed, toUInt8(max(max_level)) AS level, \
         groupArray({n})(toString(id)) AS evidence \
         FROM statements WHERE {f} AND max_level >= {lvl} AND account IN {list} \
         GROUP BY account, win ORDER BY account, win",
        w = cx.window_expr(),
        n = cx.cfg.max_evidence,
        f = cx.window_filter(),
        lvl = cx.cfg.sensitive_level,
        list = quote_list(suspects),
    );
    let touches: Vec<Touch> = cx.fetch(&sql).await?;
    Ok(touches
        .into_iter()
        .map(|t| {
            let env = accounts
                .get(&t.account)
                .map_or("non-production", |a| match a.environment {
                    Environment::Dev => "development",
                    Environment::Test => "test",
                    Environment::Vendor => "vendor",
                    Environment::Prod => "vendor-role",
                });
            let (window_start, window_end) = cx.bounds(t.window);
            Finding {
                detector: name,
                title: format!(
                    "{env} account {} touched level-{} production data: {} statements, {} let through",
                    t.account, t.level, t.statements, t.passed
                ),
                entity: t.account,
                severity: if t.passed > 0 {
                    Severity::Critical
                } else {
                    Severity::High
                },
                window_start,
                window_end,
                evidence: ids(&t.evidence, cx.cfg.max_evidence),
            }
        })
        .collect())
}
