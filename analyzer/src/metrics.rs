//! `/metrics` in the Prometheus text format, for every daemon: a [`Registry`] of counters,
//! gauges and histograms that hot paths bump through handles they register once, and a tiny
//! HTTP server that renders it.
//!
//! Labels stay low-cardinality (listener names, actions, protocols — never accounts or
//! statements); a metric and its label values are fixed at registration.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Latencies in seconds, in fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// Buckets for statement and request latencies: 50 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.sum_us
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

enum Value {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
    /// Read when rendered (counters kept elsewhere, e.g. the spool's).
    Read(Box<dyn Fn() -> u64 + Send + Sync>),
}

struct Metric {
    name: String,
    help: String,
    labels: String,
    value: Value,
}

/// The metrics of one process.
#[derive(Default)]
pub struct Registry {
    metrics: RwLock<Vec<Metric>>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    fn add(&self, name: &str, help: &str, pairs: &[(&str, &str)], value: Value) {
        let mut m = self.metrics.write().unwrap_or_else(|p| p.into_inner());
        m.push(Metric {
            name: name.to_owned(),
            help: help.to_owned(),
            labels: labels(pairs),
            value,
        });
    }

    pub fn counter(&self, name: &str, help: &str, pairs: &[(&str, &str)]) -> Arc<Counter> {
        let c = Arc::new(Counter::default());
        self.add(name, help, pairs, Value::Counter(c.clone()));
        c
    }

    pub fn gauge(&self, name: &str, help: &str, pairs: &[(&str, &str)]) -> Arc<Gauge> {
        let g = Arc::new(Gauge::default());
        self.add(name, help, pairs, Value::Gauge(g.clone()));
        g
    }

    pub fn histogram(&self, name: &str, help: &str, pairs: &[(&str, &str)]) -> Arc<Histogram> {
        let h = Arc::new(Histogram::new(LATENCY_BUCKETS));
        self.add(name, help, pairs, Value::Histogram(h.clone()));
        h
    }

    /// A counter whose value lives elsewhere and is read at render time.
    pub fn counter_fn(
        &self,
        name: &str,
        help: &str,
        pairs: &[(&str, &str)],
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.add(name, help, pairs, Value::Read(Box::new(read)));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let m = self.metrics.read().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let mut described = std::collections::HashSet::new();
        for metric in m.iter() {
            let kind = match metric.value {
                Value::Counter(_) | Value::Read(_) => "counter",
                Value::Gauge(_) => "gauge",
                Value::Histogram(_) => "histogram",
            };
            if described.insert(metric.name.as_str()) {
                let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
                let _ = writeln!(out, "# TYPE {} {kind}", metric.name);
            }
            let (n, l) = (&metric.name, &metric.labels);
            match &metric.value {
                Value::Counter(c) => {
                    let _ = writeln!(out, "{n}{l} {}", c.get());
                }
                Value::Read(f) => {
                    let _ = writeln!(out, "{n}{l} {}", f());
                }
                Value::Gauge(g) => {
                    let _ = writeln!(out, "{n}{l} {}", g.get());
                }
                Value::Histogram(h) => {
                    let with = |extra: &str| {
                        if l.is_empty() {
                            format!("{{{extra}}}")
                        } else {
                            format!("{},{extra}}}", &l[..l.len() - 1])
                        }
                    };
                    let mut cumulative = 0;
                    for (b, c) in h.bounds.iter().zip(&h.buckets) {
                        cumulative += c.load(Relaxed);
                        let _ = writeln!(
                            out,
                            "{n}_bucket{} {cumulative}",
                            with(&format!("le=\"{b}\""))
                        );
                    }
                    let count = h.count.load(Relaxed);
                    let _ = writeln!(out, "{n}_bucket{} {count}", with("le=\"+Inf\""));
                    let _ = writeln!(out, "{n}_sum{l} {}", h.sum_us.load(Relaxed) as f64 / 1e6);
                    let _ = writeln!(out, "{n}_count{l} {count}");
                }
            }
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` until `cancel` fires. Binding fails with an error naming
/// the address; a bad request gets a 404 or 400 and the server goes on.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (mut conn, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => { warn!(%addr, error = %e, "Metrics accept failed."); continue; }
            },
            _ = cancel.cancelled() => return Ok(()),
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            // A request line and headers fit in 4 KiB; anything longer is not a scraper.
            let mut buf = vec![0u8; 4096];
            let n = match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = match request.split_whitespace().take(2).collect::<Vec<_>>()[..] {
                ["GET", "/metrics"] => ("200 OK", registry.render()),
                ["GET", _] => ("404 Not Found", "only /metrics is served here\n".to_owned()),
                _ => ("400 Bad Request", "expected GET /metrics\n".to_owned()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            if let Err(e) = async {
                conn.write_all(head.as_bytes()).await?;
                conn.write_all(body.as_bytes()).await?;
                conn.shutdown().await
            }
            .await
            {
                debug!(%peer, error = %e, "Metrics response not sent.");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format() {
        let r = Registry::new();
        let c = r.counter(
            "tianmu_statements_total",
            "Statements seen.",
            &[("listener", "pg-main"), ("action", "block")],
        );
        c.add(3);
        r.counter_fn("tianmu_spool_shipped_total", "Events shipped.", &[], || 42);
        let h = r.histogram(
            "tianmu_decision_seconds",
            "Decision latency.",
            &[("listener", "pg-main")],
        );
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_millis(3));
        let text = r.render();
        assert!(text.contains("# TYPE tianmu_statements_total counter\ntianmu_statements_total{listener=\"pg-main\",action=\"block\"} 3\n"), "{text}");
        assert!(text.contains("tianmu_spool_shipped_total 42\n"), "{text}");
        assert!(
            text.contains("tianmu_decision_seconds_bucket{listener=\"pg-main\",le=\"0.0001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("tianmu_decision_seconds_bucket{listener=\"pg-main\",le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("tianmu_decision_seconds_count{listener=\"pg-main\"} 2\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        let r = Registry::new();
        r.counter("up_total", "Up.", &[]).inc();
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(addr, r, cancel.clone()));
        let mut body = String::new();
        for _ in 0..50 {
            if let Ok(mut c) = tokio::net::TcpStream::connect(addr).await {
                c.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
                    .await
                    .expect("write");
                c.read_to_string(&mut body).await.expect("read");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        assert!(body.ends_with("up_total 1\n"), "{body}");
        cancel.cancel();
        server.await.expect("join").expect("served");
    }
}
