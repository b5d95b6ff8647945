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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::Poll;
use std::time::Duration;

use analyzer::metrics::{Counter, Gauge, Registry};
use arc_swap::ArcSwap;
use bytes::BytesMut;
use rules::policy::Policy;
use rules::policy::containment::Containment;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
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

/// The two connections of a relayed session and the bytes on their way, for both
/// protocols' relays: what arrives from each side lands in its buffer (`from_client`,
/// `from_server`) for the state machine; what the state machine queues for each side (its
/// `to_client` and `to_server`, lent to every [`Pump::next`]) is written from the front.
///
/// ```text
///  next(): cancelled? ─► write what is queued, each side, until the socket is full
///          ─► flush the client side once its queue is empty (TLS holds back the last bytes)
///          ─► read the client (unless the server is far behind), the server (unless the
///             client is): the first with bytes ends the call (the two take turns first)
/// ```
///
/// One call writes what the last message produced and waits for the next: a message
/// relayed costs its read and its write and one turn of the session's loop.
pub struct Pump<CR, CW, SR, SW> {
    client: (CR, CW),
    server: (SR, SW),
    pub from_client: BytesMut,
    pub from_server: BytesMut,
    /// How much of the queue to each side has gone out.
    client_sent: usize,
    server_sent: usize,
    /// The client side was written to since its last flush.
    unflushed: bool,
    /// The server is read before the client in the next call (they take turns).
    server_first: bool,
}

/// What [`Pump::next`] saw.
#[derive(Debug)]
pub enum Io {
    /// New bytes from the client in `from_client`.
    Client,
    /// New bytes from the server in `from_server`.
    Server,
    /// The client closed its connection, or reading from or writing to it failed.
    ClientGone,
    /// The server closed its connection, or reading from it failed.
    ServerClosed,
    /// Writing to the server failed.
    ServerWrite(std::io::Error),
    /// Shutdown.
    Cancelled,
}

/// Bytes a read asks for at least: one read takes a whole result of a few rows.
const READ_SIZE: usize = 64 << 10;

impl<CR, CW, SR, SW> Pump<CR, CW, SR, SW>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    /// `from_client`: what the client sent already (bytes read past a start-up).
    pub fn new(client: (CR, CW), server: (SR, SW), from_client: BytesMut) -> Self {
        Pump {
            client,
            server,
            from_client,
            from_server: BytesMut::with_capacity(READ_SIZE),
            client_sent: 0,
            server_sent: 0,
            unflushed: false,
            server_first: false,
        }
    }

    /// Bytes queued for the server and not yet written.
    pub fn server_backlog(&self, to_server: &[u8]) -> usize {
        to_server.len().saturating_sub(self.server_sent)
    }

    /// Writes what can go now of `to_client` and `to_server`, then waits for bytes from
    /// either side. The client is read only when `read_client` and less than
    /// [`HIGH_WATER`] waits for the server; the server only when less than that waits for
    /// the client.
    pub async fn next(
        &mut self,
        to_client: &mut Vec<u8>,
        to_server: &mut Vec<u8>,
        read_client: bool,
        mut cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
    ) -> Io {
        std::future::poll_fn(|cx| {
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Io::Cancelled);
            }
            // What earlier messages produced goes out before more is read.
            while self.server_sent < to_server.len() {
                match Pin::new(&mut self.server.1).poll_write(cx, &to_server[self.server_sent..]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Io::ServerWrite(std::io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Ok(n)) => self.server_sent += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Io::ServerWrite(e)),
                    Poll::Pending => break,
                }
            }
            settle(to_server, &mut self.server_sent);
            while self.client_sent < to_client.len() {
                match Pin::new(&mut self.client.1).poll_write(cx, &to_client[self.client_sent..]) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.client_sent += n;
                        self.unflushed = true;
                    }
                    Poll::Ready(_) => return Poll::Ready(Io::ClientGone),
                    Poll::Pending => break,
                }
            }
            settle(to_client, &mut self.client_sent);
            if self.unflushed && to_client.is_empty() {
                match Pin::new(&mut self.client.1).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(_)) => return Poll::Ready(Io::ClientGone),
                    Poll::Pending => {}
                }
            }
            let client_open = read_client && to_server.len() - self.server_sent < HIGH_WATER;
            let server_open = to_client.len() - self.client_sent < HIGH_WATER;
            self.server_first = !self.server_first;
            for server in [self.server_first, !self.server_first] {
                let ready = if server {
                    if !server_open {
                        continue;
                    }
                    read(Pin::new(&mut self.server.0), cx, &mut self.from_server)
                        .map(|r| if r { Io::Server } else { Io::ServerClosed })
                } else {
                    if !client_open {
                        continue;
                    }
                    read(Pin::new(&mut self.client.0), cx, &mut self.from_client)
                        .map(|r| if r { Io::Client } else { Io::ClientGone })
                };
                if ready.is_ready() {
                    return ready;
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Writes the rest of the queue to the client, however long it takes (the session is
    /// ending: errors end it anyway).
    pub async fn write_client(&mut self, to_client: &mut Vec<u8>) {
        let rest = to_client.get(self.client_sent..).unwrap_or_default();
        let _ = self.client.1.write_all(rest).await;
        to_client.clear();
        self.client_sent = 0;
    }

    /// Writes `bytes` to the client past the queue (the session is ending).
    pub async fn send_client(&mut self, bytes: &[u8]) {
        let _ = self.client.1.write_all(bytes).await;
    }

    /// Closes the client side: what the loop wrote last (and TLS's close_notify) goes
    /// out, unless the client stalls past [`CLOSE_TIMEOUT`].
    pub async fn close_client(&mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.client.1.shutdown()).await;
    }
}

/// One read into `buf` (room for [`READ_SIZE`] made first): `Ready(false)` when the peer
/// closed or the read failed.
fn read<R: AsyncRead + Unpin>(
    r: Pin<&mut R>,
    cx: &mut std::task::Context<'_>,
    buf: &mut BytesMut,
) -> Poll<bool> {
    if buf.capacity() - buf.len() < READ_SIZE / 4 {
        buf.reserve(READ_SIZE);
    }
    tokio_util::io::poll_read_buf(r, cx, buf).map(|r| matches!(r, Ok(n) if n > 0))
}

/// Forgets the written front of a queue: all of it once it is all written, else once it
/// is most of it (the rest moves to the front).
fn settle(queue: &mut Vec<u8>, sent: &mut usize) {
    if *sent == queue.len() {
        queue.clear();
        *sent = 0;
    } else if *sent >= HIGH_WATER && *sent * 2 >= queue.len() {
        queue.drain(..*sent);
        *sent = 0;
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
