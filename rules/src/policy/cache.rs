//! The decision cache: applications send the same statement texts over and over (prepared
//! statements, ORMs), so the analysis and the decision for a text are kept and reused.
//!
//! The key is the exact text, not its fingerprint: two statements with the same fingerprint
//! can be decided differently because of their literals (`OR 1=1` is a tautology, `OR 1=2`
//! is not), so a fingerprint-keyed cache would let an attack ride on an allowed shape. The
//! key also holds the account, the database and the dialect, the client address when the
//! policy looks at addresses, and the minute of the day when it looks at the clock. Each
//! policy has its own cache, so a reload starts empty.
//!
//! The cache is bounded (entries); hits, misses and evictions are counted.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use chrono::Timelike;
use serde::Serialize;

use crate::sql::{Analysis, Dialect};

use super::{Decision, Policy, Request};

/// A statement's analysis and decision, shared between the sessions that send it.
#[derive(Debug)]
pub struct Evaluated {
    pub analysis: Analysis,
    pub decision: Decision,
}

/// Counters of the cache, for health events and `/metrics`.
#[derive(Debug, Default, Serialize)]
pub struct CacheStats {
    pub hits: AtomicU64,
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

    fn key(&self, policy: &Policy, req: &Request<'_>, text: &str) -> u128 {
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
        text.hash(&mut h);
        h.digest128()
    }

    pub(super) fn evaluate(
        &self,
        policy: &Policy,
        req: &Request<'_>,
        text: &str,
    ) -> Arc<Evaluated> {
        let key = self.key(policy, req, text);
        if let Some(hit) = self.entries.get(&key) {
            self.stats.hits.fetch_add(1, Relaxed);
            return hit;
        }
        self.stats.misses.fetch_add(1, Relaxed);
        let analysis = policy.analyze(text, req.dialect, req.database, None);
        let decision = policy.decide(req, &analysis);
        let value = Arc::new(Evaluated { analysis, decision });
        if self.entries.len() >= self.capacity {
            self.stats.evictions.fetch_add(1, Relaxed);
        }
        self.entries.insert(key, value.clone());
        value
    }
}
