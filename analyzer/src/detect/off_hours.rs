//! **off-hours** (非工作时间访问): an account read sensitive data (level ≥
//! `sensitive-level`) outside working hours in local time (`utc-offset`). The account's own
//! `office-hours` from the accounts file wins over `[analyzer.off-hours] working-hours`;
//! accounts whose role is `application` and those listed in `exempt` run around the clock
//! and are not judged.
//!
//! ClickHouse counts per account, window and local minute of the day; the minutes outside
//! the account's hours are kept here. Severity: medium, high when level-4 data was read.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use futures_util::future::BoxFuture;
use rules::account::Hours;

use super::{Context, DetectError, Detector, Finding, by_level, ids, quote_list};
use crate::event::Severity;

pub struct OffHours;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Minute {
    account: String,
    window: u32,
    minute: u32,
    statements: u64,
    level: u8,
    evidence: Vec<String>,
}

impl Detector for OffHours {
    fn name(&self) -> &'static str {
        "off-hours"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

/// The hours `account` works, or `None` when it is not judged.
fn hours_of(cx: &Context<'_>, account: &str) -> Option<Hours> {
    let c = &cx.cfg.off_hours;
    if c.exempt.iter().any(|e| e == account) {
        return None;
    }
    match cx.accounts.and_then(|a| a.get(account)) {
        Some(a) if a.office_hours.is_some() => a.office_hours,
        Some(a) if a.role.eq_ignore_ascii_case("application") => None,
        _ => Some(c.working_hours),
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let exempt = quote_list(cx.cfg.off_hours.exempt.iter().map(String::as_str));
    let sql = format!(
        "SELECT account, {w} AS win, \
         toUInt32(intDiv((toInt64(toUInt32(time)) + {off}) % 86400, 60)) AS minute, \
         toUInt64(count()) AS statements, toUInt8(max(max_level)) AS level, \
         groupArray({n})(toString(id)) AS evidence \
         FROM statements WHERE {f} AND max_level >= {lvl} AND action != 'block' AND account NOT IN {exempt} \
         GROUP BY account, win, minute ORDER BY account, win, minute",
        w = cx.window_expr(),
        off = cx.cfg.utc_offset,
        n = cx.cfg.max_evidence,
        f = cx.window_filter(),
        lvl = cx.cfg.sensitive_level,
    );
    let minutes: Vec<Minute> = cx.fetch(&sql).await?;
    // (account, window) → (statements, level, evidence, hours)
    type Group = (u64, u8, Vec<String>, Hours);
    let mut groups: BTreeMap<(String, u32), Group> = BTreeMap::new();
    for m in minutes {
        let Some(hours) = hours_of(cx, &m.account) else {
            continue;
        };
        let t = NaiveTime::from_num_seconds_from_midnight_opt(m.minute * 60, 0).unwrap_or_default();
        if hours.contains(t) {
            continue;
        }
        let g = groups
            .entry((m.account, m.window))
            .or_insert_with(|| (0, 0, Vec::new(), hours));
        g.0 += m.statements;
        g.1 = g.1.max(m.level);
        g.2.extend(m.evidence);
    }
    let offset = offset_text(cx.cfg.utc_offset);
    Ok(groups
        .into_iter()
        .map(|((account, window), (n, level, evidence, hours))| {
            let (window_start, window_end) = cx.bounds(window);
            Finding {
                detector: name,
                title: format!(
                    "{account} read level-{level} data outside working hours ({hours} UTC{offset}): {n} statements"
                ),
                entity: account,
                severity: by_level(level, Severity::Medium, Severity::High),
                window_start,
                window_end,
                evidence: ids(&evidence, cx.cfg.max_evidence),
            }
        })
        .collect())
}

/// `+08:00` for 28800.
pub(crate) fn offset_text(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_print_like_they_are_written() {
        assert_eq!(super::offset_text(28_800), "+08:00");
        assert_eq!(super::offset_text(-19_800), "-05:30");
        assert_eq!(super::offset_text(0), "+00:00");
    }
}
