//! **auth-failure-burst** (认证失败爆发): at least `min-failures` failed logins in one window
//! from one client address — password guessing or credential stuffing from one host, across
//! however many accounts — or, for the failures no address burst covers, for one account
//! (a distributed attack on one account). The address comes first because it is what a
//! containment blocks without locking the account's legitimate users out.
//!
//! A failed login is a statement event whose `error_code` is one of `error-codes`: SQLSTATE
//! `28P01` (wrong password) or `28000` (no such role, refused by `pg_hba.conf`) from
//! PostgreSQL, error `1045` (access denied) from MySQL/MariaDB — an event of kind `session`
//! with the account the client announced and an empty statement. (Today the sensor's
//! PostgreSQL follower only counts them, `pg_auth_failed`, and the firewall relays the
//! server's refusal without an event; the detector judges such events once a producer
//! emits them.)
//!
//! ClickHouse counts failures per window, address and account; a second query looks for
//! statements that succeeded afterwards in the same window from a burst's address as one of
//! the accounts that failed there. Severity: medium; high when such a success followed (the
//! guessing worked) — its statements join the evidence.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use super::{Context, DetectError, Detector, Finding, ids, quote_list};
use crate::event::Severity;

pub struct AuthFailureBurst;

/// SQL for the client's address without its port.
const ADDRESS: &str = "replaceRegexpOne(client, ':[0-9]+$', '')";

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct Failed {
    window: u32,
    address: String,
    account: String,
    failures: u64,
    first: u32,
    evidence: Vec<String>,
}

#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct Succeeded {
    window: u32,
    address: String,
    account: String,
    last: u32,
    evidence: Vec<String>,
}

impl Detector for AuthFailureBurst {
    fn name(&self) -> &'static str {
        "auth-failure-burst"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

/// A group of failures that makes a burst.
#[derive(Debug)]
struct Burst<'a> {
    window: u32,
    /// An address or an account.
    entity: &'a str,
    by_address: bool,
    failures: u64,
    parts: Vec<&'a Failed>,
}

/// Groups failures into bursts: by address first, then by account for the rest.
fn bursts(failed: &[Failed], min: usize) -> Vec<Burst<'_>> {
    let min = min as u64;
    let mut by_address: BTreeMap<(u32, &str), Vec<&Failed>> = BTreeMap::new();
    for f in failed {
        by_address
            .entry((f.window, &f.address))
            .or_default()
            .push(f);
    }
    let mut out = Vec::new();
    let mut by_account: BTreeMap<(u32, &str), Vec<&Failed>> = BTreeMap::new();
    for ((window, address), parts) in by_address {
        let failures = parts.iter().map(|f| f.failures).sum();
        if failures >= min {
            out.push(Burst {
                window,
                entity: address,
                by_address: true,
                failures,
                parts,
            });
        } else {
            for f in parts {
                by_account
                    .entry((f.window, &f.account))
                    .or_default()
                    .push(f);
            }
        }
    }
    for ((window, account), parts) in by_account {
        let failures = parts.iter().map(|f| f.failures).sum();
        if failures >= min {
            out.push(Burst {
                window,
                entity: account,
                by_address: false,
                failures,
                parts,
            });
        }
    }
    out
}

