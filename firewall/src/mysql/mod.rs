//! The MySQL/MariaDB listener's session: the upstream connection, the relay loop that
//! feeds both directions through the connection's state machine ([`state`]), and the side
//! connection that stops a statement cut at a limit.
//!
//! ```text
//!  client ──► connect upstream (error: ERR 1158 to the client in place of the greeting)
//!  relay:  server bytes → payloads → Conn::server_payload → client (+ events, kills)
//!          client bytes → payloads → Conn::client_payload → server (or the firewall's ERR)
//!  Each direction reads only while the other side drains: a slow client slows the server
//!  through TCP, never the proxy's memory. A payload over max_packet, a sequence id out of
//!  order or a packet that does not parse ends this connection only, with a logged reason.
//! ```
//!
//! ## Stopping a statement cut at a limit
//!
//! The firewall does not know the client's password, so it cannot open a connection as
//! the client to send `KILL QUERY`. With a kill account (the listener's `kill-user` and
//! `kill-password`, or `--kill-user`/`--kill-password`: a MariaDB/MySQL account
//! with `mysql_native_password` or no password, allowed to kill other users' statements —
//! `CONNECTION ADMIN` or `SUPER`), the session sends `KILL QUERY <connection id>` over a
//! side connection and waits for its answer before it forwards anything more from the
//! client: the kill then lands on the statement it was meant for, or on an idle
//! connection (which ignores it), never on the client's next statement. The server's
//! remaining rows of the cut statement are discarded until its end, and the session goes
//! on. Without a kill account (or when the kill fails), the session ends after giving the
//! client the limit's error: closing the upstream connection makes the server abort the
//! statement at its next write, at the price of the client's connection.

pub mod mask;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use analyzer::event::Protocol;
use bytes::{Buf, BytesMut};
use sensor::wire::mysql::handshake::{AuthReply, parse_auth_reply};
use sensor::wire::mysql::{
    Capabilities, ErrPacket, HandshakeResponse, Limits, SslRequest, encode_packets, next_payload,
    parse_handshake,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::audit::SessionInfo;
use crate::config::KillAccount;
use crate::listener::{CONNECT_TIMEOUT, Client, Common, Io, MAX_PENDING, Pump, Session};
use crate::tls::Prefixed;
use state::{Conn, Out};

/// What the sessions of one listener share.
pub struct Shared {
    pub common: Common,
    pub limits: Limits,
    pub kill: Option<KillAccount>,
}

impl std::ops::Deref for Shared {
    type Target = Common;
    fn deref(&self) -> &Common {
        &self.common
    }
}

/// Why the side connection could not stop a statement.
#[derive(Debug, thiserror::Error)]
enum KillError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wire(#[from] sensor::wire::mysql::WireError),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the kill account authenticates with `{0}`; it needs mysql_native_password")]
    Plugin(String),
    #[error("timed out")]
    Timeout,
}

impl Shared {
    pub fn new(common: Common, kill: Option<KillAccount>) -> Shared {
        Shared {
            common,
            limits: Limits::default(),
            kill,
        }
    }

    /// Stops the statement of connection `id` with `KILL QUERY` over a side connection as
    /// the kill account, and returns once the server has answered it. `false`: no kill
    /// account, or the kill failed (logged); the session must close instead.
    async fn kill(&self, id: u32) -> bool {
        let Some(account) = &self.kill else {
            return false;
        };
        self.metrics.cancels.inc();
        match tokio::time::timeout(CONNECT_TIMEOUT, self.kill_query(account, id)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                self.metrics.upstream_errors.inc();
                warn!(listener = self.listener, error = %e, "Cannot stop a statement cut at a limit; closing its connection instead.");
                false
            }
            Err(_) => {
                self.metrics.upstream_errors.inc();
                warn!(listener = self.listener, error = %KillError::Timeout, "Cannot stop a statement cut at a limit; closing its connection instead.");
                false
            }
        }
    }

    async fn kill_query(&self, account: &KillAccount, id: u32) -> Result<(), KillError> {
        let mut s = self.connect().await?;
        let mut buf = BytesMut::with_capacity(256);
        let (seq, greeting) = read_payload(&mut s, &mut buf, self.limits.max_packet).await?;
        if greeting.first() == Some(&0xFF) {
            return Err(KillError::Refused(err_text(&greeting)));
        }
        let h = parse_handshake(&greeting)?;
        let caps = h.capabilities
            & (Capabilities::MYSQL
                | Capabilities::PROTOCOL_41
                | Capabilities::SECURE_CONNECTION
                | Capabilities::PLUGIN_AUTH
                | Capabilities::TRANSACTIONS);
        let proof = native_password(account.password.as_bytes(), &h.scramble());
        let response = HandshakeResponse {
            header: SslRequest {
                capabilities: caps,
                max_packet: 1 << 24,
                charset: 33,
            },
            username: account.user.as_bytes(),
            auth_response: &proof,
            database: None,
            auth_plugin: Some(b"mysql_native_password"),
            attributes: None,
            zstd_level: None,
        };
        let mut out = Vec::new();
        encode_packets(seq.wrapping_add(1), &response.encode()?, &mut out);
        s.write_all(&out).await?;
        loop {
            let (seq, reply) = read_payload(&mut s, &mut buf, self.limits.max_packet).await?;
            match parse_auth_reply(&reply, caps)? {
                AuthReply::Ok(_) => break,
                AuthReply::Err(e) => {
                    return Err(KillError::Refused(
                        String::from_utf8_lossy(e.message).into_owned(),
                    ));
                }
                AuthReply::Switch(sw) if sw.plugin == b"mysql_native_password" => {
                    let scramble = sw.data.strip_suffix(&[0]).unwrap_or(sw.data);
                    let proof = native_password(account.password.as_bytes(), scramble);
                    out.clear();
                    encode_packets(seq.wrapping_add(1), &proof, &mut out);
                    s.write_all(&out).await?;
                }
                AuthReply::Switch(sw) => {
                    return Err(KillError::Plugin(
                        String::from_utf8_lossy(sw.plugin).into_owned(),
                    ));
                }
                AuthReply::OldSwitch | AuthReply::MoreData(_) => {
                    return Err(KillError::Plugin("an unsupported plugin".into()));
                }
            }
        }
        out.clear();
        encode_packets(0, format!("\x03KILL QUERY {id}").as_bytes(), &mut out);
        s.write_all(&out).await?;
        let (_, answer) = read_payload(&mut s, &mut buf, self.limits.max_packet).await?;
        // 1094: unknown thread — the connection is gone already; nothing to stop.
        if answer.first() == Some(&0xFF) {
            let e = sensor::wire::mysql::result::parse_err(&answer, caps)?;
            if e.code != 1094 {
                return Err(KillError::Refused(
                    String::from_utf8_lossy(e.message).into_owned(),
                ));
            }
        }
        out.clear();
        encode_packets(0, &[0x01], &mut out);
        let _ = s.write_all(&out).await;
        Ok(())
    }
}

