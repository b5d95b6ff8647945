//! The decision cache: applications send the same statement texts over and over (prepared
//! statements, ORMs), so the analysis and the decision for a text are kept and reused.
//!
//! Two keys lead to an entry. The exact text, always. And the text's *template*
//! ([`template_key`]: the tokens with literal values blanked, their kinds kept) when the
//! analysis never read a literal's value: applications that inline values (`WHERE aid =
//! 4711`, the simple query protocol) then hit as prepared statements do. Not the
//! fingerprint: two statements with the same fingerprint can be decided differently
//! because of their literals (`OR 1=1` is a tautology, `OR 1=2` is not), and an analysis
//! that compared them says so (`literals_read`), so it is only ever found by its exact text
//! and an attack cannot ride on an allowed shape.
//!
//! Both keys also hold the account, the database and the dialect, the client address when
//! the policy looks at addresses, and the minute of the day when it looks at the clock.
//! Each policy has its own cache, so a reload starts empty.
//!
//! The cache is bounded (entries); hits, misses and evictions are counted.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use chrono::Timelike;
use serde::Serialize;

use crate::sql::{Analysis, Dialect, template_key};

use super::{Decision, Policy, Request, Touched};

/// A statement's analysis and decision, shared between the sessions that send it.
#[derive(Debug)]
pub struct Evaluated {
    pub analysis: Analysis,
    pub decision: Decision,
    /// What the statement touches, as its audit events record it.
    pub touched: Touched,
}

/// Counters of the cache, for health events and `/metrics`.
#[derive(Debug, Default, Serialize)]
pub struct CacheStats {
    /// Found by the exact text.
    pub hits: AtomicU64,
    /// Found by the text's template: same statement, other literal values.
    pub template_hits: AtomicU64,
    pub misses: AtomicU64,
    /// Entries pushed out because the cache was full.
    pub evictions: AtomicU64,
}

pub(super) struct DecisionCache {
    entries: quick_cache::sync::Cache<u128, Arc<Evaluated>>,
    capacity: usize,
    pub(super) stats: CacheStats,
    /// What the key must include for this policy.
    by_client: bool,
    by_minute: bool,
}

impl std::fmt::Debug for DecisionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionCache")
            .field("capacity", &self.capacity)
            .field("len", &self.entries.len())
            .finish()
    }
}

/// Entries kept by default: a few thousand distinct statement texts cover an application
/// fleet's prepared statements with room to spare.
pub const DEFAULT_CAPACITY: usize = 16_384;

impl DecisionCache {
    pub(super) fn new(policy_uses_clients: bool, policy_uses_clock: bool, capacity: usize) -> Self {
        DecisionCache {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            capacity,
            stats: CacheStats::default(),
            by_client: policy_uses_clients,
            by_minute: policy_uses_clock,
        }
    }

    /// The key of `what` (an exact text or a template key) on the session `req`.
    fn key(&self, policy: &Policy, req: &Request<'_>, what: impl Hash) -> u128 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        req.account.hash(&mut h);
        req.database.hash(&mut h);
        (req.dialect == Dialect::Postgres).hash(&mut h);
        if self.by_client {
            req.client.hash(&mut h);
        } else {
            IpAddr::from([0, 0, 0, 0]).hash(&mut h);
        }
        if self.by_minute {
            let local = req.time.with_timezone(&policy.rules.utc_offset);
            (local.hour() * 60 + local.minute()).hash(&mut h);
        }
        what.hash(&mut h);
        h.digest128()
    }

    pub(super) fn evaluate(
        &self,
        policy: &Policy,
        req: &Request<'_>,
        text: &str,
    ) -> Arc<Evaluated> {
        let exact = self.key(policy, req, (0u8, text));
        if let Some(hit) = self.entries.get(&exact) {
            self.stats.hits.fetch_add(1, Relaxed);
            return hit;
        }
        let template = template_key(text, req.dialect).map(|t| self.key(policy, req, (1u8, t)));
        if let Some(hit) = template.and_then(|k| self.entries.get(&k)) {
            self.stats.template_hits.fetch_add(1, Relaxed);
            return hit;
        }
        self.stats.misses.fetch_add(1, Relaxed);
        let analysis = policy.analyze(text, req.dialect, req.database, None);
        let decision = policy.decide(req, &analysis);
        let touched = policy.touched(req, &analysis);
        let value = Arc::new(Evaluated {
            analysis,
            decision,
            touched,
        });
        let by_template =
            template.filter(|_| value.analysis.is_parsed() && !value.analysis.literals_read);
        for key in std::iter::once(exact).chain(by_template) {
            if self.entries.len() >= self.capacity {
                self.stats.evictions.fetch_add(1, Relaxed);
            }
            self.entries.insert(key, value.clone());
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Action;

    fn policy() -> Policy {
        let catalog = "default-level = 1\n[[table]]\nname = 'db.t'\ncategory = 'c'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [{ name = 'secret', level = 3, mask = 'keep 1 1' }]\n";
        let accounts = "[[account]]\nname = 'app'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 2\n";
        let rules = "[[rule]]\nname = 'no-taut'\nshapes = ['tautology']\naction = 'block'\nreason = 'no'\nalert = 'high'\n";
        Policy::parse(catalog, accounts, rules).unwrap_or_else(|e| panic!("{e}"))
    }

    fn req() -> Request<'static> {
        Request {
            account: "app",
            client: [127, 0, 0, 1].into(),
            database: "db",
            dialect: Dialect::Postgres,
            time: chrono::Utc::now(),
        }
    }

    fn counts(p: &Policy) -> [u64; 3] {
        let s = p.cache_stats();
        [&s.hits, &s.template_hits, &s.misses].map(|c| c.load(Relaxed))
    }

    #[test]
    fn other_literal_values_hit_the_template() {
        let p = policy();
        let first = p.evaluate(&req(), "SELECT secret FROM t WHERE id = 1");
        let second = p.evaluate(&req(), "SELECT secret FROM t WHERE id = 2");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(second.decision.action, Action::Mask);
        p.evaluate(&req(), "SELECT secret FROM t WHERE id = 1");
        assert_eq!(counts(&p), [1, 1, 1]);
    }

    #[test]
    fn an_analysis_that_compared_literals_is_never_found_by_its_template() {
        let p = policy();
        let harmless = p.evaluate(&req(), "SELECT secret FROM t WHERE id = 1 OR 1=2");
        assert_ne!(harmless.decision.action, Action::Block);
        let attack = p.evaluate(&req(), "SELECT secret FROM t WHERE id = 1 OR 1=1");
        assert_eq!(
            (attack.decision.action, attack.decision.rule.as_str()),
            (Action::Block, "no-taut")
        );
        assert_eq!(counts(&p), [0, 0, 2]);
    }
}
