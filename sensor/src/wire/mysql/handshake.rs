//! The connection phase: the server's greeting (HandshakeV10), the client's answer
//! (HandshakeResponse41, or the 32-byte SSLRequest before TLS) and the authentication
//! exchange that follows (AuthSwitchRequest, AuthMoreData, then OK or ERR). Greeting and
//! answer are decoded *and* re-encoded: a proxy clears the flags it cannot pass through
//! (`SSL`, `COMPRESS`) and forwards the rest unchanged.

use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

use super::packet::{Reader, WireError, bad, put_lenenc_bytes, put_lenenc_int, put_nul_bytes};
use super::result::{ErrPacket, OkPacket, Status, parse_err, parse_ok};

/// Capability flags: the 32 standard bits, and MariaDB's extended capabilities in bits
/// 32–63 (sent in the greeting's and the answer's reserved bytes when the peer clears
/// [`Capabilities::MYSQL`], which is how MariaDB says "I am MariaDB").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// `CLIENT_LONG_PASSWORD`; MariaDB reads it as `CLIENT_MYSQL`: a peer that clears it
    /// sends extended capabilities.
    pub const MYSQL: Self = Self(1);
    pub const FOUND_ROWS: Self = Self(1 << 1);
    pub const LONG_FLAG: Self = Self(1 << 2);
    pub const CONNECT_WITH_DB: Self = Self(1 << 3);
    pub const NO_SCHEMA: Self = Self(1 << 4);
    pub const COMPRESS: Self = Self(1 << 5);
    pub const ODBC: Self = Self(1 << 6);
    pub const LOCAL_FILES: Self = Self(1 << 7);
    pub const IGNORE_SPACE: Self = Self(1 << 8);
    pub const PROTOCOL_41: Self = Self(1 << 9);
    pub const INTERACTIVE: Self = Self(1 << 10);
    pub const SSL: Self = Self(1 << 11);
    pub const IGNORE_SIGPIPE: Self = Self(1 << 12);
    pub const TRANSACTIONS: Self = Self(1 << 13);
    pub const RESERVED: Self = Self(1 << 14);
    pub const SECURE_CONNECTION: Self = Self(1 << 15);
    pub const MULTI_STATEMENTS: Self = Self(1 << 16);
    pub const MULTI_RESULTS: Self = Self(1 << 17);
    pub const PS_MULTI_RESULTS: Self = Self(1 << 18);
    pub const PLUGIN_AUTH: Self = Self(1 << 19);
    pub const CONNECT_ATTRS: Self = Self(1 << 20);
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: Self = Self(1 << 21);
    pub const CAN_HANDLE_EXPIRED_PASSWORDS: Self = Self(1 << 22);
    pub const SESSION_TRACK: Self = Self(1 << 23);
    pub const DEPRECATE_EOF: Self = Self(1 << 24);
    pub const OPTIONAL_RESULTSET_METADATA: Self = Self(1 << 25);
    pub const ZSTD_COMPRESSION_ALGORITHM: Self = Self(1 << 26);
    pub const QUERY_ATTRIBUTES: Self = Self(1 << 27);
    pub const MULTI_FACTOR_AUTHENTICATION: Self = Self(1 << 28);
    pub const CAPABILITY_EXTENSION: Self = Self(1 << 29);
    pub const SSL_VERIFY_SERVER_CERT: Self = Self(1 << 30);
    pub const REMEMBER_OPTIONS: Self = Self(1 << 31);
    /// MariaDB: progress reports (ERR packets with code 0xFFFF) during long statements.
    pub const MARIADB_PROGRESS: Self = Self(1 << 32);
    pub const MARIADB_COM_MULTI: Self = Self(1 << 33);
    /// MariaDB: `COM_STMT_BULK_EXECUTE` and indicator bytes in parameters.
    pub const MARIADB_STMT_BULK_OPERATIONS: Self = Self(1 << 34);
    /// MariaDB: column definitions carry extended type information (JSON, UUID, …).
    pub const MARIADB_EXTENDED_METADATA: Self = Self(1 << 35);
    /// MariaDB: a result set may skip its column definitions (a "metadata follows" byte).
    pub const MARIADB_CACHE_METADATA: Self = Self(1 << 36);
    pub const MARIADB_BULK_UNIT_RESULTS: Self = Self(1 << 37);

    pub const fn empty() -> Self {
        Self(0)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }

    /// Whether the peer sends MariaDB extended capabilities (bit 0 clear).
    pub const fn mariadb_extended(self) -> bool {
        !self.contains(Self::MYSQL)
    }

    fn lower(self) -> u32 {
        self.0 as u32
    }

    fn extended(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Capabilities {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl Not for Capabilities {
    type Output = Self;
    fn not(self) -> Self {
        Self(!self.0)
    }
}

/// The server's greeting, protocol version 10. The connection's first packet may instead
/// be an ERR (`0xFF`: "too many connections", "host blocked"); read it with
/// [`parse_err`] and empty capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake<'a> {
    /// `8.0.36`, or MariaDB's `5.5.5-10.11.6-MariaDB` (the prefix keeps old clients happy).
    pub server_version: &'a [u8],
    pub connection_id: u32,
    /// The first 8 bytes of the authentication scramble.
    pub auth_data_1: [u8; 8],
    /// The rest of it as sent (usually 12 bytes and a NUL); empty without
    /// `SECURE_CONNECTION`.
    pub auth_data_2: &'a [u8],
    /// Standard and MariaDB extended capabilities.
    pub capabilities: Capabilities,
    /// The server's default collation id.
    pub charset: u8,
    pub status: Status,
    /// The default authentication plugin (with `PLUGIN_AUTH`).
    pub auth_plugin: Option<&'a [u8]>,
}

impl Handshake<'_> {
    /// The whole scramble (20 bytes for `mysql_native_password`), without the NUL.
    pub fn scramble(&self) -> Vec<u8> {
        let part2 = self
            .auth_data_2
            .strip_suffix(&[0])
            .unwrap_or(self.auth_data_2);
        [&self.auth_data_1[..], part2].concat()
    }

    /// The greeting's payload. Reserved bytes are written as zeros (save MariaDB's
    /// extended capabilities); the scramble length is derived from `auth_data_2`.
    pub fn encode(&self) -> Vec<u8> {
        let caps = self.capabilities;
        let mut out = Vec::with_capacity(64 + self.server_version.len() + self.auth_data_2.len());
        out.push(10);
        put_nul_bytes(&mut out, self.server_version);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        out.extend_from_slice(&self.auth_data_1);
        out.push(0);
        let lower = caps.lower().to_le_bytes();
        out.extend_from_slice(&lower[..2]);
        out.push(self.charset);
        out.extend_from_slice(&self.status.0.to_le_bytes());
        out.extend_from_slice(&lower[2..]);
        out.push(if caps.contains(Capabilities::PLUGIN_AUTH) {
            u8::try_from(8 + self.auth_data_2.len()).unwrap_or(u8::MAX)
        } else {
            0
        });
        out.extend_from_slice(&[0; 6]);
        if caps.mariadb_extended() {
            out.extend_from_slice(&caps.extended().to_le_bytes());
        } else {
            out.extend_from_slice(&[0; 4]);
        }
        if caps.contains(Capabilities::SECURE_CONNECTION) {
            out.extend_from_slice(self.auth_data_2);
        }
        if let (true, Some(plugin)) = (caps.contains(Capabilities::PLUGIN_AUTH), self.auth_plugin) {
            put_nul_bytes(&mut out, plugin);
        }
        out
    }
}

