//! The counters every listener keeps, whatever its protocol: statements by action, upstream
//! failures, cancels (PostgreSQL CancelRequest, MySQL `KILL QUERY`), TLS failures and
//! statement latency.

use std::sync::Arc;
use std::time::Duration;

use analyzer::metrics::{Counter, Histogram, Registry};
use rules::decision::Action;

/// Statement and session counters of one listener, the same series for every protocol.
pub struct Metrics {
    pub(crate) allowed: Arc<Counter>,
    pub(crate) masked: Arc<Counter>,
    pub(crate) limited: Arc<Counter>,
    pub(crate) blocked: Arc<Counter>,
    pub(crate) upstream_errors: Arc<Counter>,
    pub(crate) cancels: Arc<Counter>,
    pub(crate) unknown_cancels: Arc<Counter>,
    pub(crate) tls_failed: Arc<Counter>,
    pub(crate) latency: Arc<Histogram>,
}

impl Metrics {
    pub fn register(registry: &Registry, listener: &str) -> Metrics {
        let by = |action: &'static str| {
            registry.counter(
                "tianmu_firewall_statements_total",
                "Statements decided, by the action taken (limit: results cut at a limit).",
                &[("listener", listener), ("action", action)],
            )
        };
        let l = [("listener", listener)];
        Metrics {
            allowed: by("allow"),
            masked: by("mask"),
            limited: by("limit"),
            blocked: by("block"),
            upstream_errors: registry.counter(
                "tianmu_firewall_upstream_errors_total",
                "Connections to the database server that failed or broke.",
                &l,
            ),
            cancels: registry.counter(
                "tianmu_firewall_cancels_total",
                "Cancel requests sent upstream (clients' and the firewall's own at limits).",
                &l,
            ),
            unknown_cancels: registry.counter(
                "tianmu_firewall_cancels_refused_total",
                "Cancel requests with a key of no session of this listener, dropped.",
                &l,
            ),
            tls_failed: registry.counter(
                "tianmu_firewall_tls_handshakes_failed_total",
                "TLS handshakes with clients that failed or timed out, and clients refused for sending before the handshake.",
                &l,
            ),
            latency: registry.histogram(
                "tianmu_firewall_statement_seconds",
                "Time from a statement's arrival to the end of its result.",
                &l,
            ),
        }
    }

    /// A statement was decided (blocks are counted when refused).
    pub fn decided(&self, action: Action) {
        match action {
            Action::Allow | Action::Limit => self.allowed.inc(),
            Action::Mask => self.masked.inc(),
            Action::Block => {}
        }
    }

    pub fn blocked(&self) {
        self.blocked.inc();
    }

    pub fn limited(&self) {
        self.limited.inc();
    }

    pub fn observe(&self, d: Duration) {
        self.latency.observe(d);
    }
}