/// Reads one payload (sequence id, bytes) from `s`.
async fn read_payload(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    max: usize,
) -> Result<(u8, Vec<u8>), KillError> {
    loop {
        if let Some(p) = next_payload(buf, max)? {
            let (seq, len, data) = (p.seq, p.len, p.data.into_owned());
            buf.advance(len);
            return Ok((seq, data));
        }
        if s.read_buf(buf).await? == 0 {
            return Err(KillError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

fn err_text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload.get(3..).unwrap_or_default()).into_owned()
}

/// `mysql_native_password`'s proof: SHA1(password) XOR SHA1(scramble, SHA1(SHA1(password)));
/// empty for an empty password.
fn native_password(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// The MySQL protocol session of a listener.
pub struct MySql(pub Arc<Shared>);

impl Session for MySql {
    async fn serve(&self, client: Client) -> Result<(), String> {
        let sh = &self.0;
        let Client {
            mut stream,
            peer,
            cancel,
        } = client;
        let mut upstream = match sh.connect().await {
            Ok(s) => s,
            Err(e) => {
                sh.metrics.upstream_errors.inc();
                let msg = format!(
                    "the data firewall cannot reach the database server {}: {e}",
                    sh.upstream_name()
                );
                // In place of the greeting, as a server refusing connections answers.
                // A server error number (1158, ER_NET_READ_ERROR): clients take one in the
                // client range (2003) for a malformed packet and drop the message.
                let err = ErrPacket {
                    code: 1158,
                    sql_state: None,
                    message: msg.as_bytes(),
                }
                .encode(Capabilities::empty());
                let mut bytes = Vec::new();
                encode_packets(0, &err, &mut bytes);
                let _ = stream.write_all(&bytes).await;
                return Err(msg);
            }
        };
        let conn = Conn::new(
            SessionInfo::new(Protocol::Mysql, peer, sh.upstream_name()),
            sh.tls.is_some(),
        );
        let (mut sr, mut sw) = upstream.split();
        let (cr, cw) = stream.split();
        let Relayed::StartTls(mut conn, early) =
            relay(sh, conn, (cr, cw), (&mut sr, &mut sw), &cancel, peer).await?
        else {
            return Ok(());
        };
        // The client asked for TLS (offered only with a certificate). Clients start the
        // handshake right after their request, without waiting for an answer (there is
        // none): what was read past the request is its beginning.
        let Some(tls) = sh.accept_tls(Prefixed::new(early, stream), &cancel).await? else {
            return Ok(());
        };
        conn.tls_started();
        let (cr, cw) = tokio::io::split(tls);
        match relay(sh, *conn, (cr, cw), (&mut sr, &mut sw), &cancel, peer).await? {
            Relayed::Ended => Ok(()),
            Relayed::StartTls(..) => Err("a second TLS request".into()),
        }
    }
}

/// How a relay ended.
enum Relayed {
    /// Either side closed, or shutdown.
    Ended,
    /// The client asked for TLS: the handshake on the client connection comes next, then
    /// the relay goes on with the same connection state.
    StartTls(Box<Conn>, BytesMut),
}

/// Relays until either side closes, the state machine finds the protocol broken, or
/// shutdown.
async fn relay<CR, CW, SR, SW>(
    sh: &Shared,
    mut conn: Conn,
    client: (CR, CW),
    server: (SR, SW),
    cancel: &tokio_util::sync::CancellationToken,
    peer: SocketAddr,
) -> Result<Relayed, String>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    let max = sh.limits.max_packet;
    let mut pump = Pump::new(client, server, BytesMut::with_capacity(4 << 10));
    let mut out = Out::default();
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
                // The server closed: deliver what is queued, then end.
                pump.write_client(&mut out.to_client).await;
                break Ok(());
            }
            Io::Client => {
                if let Err(e) = payloads(&mut pump.from_client, max, |raw, p| {
                    conn.client_payload(sh, raw, p, &mut out)?;
                    Ok::<_, state::ProtocolError>(if out.start_tls {
                        Next::Stop
                    } else {
                        Next::More
                    })
                }) {
                    warn!(listener = sh.listener, %peer, error = %e, "Closed a client connection: malformed packet.");
                    pump.write_client(&mut out.to_client).await;
                    break Err(format!("client: {e}"));
                }
            }
            Io::Server => {
                if let Err(e) = server_bytes(sh, &mut conn, &mut pump.from_server, max, &mut out) {
                    sh.metrics.upstream_errors.inc();
                    warn!(listener = sh.listener, %peer, error = %e, "Closed a connection: the server's answer cannot be followed.");
                    pump.write_client(&mut out.to_client).await;
                    break Err(format!("server: {e}"));
                }
            }
        }
        if std::mem::take(&mut out.start_tls) {
            // The greeting went out before the request came, so nothing is queued; the
            // state machine refuses anything the client sent after its request.
            pump.write_client(&mut out.to_client).await;
            return Ok(Relayed::StartTls(
                Box::new(conn),
                std::mem::take(&mut pump.from_client),
            ));
        }
        if std::mem::take(&mut out.kill) && !sh.kill(conn.connection_id).await {
            // No way to stop the statement but to drop its connection.
            pump.write_client(&mut out.to_client).await;
            break Ok(());
        }
    };
    conn.end(sh);
    pump.close_client().await;
    debug!(listener = sh.listener, %peer, "Session ended.");
    result.map(|()| Relayed::Ended)
}

