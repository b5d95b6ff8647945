//! One proxied PostgreSQL connection as a state machine, sans-IO: client messages in →
//! bytes for the server (or an answer for the client); server messages in → bytes for the
//! client, audit events, and whether to cancel the running statement upstream.
//!
//! PostgreSQL answers every client message in order, so the machine keeps a queue of what
//! each forwarded message will be answered with ([`Expect`]) and walks it as answers come:
//!
//! ```text
//!  client: Q ──judge──► allow: forward, expect Query(run) ····· server: T D… C … Z
//!          P ──judge──► allow: remember the verdict under the statement's name
//!          B ─────────► the portal takes its statement's verdict and result formats
//!          E ─────────► expect Execute(run) ······················ server: D… C|s|E
//!          blocked ───► forward a Bind of a statement that cannot exist instead: the server
//!                       answers it with an error exactly where the blocked statement's
//!                       answer belongs, aborts the transaction and skips to Sync as for a
//!                       real error; that error is replaced by the firewall's 42501.
//! ```
//!
//! A run (the result of one statement) masks its rows, counts them against the account's
//! limit — past it, rows are dropped, the statement is cancelled upstream and its end is
//! replaced by an error naming the limit — and becomes one audit event when it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rules::decision::{Action, Severity};
use rules::policy::{OutputMask, Request};
use rules::sql::{CursorUse, Dialect};
use sensor::wire::postgres::backend::{self, Field};
use sensor::wire::postgres::parser::{self, Frontend, WireError};

use crate::audit::{Outcome, Raised, SessionInfo, statement_event};
use crate::decide::{Judged, ResultLimit, Verdict, judge};

use super::Shared;
use super::mask::{Masked, resolve, rewrite_row};

/// SQLSTATE of a blocked statement (insufficient_privilege).
pub const BLOCKED: &str = "42501";
/// SQLSTATE of a result cut at a limit (program_limit_exceeded).
pub const LIMITED: &str = "54000";

/// The prepared statement name the firewall binds in place of a blocked message. No client
/// can have prepared it: the firewall refuses Parse messages that use it.
const POISON: &str = "tianmu: blocked statement";

/// Most named statements, portals and cursors one connection may keep; past it, new ones
/// are refused (a client that never closes them would grow the proxy without bound).
pub const MAX_NAMES: usize = 10_000;

/// Bytes going each way and what else the machine asks for.
#[derive(Default)]
pub struct Out {
    pub to_server: Vec<u8>,
    pub to_client: Vec<u8>,
    /// Cancel the statement running upstream (a result passed its limit).
    pub cancel: bool,
}

/// Why the connection must end.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("the server sent {0:?} where no answer was expected")]
    Unexpected(char),
}

/// What a prepared statement or portal runs.
#[derive(Clone)]
struct Source {
    judged: Arc<Judged>,
    fields: Option<Arc<[Field]>>,
}

struct Portal {
    /// `None`: bound to a statement not prepared through the firewall (SQL `PREPARE`).
    source: Option<Source>,
    statement: String,
    formats: Arc<[i16]>,
    /// Rows and bytes of earlier executions (`Execute` with a row count, then more).
    rows: u64,
    bytes: u64,
}

/// A SQL cursor: its `DECLARE`'s verdict, and what its `FETCH`es have returned so far.
struct Cursor {
    judged: Arc<Judged>,
    rows: u64,
    bytes: u64,
}

/// Whose running totals a run continues.
enum Owner {
    None,
    Portal(String),
    Cursor(String),
}

/// The result of one statement as it streams back.
struct Run {
    judged: Arc<Judged>,
    started: Instant,
    rows: u64,
    bytes: u64,
    /// Rows and bytes before this run (earlier executions of the portal or cursor).
    prior_rows: u64,
    prior_bytes: u64,
    owner: Owner,
    fields: Option<Arc<[Field]>>,
    formats: Arc<[i16]>,
    /// Resolved against the result's columns at the first row.
    masks: Option<Vec<Masked>>,
    /// Why rows stopped being forwarded; the end of the result becomes this error.
    cut: Option<Cut>,
    error_code: String,
    /// Rows reported by the completion tag (INSERT/UPDATE/DELETE return no DataRows).
    tagged_rows: u64,
}

struct Cut {
    message: String,
    raised: Raised,
}

/// What the server will answer a forwarded message with, in order.
enum Expect {
    ParseComplete,
    BindComplete,
    CloseComplete,
    DescribeStatement(String),
    DescribePortal(String),
    Execute(Box<Run>),
    /// A simple query or fast-path call: everything up to ReadyForQuery.
    Query(Box<Run>),
    Sync,
    /// The poison Bind's error, to be replaced by this one.
    Blocked(Vec<u8>),
}

