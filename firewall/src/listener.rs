//! The listener framework both protocols share: bind, accept under a connection cap, hand
//! each client to its protocol's session in a task of its own on one of the session
//! [`Workers`], and drain on shutdown.
//!
//! ```text
//!  bind (error names the listener, the address and the config key)
//!    └─ accept ──► cap reached? ──yes──► close, count `refused`
//!                      │ no
//!                      ▼
//!                 worker (round robin) ─► task: Session::serve(client, peer) ── ends: count
//!  cancel ──► stop accepting ──► sessions see the token ──► wait for them (bounded)
//! ```
//!
//! A session's two sockets are served by one single-threaded runtime for its whole life,
//! as pgbouncer's or nginx's workers do: a message relayed costs its reads and writes and
//! nothing else, where a work-stealing runtime would wake another thread (a futex call)
//! for most of them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use analyzer::metrics::{Counter, Gauge, Registry};
use arc_swap::ArcSwap;
use rules::policy::Policy;
use rules::policy::containment::Containment;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::audit::Sink;
use crate::config::FailMode;
use crate::metrics::Metrics;
use crate::tls::TlsAcceptor;

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

/// What every session of a listener shares, whatever its protocol: the upstream, the
/// fail mode, the live policy, where events go, the statement counters and TLS with
/// clients. Each protocol's `Shared` holds one and adds its own (and derefs to it).
pub struct Common {
    pub listener: String,
    pub upstream: (String, u16),
    pub fail: FailMode,
    pub policy: Arc<ArcSwap<Policy>>,
    /// The SOC's containment blocks in force.
    pub containment: Arc<ArcSwap<Containment>>,
    pub sink: Sink,
    /// Producer id in events (`node/firewall`).
    pub producer: String,
    pub metrics: Metrics,
    /// TLS with clients (`tls-cert`); none: not offered.
    pub tls: Option<TlsAcceptor>,
}

impl Common {
    pub fn new(
        listener: &crate::config::Listener,
        policy: Arc<ArcSwap<Policy>>,
        containment: Arc<ArcSwap<Containment>>,
        sink: Sink,
        producer: String,
        registry: &Registry,
    ) -> Common {
        Common {
            listener: listener.name.clone(),
            upstream: listener.upstream.clone(),
            fail: listener.fail_mode,
            policy,
            containment,
            sink,
            producer,
            metrics: Metrics::register(registry, &listener.name),
            tls: None,
        }
    }

    /// Terminates clients' TLS with `tls` (from [`crate::tls::for_listener`]).
    pub fn with_tls(self, tls: Option<TlsAcceptor>) -> Common {
        Common { tls, ..self }
    }

    pub fn upstream_name(&self) -> String {
        format!("{}:{}", self.upstream.0, self.upstream.1)
    }

    /// The TLS handshake with a client that asked for it, within [`HANDSHAKE_TIMEOUT`];
    /// failures are counted. `Ok(None)`: shutdown came first.
    pub async fn accept_tls<S>(
        &self,
        stream: S,
        cancel: &CancellationToken,
    ) -> Result<Option<tokio_rustls::server::TlsStream<S>>, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let Some(acceptor) = &self.tls else {
            return Err("TLS asked for without a certificate".into());
        };
        tokio::select! {
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match r {
                Ok(Ok(s)) => Ok(Some(s)),
                Ok(Err(e)) => {
                    self.metrics.tls_failed.inc();
                    Err(format!("TLS handshake: {e}"))
                }
                Err(_) => {
                    self.metrics.tls_failed.inc();
                    Err("TLS handshake: timed out".into())
                }
            },
            _ = cancel.cancelled() => Ok(None),
        }
    }

    /// A connection to the database server, within [`CONNECT_TIMEOUT`].
    pub async fn connect(&self) -> std::io::Result<TcpStream> {
        let s = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.upstream.0.as_str(), self.upstream.1)),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))??;
        let _ = s.set_nodelay(true);
        Ok(s)
    }
}