/// Whether [`payloads`] goes on with the bytes that follow.
#[derive(PartialEq, Eq)]
enum Next {
    More,
    /// What follows is not for the state machine (a TLS handshake).
    Stop,
}

/// Feeds every complete payload in `buf` to `f` (its packets as received, and the
/// payload), consuming them.
fn payloads<E: std::fmt::Display>(
    buf: &mut BytesMut,
    max: usize,
    mut f: impl FnMut(&[u8], &sensor::wire::mysql::Payload<'_>) -> Result<Next, E>,
) -> Result<(), String> {
    loop {
        let len = match next_payload(buf, max) {
            Ok(Some(p)) => {
                let next = f(&buf[..p.len], &p).map_err(|e| e.to_string())?;
                if next == Next::Stop {
                    buf.advance(p.len);
                    return Ok(());
                }
                p.len
            }
            Ok(None) => {
                room_for_rest(buf, max);
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        buf.advance(len);
    }
}

/// Feeds the server's bytes in `buf` to the state machine, consuming them: runs of rows
/// that pass untouched in one piece ([`Conn::pass_rows`]), every other payload as it comes.
fn server_bytes(
    sh: &Shared,
    conn: &mut Conn,
    buf: &mut BytesMut,
    max: usize,
    out: &mut Out,
) -> Result<(), String> {
    loop {
        let passed = conn.pass_rows(buf, max, out);
        buf.advance(passed);
        match next_payload(buf, max) {
            Ok(Some(p)) => {
                conn.server_payload(sh, &buf[..p.len], &p, out)
                    .map_err(|e| e.to_string())?;
                let len = p.len;
                buf.advance(len);
            }
            Ok(None) => {
                room_for_rest(buf, max);
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Room for the rest of a large packet, within the limit already checked.
fn room_for_rest(buf: &mut BytesMut, max: usize) {
    if buf.len() >= 4 {
        let want = u32::from_le_bytes([buf[0], buf[1], buf[2], 0]) as usize + 4;
        buf.reserve(want.saturating_sub(buf.len()).min(max));
    }
}