impl Expect {
    fn ends_with_ready(&self) -> bool {
        matches!(self, Expect::Sync | Expect::Query(_))
    }
}

/// The state of one connection after its start-up message.
pub struct Conn {
    pub info: SessionInfo,
    /// Authentication is over (the first ReadyForQuery has passed).
    ready: bool,
    /// The last transaction status (`I`, `T`, `E`).
    pub status: u8,
    /// The server's cancel key for this connection.
    pub key: Option<(u32, u32)>,
    statements: HashMap<String, Source>,
    portals: HashMap<String, Portal>,
    cursors: HashMap<String, Cursor>,
    pending: VecDeque<Expect>,
    /// The server is not skipping to Sync after a result the firewall ended with an error:
    /// drop its answers until ReadyForQuery.
    discard: bool,
}

impl Conn {
    pub fn new(info: SessionInfo) -> Conn {
        Conn {
            info,
            ready: false,
            status: b'I',
            key: None,
            statements: HashMap::new(),
            portals: HashMap::new(),
            cursors: HashMap::new(),
            pending: VecDeque::new(),
            discard: false,
        }
    }

    /// Answers still awaited; the session stops reading the client when too many are.
    pub fn awaiting(&self) -> usize {
        self.pending.len()
    }

    fn judge(&self, sh: &Shared, text: &str) -> Arc<Judged> {
        let policy = sh.policy.load();
        let req = self.request();
        let j = judge(&policy, &sh.containment.load(), &req, text, sh.fail);
        sh.metrics.decided(j.action);
        Arc::new(j)
    }

