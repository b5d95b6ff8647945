//! Following a PostgreSQL connection from the outside, with the shared codec
//! (`wire::postgres`). Both directions arrive reassembled, as [`Chunk`]s.
//!
//! ```text
//!  Startup ─ SSLRequest ─► SslAnswer ─ 'S' ─► Tls (nothing more is read; counted)
//!     │                        └──── 'N' ─► Startup
//!     ├─ CancelRequest ─► Done (counted)
//!     └─ StartupMessage (user, database, application_name) ─► Auth
//!  Auth ─ AuthenticationOk … ReadyForQuery ─► Ready      (ErrorResponse: a failed login)
//!  Ready: every client message queues what the server will answer it with; the answers
//!         walk the queue (PostgreSQL answers in order). Query, Execute → an Exchange.
//! ```
//!
//! Like the firewall's state machine (`firewall::postgres::state`), prepared statements and
//! portals are kept per connection, so that every Execute — pipelined, of a statement
//! parsed long before, with or without Describe — carries its statement text. Each map is
//! capped; a name past the cap is not remembered (counted) and its executions have no text.
//!
//! A connection whose start-up was not captured is picked up midstream: the first bytes
//! that frame as PostgreSQL messages start it, without user or database. After a hole in
//! either direction, or a message that does not decode, bytes are dropped until a plausible
//! message boundary (a known type byte with a length in range, followed by another). Since
//! PostgreSQL answers in order, a hole must not shift answers onto the wrong statements:
//!
//! - a hole in the client's bytes queues a `Lost` entry: the answers to what it swallowed
//!   are passed over up to their ReadyForQuery (exact when the hole held whole queries);
//! - a hole in the server's bytes makes the next ReadyForQuery settle everything asked so
//!   far (those statements are reported, counted as damaged), so one lost ReadyForQuery
//!   cannot leave the queue one answer behind for the rest of the connection.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::counters::Counters;
use crate::reassembly::Chunk;
use crate::wire::postgres::backend;
use crate::wire::postgres::parser::{
    self, Frame, Frontend, Limits, Startup, WireError, next_frame, next_startup_frame,
};

use super::{Exchange, Session};

/// Most prepared statements and most portals remembered per connection.
pub const MAX_NAMES: usize = 10_000;

/// Most answers awaited per connection; a client pipelining more than this is followed
/// again from the next ReadyForQuery on (counted as unexpected answers).
const MAX_PENDING: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Startup,
    SslAnswer,
    Tls,
    Auth,
    Ready,
    Done,
}

/// One statement's answer as it streams back.
#[derive(Debug)]
struct Run {
    text: Arc<str>,
    started_us: u64,
    rows: u64,
    tagged: Option<u64>,
    bytes: u64,
    fields: u16,
    tag: String,
    error_code: String,
    /// A fast-path function call: no statement, no event.
    silent: bool,
    /// Part of the answer was lost in a hole (rows and bytes may be short).
    damaged: bool,
}

impl Run {
    fn new(text: Arc<str>, started_us: u64) -> Box<Run> {
        Box::new(Run {
            text,
            started_us,
            rows: 0,
            tagged: None,
            bytes: 0,
            fields: 0,
            tag: String::new(),
            error_code: String::new(),
            silent: false,
            damaged: false,
        })
    }

    fn exchange(self, ended_us: u64, unanswered: bool, c: &mut Counters) -> Exchange {
        if self.damaged {
            c.statements_damaged += 1;
        }
        Exchange {
            text: self.text.to_string(),
            started_us: self.started_us,
            ended_us: ended_us.max(self.started_us),
            rows: self.tagged.unwrap_or(self.rows),
            bytes: self.bytes,
            fields: self.fields,
            tag: self.tag,
            error_code: self.error_code,
            unanswered,
        }
    }
}

/// What the server will answer a client message with.
#[derive(Debug)]
enum Expect {
    ParseComplete,
    BindComplete,
    CloseComplete,
    Describe,
    Execute(Box<Run>),
    /// A simple query or function call: everything up to ReadyForQuery.
    Query(Box<Run>),
    Sync,
    /// Client messages lost in a hole: their answers are passed over up to the next
    /// ReadyForQuery (the usual case: the hole held whole queries).
    Lost,
}

impl Expect {
    fn ends_with_ready(&self) -> bool {
        matches!(self, Expect::Sync | Expect::Query(_) | Expect::Lost)
    }
}

/// One direction's bytes not yet framed.
#[derive(Debug, Default)]
struct Side {
    buf: Vec<u8>,
    /// Bytes of a counted message body still to pass over without buffering.
    skip: u64,
    /// Framing lost (a hole, a broken message): look for the next boundary.
    lost: bool,
    /// When the first byte now in `buf` arrived.
    since_us: u64,
}

