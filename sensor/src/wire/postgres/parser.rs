//! Framing and decoding of PostgreSQL v3 messages, both directions, sans-IO: bytes in,
//! frames and messages out. Every length from the wire is checked against [`Limits`]
//! before anything is allocated or awaited; a short buffer is `Ok(None)` (wait for more),
//! a broken one a typed [`WireError`].

use std::collections::BTreeMap;

/// Largest messages accepted. A client's statement text or COPY chunk beyond
/// `max_frontend`, or a server row beyond `max_backend`, ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_frontend: usize,
    pub max_backend: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frontend: 16 << 20,
            max_backend: 64 << 20,
        }
    }
}

/// Why bytes are not a PostgreSQL message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message length {len} is below the minimum of 4")]
    InvalidLength { len: u32 },
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("malformed {kind} message: {reason}")]
    Malformed {
        kind: &'static str,
        reason: &'static str,
    },
    #[error("unknown start-up request code {0}")]
    UnknownStartup(u32),
}

/// One message's place in a buffer: its type byte (`None` for start-up messages, which
/// have none) and its total length, header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub tag: Option<u8>,
    /// Bytes the whole message takes in the buffer.
    pub len: usize,
}

impl Frame {
    /// The body (after type byte and length) within `buf`, which starts with this frame.
    pub fn body<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let head = if self.tag.is_some() { 5 } else { 4 };
        &buf[head..self.len]
    }
}

fn length(bytes: [u8; 4], max: usize) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(bytes);
    if len < 4 {
        return Err(WireError::InvalidLength { len });
    }
    let len = len as usize;
    if len > max {
        return Err(WireError::TooLarge { len, max });
    }
    Ok(len)
}

/// The next typed message (`tag`, `u32` length including itself, body); `None` until the
/// buffer holds all of it.
pub fn next_frame(buf: &[u8], max: usize) -> Result<Option<Frame>, WireError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let total = length([buf[1], buf[2], buf[3], buf[4]], max)?.saturating_add(1);
    Ok((buf.len() >= total).then_some(Frame {
        tag: Some(buf[0]),
        len: total,
    }))
}

/// The first message of a connection, which has no type byte: start-up, SSL or GSS
/// encryption request, or cancel request.
pub fn next_startup_frame(buf: &[u8], max: usize) -> Result<Option<Frame>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = length([buf[0], buf[1], buf[2], buf[3]], max.min(10_000))?;
    if len < 8 {
        return Err(WireError::Malformed {
            kind: "start-up",
            reason: "shorter than its request code",
        });
    }
    Ok((buf.len() >= len).then_some(Frame { tag: None, len }))
}

const PROTOCOL_3: u32 = 196_608;
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
pub(super) const CANCEL_REQUEST: u32 = 80_877_102;

/// What a connection's first message asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// Protocol 3.0 with its parameters (`user`, `database`, `application_name`, …).
    Start(BTreeMap<String, String>),
    Ssl,
    GssEnc,
    Cancel {
        pid: u32,
        secret: u32,
    },
}

/// Decodes the body of a start-up frame.
pub fn parse_startup(body: &[u8]) -> Result<Startup, WireError> {
    let bad = |reason| WireError::Malformed {
        kind: "start-up",
        reason,
    };
    let code = u32::from_be_bytes(
        body.get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(bad("no code"))?,
    );
    match code {
        SSL_REQUEST => Ok(Startup::Ssl),
        GSSENC_REQUEST => Ok(Startup::GssEnc),
        CANCEL_REQUEST => {
            let word = |at: usize| {
                body.get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
            };
            Ok(Startup::Cancel {
                pid: word(4).ok_or(bad("short cancel request"))?,
                secret: word(8).ok_or(bad("short cancel request"))?,
            })
        }
        PROTOCOL_3 => {
            let mut params = BTreeMap::new();
            let mut rest = &body[4..];
            loop {
                let (key, r) = cstr(rest).ok_or(bad("unterminated parameter name"))?;
                if key.is_empty() {
                    break;
                }
                let (value, r) = cstr(r).ok_or(bad("unterminated parameter value"))?;
                params.insert(key.to_owned(), value.to_owned());
                rest = r;
            }
            Ok(Startup::Start(params))
        }
        other if other >> 16 == 3 => Err(bad("unsupported minor protocol version")),
        other => Err(WireError::UnknownStartup(other)),
    }
}

/// A NUL-terminated UTF-8 string at the start of `b`, and what follows it.
pub(super) fn cstr(b: &[u8]) -> Option<(&str, &[u8])> {
    let end = b.iter().position(|&c| c == 0)?;
    Some((std::str::from_utf8(&b[..end]).ok()?, &b[end + 1..]))
}