#[cfg(test)]
impl Common {
    /// A listener of `protocol` for the state machines' unit tests: a table `db.t` with a
    /// level-3 column `secret` masked `keep 1 1`, an application account `app` of
    /// clearance 2 limited to 2 rows, a rule blocking time delays, events kept in memory.
    pub(crate) fn for_tests(protocol: analyzer::event::Protocol) -> Common {
        let catalog = "default-level = 1\n[[table]]\nname = 'db.t'\ncategory = 'c'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [{ name = 'secret', level = 3, mask = 'keep 1 1' }]\n";
        let accounts = "[[account]]\nname = 'app'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 2\nrow-limit = 2\n";
        let rules = "[[rule]]\nname = 'no-sleep'\nshapes = ['time-delay']\naction = 'block'\nreason = 'no'\nalert = 'high'\n";
        let policy = Policy::parse(catalog, accounts, rules).unwrap_or_else(|e| panic!("{e}"));
        let listener = crate::config::Listener {
            name: "t".into(),
            protocol,
            listen: "127.0.0.1:1".parse().expect("addr"),
            upstream: ("127.0.0.1".into(), 1),
            fail_mode: FailMode::Closed,
            tls: None,
            kill: None,
        };
        Common::new(
            &listener,
            Arc::new(ArcSwap::from_pointee(policy)),
            Arc::default(),
            Sink::Memory(Default::default()),
            "t/firewall".into(),
            &Registry::new(),
        )
    }
}

/// Writes some of `buf` to a client, or flushes when `buf` is empty (the write returns 0):
/// a TLS stream holds the last bytes of a write until it is flushed, so the relays flush
/// whenever their queue to the client runs empty.
pub async fn write_or_flush<W: AsyncWrite + Unpin>(
    w: &mut W,
    buf: &[u8],
) -> std::io::Result<usize> {
    if buf.is_empty() {
        w.flush().await.map(|()| 0)
    } else {
        w.write(buf).await
    }
}

/// Time the last bytes to a leaving client get to go out (TLS records, close_notify).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a connection to the database server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has for its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes a session queues for one side before it stops reading the other.
pub const HIGH_WATER: usize = 256 << 10;
/// Answers a session awaits from the server before it stops reading the client.
pub const MAX_PENDING: usize = 100_000;

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

/// The threads sessions run on: each runs a single-threaded runtime; a new session goes to
/// the next one in turn. The threads end when this is dropped (their remaining tasks are
/// dropped with them, so drain first).
pub struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: AtomicUsize,
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `n` (at least one) worker threads named `tianmu-session-<i>`.
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let mut handles = Vec::new();
        let mut stop = Vec::new();
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            stop.push(tx);
            std::thread::Builder::new()
                .name(format!("tianmu-session-{i}"))
                .spawn(move || {
                    let _ = runtime.block_on(rx);
                })?;
        }
        Ok(Workers {
            handles,
            next: AtomicUsize::new(0),
            _stop: stop,
        })
    }

    /// The number given by `TIANMU_WORKERS`, else one per core.
    pub fn default_count() -> usize {
        std::env::var("TIANMU_WORKERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
    }

    fn next(&self) -> &tokio::runtime::Handle {
        &self.handles[self.next.fetch_add(1, Relaxed) % self.handles.len()]
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
    (session, workers): (Arc<S>, Arc<Workers>),
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
        // The socket moves to the worker's runtime, which registers it with its own poller.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                warn!(listener = name, %peer, error = %e, "Cannot hand a client to a worker.");
                continue;
            }
        };
        metrics.accepted.inc();
        metrics.active.add(1);
        let (session, metrics, cancel) = (session.clone(), metrics.clone(), cancel.child_token());
        let name = name.to_owned();
        workers.next().spawn(tasks.track_future(async move {
            let result = match TcpStream::from_std(stream) {
                Ok(stream) => {
                    session
                        .serve(Client {
                            stream,
                            peer,
                            cancel,
                        })
                        .await
                }
                Err(e) => Err(format!("registering the client's socket: {e}")),
            };
            if let Err(e) = result {
                metrics.failed.inc();
                debug!(listener = name, %peer, error = %e, "Session ended with an error.");
            }
            metrics.active.add(-1);
            drop(permit);
        }));
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
            (
                Arc::new(Echo),
                Arc::new(Workers::start(2).expect("workers")),
            ),
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