    fn request(&self) -> Request<'_> {
        Request {
            account: &self.info.account,
            client: self.info.client.ip(),
            database: &self.info.database,
            dialect: Dialect::Postgres,
            time: chrono::Utc::now(),
        }
    }

    fn emit(&self, sh: &Shared, judged: &Judged, outcome: &Outcome) {
        sh.sink
            .record(statement_event(&sh.producer, &self.info, judged, outcome));
    }

    /// A client message (`msg` is the whole frame, type byte included).
    pub fn client_message(
        &mut self,
        sh: &Shared,
        msg: &[u8],
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        let (tag, body) = (msg[0], &msg[5..]);
        match parser::parse_frontend(tag, body)? {
            Frontend::Query(text) => {
                let judged = self.judge(sh, text);
                if let Some(error) = self.refusal(sh, &judged) {
                    self.block(error, true, out);
                    return Ok(());
                }
                let run = self.start_run(judged, Owner::None, None, Arc::from([]));
                self.pending.push_back(Expect::Query(Box::new(run)));
            }
            Frontend::Parse { name, query } => {
                if name == POISON {
                    return Err(WireError::Malformed {
                        kind: "Parse",
                        reason: "uses the firewall's reserved statement name",
                    }
                    .into());
                }
                let judged = self.judge(sh, query);
                let full =
                    !self.statements.contains_key(name) && self.statements.len() >= MAX_NAMES;
                let refusal = if full {
                    Some(self.refuse(
                        sh,
                        &judged,
                        "firewall.limits",
                        &format!("more than {MAX_NAMES} prepared statements on one connection"),
                    ))
                } else {
                    self.refusal(sh, &judged)
                };
                if let Some(error) = refusal {
                    if name.is_empty() {
                        self.statements.remove(name);
                    }
                    self.block(error, false, out);
                    return Ok(());
                }
                self.statements.insert(
                    name.to_owned(),
                    Source {
                        judged,
                        fields: None,
                    },
                );
                self.pending.push_back(Expect::ParseComplete);
            }
            Frontend::Bind { portal, statement } => {
                let formats: Arc<[i16]> = backend::bind_result_formats(body)?.into();
                if !self.portals.contains_key(portal) && self.portals.len() >= MAX_NAMES {
                    // Forgetting a portal would let its Execute run unjudged: refuse instead.
                    let judged = self
                        .statements
                        .get(statement)
                        .map_or_else(|| self.judge(sh, ""), |s| s.judged.clone());
                    let reason = format!("more than {MAX_NAMES} open portals on one connection");
                    let error = self.refuse(sh, &judged, "firewall.limits", &reason);
                    self.block(error, false, out);
                    return Ok(());
                }
                self.portals.insert(
                    portal.to_owned(),
                    Portal {
                        source: self.statements.get(statement).cloned(),
                        statement: statement.to_owned(),
                        formats,
                        rows: 0,
                        bytes: 0,
                    },
                );
                self.pending.push_back(Expect::BindComplete);
            }
            Frontend::Describe { kind, name } => {
                self.pending.push_back(if kind == b'S' {
                    Expect::DescribeStatement(name.to_owned())
                } else {
                    Expect::DescribePortal(name.to_owned())
                });
            }
            Frontend::Execute { portal, .. } => {
                let Some(p) = self.portals.get(portal) else {
                    // The server answers "portal does not exist" itself.
                    let judged = self.judge(sh, "");
                    let run = self.start_run(judged, Owner::None, None, Arc::from([]));
                    self.pending.push_back(Expect::Execute(Box::new(run)));
                    out.to_server.extend_from_slice(msg);
                    return Ok(());
                };
                let (source, formats) = (p.source.clone(), p.formats.clone());
                let (prior_rows, prior_bytes) = (p.rows, p.bytes);
                let source = match source {
                    Some(s) => s,
                    None => {
                        // A statement prepared with SQL `PREPARE`: judged as the `EXECUTE`
                        // of it that it is.
                        let text = format!("EXECUTE \"{}\"", p.statement.replace('"', "\"\""));
                        let judged = self.judge(sh, &text);
                        if let Some(error) = self.refusal(sh, &judged) {
                            self.block(error, false, out);
                            return Ok(());
                        }
                        Source {
                            judged,
                            fields: None,
                        }
                    }
                };
                let mut run = self.start_run(
                    source.judged,
                    Owner::Portal(portal.to_owned()),
                    source.fields,
                    formats,
                );
                run.prior_rows += prior_rows;
                run.prior_bytes += prior_bytes;
                self.pending.push_back(Expect::Execute(Box::new(run)));
            }
            Frontend::Close { kind, name } => {
                if kind == b'S' {
                    self.statements.remove(name);
                } else {
                    self.portals.remove(name);
                }
                self.pending.push_back(Expect::CloseComplete);
            }
            Frontend::Sync => self.pending.push_back(Expect::Sync),
            Frontend::Other(b'F') => {
                // A fast-path function call names a function by OID, with no SQL to judge.
                let judged = self.judge(sh, "\u{1}fast-path function call");
                if let Some(error) = self.refusal(sh, &judged) {
                    self.block(error, true, out);
                    return Ok(());
                }
                let run = self.start_run(judged, Owner::None, None, Arc::from([]));
                self.pending.push_back(Expect::Query(Box::new(run)));
            }
            Frontend::Flush | Frontend::Terminate | Frontend::Other(_) => {}
        }
        out.to_server.extend_from_slice(msg);
        Ok(())
    }

    /// The error for a statement the firewall refuses, and its audit event; `None` when it
    /// may run.
    fn refusal(&mut self, sh: &Shared, judged: &Judged) -> Option<Vec<u8>> {
        let mut refuse = match &judged.verdict {
            Verdict::Block { rule, reason } => Some((rule.clone(), reason.clone())),
            _ => None,
        };
        if refuse.is_none() {
            let cursor = judged
                .evaluated
                .analysis
                .statements
                .first()
                .and_then(|s| s.cursor.as_ref());
            match cursor {
                Some(CursorUse::Declare(name))
                    if !self.cursors.contains_key(name) && self.cursors.len() >= MAX_NAMES =>
                {
                    refuse = Some((
                        "firewall.limits".into(),
                        format!("more than {MAX_NAMES} open cursors on one connection"),
                    ));
                }
                Some(CursorUse::Fetch(name))
                    if !self.cursors.contains_key(name)
                    // Rows of a cursor declared elsewhere (inside a function, say) cannot
                    // be masked or counted: a statement the firewall cannot judge.
                    && sh.fail == crate::config::FailMode::Closed =>
                {
                    refuse = Some((
                        "fail-closed".into(),
                        format!("cursor `{name}` was not declared through the data firewall"),
                    ));
                }
                _ => {}
            }
        }
        let (rule, reason) = refuse?;
        Some(self.refuse(sh, judged, &rule, &reason))
    }

    /// Counts and audits a refusal and returns the client's 42501 error.
    fn refuse(&mut self, sh: &Shared, judged: &Judged, rule: &str, reason: &str) -> Vec<u8> {
        sh.metrics.blocked();
        let outcome = Outcome {
            error_code: BLOCKED.into(),
            raised: (judged.action != Action::Block).then(|| Raised {
                action: Action::Block,
                rule: rule.to_owned(),
                severity: Severity::Medium,
            }),
            ..Outcome::default()
        };
        self.emit(sh, judged, &outcome);
        parser::error_response(
            BLOCKED,
            &format!("blocked by the data firewall (rule {rule}): {reason}"),
            Some("The statement was not sent to the database server."),
        )
    }

    /// Sends the poison in place of the refused message; `standalone` messages (Query,
    /// FunctionCall) are answered up to ReadyForQuery, so a Sync goes with it.
    fn block(&mut self, error: Vec<u8>, standalone: bool, out: &mut Out) {
        let mut body = Vec::with_capacity(POISON.len() + 8);
        body.push(0);
        body.extend_from_slice(POISON.as_bytes());
        body.push(0);
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        push_frame(&mut out.to_server, b'B', &body);
        self.pending.push_back(Expect::Blocked(error));
        if standalone {
            push_frame(&mut out.to_server, b'S', &[]);
            self.pending.push_back(Expect::Sync);
        }
    }

    fn start_run(
        &mut self,
        judged: Arc<Judged>,
        owner: Owner,
        fields: Option<Arc<[Field]>>,
        formats: Arc<[i16]>,
    ) -> Run {
        let mut run = Run {
            judged,
            started: Instant::now(),
            rows: 0,
            bytes: 0,
            prior_rows: 0,
            prior_bytes: 0,
            owner,
            fields,
            formats,
            masks: None,
            cut: None,
            error_code: String::new(),
            tagged_rows: 0,
        };
        let cursor = run
            .judged
            .evaluated
            .analysis
            .statements
            .first()
            .and_then(|s| s.cursor.clone());
        match cursor {
            Some(CursorUse::Declare(name)) => {
                self.cursors.insert(
                    name,
                    Cursor {
                        judged: run.judged.clone(),
                        rows: 0,
                        bytes: 0,
                    },
                );
            }
            Some(CursorUse::Fetch(name)) => {
                if let Some(c) = self.cursors.get(&name) {
                    // A FETCH returns its DECLARE's rows: masked, limited and audited as them.
                    run.judged = c.judged.clone();
                    run.prior_rows = c.rows;
                    run.prior_bytes = c.bytes;
                    run.owner = Owner::Cursor(name);
                }
            }
            Some(CursorUse::Close(Some(name))) => {
                self.cursors.remove(&name);
            }
            Some(CursorUse::Close(None)) => self.cursors.clear(),
            None => {}
        }
        run
    }

    /// A server message (`msg` is the whole frame).
    pub fn server_message(
        &mut self,
        sh: &Shared,
        msg: &[u8],
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        let (tag, body) = (msg[0], &msg[5..]);
        match tag {
            // Asynchronous: notices, parameter changes, notifications.
            b'N' | b'S' | b'A' => {
                out.to_client.extend_from_slice(msg);
                return Ok(());
            }
            b'K' => self.key = Some(backend::backend_key(body)?),
            _ => {}
        }
        if !self.ready {
            // Authentication and start-up: passed through untouched.
            if tag == b'Z' {
                self.ready = true;
                self.status = body.first().copied().unwrap_or(b'I');
            }
            out.to_client.extend_from_slice(msg);
            return Ok(());
        }
        if tag == b'Z' {
            self.status = body.first().copied().unwrap_or(b'I');
            self.discard = false;
            self.ready_for_query(sh);
            out.to_client.extend_from_slice(msg);
            return Ok(());
        }
        if self.discard {
            return Ok(());
        }
        let Some(front) = self.pending.front_mut() else {
            return Err(ProtocolError::Unexpected(tag as char));
        };
        match front {
            Expect::Execute(_) => return self.result_message(sh, false, msg, out),
            Expect::Query(_) => return self.result_message(sh, true, msg, out),
            Expect::Blocked(error) if tag == b'E' => {
                out.to_client.extend_from_slice(error);
                self.pending.pop_front();
                self.skip_to_sync();
                return Ok(());
            }
            _ => {}
        }
        if tag == b'E' {
            // The server now skips everything up to Sync.
            self.pending.pop_front();
            self.skip_to_sync();
            out.to_client.extend_from_slice(msg);
            return Ok(());
        }
        match (self.pending.front(), tag) {
            (Some(Expect::ParseComplete), b'1')
            | (Some(Expect::BindComplete), b'2')
            | (Some(Expect::CloseComplete), b'3')
            | (Some(Expect::DescribeStatement(_) | Expect::DescribePortal(_)), b'n') => {
                self.pending.pop_front();
            }
            (Some(Expect::DescribeStatement(_)), b't') => {}
            (Some(Expect::DescribeStatement(name)), b'T') => {
                let fields: Arc<[Field]> = backend::row_description(body)?.into();
                if let Some(s) = self.statements.get_mut(name) {
                    s.fields = Some(fields);
                }
                self.pending.pop_front();
            }
            (Some(Expect::DescribePortal(name)), b'T') => {
                let fields: Arc<[Field]> = backend::row_description(body)?.into();
                if let Some(Some(s)) = self.portals.get_mut(name).map(|p| p.source.as_mut()) {
                    s.fields = Some(fields);
                }
                self.pending.pop_front();
            }
            (_, b'D' | b'd') => return Err(ProtocolError::Unexpected(tag as char)),
            _ => {}
        }
        out.to_client.extend_from_slice(msg);
        Ok(())
    }

    /// A message of the result at the front of the queue.
    fn result_message(
        &mut self,
        sh: &Shared,
        simple: bool,
        msg: &[u8],
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        let (tag, body) = (msg[0], &msg[5..]);
        let Some(Expect::Execute(run) | Expect::Query(run)) = self.pending.front_mut() else {
            return Ok(());
        };
        match tag {
            b'D' | b'd' => return row(sh, run, msg, out),
            b'T' | b'H' | b'c' => {
                if tag == b'T' {
                    run.fields = Some(backend::row_description(body)?.into());
                    run.masks = None;
                }
                // COPY … TO STDOUT (`H`): its data cannot be masked column by column.
                if tag == b'H' && run.cut.is_none() && !wanted_masks(&run.judged).is_empty() {
                    run.cut = Some(Cut {
                        message: "blocked by the data firewall: the result has masked columns and cannot be exported with COPY".into(),
                        raised: Raised {
                            action: Action::Block,
                            rule: run.judged.rule.clone(),
                            severity: Severity::Medium,
                        },
                    });
                    out.cancel = true;
                }
                if run.cut.is_none() {
                    out.to_client.extend_from_slice(msg);
                }
                return Ok(());
            }
            b'C' | b'E' | b'I' | b's' => {}
            _ => {
                out.to_client.extend_from_slice(msg);
                return Ok(());
            }
        }
        // The end of one statement's result.
        if tag == b'C' {
            let tag_text = backend::command_complete(body)?;
            run.tagged_rows += backend::command_rows(tag_text).unwrap_or(0);
        }
        if tag == b'E' {
            run.error_code = backend::notice(body)?.code;
        }
        let cut = run.cut.take();
        match &cut {
            Some(c) => {
                out.to_client
                    .extend_from_slice(&parser::error_response(LIMITED, &c.message, None));
                run.error_code = LIMITED.into();
            }
            None => out.to_client.extend_from_slice(msg),
        }
        if simple {
            // More statements of the same Query may follow; the run ends at ReadyForQuery.
            if let Some(c) = cut {
                run.cut = Some(c);
                if tag != b'E' {
                    self.discard = true;
                }
            }
            return Ok(());
        }
        let Some(Expect::Execute(mut run)) = self.pending.pop_front() else {
            return Ok(());
        };
        run.cut = cut;
        let server_skips = tag == b'E';
        let cut_here = run.cut.is_some();
        self.finish(sh, *run, tag == b's');
        if server_skips {
            self.skip_to_sync();
        } else if cut_here {
            self.discard = true;
        }
        Ok(())
    }

    /// ReadyForQuery: the Sync or Query at the front of the queue is answered.
    fn ready_for_query(&mut self, sh: &Shared) {
        while let Some(e) = self.pending.pop_front() {
            let done = e.ends_with_ready();
            match e {
                Expect::Query(run) | Expect::Execute(run) => self.finish(sh, *run, false),
                _ => {}
            }
            if done {
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

    /// A run's result is complete: running totals go back to its owner, the event out.
    fn finish(&mut self, sh: &Shared, run: Run, suspended: bool) {
        let rows = if run.rows > 0 {
            run.rows
        } else {
            run.tagged_rows
        };
        match &run.owner {
            Owner::Portal(name) if suspended => {
                if let Some(p) = self.portals.get_mut(name) {
                    p.rows = run.prior_rows + run.rows;
                    p.bytes = run.prior_bytes + run.bytes;
                }
            }
            Owner::Cursor(name) => {
                if let Some(c) = self.cursors.get_mut(name) {
                    c.rows = run.prior_rows + run.rows;
                    c.bytes = run.prior_bytes + run.bytes;
                }
            }
            _ => {}
        }
        let raised = Raised::by_result(
            &run.judged,
            run.cut.map(|c| c.raised),
            run.prior_rows + rows,
        );
        if raised.as_ref().is_some_and(|r| r.action == Action::Limit) {
            sh.metrics.limited();
        }
        let duration = run.started.elapsed();
        sh.metrics.observe(duration);
        let outcome = Outcome {
            rows,
            bytes: run.bytes,
            duration,
            error_code: run.error_code,
            raised,
        };
        self.emit(sh, &run.judged, &outcome);
    }
}

/// The masks the verdict asks for.
fn wanted_masks(j: &Judged) -> &[OutputMask] {
    match &j.verdict {
        Verdict::Mask { masks, .. } => masks,
        _ => &[],
    }
}

fn limit_of(j: &Judged) -> Option<&ResultLimit> {
    match &j.verdict {
        Verdict::Allow { limit } | Verdict::Mask { limit, .. } => limit.as_ref(),
        Verdict::Block { .. } => None,
    }
}

/// One row (DataRow, or CopyData of a COPY out): limit, mask, forward.
fn row(sh: &Shared, run: &mut Run, msg: &[u8], out: &mut Out) -> Result<(), ProtocolError> {
    if run.cut.is_some() {
        return Ok(());
    }
    let len = msg.len() as u64;
    if let Some(limit) = limit_of(&run.judged) {
        let rows = run.prior_rows + run.rows;
        let bytes = run.prior_bytes + run.bytes;
        let over = if limit.rows.is_some_and(|max| rows >= max) {
            Some(format!("{} rows", limit.rows.unwrap_or_default()))
        } else if limit.bytes.is_some_and(|max| bytes + len > max) {
            Some(format!("{} bytes", limit.bytes.unwrap_or_default()))
        } else {
            None
        };
        if let Some(what) = over {
            run.cut = Some(Cut {
                message: format!(
                    "result cut by the data firewall at the limit of {what} (rule {})",
                    limit.rule
                ),
                raised: Raised {
                    action: Action::Limit,
                    rule: limit.rule.clone(),
                    severity: limit.alert,
                },
            });
            // PostgreSQL's cancel hits whatever the backend runs when it arrives. The
            // session forwards nothing until the server has signalled the backend, so a
            // statement the client sends after this one is safe; one it had already
            // pipelined behind it may be cancelled too (the protocol offers nothing finer).
            out.cancel = true;
            return Ok(());
        }
    }
    run.rows += 1;
    run.bytes += len;
    if msg[0] == b'd' {
        out.to_client.extend_from_slice(msg);
        return Ok(());
    }
    let wanted = wanted_masks(&run.judged);
    if wanted.is_empty() {
        out.to_client.extend_from_slice(msg);
        return Ok(());
    }
    let masks = run
        .masks
        .get_or_insert_with(|| resolve(wanted, run.fields.as_deref(), &run.formats));
    rewrite_row(
        masks,
        &sh.policy.load().rules.mask_key,
        &msg[5..],
        &mut out.to_client,
    )?;
    Ok(())
}

fn push_frame(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Sink;
    use analyzer::event::Protocol;
    use sensor::wire::postgres::backend::{data_row, encode_data_row, notice};

    fn shared() -> Shared {
        Shared::new(crate::listener::Common::for_tests(Protocol::Postgres))
    }

    fn conn(sh: &Shared) -> Conn {
        let mut c = Conn::new(SessionInfo {
            account: "app".into(),
            application: "test".into(),
            database: "db".into(),
            ..SessionInfo::new(
                Protocol::Postgres,
                "127.0.0.1:5000".parse().expect("addr"),
                "db".into(),
            )
        });
        let mut out = Out::default();
        // Authentication passes untouched; the first ReadyForQuery ends it.
        for m in [msg(b'R', &[0, 0, 0, 0]), msg(b'Z', b"I")] {
            c.server_message(sh, &m, &mut out).expect("start-up");
        }
        c
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        push_frame(&mut m, tag, body);
        m.remove(0);
        m
    }

    fn cstrs(parts: &[&str]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.bytes().chain([0])).collect()
    }

    /// The tags of the messages in `bytes`.
    fn tags(bytes: &[u8]) -> String {
        messages(bytes).iter().map(|m| m[0] as char).collect()
    }

    fn messages(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut rest = bytes;
        let mut all = Vec::new();
        while let Ok(Some(f)) = parser::next_frame(rest, 1 << 20) {
            all.push(rest[..f.len].to_vec());
            rest = &rest[f.len..];
        }
        all
    }

    fn row(v: &str) -> Vec<u8> {
        encode_data_row([Some(v.as_bytes())].into_iter())
    }

    #[test]
    fn a_blocked_parse_in_a_pipeline_errors_in_place_and_the_rest_is_skipped() {
        let sh = shared();
        let mut c = conn(&sh);
        let mut out = Out::default();
        let mut bind = cstrs(&["", ""]);
        bind.extend([0, 0, 0, 0, 0, 0]);
        for m in [
            msg(
                b'P',
                &[cstrs(&["", "SELECT pg_sleep(10)"]), vec![0, 0]].concat(),
            ),
            msg(b'B', &bind),
            msg(b'E', &[0, 0, 0, 0, 0]),
            msg(b'S', b""),
        ] {
            c.client_message(&sh, &m, &mut out).expect("client");
        }
        // The Parse was replaced by the poison Bind; the rest went as sent.
        assert_eq!(tags(&out.to_server), "BBES");
        assert!(!String::from_utf8_lossy(&out.to_server).contains("pg_sleep"));
        let mut back = Out::default();
        let poison_error =
            parser::error_response("26000", "prepared statement does not exist", None);
        for m in [poison_error, msg(b'Z', b"I")] {
            c.server_message(&sh, &m, &mut back).expect("server");
        }
        assert_eq!(tags(&back.to_client), "EZ");
        let e = notice(&back.to_client[5..]).expect("error");
        assert_eq!(e.code, BLOCKED);
        assert!(e.message.contains("rule no-sleep"), "{}", e.message);
        assert_eq!(c.awaiting(), 0);
    }

    #[test]
    fn portals_past_the_cap_are_refused_not_forgotten() {
        let sh = shared();
        let mut c = conn(&sh);
        let mut out = Out::default();
        c.client_message(
            &sh,
            &msg(
                b'P',
                &[cstrs(&["s", "SELECT secret FROM t"]), vec![0, 0]].concat(),
            ),
            &mut out,
        )
        .expect("parse");
        for i in 0..=MAX_NAMES {
            let mut bind = cstrs(&[&format!("p{i}"), "s"]);
            bind.extend([0, 0, 0, 0, 0, 0]);
            c.client_message(&sh, &msg(b'B', &bind), &mut out)
                .expect("bind");
        }
        // The first portal keeps its verdict; the one past the cap became the poison.
        assert!(c.portals.contains_key("p0"));
        assert!(!c.portals.contains_key(&format!("p{MAX_NAMES}")));
        assert!(matches!(c.pending.back(), Some(Expect::Blocked(_))));
    }

    #[test]
    fn a_result_past_the_limit_is_cut_cancelled_and_ended_with_an_error() {
        let sh = shared();
        let mut c = conn(&sh);
        let mut out = Out::default();
        c.client_message(&sh, &msg(b'Q', &cstrs(&["SELECT secret FROM t"])), &mut out)
            .expect("client");
        assert_eq!(tags(&out.to_server), "Q");
        let mut field = cstrs(&["secret"]);
        field.extend([
            0, 0, 0, 1, 0, 1, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
        ]);
        let desc = msg(b'T', &[vec![0, 1], field].concat());
        let mut back = Out::default();
        for m in [
            desc,
            row("abcdef"),
            row("ghijkl"),
            row("mnopqr"),
            row("stuvwx"),
            msg(b'C', &cstrs(&["SELECT 4"])),
            msg(b'Z', b"I"),
        ] {
            c.server_message(&sh, &m, &mut back).expect("server");
        }
        assert!(back.cancel, "the statement is cancelled upstream");
        assert_eq!(tags(&back.to_client), "TDDEZ");
        // The rows that passed are masked (keep 1 1); the end is the limit's error.
        let msgs = messages(&back.to_client);
        assert_eq!(
            data_row(&msgs[1][5..]).expect("row"),
            [Some(&b"a****f"[..])]
        );
        let e = notice(&msgs[3][5..]).expect("error");
        assert_eq!(e.code, LIMITED);
        assert!(e.message.contains("2 rows"), "{}", e.message);
    }

    /// A small xorshift generator: the sequences are reproducible from the seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let len = self.below(max + 1);
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    /// A message a client could send: mostly well formed, sometimes not.
    fn client_message(rng: &mut Rng) -> Vec<u8> {
        const SQL: [&str; 6] = [
            "SELECT secret FROM t",
            "SELECT pg_sleep(1)",
            "DECLARE c CURSOR FOR SELECT secret FROM t",
            "FETCH 2 FROM c",
            "SELECT 'unterminated",
            "BEGIN; SELECT secret FROM t; COMMIT",
        ];
        let name = ["", "s", "p", "c"][rng.below(4)];
        let sql = SQL[rng.below(SQL.len())];
        match rng.below(40) {
            0..=3 => msg(b'Q', &cstrs(&[sql])),
            4..=9 => msg(b'P', &[cstrs(&[name, sql]), vec![0, 0]].concat()),
            10..=15 => {
                let mut bind = cstrs(&[name, ["", "s"][rng.below(2)]]);
                bind.extend([0, 0, 0, 0, 0, 1, 0, rng.below(2) as u8]);
                msg(b'B', &bind)
            }
            16..=21 => msg(
                b'E',
                &[cstrs(&[name]), vec![0, 0, 0, rng.below(3) as u8]].concat(),
            ),
            22..=24 => msg(
                b'D',
                &[vec![[b'S', b'P'][rng.below(2)]], cstrs(&[name])].concat(),
            ),
            25..=27 => msg(
                b'C',
                &[vec![[b'S', b'P'][rng.below(2)]], cstrs(&[name])].concat(),
            ),
            28..=34 => msg(b'S', b""),
            35..=36 => msg(b'H', b""),
            37..=38 => msg([b'd', b'c', b'f', b'F', b'X'][rng.below(5)], &rng.bytes(16)),
            _ => msg(rng.next() as u8, &rng.bytes(24)),
        }
    }

    /// A message a server could send.
    fn server_message(rng: &mut Rng) -> Vec<u8> {
        let mut field = cstrs(&[["secret", "x", "?column?"][rng.below(3)]]);
        field.extend([
            0, 0, 0, 1, 0, 1, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
        ]);
        field.push(rng.below(2) as u8);
        match rng.below(40) {
            0..=3 => msg(b'T', &[vec![0, 1], field].concat()),
            4..=11 => row(["abcdef", "", "\u{4e2d}\u{6587}"][rng.below(3)]),
            12..=16 => msg(
                b'C',
                &cstrs(&[["SELECT 3", "FETCH 2", "DECLARE CURSOR"][rng.below(3)]]),
            ),
            17..=22 => msg(b'Z', &[[b'I', b'T', b'E'][rng.below(3)]]),
            23..=30 => msg([b'1', b'2', b'3', b'n', b's', b'I'][rng.below(6)], b""),
            31..=33 => parser::error_response(["26000", "57014", "42P01"][rng.below(3)], "e", None),
            34 => msg(b'N', &rng.bytes(12)),
            35 => msg([b'G', b'H', b'd', b'c'][rng.below(4)], &rng.bytes(12)),
            36 => msg(b'D', &rng.bytes(20)),
            37 => msg(b'T', &rng.bytes(30)),
            _ => msg(rng.next() as u8, &rng.bytes(24)),
        }
    }

    #[test]
    fn random_conversations_never_panic_and_stay_bounded() {
        let sh = shared();
        let (mut errors, mut total) = (0usize, 0usize);
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut c = conn(&sh);
            let mut sent = 0usize;
            for _ in 0..200 {
                // The server speaks when it owes answers (and now and then when not).
                let from_client = c.awaiting() == 0 && rng.below(20) != 0 || rng.below(2) == 0;
                let m = if from_client {
                    client_message(&mut rng)
                } else {
                    server_message(&mut rng)
                };
                sent += m.len();
                let mut out = Out::default();
                let r = if from_client {
                    c.client_message(&sh, &m, &mut out)
                } else {
                    c.server_message(&sh, &m, &mut out)
                };
                // What goes out is what came in, rewritten: never more than a bounded
                // multiple of it (errors and poison messages are small).
                assert!(
                    out.to_client.len() + out.to_server.len() <= 4 * m.len() + 1024,
                    "seed {seed}: {} bytes out for {} in",
                    out.to_client.len() + out.to_server.len(),
                    m.len()
                );
                if r.is_err() {
                    // The session would close; a new one starts.
                    c = conn(&sh);
                    errors += 1;
                }
                total += 1;
            }
            assert!(c.awaiting() <= sent, "seed {seed}");
        }
        // Most messages are taken (the generator is not just feeding garbage).
        assert!(
            errors * 4 < total,
            "{errors} protocol errors in {total} messages"
        );
        let events = match &sh.sink {
            Sink::Memory(events) => events.lock().map(|e| e.len()).unwrap_or_default(),
            _ => 0,
        };
        assert!(events > 1000, "{events} statements audited");
    }
}
