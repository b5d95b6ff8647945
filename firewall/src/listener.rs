//! The listener framework both protocols share: bind, accept under a connection cap, hand
//! each client to its protocol's session in a task of its own, and drain on shutdown.
//!
//! ```text
//!  bind (error names the listener, the address and the config key)
//!    └─ accept ──► cap reached? ──yes──► close, count `refused`
//!                      │ no
//!                      ▼
//!                 task: Session::serve(client, peer)  ── ends: count, log at debug
//!  cancel ──► stop accepting ──► sessions see the token ──► wait for them (bounded)
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use analyzer::metrics::{Counter, Gauge, Registry};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "listener `{name}` cannot listen on {addr}: {source} (change `{key}` in the configuration, or stop what uses the port)"
    )]
    Bind {
        name: String,
        addr: SocketAddr,
        key: String,
        source: std::io::Error,
    },
}

/// One client connection as a protocol session gets it.
pub struct Client {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Fires when the firewall shuts down; the session finishes what it can and ends.
    pub cancel: CancellationToken,
}

/// A protocol's per-connection handler.
pub trait Session: Send + Sync + 'static {
    /// Serves one client until it leaves, the upstream goes away or `client.cancel` fires.
    /// Errors are the session's to log; the listener only counts them.
    fn serve(&self, client: Client) -> impl Future<Output = Result<(), String>> + Send;
}

/// Counters of one listener.
pub struct ListenerMetrics {
    pub accepted: Arc<Counter>,
    pub refused: Arc<Counter>,
    pub active: Arc<Gauge>,
    pub failed: Arc<Counter>,
}

impl ListenerMetrics {
    pub fn register(registry: &Registry, listener: &str) -> ListenerMetrics {
        let l = [("listener", listener)];
        ListenerMetrics {
            accepted: registry.counter(
                "tianmu_firewall_connections_total",
                "Client connections accepted.",
                &l,
            ),
            refused: registry.counter(
                "tianmu_firewall_connections_refused_total",
                "Client connections refused because the listener was at max-connections.",
                &l,
            ),
            active: registry.gauge(
                "tianmu_firewall_connections_active",
                "Client connections open now.",
                &l,
            ),
            failed: registry.counter(
                "tianmu_firewall_sessions_failed_total",
                "Sessions that ended with an error (malformed messages, upstream lost, ...).",
                &l,
            ),
        }
    }
}

/// How long shutdown waits for open sessions.
const DRAIN: Duration = Duration::from_secs(10);

/// Binds `addr` now, so that a port in use stops the start-up with a clear error.
pub async fn bind(name: &str, addr: SocketAddr, key: &str) -> Result<TcpListener, ListenError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind {
            name: name.to_owned(),
            addr,
            key: key.to_owned(),
            source,
        })
}

/// Accepts clients until `cancel` fires, then waits (at most [`DRAIN`]) for their sessions.
pub async fn serve<S: Session>(
    name: &str,
    listener: TcpListener,
    max_connections: usize,
    session: Arc<S>,
    metrics: Arc<ListenerMetrics>,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    let tasks = TaskTracker::new();
    let addr = listener.local_addr().ok();
    info!(listener = name, ?addr, "Listening.");
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(listener = name, error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.refused.inc();
            debug!(listener = name, %peer, "Refused a client: max-connections reached.");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics.accepted.inc();
        metrics.active.add(1);
        let (session, metrics, cancel) = (session.clone(), metrics.clone(), cancel.child_token());
        let name = name.to_owned();
        tasks.spawn(async move {
            if let Err(e) = session
                .serve(Client {
                    stream,
                    peer,
                    cancel,
                })
                .await
            {
                metrics.failed.inc();
                debug!(listener = name, %peer, error = %e, "Session ended with an error.");
            }
            metrics.active.add(-1);
            drop(permit);
        });
    }
    tasks.close();
    if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
        warn!(
            listener = name,
            open = tasks.len(),
            "Sessions still open after the drain period; leaving them."
        );
    }
    info!(listener = name, "Stopped.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Echoes until the client closes or shutdown.
    struct Echo;

    impl Session for Echo {
        async fn serve(&self, mut client: Client) -> Result<(), String> {
            let mut buf = [0u8; 64];
            loop {
                tokio::select! {
                    n = client.stream.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return Ok(()),
                        Ok(n) => client.stream.write_all(&buf[..n]).await.map_err(|e| e.to_string())?,
                    },
                    _ = client.cancel.cancelled() => return Ok(()),
                }
            }
        }
    }

    #[tokio::test]
    async fn caps_connections_counts_and_drains() {
        let registry = Registry::new();
        let metrics = Arc::new(ListenerMetrics::register(&registry, "t"));
        let l = bind(
            "t",
            "127.0.0.1:0".parse().expect("addr"),
            "firewall.listeners[0].listen",
        )
        .await
        .expect("bind");
        let addr = l.local_addr().expect("addr");
        let cancel = CancellationToken::new();
        let server = tokio::spawn(serve(
            "t",
            l,
            2,
            Arc::new(Echo),
            metrics.clone(),
            cancel.clone(),
        ));

        let mut a = TcpStream::connect(addr).await.expect("a");
        let mut b = TcpStream::connect(addr).await.expect("b");
        for s in [&mut a, &mut b] {
            s.write_all(b"ping").await.expect("write");
            let mut r = [0u8; 4];
            s.read_exact(&mut r).await.expect("echo");
            assert_eq!(&r, b"ping");
        }
        // The third is over the cap: accepted by the kernel, closed by the listener.
        let mut c = TcpStream::connect(addr).await.expect("c");
        let mut r = [0u8; 1];
        assert_eq!(c.read(&mut r).await.expect("closed"), 0);
        assert_eq!(
            (
                metrics.accepted.get(),
                metrics.refused.get(),
                metrics.active.get()
            ),
            (2, 1, 2)
        );

        cancel.cancel();
        server.await.expect("listener ends");
        assert_eq!(metrics.active.get(), 0, "sessions drained");
        assert_eq!(a.read(&mut r).await.expect("closed"), 0);
    }

    #[tokio::test]
    async fn a_port_in_use_names_the_key() {
        let first = bind("a", "127.0.0.1:0".parse().expect("addr"), "k")
            .await
            .expect("bind");
        let addr = first.local_addr().expect("addr");
        let e = bind("b", addr, "firewall.listeners[1].listen")
            .await
            .expect_err("in use");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("listener `b` cannot listen on {addr}")),
            "{msg}"
        );
        assert!(
            msg.contains("change `firewall.listeners[1].listen`"),
            "{msg}"
        );
    }
}