/// The successes that followed a burst: same window, an (address, account) pair that failed
/// in it, after that pair's first failure.
fn followed<'a>(b: &Burst<'_>, ok: &'a [Succeeded]) -> Vec<&'a Succeeded> {
    ok.iter()
        .filter(|s| {
            s.window == b.window
                && b.parts
                    .iter()
                    .any(|f| f.address == s.address && f.account == s.account && s.last >= f.first)
        })
        .collect()
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.auth;
    let codes = quote_list(c.error_codes.iter().map(String::as_str));
    let sql = format!(
        "SELECT {w} AS win, {ADDRESS} AS address, account, toUInt64(count()) AS failures, \
         toUInt32(min(time)) AS first, groupArray({n})(toString(id)) AS evidence \
         FROM statements WHERE {f} AND error_code IN {codes} \
         GROUP BY win, address, account ORDER BY win, address, account",
        w = cx.window_expr(),
        f = cx.window_filter(),
        n = cx.cfg.max_evidence,
    );
    let failed: Vec<Failed> = cx.fetch(&sql).await?;
    let bursts = bursts(&failed, c.min_failures);
    if bursts.is_empty() {
        return Ok(Vec::new());
    }
    let addresses: Vec<&str> = bursts
        .iter()
        .flat_map(|b| b.parts.iter().map(|f| f.address.as_str()))
        .collect();
    let sql = format!(
        "SELECT {w} AS win, {ADDRESS} AS address, account, toUInt32(max(time)) AS last, \
         groupArray({n})(toString(id)) AS evidence \
         FROM statements WHERE {f} AND error_code = '' AND action != 'block' AND {ADDRESS} IN {list} \
         GROUP BY win, address, account ORDER BY win, address, account",
        w = cx.window_expr(),
        f = cx.window_filter(),
        n = cx.cfg.max_evidence,
        list = quote_list(addresses),
    );
    let ok: Vec<Succeeded> = cx.fetch(&sql).await?;
    Ok(bursts
        .iter()
        .map(|b| {
            let after = followed(b, &ok);
            let mut accounts: Vec<&str> = b.parts.iter().map(|f| f.account.as_str()).collect();
            accounts.dedup();
            let mut evidence: Vec<String> = b
                .parts
                .iter()
                .flat_map(|f| f.evidence.iter().cloned())
                .collect();
            evidence.extend(after.iter().flat_map(|s| s.evidence.iter().cloned()));
            let what = if b.by_address {
                format!("from {} for {}", b.entity, accounts.join(", "))
            } else {
                let mut addresses: Vec<&str> = b.parts.iter().map(|f| f.address.as_str()).collect();
                addresses.sort_unstable();
                addresses.dedup();
                format!("for {} from {}", b.entity, addresses.join(", "))
            };
            let (severity, outcome) = if after.is_empty() {
                (Severity::Medium, String::new())
            } else {
                let mut who: Vec<&str> = after.iter().map(|s| s.account.as_str()).collect();
                who.dedup();
                (
                    Severity::High,
                    format!(", then statements succeeded as {}", who.join(", ")),
                )
            };
            let (window_start, window_end) = cx.bounds(b.window);
            Finding {
                detector: name,
                entity: b.entity.to_owned(),
                severity,
                title: format!("{} failed logins {what}{outcome}", b.failures),
                window_start,
                window_end,
                evidence: ids(&evidence, cx.cfg.max_evidence),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(window: u32, address: &str, account: &str, failures: u64) -> Failed {
        Failed {
            window,
            address: address.into(),
            account: account.into(),
            failures,
            first: window + 10,
            evidence: vec![],
        }
    }

    #[test]
    fn address_bursts_first_then_accounts_for_the_rest() {
        let rows = [
            // One host guessing two accounts: 6 + 5 ≥ 10.
            failed(0, "10.0.0.1", "dba_admin", 6),
            failed(0, "10.0.0.1", "analyst_li", 5),
            // Three hosts at one account, 4 each: no address burst, an account burst.
            failed(0, "10.0.0.2", "share_api", 4),
            failed(0, "10.0.0.3", "share_api", 4),
            failed(0, "10.0.0.4", "share_api", 4),
            // A user mistyping twice: nothing.
            failed(0, "10.0.0.5", "app_portal", 2),
            // The same host in another window, under the threshold.
            failed(300, "10.0.0.1", "dba_admin", 9),
        ];
        let got: Vec<(u32, &str, bool, u64)> = bursts(&rows, 10)
            .iter()
            .map(|b| (b.window, b.entity, b.by_address, b.failures))
            .collect();
        assert_eq!(
            got,
            [(0, "10.0.0.1", true, 11), (0, "share_api", false, 12)]
        );
        // At the threshold exactly: a burst.
        assert_eq!(bursts(&rows[6..], 9).len(), 1);
    }

    #[test]
    fn a_success_counts_only_after_a_failure_of_the_same_pair() {
        let rows = [failed(0, "10.0.0.1", "dba_admin", 12)];
        let b = &bursts(&rows, 10)[0];
        let ok = |address: &str, account: &str, last: u32, window: u32| Succeeded {
            window,
            address: address.into(),
            account: account.into(),
            last,
            evidence: vec![],
        };
        let cases = [
            (ok("10.0.0.1", "dba_admin", 60, 0), true),
            (ok("10.0.0.1", "dba_admin", 5, 0), false), // before the first failure
            (ok("10.0.0.1", "analyst_li", 60, 0), false), // another account
            (ok("10.0.0.9", "dba_admin", 60, 0), false), // another host
            (ok("10.0.0.1", "dba_admin", 360, 300), false), // another window
        ];
        for (s, want) in cases {
            assert_eq!(
                followed(b, std::slice::from_ref(&s)).len() == 1,
                want,
                "{s:?}"
            );
        }
    }
}
