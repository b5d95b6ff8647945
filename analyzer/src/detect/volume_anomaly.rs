//! **volume-anomaly** (数据量异常): the rows one account read in one hour (local time,
//! `utc-offset`) are far above what that account reads at that hour of the week. An
//! account's rhythm is weekly — the portal is busy on weekday mornings, the analyst reads at
//! office hours, batch jobs run on Sunday nights — so its baseline is the median and MAD of
//! its own hours at the same hour of the week over the last `weeks` weeks (see
//! [`super::baseline::seasonal`]). While it has fewer than `min-weeks` such hours, the
//! median and MAD of all its hours with traffic stand in; with fewer than `min-history`
//! of those it is in its cold start and nothing is raised: a new account has no normal yet.
//!
//! Where bulk-exfiltration looks at one window against the account's recent windows (a
//! burst of paging), this looks at whole hours against the same hour in earlier weeks: a
//! slow leak spread over an hour, or a night-time job suddenly reading a day's worth.
//!
//! ClickHouse sums `rows` per account and local hour (hours touched by the cycle's windows;
//! blocked statements read nothing), keeping hours above `min-rows`; for those accounts
//! it then sums their earlier hours, and the baseline maths runs here. An hour alerts when
//! its rows exceed both the baseline's median + `mad-factor` scaled MADs and `min-rows`.
//! The alert's window is the hour, so one hour raises one alert however many cycles see it.
//!
//! Severity: medium; high when the hour is at `high-ratio` times its threshold or more.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::BoxFuture;

use super::baseline::{self, Season};
use super::{Context, DetectError, Detector, Finding, at, ids, quote_list};
use crate::config::VolumeConfig;
use crate::event::Severity;

pub struct VolumeAnomaly;