/// The client messages whose content the firewall and the sensor read; everything else is
/// forwarded as a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend<'a> {
    /// `Q`: one or more statements.
    Query(&'a str),
    /// `P`: a statement to prepare under `name` (empty: the unnamed one).
    Parse {
        name: &'a str,
        query: &'a str,
    },
    /// `B`: binds `statement` to `portal`.
    Bind {
        portal: &'a str,
        statement: &'a str,
    },
    /// `E`: runs `portal`, at most `max_rows` (0: all).
    Execute {
        portal: &'a str,
        max_rows: u32,
    },
    /// `C`: closes a statement (`S`) or portal (`P`).
    Close {
        kind: u8,
        name: &'a str,
    },
    /// `D`: describes a statement or portal.
    Describe {
        kind: u8,
        name: &'a str,
    },
    Sync,
    Flush,
    Terminate,
    /// Anything else (`p` authentication, `d`/`c`/`f` COPY, `F` function call).
    Other(u8),
}

/// Decodes a frontend frame's body.
pub fn parse_frontend(tag: u8, body: &[u8]) -> Result<Frontend<'_>, WireError> {
    let bad = |kind, reason| WireError::Malformed { kind, reason };
    Ok(match tag {
        b'Q' => Frontend::Query(cstr(body).ok_or(bad("Query", "unterminated text"))?.0),
        b'P' => {
            let (name, r) = cstr(body).ok_or(bad("Parse", "unterminated name"))?;
            let (query, _) = cstr(r).ok_or(bad("Parse", "unterminated query"))?;
            Frontend::Parse { name, query }
        }
        b'B' => {
            let (portal, r) = cstr(body).ok_or(bad("Bind", "unterminated portal"))?;
            let (statement, _) = cstr(r).ok_or(bad("Bind", "unterminated statement"))?;
            Frontend::Bind { portal, statement }
        }
        b'E' => {
            let (portal, r) = cstr(body).ok_or(bad("Execute", "unterminated portal"))?;
            let max_rows = r
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(bad("Execute", "no row count"))?;
            Frontend::Execute { portal, max_rows }
        }
        b'C' | b'D' => {
            let (&kind, r) = body.split_first().ok_or(bad("Close/Describe", "empty"))?;
            if kind != b'S' && kind != b'P' {
                return Err(bad("Close/Describe", "target is neither S nor P"));
            }
            let (name, _) = cstr(r).ok_or(bad("Close/Describe", "unterminated name"))?;
            if tag == b'C' {
                Frontend::Close { kind, name }
            } else {
                Frontend::Describe { kind, name }
            }
        }
        b'S' => Frontend::Sync,
        b'H' => Frontend::Flush,
        b'X' => Frontend::Terminate,
        other => Frontend::Other(other),
    })
}

/// An ErrorResponse (`E`) as the firewall sends it: severity, SQLSTATE and message.
pub fn error_response(sqlstate: &str, message: &str, detail: Option<&str>) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + message.len());
    for (field, value) in [
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', sqlstate),
        (b'M', message),
    ] {
        push_field(&mut body, field, value);
    }
    if let Some(d) = detail {
        push_field(&mut body, b'D', d);
    }
    body.push(0);
    frame(b'E', &body)
}

fn push_field(body: &mut Vec<u8>, field: u8, value: &str) {
    body.push(field);
    // A NUL inside would end the field early; the protocol has no escape for it.
    body.extend(value.bytes().filter(|&b| b != 0));
    body.push(0);
}

/// A ReadyForQuery (`Z`) with the transaction status (`I`, `T` or `E`).
pub fn ready_for_query(status: u8) -> Vec<u8> {
    frame(b'Z', &[status])
}

