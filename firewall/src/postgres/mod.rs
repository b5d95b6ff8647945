//! The PostgreSQL listener's session: start-up (TLS and GSS requests answered, cancel
//! requests routed), the upstream connection, and the relay loop that feeds both directions
//! through the connection's state machine ([`state`]).
//!
//! ```text
//!  client ──► start-up: GSSENCRequest → 'N'; CancelRequest → upstream (known keys)
//!             SSLRequest → 'N' without tls-cert; with it 'S' + TLS handshake, then
//!             start-up again inside TLS (bytes sent before the 'S' refuse the client)
//!         ──► StartupMessage → connect upstream (error: FATAL 08006 to the client)
//!  relay:  client bytes → frames → Conn::client_message → server
//!          server bytes → frames → Conn::server_message → client (+ events, cancels)
//!  Each direction reads only while the other side drains: a slow client slows the server
//!  through TCP, never the proxy's memory.
//! ```
//!
//! TLS ends at the firewall: the connection to the server is plain TCP whatever the client
//! used (the server sees no TLS, and `pg_stat_ssl` shows none), so the firewall belongs
//! beside the server or on a network trusted as much.

pub mod mask;
pub mod state;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use analyzer::event::Protocol;
use bytes::{Buf, BytesMut};
use sensor::wire::postgres::backend::cancel_request;
use sensor::wire::postgres::parser::{
    Limits, Startup, error_response, next_frame, next_startup_frame, parse_startup,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::audit::SessionInfo;
use crate::listener::{CONNECT_TIMEOUT, Client, Common, Io, MAX_PENDING, Pump, Session};
use state::{Conn, Out};

/// What the sessions of one listener share.
pub struct Shared {
    pub common: Common,
    pub limits: Limits,
    /// Cancel keys of the live sessions: only these are forwarded upstream.
    keys: Mutex<HashSet<(u32, u32)>>,
}

impl std::ops::Deref for Shared {
    type Target = Common;
    fn deref(&self) -> &Common {
        &self.common
    }
}

impl Shared {
    pub fn new(common: Common) -> Shared {
        Shared {
            common,
            limits: Limits::default(),
            keys: Mutex::new(HashSet::new()),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashSet<(u32, u32)>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a CancelRequest for `key` upstream, on a connection of its own, and waits
    /// until the server closes that connection: it has then signalled the backend. The
    /// session sends nothing more upstream meanwhile, so the cancel hits the statement it
    /// was meant for or an idle backend (which ignores it), never the client's next one.
    async fn cancel(&self, key: (u32, u32)) {
        self.metrics.cancels.inc();
        match self.connect().await {
            Ok(mut s) => {
                let _ = s.write_all(&cancel_request(key.0, key.1)).await;
                let _ = s.shutdown().await;
                let mut sink = [0u8; 64];
                let closed = async {
                    while let Ok(n) = s.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                };
                if tokio::time::timeout(CONNECT_TIMEOUT, closed).await.is_err() {
                    warn!(
                        listener = self.listener,
                        "The server did not close a cancel connection in time."
                    );
                }
            }
            Err(e) => {
                self.metrics.upstream_errors.inc();
                warn!(listener = self.listener, error = %e, "Cannot send a cancel request upstream.");
            }
        }
    }
}

/// The PostgreSQL protocol session of a listener.
pub struct Postgres(pub Arc<Shared>);

impl Session for Postgres {
    async fn serve(&self, client: Client) -> Result<(), String> {
        let sh = &self.0;
        let Client {
            mut stream,
            peer,
            cancel,
        } = client;
        let mut buf = BytesMut::with_capacity(1024);
        let (startup, params) =
            match start_up(sh, &mut stream, &mut buf, sh.tls.is_some(), &cancel, peer).await? {
                Start::End => return Ok(()),
                Start::Startup(startup, params) => (startup, params),
                Start::Tls => {
                    let Some(mut stream) = sh.accept_tls(stream, &cancel).await? else {
                        return Ok(());
                    };
                    let (startup, params) =
                        match start_up(sh, &mut stream, &mut buf, false, &cancel, peer).await? {
                            Start::Startup(startup, params) => (startup, params),
                            Start::End | Start::Tls => return Ok(()),
                        };
                    let (mut upstream, conn) =
                        open(sh, &mut stream, &startup, &params, peer).await?;
                    let client = tokio::io::split(stream);
                    return relay(sh, conn, buf, client, upstream.split(), &cancel, peer).await;
                }
            };
        let (mut upstream, conn) = open(sh, &mut stream, &startup, &params, peer).await?;
        let (cr, cw) = stream.split();
        let (sr, sw) = upstream.split();
        relay(sh, conn, buf, (cr, cw), (sr, sw), &cancel, peer).await
    }
}

/// How a client's start-up went.
enum Start {
    /// It left, or only cancelled a statement.
    End,
    /// It asked for TLS and got 'S': the handshake comes next.
    Tls,
    /// Its StartupMessage (the whole frame) and the parameters in it.
    Startup(BytesMut, BTreeMap<String, String>),
}

/// Reads start-up messages until the StartupMessage: encryption requests are answered
/// (TLS accepted when `offer_tls`), cancel requests routed.
async fn start_up<S: AsyncRead + AsyncWrite + Unpin>(
    sh: &Shared,
    stream: &mut S,
    buf: &mut BytesMut,
    offer_tls: bool,
    cancel: &CancellationToken,
    peer: SocketAddr,
) -> Result<Start, String> {
    loop {
        let frame = loop {
            match next_startup_frame(buf, sh.limits.max_frontend) {
                Ok(Some(f)) => break f,
                Ok(None) => {}
                Err(e) => return Err(format!("bad start-up message: {e}")),
            }
            let n = tokio::select! {
                n = stream.read_buf(buf) => n.map_err(|e| e.to_string())?,
                _ = cancel.cancelled() => return Ok(Start::End),
            };
            if n == 0 {
                return Ok(Start::End);
            }
        };
        let msg = buf.split_to(frame.len);
        match parse_startup(frame.body(&msg)).map_err(|e| format!("bad start-up message: {e}"))? {
            Startup::Ssl if offer_tls => {
                // Bytes after the SSLRequest were sent in plain text before the client knew
                // TLS would be used; taking them as if they came through TLS would let a
                // man in the middle inject them (CVE-2021-23214). PostgreSQL refuses too.
                if !buf.is_empty() {
                    sh.metrics.tls_failed.inc();
                    let e = fatal("08P01", "received unencrypted data after SSL request");
                    let _ = stream.write_all(&e).await;
                    return Err("unencrypted data after the SSL request".into());
                }
                stream.write_all(b"S").await.map_err(|e| e.to_string())?;
                return Ok(Start::Tls);
            }
            Startup::Ssl | Startup::GssEnc => {
                stream.write_all(b"N").await.map_err(|e| e.to_string())?;
                stream.flush().await.map_err(|e| e.to_string())?;
            }
            Startup::Cancel { pid, secret } => {
                if sh.keys().contains(&(pid, secret)) {
                    sh.cancel((pid, secret)).await;
                } else {
                    sh.metrics.unknown_cancels.inc();
                    debug!(listener = sh.listener, %peer, "Dropped a cancel request for an unknown key.");
                }
                return Ok(Start::End);
            }
            Startup::Start(params) => return Ok(Start::Startup(msg, params)),
        }
    }
}

/// Connects upstream and sends the client's StartupMessage: what the relay starts from.
/// Refusals reach the client as FATAL errors.
async fn open<S: AsyncWrite + Unpin>(
    sh: &Shared,
    stream: &mut S,
    startup: &[u8],
    params: &BTreeMap<String, String>,
    peer: SocketAddr,
) -> Result<(TcpStream, Conn), String> {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let account = get("user");
    if params.contains_key("replication") {
        let e = fatal(
            "0A000",
            "replication connections are not accepted by the data firewall",
        );
        let _ = stream.write_all(&e).await;
        let _ = stream.flush().await;
        return Err("refused a replication connection".into());
    }
    let mut upstream = match sh.connect().await {
        Ok(s) => s,
        Err(e) => {
            sh.metrics.upstream_errors.inc();
            let msg = format!(
                "the data firewall cannot reach the database server {}: {e}",
                sh.upstream_name()
            );
            let _ = stream.write_all(&fatal("08006", &msg)).await;
            let _ = stream.flush().await;
            return Err(msg);
        }
    };
    upstream
        .write_all(startup)
        .await
        .map_err(|e| e.to_string())?;
    let database = params
        .get("database")
        .cloned()
        .unwrap_or_else(|| account.clone());
    let conn = Conn::new(SessionInfo {
        account,
        application: get("application_name"),
        database,
        ..SessionInfo::new(Protocol::Postgres, peer, sh.upstream_name())
    });
    Ok((upstream, conn))
}

fn fatal(code: &str, message: &str) -> Vec<u8> {
    let mut e = error_response(code, message, None);
    // error_response writes ERROR; start-up failures are FATAL, as the server's own are.
    if let Some(at) = e.windows(6).position(|w| w == b"SERROR") {
        e.splice(at..at + 6, *b"SFATAL");
        if let Some(v) = e.windows(6).position(|w| w == b"VERROR") {
            e.splice(v..v + 6, *b"VFATAL");
        }
    }
    e
}

/// Relays until either side closes, the state machine finds the protocol broken, or
/// shutdown.
async fn relay<CR, CW, SR, SW>(
    sh: &Shared,
    mut conn: Conn,
    from_client: BytesMut,
    client: (CR, CW),
    server: (SR, SW),
    cancel: &tokio_util::sync::CancellationToken,
    peer: SocketAddr,
) -> Result<(), String>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    let mut pump = Pump::new(client, server, from_client);
    let mut out = Out::default();
    let mut registered: Option<(u32, u32)> = None;
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    let result = loop {
        let read_client = conn.awaiting() < MAX_PENDING;
        match pump
            .next(
                &mut out.to_client,
                &mut out.to_server,
                read_client,
                cancelled.as_mut(),
            )
            .await
        {
            Io::Cancelled | Io::ClientGone => break Ok(()),
            Io::ServerWrite(e) => {
                sh.metrics.upstream_errors.inc();
                break Err(format!("writing to the server: {e}"));
            }
            Io::ServerClosed => {
                // The server closed (after an error it sent, or it went away): deliver
                // what is queued, then end.
                pump.write_client(&mut out.to_client).await;
                break Ok(());
            }
            Io::Client => {
                if let Err(e) = frames(&mut pump.from_client, sh.limits.max_frontend, |m| {
                    conn.client_message(sh, m, &mut out)
                }) {
                    // Only the error: what was queued for the client is not sent.
                    let e8 = error_response("08P01", &format!("protocol violation: {e}"), None);
                    pump.send_client(&e8).await;
                    break Err(format!("client: {e}"));
                }
            }
            Io::Server => {
                if let Err(e) = frames(&mut pump.from_server, sh.limits.max_backend, |m| {
                    conn.server_message(sh, m, &mut out)
                }) {
                    sh.metrics.upstream_errors.inc();
                    out.to_client.extend_from_slice(&error_response(
                        "08P01",
                        &format!("the data firewall cannot follow the server: {e}"),
                        None,
                    ));
                    pump.write_client(&mut out.to_client).await;
                    break Err(format!("server: {e}"));
                }
            }
        }
        if registered.is_none()
            && let Some(key) = conn.key
        {
            sh.keys().insert(key);
            registered = Some(key);
        }
        if std::mem::take(&mut out.cancel)
            && let Some(key) = conn.key
        {
            sh.cancel(key).await;
        }
    };
    if let Some(key) = registered {
        sh.keys().remove(&key);
    }
    pump.close_client().await;
    debug!(listener = sh.listener, %peer, "Session ended.");
    result
}

/// Feeds every complete frame in `buf` to `f`, consuming them.
fn frames<E: std::fmt::Display>(
    buf: &mut BytesMut,
    max: usize,
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), String> {
    loop {
        match next_frame(buf, max) {
            Ok(Some(frame)) => {
                f(&buf[..frame.len]).map_err(|e| e.to_string())?;
                buf.advance(frame.len);
            }
            Ok(None) => {
                // Room for the rest of a large message, within the limit already checked.
                if buf.len() >= 5 {
                    let want = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize + 1;
                    buf.reserve(want.saturating_sub(buf.len()).min(max));
                }
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
