//! **injection-campaign** (SQL注入攻击): at least `min-blocked` statements blocked by the
//! policy's injection rules (`[analyzer.injection-campaign] rules`) in one window, from one
//! account — or, for what no account campaign covers, from one client address (the same
//! host trying several accounts). Severity: high.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use super::{Context, DetectError, Detector, Finding, ids, quote_list};
use crate::event::Severity;

pub struct InjectionCampaign;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Blocked {
    account: String,
    address: String,
    window: u32,
    rule: String,
    id: String,
}

impl Detector for InjectionCampaign {
    fn name(&self) -> &'static str {
        "injection-campaign"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.injection;
    let sql = format!(
        "SELECT account, replaceRegexpOne(client, ':[0-9]+$', '') AS address, {w} AS win, rule, toString(id) \
         FROM statements WHERE {f} AND action = 'block' AND rule IN {rules} \
         ORDER BY win, time, id",
        w = cx.window_expr(),
        f = cx.window_filter(),
        rules = quote_list(c.rules.iter().map(String::as_str)),
    );
    let blocked: Vec<Blocked> = cx.fetch(&sql).await?;
    Ok(campaigns(name, cx, &blocked))
}

/// Groups blocked statements into campaigns: by account first, then by address for the rest.
fn campaigns(name: &'static str, cx: &Context<'_>, blocked: &[Blocked]) -> Vec<Finding> {
    let min = cx.cfg.injection.min_blocked;
    let mut by_account: BTreeMap<(u32, &str), Vec<&Blocked>> = BTreeMap::new();
    for b in blocked {
        by_account
            .entry((b.window, &b.account))
            .or_default()
            .push(b);
    }
    let mut out = Vec::new();
    let mut by_address: BTreeMap<(u32, &str), Vec<&Blocked>> = BTreeMap::new();
    for ((window, account), list) in by_account {
        if list.len() >= min {
            out.push(finding(name, cx, window, account, "account", &list));
        } else {
            for b in list {
                by_address.entry((window, &b.address)).or_default().push(b);
            }
        }
    }
    for ((window, address), list) in by_address {
        if list.len() >= min {
            out.push(finding(name, cx, window, address, "client address", &list));
        }
    }
    out
}

fn finding(
    name: &'static str,
    cx: &Context<'_>,
    window: u32,
    entity: &str,
    what: &str,
    list: &[&Blocked],
) -> Finding {
    let mut rules: Vec<&str> = list.iter().map(|b| b.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let evidence: Vec<String> = list.iter().map(|b| b.id.clone()).collect();
    let (window_start, window_end) = cx.bounds(window);
    Finding {
        detector: name,
        entity: entity.to_owned(),
        severity: Severity::High,
        title: format!(
            "injection campaign from {what} {entity}: {} statements blocked ({})",
            list.len(),
            rules.join(", ")
        ),
        window_start,
        window_end,
        evidence: ids(&evidence, cx.cfg.max_evidence),
    }
}
