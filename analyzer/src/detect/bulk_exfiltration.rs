//! **bulk-exfiltration** (批量数据外泄): the rows or bytes one account read in one window
//! exceed both its own baseline (median + k·MAD of its earlier windows with traffic, see
//! [`super::baseline`]) and, when the policy's accounts file is loaded, a fraction of its
//! per-statement row limit. Paging through a table 10,000 rows at a time stays under the
//! firewall's per-statement limit; this catches the sum.
//!
//! Blocked statements returned nothing and do not count; nor do the bulk reads of
//! restricted data by flow-back channels, which flow-back judges (one scenario, one alert).
//! Severity: high; critical when level-4 data was among what was read.

use std::collections::HashMap;

use futures_util::future::BoxFuture;

use super::baseline::{self, Basis};
use super::{Context, DetectError, Detector, Finding, by_level, flow_back, ids, quote_list};
use crate::event::Severity;

pub struct BulkExfiltration;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Volume {
    account: String,
    window: u32,
    rows: u64,
    bytes: u64,
    level: u8,
    evidence: Vec<String>,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Past {
    account: String,
    window: u32,
    rows: u64,
    bytes: u64,
}

impl Detector for BulkExfiltration {
    fn name(&self) -> &'static str {
        "bulk-exfiltration"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.bulk;
    let not_flow_back =
        flow_back::claimed(cx).map_or_else(String::new, |f| format!(" AND NOT {f}"));
    // The biggest statements first, so that the evidence shows where the volume went.
    let sql = format!(
        "SELECT account, {w} AS win, toUInt64(sum(rows)) AS total_rows, toUInt64(sum(bytes)) AS total_bytes, \
         toUInt8(max(max_level)) AS level, groupArray({n})(toString(id)) AS evidence \
         FROM (SELECT account, time, rows, bytes, max_level, id FROM statements WHERE {f} AND action != 'block' AND (rows > 0 OR bytes > 0){not_flow_back} ORDER BY rows DESC) \
         GROUP BY account, win \
         HAVING total_rows > {min_rows} OR total_bytes > {min_bytes} \
         ORDER BY account, win",
        w = cx.window_expr(),
        f = cx.window_filter(),
        n = cx.cfg.max_evidence,
        min_rows = c.min_rows,
        min_bytes = c.min_bytes,
    );
    let candidates: Vec<Volume> = cx.fetch(&sql).await?;
    let (Some(first), Some(last)) = (
        candidates.iter().map(|v| v.window).min(),
        candidates.iter().map(|v| v.window).max(),
    ) else {
        return Ok(Vec::new());
    };
    // Every candidate account's windows with traffic, from `history` before the earliest
    // candidate window to the latest: one query for all of them.
    let history = c.history.as_secs() as i64;
    let sql = format!(
        "SELECT account, {w} AS win, toUInt64(sum(rows)) AS r, toUInt64(sum(bytes)) AS b FROM statements \
         WHERE account IN {accounts} AND time >= toDateTime({from}) AND time < toDateTime({last}) AND action != 'block'{not_flow_back} \
         GROUP BY account, win HAVING r > 0 OR b > 0 ORDER BY account, win",
        accounts = quote_list(candidates.iter().map(|v| v.account.as_str())),
        from = (i64::from(first) - history).max(0),
        w = cx.window_expr(),
    );
    let past: Vec<Past> = cx.fetch(&sql).await?;
    let mut by_account: HashMap<&str, Vec<&Past>> = HashMap::new();
    for p in &past {
        by_account.entry(&p.account).or_default().push(p);
    }
    let mut out = Vec::new();
    for v in candidates {
        // The account's earlier windows with traffic, up to `history` before this one.
        let from = i64::from(v.window) - history;
        let earlier: Vec<&Past> = by_account
            .get(v.account.as_str())
            .map(|ws| {
                ws.iter()
                    .filter(|p| i64::from(p.window) >= from && p.window < v.window)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let rows: Vec<f64> = earlier.iter().map(|p| p.rows as f64).collect();
        let bytes: Vec<f64> = earlier.iter().map(|p| p.bytes as f64).collect();
        let limit = cx
            .accounts
            .and_then(|a| a.get(&v.account))
            .and_then(|a| a.row_limit)
            .map_or(0.0, |l| l as f64 * c.limit_fraction);
        let (row_bar, basis) = baseline::threshold(
            &rows,
            c.min_windows,
            c.mad_factor,
            c.cold_start_rows as f64,
            (c.min_rows as f64).max(limit),
        );
        let (byte_bar, _) = baseline::threshold(
            &bytes,
            c.min_windows,
            c.mad_factor,
            c.cold_start_bytes as f64,
            c.min_bytes as f64,
        );
        let over_rows = v.rows as f64 > row_bar;
        let over_bytes = v.bytes as f64 > byte_bar;
        if !(over_rows || over_bytes) {
            continue;
        }
        let basis = match basis {
            Basis::ColdStart { windows } => format!("cold start, {windows} earlier windows"),
            Basis::Learned(b) => format!(
                "baseline median {:.0} rows, MAD {:.0} over {} windows",
                b.median, b.mad, b.windows
            ),
        };
        let (window_start, window_end) = cx.bounds(v.window);
        out.push(Finding {
            detector: name,
            entity: v.account.clone(),
            severity: by_level(v.level, Severity::High, Severity::Critical),
            title: format!(
                "{} read {} rows ({} bytes) in one window, above {:.0} rows / {:.0} bytes ({basis})",
                v.account, v.rows, v.bytes, row_bar, byte_bar
            ),
            window_start,
            window_end,
            evidence: ids(&v.evidence, cx.cfg.max_evidence),
        });
    }
    Ok(out)
}