/// Decodes a HandshakeV10 payload.
pub fn parse_handshake(payload: &[u8]) -> Result<Handshake<'_>, WireError> {
    let mut r = Reader::new(payload, "HandshakeV10");
    if r.u8()? != 10 {
        return Err(r.fail("protocol version is not 10"));
    }
    let server_version = r.nul_bytes()?;
    let connection_id = r.u32()?;
    let mut auth_data_1 = [0; 8];
    auth_data_1.copy_from_slice(r.take(8)?);
    r.u8()?;
    let lower = r.u16()?;
    if r.is_empty() {
        return Err(r.fail("a pre-4.1 greeting (no character set or status)"));
    }
    let charset = r.u8()?;
    let status = Status(r.u16()?);
    let upper = r.u16()?;
    let auth_data_len = r.u8()?;
    let reserved = r.take(10)?;
    let mut caps = Capabilities(u64::from(lower) | u64::from(upper) << 16);
    if caps.mariadb_extended() {
        let ext = u32::from_le_bytes([reserved[6], reserved[7], reserved[8], reserved[9]]);
        caps.insert(Capabilities(u64::from(ext) << 32));
    }
    let auth_data_2 = if caps.contains(Capabilities::SECURE_CONNECTION) {
        // The length byte counts only with PLUGIN_AUTH (else it is 0): at least 13.
        let len = if caps.contains(Capabilities::PLUGIN_AUTH) {
            auth_data_len.saturating_sub(8)
        } else {
            0
        };
        r.take(usize::from(len).max(13))?
    } else {
        &[]
    };
    let auth_plugin = caps
        .contains(Capabilities::PLUGIN_AUTH)
        .then(|| r.nul_or_eof_bytes());
    Ok(Handshake {
        server_version,
        connection_id,
        auth_data_1,
        auth_data_2,
        capabilities: caps,
        charset,
        status,
        auth_plugin,
    })
}

