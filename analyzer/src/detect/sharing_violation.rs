//! **sharing-violation** (共享属性违规): a shared API interface returned sensitive values of
//! a level its sharing attribute (共享属性) does not let out. DEMO.md's sharing platform
//! serves `legal_person` (无条件共享 — unconditional, except its level-4 column) on
//! `/api/v1/legal-person/{uscc}` and `credit_record` (有条件共享 — restricted) on
//! `/api/v1/credit`; ID-card numbers in either answer, or anything sensitive from a 不予共享
//! (not-shared) table, mean the interface leaks what the catalog says must stay in.
//!
//! An interface's sharing attribute is the strictest of its `tables`' in the catalog
//! (`[policy] catalog`), else its own `sharing`; interfaces not configured (or with
//! neither) are judged as `unlisted` says. Each attribute lets out values up to a level (`max-level`: 2 for
//! unconditional, 3 for restricted, 0 for not shared) and each kind of value the sensor's
//! inspection finds has a level (`kind-levels`: ID cards, bank cards and passports 4;
//! mobiles, e-mail addresses and licence plates 3; IPv4 2; credit codes 1). Kinds the
//! configuration does not know are left out.
//!
//! ClickHouse sums the `sensitive_kinds`/`sensitive_counts` of successful (2xx) calls per
//! interface (path template without its query string), window and kind; the levels are
//! compared here. One alert per interface and window, with the app keys that received the
//! values in its title. Severity: high; critical when level-4 values were returned.
//!
//! The counts come from the sensor's inspection of HTTP responses; until its HTTP follower
//! emits `ApiCall` events, only other producers of them (tests, drills) feed this detector.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use rules::catalog::{Catalog, Sharing};

use super::{Context, DetectError, Detector, Finding, ids};
use crate::config::{SharingConfig, Unlisted};
use crate::event::Severity;

pub struct SharingViolation;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Returned {
    path: String,
    window: u32,
    kind: String,
    values: u64,
    calls: u64,
    keys: Vec<String>,
    evidence: Vec<String>,
}

