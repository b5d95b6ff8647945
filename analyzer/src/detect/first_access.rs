//! **first-access** (首次访问): an account read a sensitive table (level ≥
//! `sensitive-level`) that it had not read in the `history` before the window. Accounts
//! first seen less than `learning` before the window are still being learned and are not
//! judged — for a new account every table is new. Blocked statements read nothing and do
//! not count, neither as access nor as history.
//!
//! The entity is `account → table`; the alert's window is the one of the first access.
//! Severity: medium, high for a level-4 table.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::BoxFuture;

use super::{Context, DetectError, Detector, Finding, by_level, ids, quote_list};
use crate::event::Severity;

pub struct FirstAccess;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Access {
    account: String,
    object: String,
    window: u32,
    level: u8,
    evidence: Vec<String>,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Seen {
    account: String,
    object: String,
    first: u32,
}

impl Detector for FirstAccess {
    fn name(&self) -> &'static str {
        "first-access"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.first_access;
    let sql = format!(
        "SELECT account, obj, {w} AS win, toUInt8(max(lvl)) AS level, groupArray({n})(toString(id)) AS evidence \
         FROM statements ARRAY JOIN objects AS obj, object_levels AS lvl \
         WHERE {f} AND lvl >= {min} AND action != 'block' \
         GROUP BY account, obj, win ORDER BY account, obj, win",
        w = cx.window_expr(),
        n = cx.cfg.max_evidence,
        f = cx.window_filter(),
        min = cx.cfg.sensitive_level,
    );
    let accesses: Vec<Access> = cx.fetch(&sql).await?;
    let mut by_account: BTreeMap<&str, Vec<&Access>> = BTreeMap::new();
    for a in &accesses {
        by_account.entry(&a.account).or_default().push(a);
    }
    let (Some(first_window), Some(last_window)) = (cx.windows.first(), cx.windows.last()) else {
        return Ok(Vec::new());
    };
    let from = (i64::from(*first_window) - c.history.as_secs() as i64).max(0);
    let to = i64::from(*last_window) + i64::from(cx.window());
    // When each of these accounts was first seen at all (any statement, object ''), and
    // each table: one query for all of them.
    let accounts = quote_list(by_account.keys().copied());
    let sql = format!(
        "SELECT account, '' AS obj, toUInt32(min(time)) AS first FROM statements \
         WHERE account IN {accounts} AND time >= toDateTime({from}) AND time < toDateTime({to}) \
         GROUP BY account \
         UNION ALL \
         SELECT account, obj, toUInt32(min(time)) AS first FROM statements ARRAY JOIN objects AS obj \
         WHERE account IN {accounts} AND time >= toDateTime({from}) AND time < toDateTime({to}) AND action != 'block' \
         GROUP BY account, obj",
    );
    let seen: Vec<Seen> = cx.fetch(&sql).await?;
    let first: HashMap<(&str, &str), u32> = seen
        .iter()
        .map(|s| ((s.account.as_str(), s.object.as_str()), s.first))
        .collect();
    let mut out = Vec::new();
    for (account, list) in by_account {
        // No statement at all in range (cannot happen for an account with accesses in a
        // window, but min() over nothing reads as 0).
        let Some(&account_first) = first.get(&(account, "")).filter(|&&t| t > 0) else {
            continue;
        };
        for a in list {
            let since = i64::from(a.window) - i64::from(account_first);
            if since < c.learning.as_secs() as i64 {
                continue; // still learning this account
            }
            // Read before this window (within history): not a first access.
            if first
                .get(&(account, a.object.as_str()))
                .is_some_and(|&t| t < a.window)
            {
                continue;
            }
            let (window_start, window_end) = cx.bounds(a.window);
            out.push(Finding {
                detector: name,
                entity: format!("{account} → {}", a.object),
                severity: by_level(a.level, Severity::Medium, Severity::High),
                title: format!(
                    "{account} read level-{} table {} for the first time in {} days",
                    a.level,
                    a.object,
                    c.history.as_secs() / 86_400
                ),
                window_start,
                window_end,
                evidence: ids(&a.evidence, cx.cfg.max_evidence),
            });
        }
    }
    Ok(out)
}