pub(super) fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        frame(tag, body)
    }

    #[test]
    fn frames_valid_truncated_and_wrong_length() {
        let q = msg(b'Q', b"SELECT 1\0");
        let f = next_frame(&q, 1024).expect("valid").expect("complete");
        assert_eq!((f.tag, f.len), (Some(b'Q'), q.len()));
        assert_eq!(
            parse_frontend(b'Q', f.body(&q)),
            Ok(Frontend::Query("SELECT 1"))
        );
        // Every strict prefix is incomplete, never an error.
        for cut in 0..q.len() {
            assert_eq!(next_frame(&q[..cut], 1024), Ok(None), "prefix of {cut}");
        }
        // Two messages back to back: the first frame only.
        let mut two = q.clone();
        two.extend(msg(b'S', b""));
        assert_eq!(
            next_frame(&two, 1024).expect("ok").map(|f| f.len),
            Some(q.len())
        );
        // Lengths below 4 and above the limit, before any allocation.
        assert_eq!(
            next_frame(&[b'Q', 0, 0, 0, 3], 1024),
            Err(WireError::InvalidLength { len: 3 })
        );
        assert_eq!(
            next_frame(&[b'Q', 0x7f, 0xff, 0xff, 0xff], 1024),
            Err(WireError::TooLarge {
                len: 0x7fff_ffff,
                max: 1024
            })
        );
        assert_eq!(
            next_frame(&[b'Q', 0xff, 0xff, 0xff, 0xff], usize::MAX),
            Ok(None),
            "huge but allowed: wait"
        );
    }

    #[test]
    fn startup_messages() {
        let mut body = PROTOCOL_3.to_be_bytes().to_vec();
        body.extend(b"user\0app_portal\0database\0publicdata\0application_name\0psql\0\0");
        let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        m.extend(&body);
        let f = next_startup_frame(&m, 1 << 20)
            .expect("ok")
            .expect("complete");
        let Startup::Start(p) = parse_startup(f.body(&m)).expect("start-up") else {
            panic!("not a start-up")
        };
        assert_eq!(p.get("user").map(String::as_str), Some("app_portal"));
        assert_eq!(p.get("database").map(String::as_str), Some("publicdata"));
        for cut in 0..m.len() {
            assert_eq!(next_startup_frame(&m[..cut], 1 << 20), Ok(None));
        }
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        assert_eq!(
            parse_startup(
                next_startup_frame(&ssl, 64)
                    .expect("ok")
                    .expect("complete")
                    .body(&ssl)
            ),
            Ok(Startup::Ssl)
        );
        let cancel = [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 42, 0, 0, 0, 7];
        assert_eq!(
            parse_startup(&cancel[4..]),
            Ok(Startup::Cancel { pid: 42, secret: 7 })
        );
        assert!(matches!(
            parse_startup(&[0, 2, 0, 0]),
            Err(WireError::UnknownStartup(_))
        ));
        assert!(
            parse_startup(&[0, 3, 0, 0, b'u', b's']).is_err(),
            "unterminated parameter"
        );
        assert_eq!(
            next_startup_frame(&[0, 0, 0, 5, 0], 64),
            Err(WireError::Malformed {
                kind: "start-up",
                reason: "shorter than its request code"
            })
        );
    }

    #[test]
    fn extended_protocol_messages() {
        assert_eq!(
            parse_frontend(b'P', b"s1\0SELECT $1\0\0\0"),
            Ok(Frontend::Parse {
                name: "s1",
                query: "SELECT $1"
            })
        );
        assert_eq!(
            parse_frontend(b'B', b"\0s1\0\0\0\0\0\0\0"),
            Ok(Frontend::Bind {
                portal: "",
                statement: "s1"
            })
        );
        assert_eq!(
            parse_frontend(b'E', b"\0\0\0\0\x05"),
            Ok(Frontend::Execute {
                portal: "",
                max_rows: 5
            })
        );
        assert_eq!(
            parse_frontend(b'C', b"Ss1\0"),
            Ok(Frontend::Close {
                kind: b'S',
                name: "s1"
            })
        );
        assert!(parse_frontend(b'D', b"Xs1\0").is_err());
        assert!(parse_frontend(b'E', b"\0\0\0").is_err(), "short row count");
        assert!(parse_frontend(b'Q', b"SELECT 1").is_err(), "unterminated");
        assert!(parse_frontend(b'Q', &[0xff, 0xfe, 0]).is_err(), "not UTF-8");
        assert_eq!(parse_frontend(b'd', b"data"), Ok(Frontend::Other(b'd')));
    }

    #[test]
    fn error_responses_frame_themselves() {
        let e = error_response("42501", "blocked by rule no-truncate", Some("ask the DBA"));
        let f = next_frame(&e, 1024).expect("ok").expect("complete");
        assert_eq!((f.tag, f.len), (Some(b'E'), e.len()));
        let body = f.body(&e);
        assert!(body.windows(6).any(|w| w == b"C42501"));
        assert_eq!(body.last(), Some(&0));
        assert_eq!(ready_for_query(b'I'), [b'Z', 0, 0, 0, 5, b'I']);
        assert!(
            !error_response("42501", "a\0b", None)
                .windows(3)
                .any(|w| w == b"a\0b")
        );
    }
}