/// A followed PostgreSQL connection.
#[derive(Debug)]
pub struct Postgres {
    phase: Phase,
    session: Session,
    limits: Limits,
    client: Side,
    server: Side,
    statements: HashMap<String, Arc<str>>,
    portals: HashMap<String, Arc<str>>,
    pending: VecDeque<Expect>,
    /// Whether the first bytes have been seen (to tell a start-up from a midstream pickup).
    begun: bool,
    /// After a hole in the server's bytes: how many queued entries the next ReadyForQuery
    /// settles at least.
    settle_at_ready: usize,
}

/// Largest messages buffered whole: a statement text up to 16 MiB (bulk INSERTs), server
/// messages other than rows (descriptions, completions, errors) up to 1 MiB. Rows and COPY
/// chunks are counted from their header and never buffered, whatever their size.
pub const SENSOR_LIMITS: Limits = Limits {
    max_frontend: 16 << 20,
    max_backend: 1 << 20,
};

impl Default for Postgres {
    fn default() -> Self {
        Postgres::new(SENSOR_LIMITS)
    }
}

/// Backend message types and the exact length (type byte excluded) of those that have one.
fn backend_plausible(tag: u8, len: usize) -> bool {
    match tag {
        b'Z' => len == 5,
        b'1' | b'2' | b'3' | b'n' | b's' | b'I' | b'c' => len == 4,
        b'K' => len == 12,
        b'R' | b'S' | b'T' | b'D' | b'C' | b'E' | b'N' | b't' | b'G' | b'H' | b'W' | b'd'
        | b'V' | b'A' | b'v' => len >= 4,
        _ => false,
    }
}

fn frontend_plausible(tag: u8, len: usize) -> bool {
    match tag {
        b'S' | b'H' | b'X' | b'c' => len == 4,
        b'E' => len >= 9,
        b'Q' | b'P' | b'B' | b'D' | b'C' | b'F' | b'd' | b'f' | b'p' => len >= 5,
        _ => false,
    }
}

impl Postgres {
    pub fn new(limits: Limits) -> Postgres {
        Postgres {
            phase: Phase::Startup,
            session: Session::default(),
            limits,
            client: Side::default(),
            server: Side::default(),
            statements: HashMap::new(),
            portals: HashMap::new(),
            pending: VecDeque::new(),
            begun: false,
            settle_at_ready: 0,
        }
    }