/// Connection attributes: key/value pairs (`_client_name`, `program_name`, `_pid`, …).
pub type Attributes<'a> = Vec<(&'a [u8], &'a [u8])>;

/// The first 32 bytes of the client's answer, and all of an SSLRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslRequest {
    pub capabilities: Capabilities,
    pub max_packet: u32,
    pub charset: u8,
}

impl SslRequest {
    fn encode_into(&self, out: &mut Vec<u8>) {
        let caps = self.capabilities;
        out.extend_from_slice(&caps.lower().to_le_bytes());
        out.extend_from_slice(&self.max_packet.to_le_bytes());
        out.push(self.charset);
        out.extend_from_slice(&[0; 19]);
        if caps.mariadb_extended() {
            out.extend_from_slice(&caps.extended().to_le_bytes());
        } else {
            out.extend_from_slice(&[0; 4]);
        }
    }

    /// The 32-byte payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.encode_into(&mut out);
        out
    }
}

/// HandshakeResponse41: who connects, to which database, with what proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse<'a> {
    /// The client's capabilities (with MariaDB extended ones), the header's fields.
    pub header: SslRequest,
    pub username: &'a [u8],
    /// The proof for the auth plugin (scrambled password; empty for no password).
    pub auth_response: &'a [u8],
    /// With `CONNECT_WITH_DB`.
    pub database: Option<&'a [u8]>,
    /// With `PLUGIN_AUTH` (`None` also when the client set the flag but sent no name).
    pub auth_plugin: Option<&'a [u8]>,
    /// Connection attributes (`_client_name`, `program_name`, …), with `CONNECT_ATTRS`.
    pub attributes: Option<Attributes<'a>>,
    /// With `ZSTD_COMPRESSION_ALGORITHM` (MySQL 8).
    pub zstd_level: Option<u8>,
}

impl HandshakeResponse<'_> {
    pub fn capabilities(&self) -> Capabilities {
        self.header.capabilities
    }

    /// The payload. Fails only for an auth response that the negotiated form cannot
    /// carry (over 255 bytes without `PLUGIN_AUTH_LENENC_CLIENT_DATA`).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let caps = self.header.capabilities;
        let mut out = Vec::with_capacity(64 + self.username.len() + self.auth_response.len());
        self.header.encode_into(&mut out);
        put_nul_bytes(&mut out, self.username);
        put_auth_response(&mut out, caps, self.auth_response, "HandshakeResponse41")?;
        if caps.contains(Capabilities::CONNECT_WITH_DB) {
            put_nul_bytes(&mut out, self.database.unwrap_or_default());
        }
        if let (true, Some(plugin)) = (caps.contains(Capabilities::PLUGIN_AUTH), self.auth_plugin) {
            put_nul_bytes(&mut out, plugin);
        }
        if let (true, Some(attrs)) = (
            caps.contains(Capabilities::CONNECT_ATTRS),
            self.attributes.as_ref(),
        ) {
            put_attributes(&mut out, attrs);
        }
        if let (true, Some(level)) = (
            caps.contains(Capabilities::ZSTD_COMPRESSION_ALGORITHM),
            self.zstd_level,
        ) {
            out.push(level);
        }
        Ok(out)
    }
}