const HOUR: i64 = 3600;
const WEEK_HOURS: u32 = 168;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Hourly {
    account: String,
    /// Local hours since the epoch.
    hour: u32,
    rows: u64,
    evidence: Vec<String>,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Past {
    account: String,
    hour: u32,
    rows: u64,
}

impl Detector for VolumeAnomaly {
    fn name(&self) -> &'static str {
        "volume-anomaly"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

/// SQL for the local hour (hours since the epoch, local time) an event falls in.
fn hour_expr(offset: i32) -> String {
    format!("toUInt32(intDiv(toInt64(toUInt32(time)) + {offset}, {HOUR}))")
}

/// Local hours touched by the windows (a window may straddle two).
fn hours(windows: &BTreeSet<u32>, window: u32, offset: i32) -> BTreeSet<u32> {
    let hour = |t: i64| u32::try_from((t + i64::from(offset)).div_euclid(HOUR)).unwrap_or(0);
    windows
        .iter()
        .flat_map(|&w| {
            let start = i64::from(w);
            [hour(start), hour(start + i64::from(window) - 1)]
        })
        .collect()
}

/// Unix time of the start of local hour `hour`.
fn utc_start(hour: u32, offset: i32) -> i64 {
    i64::from(hour) * HOUR - i64::from(offset)
}

/// What an hour is judged against: the threshold and the baseline it came from, `None`
/// during the cold start. `past` holds the account's earlier hours with traffic within
/// `weeks` (local hour → rows).
fn threshold(c: &VolumeConfig, hour: u32, past: &BTreeMap<u32, f64>) -> Option<(f64, Season)> {
    let from = hour.saturating_sub(c.weeks * WEEK_HOURS);
    let earlier = past.range(from..hour);
    let all: Vec<f64> = earlier.clone().map(|(_, r)| *r).collect();
    let same: Vec<f64> = earlier
        .filter(|(h, _)| (hour - **h).is_multiple_of(WEEK_HOURS))
        .map(|(_, r)| *r)
        .collect();
    let season = baseline::seasonal(&same, &all, c.min_weeks, c.min_history)?;
    let bar = season.baseline().upper(c.mad_factor).max(c.min_rows as f64);
    Some((bar, season))
}

/// Medium above the threshold, high at `high_ratio` times it.
fn severity(rows: f64, bar: f64, high_ratio: f64) -> Severity {
    if rows >= bar * high_ratio {
        Severity::High
    } else {
        Severity::Medium
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.volume;
    let off = cx.cfg.utc_offset;
    let hours = hours(cx.windows, cx.window(), off);
    let (Some(&first), Some(&last)) = (hours.first(), hours.last()) else {
        return Ok(Vec::new());
    };
    let list = hours
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // The biggest statements first, so that the evidence shows where the volume went.
    let sql = format!(
        "SELECT account, hr, toUInt64(sum(rows)) AS total, groupArray({n})(toString(id)) AS evidence \
         FROM (SELECT account, {h} AS hr, rows, id FROM statements \
               WHERE time >= toDateTime({from}) AND time < toDateTime({to}) AND action != 'block' AND rows > 0 \
               ORDER BY rows DESC) \
         WHERE hr IN ({list}) \
         GROUP BY account, hr HAVING total > {min} ORDER BY account, hr",
        h = hour_expr(off),
        from = utc_start(first, off).max(0),
        to = utc_start(last + 1, off).max(0),
        n = cx.cfg.max_evidence,
        min = c.min_rows,
    );
    let candidates: Vec<Hourly> = cx.fetch(&sql).await?;
    let mut by_account: BTreeMap<&str, Vec<&Hourly>> = BTreeMap::new();
    for h in &candidates {
        by_account.entry(&h.account).or_default().push(h);
    }
    let (Some(lo), Some(hi)) = (
        candidates.iter().map(|h| h.hour).min(),
        candidates.iter().map(|h| h.hour).max(),
    ) else {
        return Ok(Vec::new());
    };
    // Every candidate account's earlier hours with traffic, in one query.
    let sql = format!(
        "SELECT account, {h} AS hr, toUInt64(sum(rows)) AS total FROM statements \
         WHERE account IN {accounts} AND time >= toDateTime({from}) AND time < toDateTime({to}) AND action != 'block' \
         GROUP BY account, hr HAVING total > 0 ORDER BY account, hr",
        h = hour_expr(off),
        accounts = quote_list(by_account.keys().copied()),
        from = utc_start(lo.saturating_sub(c.weeks * WEEK_HOURS), off).max(0),
        to = utc_start(hi, off).max(0),
    );
    let history: Vec<Past> = cx.fetch(&sql).await?;
    let mut history_of: BTreeMap<&str, Vec<&Past>> = BTreeMap::new();
    for p in &history {
        history_of.entry(&p.account).or_default().push(p);
    }
    let mut out = Vec::new();
    for (account, list) in by_account {
        let (Some(lo), Some(hi)) = (
            list.iter().map(|h| h.hour).min(),
            list.iter().map(|h| h.hour).max(),
        ) else {
            continue;
        };
        let earliest = lo.saturating_sub(c.weeks * WEEK_HOURS);
        let past: BTreeMap<u32, f64> = history_of
            .get(account)
            .into_iter()
            .flatten()
            .filter(|p| p.hour >= earliest && p.hour < hi)
            .map(|p| (p.hour, p.rows as f64))
            .collect();
        for h in list {
            let Some((bar, season)) = threshold(c, h.hour, &past) else {
                continue; // cold start
            };
            let rows = h.rows as f64;
            if rows <= bar {
                continue;
            }
            let basis = match season {
                Season::HourOfWeek(b) => format!(
                    "median {:.0} rows, MAD {:.0} at this hour of the week over {} weeks",
                    b.median, b.mad, b.windows
                ),
                Season::AllHours(b) => format!(
                    "median {:.0} rows, MAD {:.0} over {} earlier hours",
                    b.median, b.mad, b.windows
                ),
            };
            let start = utc_start(h.hour, off);
            out.push(Finding {
                detector: name,
                entity: account.to_owned(),
                severity: severity(rows, bar, c.high_ratio),
                title: format!(
                    "{account} read {} rows in one hour, above {bar:.0} ({basis})",
                    h.rows
                ),
                window_start: at(start),
                window_end: at(start + HOUR),
                evidence: ids(&h.evidence, cx.cfg.max_evidence),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AnalyzerConfig;

    fn cfg() -> VolumeConfig {
        AnalyzerConfig::default().volume
    }

    #[test]
    fn hours_are_local_and_a_straddling_window_touches_two() {
        // 2024-01-01 00:00 UTC = 08:00 CST.
        let t = 1_704_067_200u32;
        let off = 8 * 3600;
        let h = (i64::from(t) + 28_800) / 3600;
        let one: BTreeSet<u32> = [t].into();
        assert_eq!(hours(&one, 300, off), [h as u32].into());
        assert_eq!(utc_start(h as u32, off), i64::from(t));
        // A 7-minute window from 07:57 local covers 07:xx and 08:xx.
        let straddle: BTreeSet<u32> = [t - 180].into();
        assert_eq!(hours(&straddle, 420, off), [h as u32 - 1, h as u32].into());
    }

    #[test]
    fn same_hour_of_week_first_then_all_hours_then_cold_start() {
        let c = cfg();
        let now = 10_000 * WEEK_HOURS + 14;
        // Four earlier weeks at this hour, ~1000 rows; other hours ~50.
        let mut past: BTreeMap<u32, f64> = (1..=4)
            .map(|w| (now - w * WEEK_HOURS, 1000.0 + f64::from(w) * 10.0))
            .collect();
        for i in 1..=40 {
            past.insert(now - i * 5, 50.0);
        }
        let (bar, season) = threshold(&c, now, &past).expect("warm");
        let Season::HourOfWeek(b) = season else {
            panic!("expected the hour-of-week baseline, got {season:?}")
        };
        assert_eq!((b.median, b.windows), (1025.0, 4));
        // spread = max(1.4826 × 10, 102.5) → 1025 + 6 × 102.5 = 1640, under the 5000 floor.
        assert_eq!(bar, 5000.0);

        // Hours older than `weeks` weeks do not count: only two weeks left at this hour, so
        // all hours (44 of them) stand in.
        let mut c2 = c.clone();
        c2.weeks = 2;
        let (_, season) = threshold(&c2, now, &past).expect("warm");
        assert!(matches!(season, Season::AllHours(b) if b.windows == 42 && b.median == 50.0));

        // Too little history of either kind: nothing to judge by.
        let few: BTreeMap<u32, f64> = (1..=5).map(|i| (now - i, 10.0)).collect();
        assert_eq!(threshold(&c, now, &few), None);
        // Hours at or after the judged one are not history.
        let later: BTreeMap<u32, f64> = (0..100).map(|i| (now + i, 10.0)).collect();
        assert_eq!(threshold(&c, now, &later), None);
    }

    #[test]
    fn a_learned_bar_above_the_floor() {
        let mut c = cfg();
        c.min_rows = 100;
        let now = 5_000 * WEEK_HOURS;
        let past: BTreeMap<u32, f64> = [1000.0, 1200.0, 1100.0, 900.0]
            .into_iter()
            .enumerate()
            .map(|(i, r)| (now - (i as u32 + 1) * WEEK_HOURS, r))
            .collect();
        let (bar, _) = threshold(&c, now, &past).expect("warm");
        // median 1050, MAD 100 → spread max(148.26, 105) → 1050 + 6 × 148.26
        assert!((bar - 1939.56).abs() < 1e-9, "{bar}");
    }

    #[test]
    fn severity_by_ratio() {
        for (rows, bar, want) in [
            (5_001.0, 5_000.0, Severity::Medium),
            (19_999.0, 5_000.0, Severity::Medium),
            (20_000.0, 5_000.0, Severity::High),
            (1e9, 5_000.0, Severity::High),
        ] {
            assert_eq!(severity(rows, bar, 4.0), want, "{rows} over {bar}");
        }
    }
}