impl Detector for SharingViolation {
    fn name(&self) -> &'static str {
        "sharing-violation"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

/// A path template without its query string.
fn bare(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// Strictest first.
fn rank(s: Sharing) -> u8 {
    match s {
        Sharing::NotShared => 0,
        Sharing::Restricted => 1,
        Sharing::Unconditional => 2,
    }
}

fn sharing_text(s: Sharing) -> &'static str {
    match s {
        Sharing::Unconditional => "unconditional sharing",
        Sharing::Restricted => "restricted sharing",
        Sharing::NotShared => "not shared",
    }
}

/// The sharing attribute `path` is judged by, `None` when it is not judged.
fn sharing_of(c: &SharingConfig, catalog: Option<&Catalog>, path: &str) -> Option<Sharing> {
    let unlisted = || match c.unlisted {
        Unlisted::Unconditional => Some(Sharing::Unconditional),
        Unlisted::Restricted => Some(Sharing::Restricted),
        Unlisted::NotShared => Some(Sharing::NotShared),
        Unlisted::Ignore => None,
    };
    let Some(f) = c.interfaces.iter().find(|f| bare(&f.path) == bare(path)) else {
        return unlisted();
    };
    let from_catalog = catalog.and_then(|cat| {
        f.tables
            .iter()
            .filter_map(|t| {
                let parts: Vec<&str> = t.split('.').collect();
                match parts.as_slice() {
                    [d, t] => cat.table(d, None, t),
                    [d, s, t] => cat.table(d, Some(s), t),
                    _ => None,
                }
            })
            .map(|t| t.sharing)
            .min_by_key(|s| rank(*s))
    });
    from_catalog.or(f.sharing).or_else(unlisted)
}

/// The level of a kind of value as the sensor names it (`id-card`, or `id_card`).
fn kind_level(c: &SharingConfig, kind: &str) -> Option<u8> {
    c.kind_levels.get(&kind.replace('_', "-")).copied()
}

/// One interface's violations in one window.
#[derive(Default)]
struct Violation {
    /// (kind, level, values)
    kinds: Vec<(String, u8, u64)>,
    calls: u64,
    keys: Vec<String>,
    evidence: Vec<String>,
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.sharing;
    // The query string is cut off; `??` is the clickhouse crate's escape for a literal `?`.
    let sql = format!(
        "SELECT replaceRegexpOne(path_template, '\\\\??.*$', '') AS path, {w} AS win, kind, \
         toUInt64(sum(cnt)) AS sensitive, toUInt64(uniqExact(id)) AS calls, \
         groupUniqArray(app_key) AS keys, groupArray({n})(toString(id)) AS evidence \
         FROM api_calls ARRAY JOIN sensitive_kinds AS kind, sensitive_counts AS cnt \
         WHERE {f} AND cnt > 0 AND status >= 200 AND status < 300 \
         GROUP BY path, win, kind ORDER BY path, win, kind",
        w = cx.window_expr(),
        f = cx.window_filter(),
        n = cx.cfg.max_evidence,
    );
    let returned: Vec<Returned> = cx.fetch(&sql).await?;
    let mut found: BTreeMap<(String, u32), (Sharing, u8, Violation)> = BTreeMap::new();
    for r in returned {
        let Some(sharing) = sharing_of(c, cx.catalog, &r.path) else {
            continue;
        };
        let Some(level) = kind_level(c, &r.kind) else {
            tracing::debug!(kind = %r.kind, "sharing-violation: a kind of value without a level; left out");
            continue;
        };
        let allowed = c.max_level.of(sharing);
        if level <= allowed {
            continue;
        }
        let v = &mut found
            .entry((r.path, r.window))
            .or_insert_with(|| (sharing, allowed, Violation::default()))
            .2;
        v.kinds.push((r.kind, level, r.values));
        v.calls = v.calls.max(r.calls);
        v.keys.extend(r.keys);
        v.evidence.extend(r.evidence);
    }
    Ok(found
        .into_iter()
        .map(|((path, window), (sharing, allowed, mut v))| {
            v.keys.sort_unstable();
            v.keys.dedup();
            v.evidence.sort_unstable();
            v.evidence.dedup();
            let top = v.kinds.iter().map(|k| k.1).max().unwrap_or(0);
            let kinds: Vec<String> = v
                .kinds
                .iter()
                .map(|(k, l, n)| format!("{n} {k} (L{l})"))
                .collect();
            let (window_start, window_end) = cx.bounds(window);
            Finding {
                detector: name,
                severity: if top >= 4 {
                    Severity::Critical
                } else {
                    Severity::High
                },
                title: format!(
                    "{path} ({}, up to level {allowed}) returned {} in at least {} calls to {}",
                    sharing_text(sharing),
                    kinds.join(", "),
                    v.calls,
                    v.keys.join(", ")
                ),
                window_start,
                window_end,
                evidence: ids(&v.evidence, cx.cfg.max_evidence),
                entity: path,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AnalyzerConfig, InterfaceRaw};

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
name = "publicdata.bank_account"
category = "finance"
sharing = "not-shared"
opening = "forbidden"
columns = [{ name = "card_no", level = 4 }]
"#;

    fn interface(path: &str, tables: &[&str], sharing: Option<Sharing>) -> InterfaceRaw {
        InterfaceRaw {
            path: path.into(),
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            sharing,
        }
    }

    fn cfg() -> SharingConfig {
        let mut c = AnalyzerConfig::default().sharing;
        c.interfaces = vec![
            interface(
                "/api/v1/legal-person/{uscc}",
                &["publicdata.legal_person"],
                None,
            ),
            interface("/api/v1/credit", &["publicdata.credit_record"], None),
            // Serves a shared and a not-shared table: the strictest wins.
            interface(
                "/api/v1/account",
                &["publicdata.legal_person", "publicdata.bank_account"],
                Some(Sharing::Unconditional),
            ),
            // Not in the catalog: its own attribute.
            interface(
                "/api/v1/open",
                &["publicdata.nowhere"],
                Some(Sharing::Unconditional),
            ),
        ];
        c
    }

    #[test]
    fn the_strictest_table_wins_then_the_interface_then_unlisted() {
        let catalog =
            Catalog::parse(std::path::Path::new("catalog.toml"), CATALOG).expect("valid catalog");
        let mut c = cfg();
        let cases = [
            ("/api/v1/legal-person/{uscc}", Some(Sharing::Unconditional)),
            ("/api/v1/credit?uscc={uscc}", Some(Sharing::Restricted)),
            ("/api/v1/credit", Some(Sharing::Restricted)),
            ("/api/v1/account", Some(Sharing::NotShared)),
            ("/api/v1/open", Some(Sharing::Unconditional)),
            ("/api/v2/unknown", Some(Sharing::Restricted)),
        ];
        for (path, want) in cases {
            assert_eq!(sharing_of(&c, Some(&catalog), path), want, "{path}");
        }
        // Without a catalog: the interface's own attribute, else as if unlisted.
        assert_eq!(
            sharing_of(&c, None, "/api/v1/account"),
            Some(Sharing::Unconditional)
        );
        c.unlisted = Unlisted::NotShared;
        assert_eq!(
            sharing_of(&c, None, "/api/v1/credit"),
            Some(Sharing::NotShared)
        );
        c.unlisted = Unlisted::Ignore;
        assert_eq!(sharing_of(&c, None, "/api/v1/credit"), None);
        assert_eq!(sharing_of(&c, Some(&catalog), "/api/v2/unknown"), None);
    }

    #[test]
    fn levels_of_kinds_and_what_each_attribute_lets_out() {
        let c = cfg();
        // (sharing, kind, violates)
        let cases = [
            (Sharing::Unconditional, "social-credit-code", false),
            (Sharing::Unconditional, "mobile", true),
            (Sharing::Unconditional, "id-card", true),
            (Sharing::Restricted, "mobile", false),
            (Sharing::Restricted, "id_card", true),
            (Sharing::Restricted, "bank-card", true),
            (Sharing::NotShared, "social-credit-code", true),
            (Sharing::NotShared, "ipv4", true),
        ];
        for (sharing, kind, violates) in cases {
            let level = kind_level(&c, kind).expect("known kind");
            assert_eq!(
                level > c.max_level.of(sharing),
                violates,
                "{kind} under {sharing:?}"
            );
        }
        assert_eq!(kind_level(&c, "shoe-size"), None);
    }
}