/// The client's answer to the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHandshake<'a> {
    /// Asks for TLS; the real answer follows inside it.
    SslRequest(SslRequest),
    Response(HandshakeResponse<'a>),
}

/// Decodes the client's answer to the greeting: an SSLRequest (exactly the 32-byte header,
/// `SSL` set) or a HandshakeResponse41. Pre-4.1 answers (HandshakeResponse320) are refused.
pub fn parse_client_handshake(payload: &[u8]) -> Result<ClientHandshake<'_>, WireError> {
    let mut r = Reader::new(payload, "HandshakeResponse41");
    let lower = r.u32()?;
    let max_packet = r.u32()?;
    let charset = r.u8()?;
    let filler = r.take(23)?;
    let mut caps = Capabilities(u64::from(lower));
    if !caps.contains(Capabilities::PROTOCOL_41) {
        return Err(r.fail("a pre-4.1 answer (no PROTOCOL_41)"));
    }
    if caps.mariadb_extended() {
        let ext = u32::from_le_bytes([filler[19], filler[20], filler[21], filler[22]]);
        caps.insert(Capabilities(u64::from(ext) << 32));
    }
    let header = SslRequest {
        capabilities: caps,
        max_packet,
        charset,
    };
    if r.is_empty() {
        return if caps.contains(Capabilities::SSL) {
            Ok(ClientHandshake::SslRequest(header))
        } else {
            Err(r.fail("ends before the user name"))
        };
    }
    let username = r.nul_bytes()?;
    let auth_response = read_auth_response(&mut r, caps)?;
    let database = if caps.contains(Capabilities::CONNECT_WITH_DB) {
        Some(r.nul_bytes()?)
    } else {
        None
    };
    let auth_plugin =
        (caps.contains(Capabilities::PLUGIN_AUTH) && !r.is_empty()).then(|| r.nul_or_eof_bytes());
    let attributes = if caps.contains(Capabilities::CONNECT_ATTRS) && !r.is_empty() {
        Some(read_attributes(&mut r)?)
    } else {
        None
    };
    let zstd_level = if caps.contains(Capabilities::ZSTD_COMPRESSION_ALGORITHM) && !r.is_empty() {
        Some(r.u8()?)
    } else {
        None
    };
    Ok(ClientHandshake::Response(HandshakeResponse {
        header,
        username,
        auth_response,
        database,
        auth_plugin,
        attributes,
        zstd_level,
    }))
}

/// The auth response in the form `caps` negotiated: length-encoded, one length byte, or
/// NUL-terminated (pre-`SECURE_CONNECTION`).
pub(super) fn read_auth_response<'a>(
    r: &mut Reader<'a>,
    caps: Capabilities,
) -> Result<&'a [u8], WireError> {
    if caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        r.lenenc_bytes()
    } else if caps.contains(Capabilities::SECURE_CONNECTION) {
        let n = r.u8()?;
        r.take(usize::from(n))
    } else {
        r.nul_bytes()
    }
}

pub(super) fn put_auth_response(
    out: &mut Vec<u8>,
    caps: Capabilities,
    auth: &[u8],
    kind: &'static str,
) -> Result<(), WireError> {
    if caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        put_lenenc_bytes(out, auth);
    } else if caps.contains(Capabilities::SECURE_CONNECTION) {
        let n = u8::try_from(auth.len()).map_err(|_| {
            bad(
                kind,
                "auth response over 255 bytes needs a length-encoded form",
            )
        })?;
        out.push(n);
        out.extend_from_slice(auth);
    } else {
        put_nul_bytes(out, auth);
    }
    Ok(())
}

/// Connection attributes: a length-encoded total, then key/value length-encoded strings.
pub(super) fn read_attributes<'a>(r: &mut Reader<'a>) -> Result<Attributes<'a>, WireError> {
    let total = r.lenenc_int()?;
    if total > r.rest().len() as u64 {
        return Err(r.fail("attributes longer than the payload"));
    }
    let mut inner = Reader::new(r.take(total as usize)?, "connection attributes");
    // Each pair takes at least 2 bytes.
    let mut attrs = Vec::with_capacity((total as usize / 2).min(64));
    while !inner.is_empty() {
        let key = inner.lenenc_bytes()?;
        let value = inner.lenenc_bytes()?;
        attrs.push((key, value));
    }
    Ok(attrs)
}

