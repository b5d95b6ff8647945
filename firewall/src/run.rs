//! `tianmu firewall`: every configured listener, the policy they share (hot-reloaded by the
//! caller's watcher through the swap cell), the audit sink and `/metrics`, until cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use analyzer::event::{Body, Event, Health, HealthStatus, Protocol};
use analyzer::metrics::Registry;
use arc_swap::ArcSwap;
use rules::policy::containment::Containment;
use rules::policy::{CacheStats, Policy};
use tokio_util::sync::CancellationToken;

use crate::audit::Sink;
use crate::config::Listener;
use crate::listener::{self, Common, ListenError, ListenerMetrics, Workers};
use crate::postgres::{Postgres, Shared};

/// What the firewall runs.
pub struct Firewall {
    pub listeners: Vec<Listener>,
    /// The config key each listener's address came from (for bind errors).
    pub keys: Vec<String>,
    pub max_connections: usize,
    pub metrics: Option<SocketAddr>,
    pub policy: Arc<ArcSwap<Policy>>,
    /// The containment blocks (hot-reloaded with the policy).
    pub containment: Arc<ArcSwap<Containment>>,
    pub sink: Sink,
    /// Producer id in events.
    pub producer: String,
}

/// Why the firewall could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(
        "cannot serve /metrics on {addr}: {source} (change `firewall.metrics` in the configuration)"
    )]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no listener to run: configure [[firewall.listeners]] or give --listen and --upstream")]
    Nothing,
    #[error("cannot start the session worker threads: {0}")]
    Workers(std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::ListenerTlsError),
}

/// Binds everything first (a port in use stops the start with its config key), then serves
/// until `cancel` fires and the sessions have drained.
pub async fn run(fw: Firewall, cancel: CancellationToken) -> Result<(), RunError> {
    let registry = Registry::new();
    type Field = fn(&CacheStats) -> &AtomicU64;
    let cache_counters: [(&str, &str, Field); 3] = [
        (
            "tianmu_firewall_decision_cache_hits_total",
            "Statements decided from the decision cache by their exact text (the count restarts on policy reload).",
            |s| &s.hits,
        ),
        (
            "tianmu_firewall_decision_cache_template_hits_total",
            "Statements decided from the decision cache by their template: the same statement with other literal values (the count restarts on policy reload).",
            |s| &s.template_hits,
        ),
        (
            "tianmu_firewall_decision_cache_misses_total",
            "Statements analyzed and decided afresh (the count restarts on policy reload).",
            |s| &s.misses,
        ),
    ];
    for (name, help, field) in cache_counters {
        let policy = fw.policy.clone();
        registry.counter_fn(name, help, &[], move || {
            field(policy.load().cache_stats()).load(Relaxed)
        });
    }
    let mut bound = Vec::new();
    for (l, key) in fw.listeners.iter().zip(&fw.keys) {
        let tls = crate::tls::for_listener(l, key)?;
        bound.push((l, tls, listener::bind(&l.name, l.listen, key).await?));
    }
    if bound.is_empty() {
        return Err(RunError::Nothing);
    }
    let metrics_server = match fw.metrics {
        Some(addr) => {
            // Bind now so that a port in use is a start-up error.
            let probe = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Metrics { addr, source })?;
            drop(probe);
            Some(tokio::spawn(analyzer::metrics::serve(
                addr,
                registry.clone(),
                cancel.clone(),
            )))
        }
        None => None,
    };
    let workers = Arc::new(Workers::start(Workers::default_count()).map_err(RunError::Workers)?);
    let mut tasks = Vec::new();
    let mut reports = Vec::new();
    for (l, tls, socket) in bound {
        let common = Common::new(
            l,
            fw.policy.clone(),
            fw.containment.clone(),
            fw.sink.clone(),
            fw.producer.clone(),
            &registry,
        )
        .with_tls(tls);
        let metrics = Arc::new(ListenerMetrics::register(&registry, &l.name));
        reports.push((l.name.clone(), metrics.clone()));
        let (name, cancel, max) = (l.name.clone(), cancel.clone(), fw.max_connections);
        let workers = workers.clone();
        tasks.push(match l.protocol {
            Protocol::Postgres => {
                let session = (Arc::new(Postgres(Arc::new(Shared::new(common)))), workers);
                tokio::spawn(async move {
                    listener::serve(&name, socket, max, session, metrics, cancel).await;
                })
            }
            Protocol::Mysql => {
                let shared = crate::mysql::Shared::new(common, l.kill.clone());
                let session = (Arc::new(crate::mysql::MySql(Arc::new(shared))), workers);
                tokio::spawn(async move {
                    listener::serve(&name, socket, max, session, metrics, cancel).await;
                })
            }
        });
    }
    if let Sink::Pipeline(_) = &fw.sink {
        tasks.push(tokio::spawn(report_health(
            fw.sink.clone(),
            fw.producer.clone(),
            reports,
            cancel.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    Ok(())
}

/// How often a firewall reports its health.
const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A `Health` event every [`HEALTH_EVERY`] (the first at start) with each listener's
/// connection counters, so that the analyzer notices a firewall that goes silent.
async fn report_health(
    sink: Sink,
    producer: String,
    listeners: Vec<(String, Arc<ListenerMetrics>)>,
    cancel: CancellationToken,
) {
    let mut every = tokio::time::interval(HEALTH_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let mut counters = Vec::new();
        for (name, m) in &listeners {
            counters.extend([
                (format!("{name}.accepted"), m.accepted.get()),
                (format!("{name}.refused"), m.refused.get()),
                (
                    format!("{name}.active"),
                    m.active.get().max(0).unsigned_abs(),
                ),
                (format!("{name}.failed"), m.failed.get()),
            ]);
        }
        sink.record(Event::new(
            producer.clone(),
            Body::Health(Health {
                component: "firewall".into(),
                status: HealthStatus::Ok,
                counters,
                message: String::new(),
            }),
        ));
    }
}