    fn side(&mut self, from_client: bool) -> &mut Side {
        if from_client {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    /// Who the connection belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether the connection switched to TLS (only metadata from then on).
    pub fn is_tls(&self) -> bool {
        self.phase == Phase::Tls
    }

    /// Bytes held for messages not yet complete.
    pub fn buffered(&self) -> usize {
        self.client.buf.len() + self.server.buf.len()
    }

    /// Bytes from the client, which arrived at `ts_us`.
    pub fn client(
        &mut self,
        chunk: Chunk<'_>,
        ts_us: u64,
        c: &mut Counters,
        out: &mut Vec<Exchange>,
    ) {
        self.input(true, chunk, ts_us, c, out);
    }

    /// Bytes from the server, which arrived at `ts_us`.
    pub fn server(
        &mut self,
        chunk: Chunk<'_>,
        ts_us: u64,
        c: &mut Counters,
        out: &mut Vec<Exchange>,
    ) {
        self.input(false, chunk, ts_us, c, out);
    }

    /// The connection ended at `ts_us`: statements still waiting for their answer are
    /// reported as unanswered.
    pub fn end(&mut self, ts_us: u64, c: &mut Counters, out: &mut Vec<Exchange>) {
        while let Some(e) = self.pending.pop_front() {
            if let Expect::Execute(run) | Expect::Query(run) = e
                && !run.silent
            {
                c.statements_unanswered += 1;
                out.push(run.exchange(ts_us, true, c));
            }
        }
        self.client = Side::default();
        self.server = Side::default();
        self.phase = Phase::Done;
    }

    fn input(
        &mut self,
        from_client: bool,
        chunk: Chunk<'_>,
        ts: u64,
        c: &mut Counters,
        out: &mut Vec<Exchange>,
    ) {
        if matches!(self.phase, Phase::Tls | Phase::Done) {
            return;
        }
        let data = match chunk {
            Chunk::Gap(_) => {
                let side = self.side(from_client);
                c.pg_resync_bytes += side.buf.len() as u64;
                side.buf.clear();
                side.skip = 0;
                side.lost = true;
                if from_client {
                    self.push(Expect::Lost, c);
                } else {
                    // Answers were lost: everything asked so far is settled at the next
                    // ReadyForQuery, so that one lost ReadyForQuery cannot shift every
                    // later answer onto the wrong statement.
                    self.settle_at_ready = self.pending.len();
                    for e in &mut self.pending {
                        if let Expect::Execute(run) | Expect::Query(run) = e {
                            run.damaged = true;
                        }
                    }
                }
                return;
            }
            Chunk::Data(d) => d,
        };
        if !self.begun {
            self.begun = true;
            // A start-up split before its request code is read as one; if it is not, the
            // start-up path finds out and picks the connection up midstream.
            let startup = from_client
                && match data.get(4..8) {
                    Some(code) => matches!(
                        u32::from_be_bytes([code[0], code[1], code[2], code[3]]),
                        196_608 | 80_877_102..=80_877_104
                    ),
                    None => true,
                };
            if !startup {
                c.pg_midstream += 1;
                self.phase = Phase::Ready;
                self.client.lost = true;
                self.server.lost = true;
            }
        }
        let mut data = data;
        {
            let side = self.side(from_client);
            if side.skip > 0 {
                let n = side.skip.min(data.len() as u64);
                side.skip -= n;
                data = &data[n as usize..];
            }
            if data.is_empty() {
                return;
            }
            if side.buf.is_empty() {
                side.since_us = ts;
            }
        }
        let side = self.side(from_client);
        let mut buf = std::mem::take(&mut side.buf);
        if buf.is_empty() {
            let used = self.frames(from_client, data, ts, c, out);
            buf.extend_from_slice(&data[used..]);
        } else {
            buf.extend_from_slice(data);
            let used = self.frames(from_client, &buf, ts, c, out);
            buf.drain(..used);
        }
        if matches!(self.phase, Phase::Tls | Phase::Done) {
            buf.clear();
        }
        let side = self.side(from_client);
        side.buf = buf;
    }

    /// Handles every complete message at the start of `buf`; returns the bytes used.
    fn frames(
        &mut self,
        from_client: bool,
        buf: &[u8],
        ts: u64,
        c: &mut Counters,
        out: &mut Vec<Exchange>,
    ) -> usize {
        let mut at = 0;
        loop {
            if matches!(self.phase, Phase::Tls | Phase::Done) {
                return buf.len();
            }
            let rest = &buf[at..];
            if rest.is_empty() {
                return at;
            }
            let side = self.side(from_client);
            if side.lost {
                match self.boundary(from_client, rest) {
                    Some(skip) => {
                        c.pg_resync_bytes += skip as u64;
                        at += skip;
                        let side = self.side(from_client);
                        side.lost = false;
                        continue;
                    }
                    None => {
                        // Keep the tail that may begin a message; drop the rest.
                        let keep = rest.len().min(5);
                        c.pg_resync_bytes += (rest.len() - keep) as u64;
                        return buf.len() - keep;
                    }
                }
            }
            if !from_client && self.phase == Phase::SslAnswer {
                match rest[0] {
                    b'S' | b'G' => {
                        c.pg_tls += 1;
                        self.phase = Phase::Tls;
                        return buf.len();
                    }
                    b'N' => {
                        c.pg_ssl_refused += 1;
                        self.phase = Phase::Startup;
                        at += 1;
                        continue;
                    }
                    _ => {
                        // An old server answering with an error message: read it as one.
                        self.phase = Phase::Startup;
                    }
                }
            }
            if from_client && self.phase == Phase::Startup {
                match next_startup_frame(rest, self.limits.max_frontend) {
                    Ok(Some(f)) => {
                        self.startup(f.body(rest), c);
                        at += f.len;
                        continue;
                    }
                    Ok(None) => return at,
                    Err(_) => {
                        c.pg_parse_errors += 1;
                        c.pg_midstream += 1;
                        self.phase = Phase::Ready;
                        self.client.lost = true;
                        continue;
                    }
                }
            }
            let max = if from_client {
                self.limits.max_frontend
            } else {
                self.limits.max_backend
            };
            match next_frame(rest, max) {
                Ok(Some(f)) => {
                    let frame = &rest[..f.len];
                    let started = if from_client {
                        self.client.since_us
                    } else {
                        ts
                    };
                    if from_client {
                        self.client_message(frame, f, started, c);
                    } else {
                        self.server_message(frame, f, ts, c, out);
                    }
                    at += f.len;
                    // Later messages in this buffer arrived no earlier than now.
                    let side = self.side(from_client);
                    side.since_us = ts;
                }
                Ok(None) => {
                    // A row or COPY chunk is only counted: pass over its body instead of
                    // buffering it whole.
                    if rest.len() >= 5
                        && matches!((from_client, rest[0]), (false, b'D' | b'd') | (true, b'd'))
                    {
                        let total =
                            u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as u64 + 1;
                        self.count_row(from_client, rest[0], total, ts, c);
                        let side = self.side(from_client);
                        side.skip = total - rest.len() as u64;
                        return buf.len();
                    }
                    return at;
                }
                Err(WireError::TooLarge { len, .. }) => {
                    // A whole message past the limit: passed over (its length is sound),
                    // with its place in the queue kept so later answers still line up. Rows
                    // and COPY chunks are only counted anyway.
                    let total = len as u64 + 1;
                    let tag = rest[0];
                    if matches!((from_client, tag), (false, b'D' | b'd') | (true, b'd')) {
                        self.count_row(from_client, tag, total, ts, c);
                    } else {
                        c.pg_oversized += 1;
                        if from_client {
                            let started = self.client.since_us;
                            self.oversized_request(tag, started, c);
                        }
                    }
                    if total <= rest.len() as u64 {
                        at += total as usize;
                        continue;
                    }
                    let side = self.side(from_client);
                    side.skip = total.saturating_sub(rest.len() as u64);
                    return buf.len();
                }
                Err(_) => {
                    c.pg_parse_errors += 1;
                    let side = self.side(from_client);
                    side.lost = true;
                    // Skip the byte that looked like a type so the search moves on.
                    at += 1;
                    c.pg_resync_bytes += 1;
                }
            }
        }
    }

    /// Where the next plausible message starts in `rest`, if anywhere: a known type byte, a
    /// length in range, and (when the buffer holds it) another plausible message after it.
    fn boundary(&self, from_client: bool, rest: &[u8]) -> Option<usize> {
        let max = if from_client {
            self.limits.max_frontend
        } else {
            self.limits.max_backend
        };
        let ok = |tag: u8, len: usize| {
            len <= max
                && if from_client {
                    frontend_plausible(tag, len)
                } else {
                    backend_plausible(tag, len)
                }
        };
        let header = |at: usize| -> Option<(u8, usize)> {
            let h = rest.get(at..at + 5)?;
            Some((h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize))
        };
        for i in 0..rest.len().saturating_sub(4) {
            let Some((tag, len)) = header(i) else { break };
            if !ok(tag, len) {
                continue;
            }
            match header(i + 1 + len) {
                Some((t2, l2)) if !ok(t2, l2) => continue,
                _ => return Some(i),
            }
        }
        None
    }

    fn startup(&mut self, body: &[u8], c: &mut Counters) {
        match parser::parse_startup(body) {
            Ok(Startup::Start(params)) => {
                c.pg_sessions += 1;
                let get = |k: &str| params.get(k).cloned().unwrap_or_default();
                let account = get("user");
                let database = params
                    .get("database")
                    .cloned()
                    .unwrap_or_else(|| account.clone());
                self.session = Session {
                    account,
                    database,
                    application: get("application_name"),
                };
                self.phase = Phase::Auth;
            }
            Ok(Startup::Ssl | Startup::GssEnc) => self.phase = Phase::SslAnswer,
            Ok(Startup::Cancel { .. }) => {
                c.pg_cancel_requests += 1;
                self.phase = Phase::Done;
            }
            Err(_) => {
                c.pg_parse_errors += 1;
                self.phase = Phase::Done;
            }
        }
    }

    fn push(&mut self, e: Expect, c: &mut Counters) {
        if self.pending.len() >= MAX_PENDING {
            c.pg_unexpected += 1;
            return;
        }
        self.pending.push_back(e);
    }

    fn client_message(&mut self, msg: &[u8], f: Frame, started: u64, c: &mut Counters) {
        let Some(tag) = f.tag else { return };
        let body = f.body(msg);
        if tag == b'd' {
            self.count_row(true, tag, msg.len() as u64, started, c);
            return;
        }
        if tag == b'p' {
            // Password and SASL messages: never recorded.
            return;
        }
        let parsed = match parser::parse_frontend(tag, body) {
            Ok(p) => p,
            Err(_) => {
                c.pg_parse_errors += 1;
                return;
            }
        };
        match parsed {
            Frontend::Query(text) => self.push(Expect::Query(Run::new(text.into(), started)), c),
            Frontend::Parse { name, query } => {
                remember(&mut self.statements, name, query.into(), c);
                self.push(Expect::ParseComplete, c);
            }
            Frontend::Bind { portal, statement } => {
                let text = match self.statements.get(statement) {
                    Some(t) => t.clone(),
                    // Prepared with SQL PREPARE, or before the capture began.
                    None if !statement.is_empty() => {
                        format!("EXECUTE \"{}\"", statement.replace('"', "\"\"")).into()
                    }
                    None => "".into(),
                };
                remember(&mut self.portals, portal, text, c);
                self.push(Expect::BindComplete, c);
            }
            Frontend::Execute { portal, .. } => {
                let text = self
                    .portals
                    .get(portal)
                    .cloned()
                    .unwrap_or_else(|| "".into());
                self.push(Expect::Execute(Run::new(text, started)), c);
            }
            Frontend::Describe { .. } => self.push(Expect::Describe, c),
            Frontend::Close { kind, name } => {
                if kind == b'S' {
                    self.statements.remove(name);
                } else {
                    self.portals.remove(name);
                }
                self.push(Expect::CloseComplete, c);
            }
            Frontend::Sync => self.push(Expect::Sync, c),
            Frontend::Other(b'F') => {
                let mut run = Run::new("".into(), started);
                run.silent = true;
                self.push(Expect::Query(run), c);
            }
            Frontend::Flush | Frontend::Terminate | Frontend::Other(_) => {}
        }
    }

    /// A client message too large to read: what the server will answer it with.
    fn oversized_request(&mut self, tag: u8, started: u64, c: &mut Counters) {
        if self.phase != Phase::Ready {
            return;
        }
        let expect = match tag {
            b'Q' => Expect::Query(Run::new("".into(), started)),
            b'P' => Expect::ParseComplete,
            b'B' => Expect::BindComplete,
            _ => return,
        };
        self.push(expect, c);
    }

    /// A DataRow or CopyData of `len` bytes (header included) for the running statement.
    fn count_row(&mut self, from_client: bool, tag: u8, len: u64, _ts: u64, c: &mut Counters) {
        if from_client && self.phase != Phase::Ready {
            return;
        }
        match self.pending.front_mut() {
            Some(Expect::Execute(run) | Expect::Query(run)) => {
                if !from_client || tag == b'd' {
                    run.rows += 1;
                }
                run.bytes += len;
            }
            _ => c.pg_unexpected += 1,
        }
    }

    fn server_message(
        &mut self,
        msg: &[u8],
        f: Frame,
        ts: u64,
        c: &mut Counters,
        out: &mut Vec<Exchange>,
    ) {
        let Some(tag) = f.tag else { return };
        let body = f.body(msg);
        match tag {
            b'N' | b'S' | b'A' | b'K' | b'v' => return,
            _ => {}
        }
        if self.phase == Phase::Startup || self.phase == Phase::Auth {
            match tag {
                // AuthenticationOk; the other codes ask for (more) credentials.
                b'R' if body.get(..4) == Some(&[0, 0, 0, 0]) => c.pg_auth_ok += 1,
                b'E' => {
                    c.pg_auth_failed += 1;
                    self.phase = Phase::Done;
                }
                b'Z' => self.phase = Phase::Ready,
                _ => {}
            }
            return;
        }
        if tag == b'Z' {
            self.ready_for_query(ts, c, out);
            return;
        }
        let Some(front) = self.pending.front_mut() else {
            c.pg_unexpected += 1;
            return;
        };
        if matches!(front, Expect::Lost) {
            // Answers to what the hole swallowed.
            return;
        }
        let simple = matches!(front, Expect::Query(_));
        if let Expect::Execute(run) | Expect::Query(run) = front {
            match tag {
                b'D' | b'd' => {
                    run.rows += 1;
                    run.bytes += msg.len() as u64;
                    return;
                }
                b'T' => {
                    if let Ok(fields) = backend::row_description(body) {
                        run.fields = fields.len() as u16;
                    } else {
                        c.pg_parse_errors += 1;
                    }
                    return;
                }
                b'C' => match backend::command_complete(body) {
                    Ok(t) => {
                        if let Some(n) = backend::command_rows(t) {
                            *run.tagged.get_or_insert(0) += n;
                        }
                        t.clone_into(&mut run.tag);
                    }
                    Err(_) => c.pg_parse_errors += 1,
                },
                b'E' => match backend::notice(body) {
                    Ok(n) => run.error_code = n.code,
                    Err(_) => c.pg_parse_errors += 1,
                },
                b'I' | b's' => {}
                // CopyIn/CopyOut/CopyBoth responses, function results, anything else.
                _ => return,
            }
            if simple {
                // More statements of the same Query may follow: it ends at ReadyForQuery.
                return;
            }
            if let Some(Expect::Execute(run)) = self.pending.pop_front() {
                out.push(run.exchange(ts, false, c));
            }
            if tag == b'E' {
                self.skip_to_sync();
            }
            return;
        }
        match (front, tag) {
            (_, b'E') => {
                self.pending.pop_front();
                self.skip_to_sync();
            }
            (Expect::ParseComplete, b'1')
            | (Expect::BindComplete, b'2')
            | (Expect::CloseComplete, b'3')
            | (Expect::Describe, b'n' | b'T') => {
                self.pending.pop_front();
            }
            (Expect::Describe, b't') => {}
            _ => c.pg_unexpected += 1,
        }
    }

    /// ReadyForQuery answers the Sync or Query at the front of the queue and everything
    /// before it.
    fn ready_for_query(&mut self, ts: u64, c: &mut Counters, out: &mut Vec<Exchange>) {
        let mut settle = std::mem::take(&mut self.settle_at_ready);
        while let Some(e) = self.pending.pop_front() {
            settle = settle.saturating_sub(1);
            let done = e.ends_with_ready();
            if let Expect::Query(run) | Expect::Execute(run) = e
                && !run.silent
            {
                out.push(run.exchange(ts, false, c));
            }
            if done && settle == 0 {
                break;
            }
        }
    }

    /// After an error the server ignores messages up to Sync; so do their expectations.
    fn skip_to_sync(&mut self) {
        while let Some(e) = self.pending.front() {
            if e.ends_with_ready() {
                break;
            }
            self.pending.pop_front();
        }
    }
}

/// Stores `name → text` unless the map is full and `name` new.
fn remember(map: &mut HashMap<String, Arc<str>>, name: &str, text: Arc<str>, c: &mut Counters) {
    if let Some(slot) = map.get_mut(name) {
        *slot = text;
    } else if map.len() < MAX_NAMES {
        map.insert(name.to_owned(), text);
    } else {
        c.pg_names_refused += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend(body);
        m
    }

    fn cstrs(parts: &[&str]) -> Vec<u8> {
        parts
            .iter()
            .flat_map(|p| [p.as_bytes(), b"\0"].concat())
            .collect()
    }

    fn startup(params: &[&str]) -> Vec<u8> {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        body.extend(cstrs(params));
        body.push(0);
        let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        m.extend(body);
        m
    }

    fn parse(name: &str, q: &str) -> Vec<u8> {
        msg(b'P', &[cstrs(&[name, q]), vec![0, 0]].concat())
    }
    fn bind(portal: &str, stmt: &str) -> Vec<u8> {
        msg(
            b'B',
            &[cstrs(&[portal, stmt]), vec![0, 0, 0, 0, 0, 0]].concat(),
        )
    }
    fn execute(portal: &str) -> Vec<u8> {
        msg(b'E', &[cstrs(&[portal]), vec![0, 0, 0, 0]].concat())
    }
    fn row(v: &str) -> Vec<u8> {
        let mut b = 1u16.to_be_bytes().to_vec();
        b.extend((v.len() as u32).to_be_bytes());
        b.extend(v.as_bytes());
        msg(b'D', &b)
    }
    fn complete(tag: &str) -> Vec<u8> {
        msg(b'C', &cstrs(&[tag]))
    }
    fn error(code: &str) -> Vec<u8> {
        msg(
            b'E',
            &[b"SERROR\0C".as_slice(), code.as_bytes(), b"\0Mboom\0\0"].concat(),
        )
    }
    fn ready() -> Vec<u8> {
        msg(b'Z', b"I")
    }

    /// A follower past authentication for `app` on `db`.
    fn logged_in(c: &mut Counters) -> Postgres {
        let mut pg = Postgres::default();
        let mut out = Vec::new();
        let s = startup(&["user", "app", "database", "db", "application_name", "etl"]);
        pg.client(Chunk::Data(&s), 1, c, &mut out);
        let answer = [
            msg(b'R', &[0, 0, 0, 0]),
            msg(b'S', &cstrs(&["a", "b"])),
            msg(b'K', &[0; 8]),
            ready(),
        ]
        .concat();
        pg.server(Chunk::Data(&answer), 2, c, &mut out);
        assert!(out.is_empty());
        assert_eq!(c.pg_auth_ok, 1);
        pg
    }

    #[test]
    fn pipelined_extended_protocol_attaches_text_to_every_execute() {
        let mut c = Counters::default();
        let mut pg = logged_in(&mut c);
        assert_eq!(pg.session().account, "app");
        assert_eq!(pg.session().application, "etl");
        let mut out = Vec::new();
        // Named statement parsed once, executed twice through two portals, plus an unnamed
        // one; all pipelined before one Sync, sent byte by byte.
        let client = [
            parse("s1", "SELECT name FROM person WHERE id = $1"),
            bind("p1", "s1"),
            execute("p1"),
            bind("", "s1"),
            execute(""),
            parse("", "UPDATE t SET x = 1"),
            bind("", ""),
            execute(""),
            msg(b'S', b""),
        ]
        .concat();
        for (i, b) in client.iter().enumerate() {
            pg.client(
                Chunk::Data(std::slice::from_ref(b)),
                10 + i as u64,
                &mut c,
                &mut out,
            );
        }
        let server = [
            msg(b'1', b""),
            msg(b'2', b""),
            row("ann"),
            row("bob"),
            complete("SELECT 2"),
            msg(b'2', b""),
            row("cy"),
            complete("SELECT 1"),
            msg(b'1', b""),
            msg(b'2', b""),
            complete("UPDATE 7"),
            ready(),
        ]
        .concat();
        pg.server(Chunk::Data(&server), 5000, &mut c, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|x| (x.text.as_str(), x.rows, x.tag.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("SELECT name FROM person WHERE id = $1", 2, "SELECT 2"),
                ("SELECT name FROM person WHERE id = $1", 1, "SELECT 1"),
                ("UPDATE t SET x = 1", 7, "UPDATE 7"),
            ]
        );
        assert_eq!(out[0].bytes, 2 * row("ann").len() as u64);
        // From the first byte of the Execute to the end of its answer.
        let first_execute = (parse("s1", "SELECT name FROM person WHERE id = $1").len()
            + bind("p1", "s1").len()) as u64;
        assert_eq!(
            (out[0].started_us, out[0].ended_us),
            (10 + first_execute, 5000)
        );
        assert_eq!(c.pg_unexpected, 0);
    }

    #[test]
    fn an_error_skips_to_sync_and_a_simple_query_ends_at_ready() {
        let mut c = Counters::default();
        let mut pg = logged_in(&mut c);
        let mut out = Vec::new();
        let client = [
            parse("", "SELECT 1/0"),
            bind("", ""),
            execute(""),
            parse("", "SELECT 2"),
            bind("", ""),
            execute(""),
            msg(b'S', b""),
            msg(b'Q', b"SELECT 1; SELECT 2\0"),
        ]
        .concat();
        pg.client(Chunk::Data(&client), 1, &mut c, &mut out);
        let server = [
            msg(b'1', b""),
            msg(b'2', b""),
            error("22012"),
            ready(),
            row("1"),
            complete("SELECT 1"),
            row("2"),
            complete("SELECT 1"),
            ready(),
        ]
        .concat();
        pg.server(Chunk::Data(&server), 2, &mut c, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|x| (x.text.as_str(), x.rows, x.error_code.as_str()))
            .collect();
        // The skipped second Execute never ran: no event, as the firewall.
        assert_eq!(
            got,
            [("SELECT 1/0", 0, "22012"), ("SELECT 1; SELECT 2", 2, "")]
        );
    }

    #[test]
    fn ssl_accepted_means_tls_and_nothing_more() {
        let mut c = Counters::default();
        let mut pg = Postgres::default();
        let mut out = Vec::new();
        pg.client(
            Chunk::Data(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
            1,
            &mut c,
            &mut out,
        );
        pg.server(Chunk::Data(b"S"), 2, &mut c, &mut out);
        pg.client(Chunk::Data(&msg(b'Q', b"SELECT 1\0")), 3, &mut c, &mut out);
        assert!(pg.is_tls() && out.is_empty());
        assert_eq!((c.pg_tls, c.pg_parse_errors), (1, 0));
        // Refused: the start-up follows in clear.
        let mut pg = Postgres::default();
        pg.client(
            Chunk::Data(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
            1,
            &mut c,
            &mut out,
        );
        pg.server(Chunk::Data(b"N"), 2, &mut c, &mut out);
        pg.client(Chunk::Data(&startup(&["user", "u"])), 3, &mut c, &mut out);
        assert_eq!(pg.session().database, "u", "database defaults to the user");
        pg.server(Chunk::Data(&error("28P01")), 4, &mut c, &mut out);
        assert_eq!((c.pg_ssl_refused, c.pg_auth_failed), (1, 1));
    }

    #[test]
    fn midstream_pickup_and_resync_after_a_gap() {
        let mut c = Counters::default();
        let mut pg = Postgres::default();
        let mut out = Vec::new();
        // Starts in the middle of a message: the tail of a Query, then a whole one.
        let q = msg(b'Q', b"SELECT 42\0");
        let client = [&b"ECT 1\0"[..], &q].concat();
        pg.client(Chunk::Data(&client), 1, &mut c, &mut out);
        pg.server(
            Chunk::Data(&[row("42"), complete("SELECT 1"), ready()].concat()),
            2,
            &mut c,
            &mut out,
        );
        assert_eq!(c.pg_midstream, 1);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].text.as_str(), out[0].rows), ("SELECT 42", 1));
        // A hole in the server direction in the middle of a row: the rest of it is skipped
        // up to the next plausible message.
        out.clear();
        pg.client(
            Chunk::Data(&msg(b'Q', b"SELECT x FROM t\0")),
            3,
            &mut c,
            &mut out,
        );
        let r = row("a-long-value");
        pg.server(Chunk::Data(&r[..7]), 4, &mut c, &mut out);
        pg.server(Chunk::Gap(3), 4, &mut c, &mut out);
        pg.server(
            Chunk::Data(&[&r[10..], &row("b"), &complete("SELECT 2"), &ready()].concat()),
            5,
            &mut c,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].text.as_str(), out[0].tag.as_str()),
            ("SELECT x FROM t", "SELECT 2")
        );
        assert!(c.pg_resync_bytes > 0);
        // A hole in the client direction (a whole query lost): answers to what was seen
        // before it still match, the lost query's answer is passed over up to its
        // ReadyForQuery, and what follows matches again.
        out.clear();
        pg.client(Chunk::Data(&msg(b'Q', b"SELECT 3\0")), 6, &mut c, &mut out);
        pg.client(Chunk::Gap(100), 7, &mut c, &mut out);
        pg.client(Chunk::Data(&msg(b'Q', b"SELECT 4\0")), 8, &mut c, &mut out);
        let answers = [
            row("3"),
            complete("SELECT 1"),
            ready(),
            row("lost"),
            complete("SELECT 1"),
            ready(),
            row("4"),
            row("4"),
            complete("SELECT 2"),
            ready(),
        ]
        .concat();
        pg.server(Chunk::Data(&answers), 9, &mut c, &mut out);
        let got: Vec<_> = out.iter().map(|x| (x.text.as_str(), x.rows)).collect();
        assert_eq!(got, [("SELECT 3", 1), ("SELECT 4", 2)]);
        // A hole in the server direction that swallows a ReadyForQuery: what was asked
        // before it is settled at the next one, so later statements line up again.
        out.clear();
        pg.client(
            Chunk::Data(&[msg(b'Q', b"SELECT 5\0"), msg(b'Q', b"SELECT 6\0")].concat()),
            10,
            &mut c,
            &mut out,
        );
        pg.server(Chunk::Data(&row("5")), 11, &mut c, &mut out);
        pg.server(Chunk::Gap(17), 12, &mut c, &mut out);
        pg.server(
            Chunk::Data(&[row("6"), complete("SELECT 1"), ready()].concat()),
            13,
            &mut c,
            &mut out,
        );
        pg.client(Chunk::Data(&msg(b'Q', b"SELECT 7\0")), 14, &mut c, &mut out);
        pg.server(
            Chunk::Data(&[row("7"), complete("SELECT 1"), ready()].concat()),
            15,
            &mut c,
            &mut out,
        );
        let got: Vec<_> = out.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(got, ["SELECT 5", "SELECT 6", "SELECT 7"]);
        // With the one of the first hole.
        assert_eq!(c.statements_damaged, 3);
        assert_eq!(out[2].rows, 1);
    }

    #[test]
    fn names_are_capped_and_counted() {
        let mut c = Counters::default();
        let mut pg = logged_in(&mut c);
        let mut out = Vec::new();
        let mut many = Vec::new();
        for i in 0..=MAX_NAMES {
            many.extend(parse(&format!("s{i}"), "SELECT 1"));
        }
        pg.client(Chunk::Data(&many), 1, &mut c, &mut out);
        assert_eq!(c.pg_names_refused, 1);
        assert_eq!(pg.statements.len(), MAX_NAMES);
    }

    #[test]
    fn large_rows_are_counted_without_buffering() {
        let mut c = Counters::default();
        let mut pg = logged_in(&mut c);
        let mut out = Vec::new();
        pg.client(
            Chunk::Data(&msg(b'Q', b"SELECT blob FROM files\0")),
            1,
            &mut c,
            &mut out,
        );
        let big = row(&"x".repeat(1 << 20));
        for part in big.chunks(1460) {
            pg.server(Chunk::Data(part), 2, &mut c, &mut out);
            assert!(pg.buffered() < 2000, "a row's body is not buffered");
        }
        pg.server(
            Chunk::Data(&[complete("SELECT 1"), ready()].concat()),
            3,
            &mut c,
            &mut out,
        );
        assert_eq!((out[0].rows, out[0].bytes), (1, big.len() as u64));
    }
}