pub(super) fn put_attributes(out: &mut Vec<u8>, attrs: &[(&[u8], &[u8])]) {
    let mut body = Vec::new();
    for (k, v) in attrs {
        put_lenenc_bytes(&mut body, k);
        put_lenenc_bytes(&mut body, v);
    }
    put_lenenc_int(out, body.len() as u64);
    out.extend_from_slice(&body);
}

/// AuthSwitchRequest: the server asks the client to authenticate with another plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSwitch<'a> {
    pub plugin: &'a [u8],
    /// The plugin's data, as sent (a 20-byte scramble and a NUL for
    /// `mysql_native_password`).
    pub data: &'a [u8],
}

impl AuthSwitch<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.plugin.len() + self.data.len());
        out.push(0xFE);
        put_nul_bytes(&mut out, self.plugin);
        out.extend_from_slice(self.data);
        out
    }
}

/// What the server says during authentication, after the client's answer or after each
/// auth-data packet of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply<'a> {
    /// `0x00`: authenticated; the command phase starts.
    Ok(OkPacket<'a>),
    /// `0xFF`: refused; the server closes the connection.
    Err(ErrPacket<'a>),
    /// `0xFE` with a plugin name: continue with another plugin.
    Switch(AuthSwitch<'a>),
    /// `0xFE` alone: the pre-4.1 switch to `mysql_old_password`.
    OldSwitch,
    /// `0x01`: plugin-specific data (`caching_sha2_password`'s fast-auth result `0x03` or
    /// full-auth request `0x04`, a public key, …).
    MoreData(&'a [u8]),
}

/// Decodes a server packet of the authentication exchange.
pub fn parse_auth_reply(payload: &[u8], caps: Capabilities) -> Result<AuthReply<'_>, WireError> {
    match payload.first() {
        Some(0x00) => parse_ok(payload, caps).map(AuthReply::Ok),
        Some(0xFF) => parse_err(payload, caps).map(AuthReply::Err),
        Some(0xFE) if payload.len() == 1 => Ok(AuthReply::OldSwitch),
        Some(0xFE) => {
            let mut r = Reader::new(&payload[1..], "AuthSwitchRequest");
            let plugin = r.nul_or_eof_bytes();
            Ok(AuthReply::Switch(AuthSwitch {
                plugin,
                data: r.eof_bytes(),
            }))
        }
        Some(0x01) => Ok(AuthReply::MoreData(&payload[1..])),
        Some(_) => Err(bad("auth reply", "neither OK, ERR, switch nor more data")),
        None => Err(bad("auth reply", "empty")),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::wire::mysql::packet::next_payload;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    /// MariaDB 10.11's greeting, captured at 127.0.0.1:3306 (packet with header).
    pub(crate) const GREETING: &str = "64000000 0a 352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531 00 \
        11000000 5076265352235257 00 fef7 2d 0200 ff81 15 000000000000 1d000000 \
        3d6a7d587e33214b35657e6d 00 6d7973716c5f6e61746976655f70617373776f7264 00";

    /// The `mariadb` command-line client's answer to it (`-uroot -D mysql --skip-ssl`).
    const ANSWER: &str = "c2000001 8ca2bf00 00000010 21 00000000000000000000000000000000000000 \
        1d000000 726f6f7400 00 6d7973716c00 6d7973716c5f6e61746976655f70617373776f726400 \
        7f 035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f706964 \
        0531373235380f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d06 \
        7838365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f73740931 \
        32372e302e302e31";

    #[test]
    fn mariadb_greeting() {
        let wire = hex(GREETING);
        let p = next_payload(&wire, 1 << 20)
            .expect("valid")
            .expect("complete");
        assert_eq!((p.seq, p.len), (0, wire.len()));
        let h = parse_handshake(&p.data).expect("greeting");
        assert_eq!(h.server_version, b"5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(h.connection_id, 17);
        assert_eq!(h.capabilities.bits(), 0x1d_81ff_f7fe);
        assert!(h.capabilities.mariadb_extended());
        assert!(h.capabilities.contains(
            Capabilities::PROTOCOL_41
                | Capabilities::COMPRESS
                | Capabilities::DEPRECATE_EOF
                | Capabilities::MARIADB_EXTENDED_METADATA
        ));
        assert!(
            !h.capabilities.contains(Capabilities::SSL),
            "no TLS configured"
        );
        assert_eq!((h.charset, h.status), (45, Status::AUTOCOMMIT));
        assert_eq!(h.scramble().len(), 20);
        assert_eq!(h.auth_plugin, Some(&b"mysql_native_password"[..]));
        // Re-encoded byte for byte.
        assert_eq!(h.encode(), &p.data[..]);
        // A proxy refuses TLS and compression it cannot pass through.
        let mut plain = h.clone();
        plain
            .capabilities
            .remove(Capabilities::SSL | Capabilities::COMPRESS);
        let again = plain.encode();
        let back = parse_handshake(&again).expect("re-encoded");
        assert!(!back.capabilities.contains(Capabilities::COMPRESS));
        assert_eq!(back.capabilities, h.capabilities & !Capabilities::COMPRESS);
        assert_eq!(again.len(), p.data.len(), "only flag bits changed");
        assert_eq!(back.scramble(), h.scramble());
        // Truncated anywhere: an error, never a panic.
        for cut in 0..p.data.len() - 1 {
            let short = parse_handshake(&p.data[..cut]);
            assert!(
                short.is_err() || cut >= p.data.len() - 22,
                "cut at {cut}: {short:?}"
            );
        }
        assert!(parse_handshake(&[9]).is_err(), "protocol 9");
        assert!(
            parse_handshake(&p.data[..50]).is_err(),
            "cut in the scramble"
        );
    }

    #[test]
    fn mysql_greeting_without_plugin_nul() {
        // A MySQL-style greeting (CLIENT_MYSQL set: no extended capabilities) whose plugin
        // name runs to the end of the packet, as some 5.5 servers sent it.
        let h = Handshake {
            server_version: b"8.0.36",
            connection_id: 9,
            auth_data_1: *b"abcdefgh",
            auth_data_2: b"ijklmnopqrst\0",
            capabilities: Capabilities(0xdfff_ffff),
            charset: 255,
            status: Status::AUTOCOMMIT,
            auth_plugin: Some(b"caching_sha2_password"),
        };
        let mut wire = h.encode();
        assert_eq!(parse_handshake(&wire).as_ref(), Ok(&h));
        assert_eq!(wire.pop(), Some(0));
        assert_eq!(parse_handshake(&wire).as_ref(), Ok(&h));
        // Without PLUGIN_AUTH the scramble-length byte means nothing: 13 bytes follow.
        let mut old = h.clone();
        old.capabilities.remove(Capabilities::PLUGIN_AUTH);
        old.auth_plugin = None;
        let mut wire = old.encode();
        let len_at = 1 + 7 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
        assert_eq!(wire[len_at], 0);
        wire[len_at] = 40;
        assert_eq!(parse_handshake(&wire), Ok(old));
    }

    #[test]
    fn client_answer_and_ssl_request() {
        let wire = hex(ANSWER);
        let p = next_payload(&wire, 1 << 20)
            .expect("valid")
            .expect("complete");
        assert_eq!(p.seq, 1);
        let ClientHandshake::Response(a) = parse_client_handshake(&p.data).expect("answer") else {
            panic!("not a response")
        };
        let caps = a.capabilities();
        assert_eq!(caps.bits(), 0x1d_00bf_a28c);
        assert!(caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA));
        assert!(!caps.contains(Capabilities::DEPRECATE_EOF));
        assert_eq!((a.header.max_packet, a.header.charset), (1 << 28, 33));
        assert_eq!(a.username, b"root");
        assert_eq!(a.auth_response, b"", "no password");
        assert_eq!(a.database, Some(&b"mysql"[..]));
        assert_eq!(a.auth_plugin, Some(&b"mysql_native_password"[..]));
        let attrs = a.attributes.as_ref().expect("attributes");
        assert_eq!(attrs.len(), 7);
        assert!(attrs.contains(&(&b"program_name"[..], &b"mysql"[..])));
        assert_eq!(a.encode().as_deref(), Ok(&p.data[..]));
        // Truncated: an error (the optional tail fields make some prefixes valid).
        for cut in 33..p.data.len() {
            let _ = parse_client_handshake(&p.data[..cut]);
        }
        assert!(parse_client_handshake(&p.data[..40]).is_err());
        assert!(parse_client_handshake(&p.data[..20]).is_err());

        // SSLRequest: the same header with SSL set, nothing after.
        let ssl = SslRequest {
            capabilities: caps | Capabilities::SSL,
            ..a.header
        };
        let bytes = ssl.encode();
        assert_eq!(bytes.len(), 32);
        assert_eq!(
            parse_client_handshake(&bytes),
            Ok(ClientHandshake::SslRequest(ssl))
        );
        assert!(
            parse_client_handshake(&a.header.encode()).is_err(),
            "no SSL, no user"
        );
        // Pre-4.1 refused.
        let mut old = bytes.clone();
        old[1] &= !0x02;
        assert!(parse_client_handshake(&old).is_err());
    }

    #[test]
    fn answers_in_each_auth_response_form() {
        let base = HandshakeResponse {
            header: SslRequest {
                capabilities: Capabilities::PROTOCOL_41 | Capabilities::MYSQL,
                max_packet: 1 << 24,
                charset: 45,
            },
            username: b"app_portal",
            auth_response: &[7; 20],
            database: None,
            auth_plugin: None,
            attributes: None,
            zstd_level: None,
        };
        let forms = [
            Capabilities::SECURE_CONNECTION,
            Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA | Capabilities::SECURE_CONNECTION,
            Capabilities::SECURE_CONNECTION
                | Capabilities::CONNECT_WITH_DB
                | Capabilities::PLUGIN_AUTH
                | Capabilities::CONNECT_ATTRS
                | Capabilities::ZSTD_COMPRESSION_ALGORITHM,
        ];
        for extra in forms {
            let mut a = base.clone();
            a.header.capabilities |= extra;
            if extra.contains(Capabilities::CONNECT_WITH_DB) {
                a.database = Some(b"publicdata");
                a.auth_plugin = Some(b"caching_sha2_password");
                a.attributes = Some(vec![(b"_client_name", b"libmysql")]);
                a.zstd_level = Some(3);
            }
            let wire = a.encode().expect("encodes");
            assert_eq!(
                parse_client_handshake(&wire),
                Ok(ClientHandshake::Response(a))
            );
        }
        let mut long = base.clone();
        long.header.capabilities |= Capabilities::SECURE_CONNECTION;
        long.auth_response = &[1; 300];
        assert!(long.encode().is_err());
        // Attributes claiming more than the payload holds.
        let mut a = base.clone();
        a.header.capabilities |= Capabilities::SECURE_CONNECTION | Capabilities::CONNECT_ATTRS;
        let mut wire = a.encode().expect("encodes");
        wire.extend([0xfc, 0xff, 0xff, 1, b'k']);
        assert!(parse_client_handshake(&wire).is_err());
    }

    #[test]
    fn auth_replies() {
        let caps = Capabilities::PROTOCOL_41 | Capabilities::SECURE_CONNECTION;
        // The OK that ended the captured MariaDB login.
        let ok = hex("0000000240000000080106056d7973716c");
        assert!(matches!(parse_auth_reply(&ok, caps), Ok(AuthReply::Ok(_))));
        let switch = AuthSwitch {
            plugin: b"mysql_native_password",
            data: b"0123456789abcdefghij\0",
        };
        let wire = switch.encode();
        assert_eq!(parse_auth_reply(&wire, caps), Ok(AuthReply::Switch(switch)));
        assert_eq!(parse_auth_reply(&[0xfe], caps), Ok(AuthReply::OldSwitch));
        assert_eq!(
            parse_auth_reply(&[1, 3], caps),
            Ok(AuthReply::MoreData(&[3]))
        );
        let err = hex("ff1504 233238303030 4163636573732064656e696564");
        let Ok(AuthReply::Err(e)) = parse_auth_reply(&err, caps) else {
            panic!("not an ERR")
        };
        assert_eq!((e.code, e.sql_state), (1045, Some(*b"28000")));
        assert!(parse_auth_reply(&[], caps).is_err());
        assert!(parse_auth_reply(&[0x02], caps).is_err());
        assert!(parse_auth_reply(&[0x00], caps).is_err(), "truncated OK");
    }
}
