//! One proxied MySQL/MariaDB connection as a state machine, sans-IO: reassembled client
//! payloads in → bytes for the server (or the firewall's own answer for the client);
//! server payloads in → bytes for the client, audit events, and whether to stop the
//! running statement upstream.
//!
//! ```text
//!  server greeting ──► SSL, compression and the metadata-skipping / bulk / progress
//!                      extensions cleared from its capabilities, the connection id kept
//!  client answer ────► user, database, program_name recorded; its capabilities cut to the
//!                      advertised ones; authentication then passes untouched (auth switch,
//!                      more data: caching_sha2 fast/full, ed25519) until the server's OK/ERR
//!  command phase (the server answers commands in order; each forwarded command queues
//!  what its answer will be, [`Expect`]):
//!    COM_QUERY ──────────judge──► block: ERR 1142/42000 from the firewall, never forwarded
//!                                 allow/mask/limit: forward, follow its result sets
//!    COM_STMT_PREPARE ───judge──► the verdict kept under the id of its PREPARE_OK
//!    COM_STMT_EXECUTE/FETCH ────► the statement's verdict; audited as that statement
//!    COM_INIT_DB / COM_FIELD_LIST / other commands: judged as their SQL equivalent
//!  result set: column count, column definitions, [EOF], rows (text or binary), end
//!  (EOF, OK with DEPRECATE_EOF, or ERR); MORE_RESULTS_EXISTS starts the next one.
//! ```
//!
//! Rows of masked columns are rewritten; a result passing the account's limit is cut: the
//! client gets ERR 1317/70100 naming the limit in place of the rest, the session stops the
//! statement upstream ([`Out::kill`]) and the server's remaining packets of that command
//! are discarded. Packets sent to the client are renumbered, so dropping or replacing some
//! keeps the client's sequence ids right.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rules::decision::{Action, Severity};
use rules::policy::{OutputMask, Request};
use rules::sql::Dialect;
use sensor::wire::mysql::command::{Command, code};
use sensor::wire::mysql::handshake::{ClientHandshake, parse_client_handshake, parse_handshake};
use sensor::wire::mysql::packet::MAX_CHUNK;
use sensor::wire::mysql::result::{
    is_end, parse_column_count, parse_column_definition, parse_end, parse_err, parse_ok,
    parse_prepare_ok,
};
use sensor::wire::mysql::{
    Capabilities, ErrPacket, Payload, Sequence, Status, WireError, encode_packets, parse_command,
};

use crate::audit::{Outcome, Raised, SessionInfo, statement_event};
use crate::decide::{Judged, ResultLimit, Verdict, judge};

use super::Shared;
use super::mask::{Column, Masked, resolve, rewrite_binary_row, rewrite_text_row};

/// Error number and SQLSTATE of a blocked statement (ER_TABLEACCESS_DENIED_ERROR's).
pub const BLOCKED: (u16, [u8; 5]) = (1142, *b"42000");
/// Error number and SQLSTATE of a result cut at a limit (ER_QUERY_INTERRUPTED's: the
/// statement was stopped, as by `KILL QUERY`, which is what happens upstream).
pub const LIMITED: (u16, [u8; 5]) = (1317, *b"70100");

/// The error number of a statement whose answer was lost with its connection
/// (CR_SERVER_LOST), in its audit event.
pub const LOST: u16 = 2013;

/// Most prepared statements one connection may keep through the firewall; past it, new
/// prepares are refused (the server's `max_prepared_stmt_count` bounds them too).
pub const MAX_STATEMENTS: usize = 10_000;

/// Capabilities the firewall never lets a connection negotiate: TLS with the server (the
/// firewall offers its own to the client when it has a certificate; the upstream stays
/// plain), compression (the rows must be readable), result sets without metadata (masks
/// need the column definitions), and MariaDB's bulk, multi-command and progress
/// extensions (answers the state machine does not follow).
const CLEARED: Capabilities = Capabilities(
    Capabilities::SSL.0
        | Capabilities::SSL_VERIFY_SERVER_CERT.0
        | Capabilities::COMPRESS.0
        | Capabilities::ZSTD_COMPRESSION_ALGORITHM.0
        | Capabilities::OPTIONAL_RESULTSET_METADATA.0
        | Capabilities::MULTI_FACTOR_AUTHENTICATION.0
        | Capabilities::MARIADB_PROGRESS.0
        | Capabilities::MARIADB_COM_MULTI.0
        | Capabilities::MARIADB_STMT_BULK_OPERATIONS.0
        | Capabilities::MARIADB_CACHE_METADATA.0
        | Capabilities::MARIADB_BULK_UNIT_RESULTS.0,
);

/// Bytes going each way and what else the machine asks for.
#[derive(Default)]
pub struct Out {
    pub to_server: Vec<u8>,
    pub to_client: Vec<u8>,
    /// Stop the statement running upstream (a result passed its limit): `KILL QUERY` of
    /// [`Conn::connection_id`], and nothing more forwarded until it is done.
    pub kill: bool,
    /// The client asked for TLS, which was offered: the session does the handshake on the
    /// client connection and goes on over it.
    pub start_tls: bool,
}

/// Why the connection must end.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("the server sent a packet where no answer was expected")]
    Unexpected,
    #[error("the client sent {0} before the server's greeting")]
    Early(&'static str),
    #[error("the client asked for TLS, which the data firewall did not offer")]
    Tls,
    #[error("the client sent data after its TLS request, before the handshake")]
    Plaintext,
    #[error("the server skipped a result set's column definitions")]
    NoMetadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the server's greeting.
    Greeting,
    /// Waiting for the client's answer to it.
    Response,
    /// The client asked for TLS: nothing may arrive until the handshake is done
    /// ([`Conn::tls_started`]).
    Tls,
    /// Authentication exchange, passed through until the server's OK or ERR.
    Auth,
    Command,
}

/// A statement prepared through the firewall.
struct Statement {
    judged: Arc<Judged>,
    /// The columns of its result, from the prepare and from an execution that opened a
    /// cursor (a fetch's rows come without them).
    columns: Vec<Column>,
    /// Rows and bytes its open cursor has returned.
    cursor_rows: u64,
    cursor_bytes: u64,
}

/// Where a result set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The first packet: OK, ERR, LOCAL INFILE request or column count.
    Start,
    Columns(u64),
    ColumnsEof,
    Rows,
}

/// The answer to one statement (`COM_QUERY` with all its result sets, an execution or a
/// fetch) as it streams back.
struct Run {
    judged: Arc<Judged>,
    started: Instant,
    binary: bool,
    fetch: bool,
    /// The prepared statement (`None` for text queries; `u32::MAX`: the last prepared).
    statement: Option<u32>,
    step: Step,
    columns: Vec<Column>,
    masks: Option<Vec<Masked>>,
    rows: u64,
    bytes: u64,
    prior_rows: u64,
    prior_bytes: u64,
    affected: u64,
    /// The limit reached: the client has had its error; the rest is discarded.
    cut: Option<Raised>,
    error_code: String,
}

/// Where a prepare's answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrepStep {
    Start,
    Params(u16),
    ParamsEof,
    Columns(u16),
    ColumnsEof,
}

struct Prepare {
    judged: Arc<Judged>,
    step: PrepStep,
    id: u32,
    columns_total: u16,
}

/// What to do when a one-packet answer is an OK.
enum After {
    Nothing,
    Database(String),
    /// The server forgot the connection's prepared statements.
    Reset,
}

/// What the server will answer a forwarded command with, in order.
enum Expect {
    /// The firewall's own answer (a refusal), sent when its turn comes.
    Local(Vec<u8>),
    /// One packet: OK, ERR (or an EOF, or `COM_STATISTICS`' string).
    Simple(After),
    Result(Box<Run>),
    Prepare(Box<Prepare>),
    /// `COM_FIELD_LIST`: column definitions until an end or ERR.
    FieldList,
    /// `COM_CHANGE_USER`: an authentication exchange until OK or ERR.
    ChangeUser {
        account: String,
        database: String,
    },
}

struct Pending {
    expect: Expect,
    /// Sequence ids of the server's next packet, and of the next one sent to the client.
    server: Sequence,
    client: u8,
}

/// The state of one connection, from the server's greeting on.
pub struct Conn {
    pub info: SessionInfo,
    phase: Phase,
    /// The server's id of this connection (from its greeting): what `KILL QUERY` names.
    pub connection_id: u32,
    /// Capabilities offered to the client, then those negotiated.
    advertised: Capabilities,
    caps: Capabilities,
    statements: HashMap<u32, Statement>,
    /// The statement prepared last, for MariaDB's `statement_id = -1`: its verdict at
    /// the client's side (the prepare may still be on its way), its id once answered.
    last_prepare: Option<Arc<Judged>>,
    last_prepared: Option<u32>,
    pending: VecDeque<Pending>,
    /// The client is sending a `LOAD DATA LOCAL INFILE` file.
    infile: bool,
    /// TLS is offered to the client (the listener has a certificate).
    tls: bool,
    /// How far the client's sequence ids run ahead of the server's until authentication
    /// ends: 1 after a TLS request, which the server never sees.
    shift: u8,
}

impl Conn {
    /// `info.account`, `database` and `application` are filled in from the handshake;
    /// `tls`: offer TLS to the client.
    pub fn new(info: SessionInfo, tls: bool) -> Conn {
        Conn {
            info,
            phase: Phase::Greeting,
            connection_id: 0,
            advertised: Capabilities::empty(),
            caps: Capabilities::empty(),
            statements: HashMap::new(),
            last_prepare: None,
            last_prepared: None,
            pending: VecDeque::new(),
            tls,
            shift: 0,
            infile: false,
        }
    }

    /// Answers still awaited; the session stops reading the client when too many are.
    pub fn awaiting(&self) -> usize {
        self.pending.len()
    }

    /// Authentication is over.
    pub fn authenticated(&self) -> bool {
        self.phase == Phase::Command
    }

    fn judge(&self, sh: &Shared, text: &str) -> Arc<Judged> {
        let policy = sh.policy.load();
        let req = Request {
            account: &self.info.account,
            client: self.info.client.ip(),
            database: &self.info.database,
            dialect: Dialect::MySql,
            time: chrono::Utc::now(),
        };
        let j = judge(&policy, &sh.containment.load(), &req, text, sh.fail);
        sh.metrics.decided(j.action);
        Arc::new(j)
    }

    fn emit(&self, sh: &Shared, judged: &Judged, outcome: &Outcome) {
        sh.sink
            .record(statement_event(&sh.producer, &self.info, judged, outcome));
    }

    fn err_packet(&self, (code, state): (u16, [u8; 5]), message: &str) -> Vec<u8> {
        ErrPacket {
            code,
            sql_state: Some(state),
            message: message.as_bytes(),
        }
        .encode(self.caps | Capabilities::PROTOCOL_41)
    }

    /// The TLS handshake the client asked for is done: its handshake response comes next.
    pub fn tls_started(&mut self) {
        if self.phase == Phase::Tls {
            self.phase = Phase::Response;
        }
    }

    /// An authentication packet passed on as it is, or with its sequence id moved by
    /// `shift` when the client's ids run ahead of the server's (after a TLS request).
    fn relay_auth(&self, raw: &[u8], p: &Payload<'_>, out: &mut Vec<u8>, shift: u8) {
        if shift == 0 {
            out.extend_from_slice(raw);
        } else {
            encode_packets(p.seq.wrapping_add(shift), &p.data, out);
        }
    }

    /// A client payload: `raw` is its packets as received, `p` the reassembled payload.
    pub fn client_payload(
        &mut self,
        sh: &Shared,
        raw: &[u8],
        p: &Payload<'_>,
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        match self.phase {
            Phase::Greeting => return Err(ProtocolError::Early("data")),
            Phase::Tls => return Err(ProtocolError::Plaintext),
            Phase::Response => {
                let mut r = match parse_client_handshake(&p.data)? {
                    ClientHandshake::Response(r) => r,
                    ClientHandshake::SslRequest(_) if self.tls && self.shift == 0 => {
                        self.shift = 1;
                        self.phase = Phase::Tls;
                        out.start_tls = true;
                        return Ok(());
                    }
                    ClientHandshake::SslRequest(_) => return Err(ProtocolError::Tls),
                };
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                self.info.account = text(r.username);
                if let Some(db) = r.database.filter(|d| !d.is_empty()) {
                    self.info.database = text(db);
                }
                if let Some(attrs) = &r.attributes {
                    let get = |k: &[u8]| attrs.iter().find(|(key, _)| *key == k).map(|a| a.1);
                    if let Some(app) = get(b"program_name").or_else(|| get(b"_client_name")) {
                        self.info.application = text(app);
                    }
                }
                let caps = r.header.capabilities & self.advertised & !Capabilities::SSL;
                self.caps = caps;
                self.phase = Phase::Auth;
                if caps == r.header.capabilities && self.shift == 0 {
                    out.to_server.extend_from_slice(raw);
                } else {
                    r.header.capabilities = caps;
                    let seq = p.seq.wrapping_sub(self.shift);
                    encode_packets(seq, &r.encode()?, &mut out.to_server);
                }
                return Ok(());
            }
            Phase::Auth => {
                self.relay_auth(raw, p, &mut out.to_server, 0u8.wrapping_sub(self.shift));
                return Ok(());
            }
            Phase::Command => {}
        }
        let continues = self.infile
            || matches!(
                self.pending.back(),
                Some(Pending {
                    expect: Expect::ChangeUser { .. },
                    ..
                })
            );
        if continues {
            // The file of a LOAD DATA LOCAL INFILE (an empty packet ends it) or the auth
            // data of a COM_CHANGE_USER: part of the command under way.
            if self.infile && p.data.is_empty() {
                self.infile = false;
            }
            if let Some(back) = self.pending.back_mut() {
                back.server = Sequence::starting_at(p.last_seq.wrapping_add(1));
                back.client = p.last_seq.wrapping_add(1);
            }
            out.to_server.extend_from_slice(raw);
            return Ok(());
        }
        if p.seq != 0 {
            return Err(WireError::OutOfSequence {
                expected: 0,
                got: p.seq,
            }
            .into());
        }
        let answer = p.last_seq.wrapping_add(1);
        let expect = match parse_command(&p.data, self.caps)? {
            Command::Query(q) => {
                let judged = self.judge(sh, &String::from_utf8_lossy(q.sql));
                if let Some(e) = self.refusal(sh, &judged) {
                    return self.local(e, answer, out);
                }
                Some(Expect::Result(Box::new(Run::new(judged, false, None))))
            }
            Command::StmtPrepare(sql) => {
                let judged = self.judge(sh, &String::from_utf8_lossy(sql));
                let refusal = if self.statements.len() >= MAX_STATEMENTS {
                    let reason =
                        format!("more than {MAX_STATEMENTS} prepared statements on one connection");
                    Some(self.refuse(sh, &judged, "firewall.limits", &reason))
                } else {
                    self.refusal(sh, &judged)
                };
                if let Some(e) = refusal {
                    return self.local(e, answer, out);
                }
                self.last_prepare = Some(judged.clone());
                Some(Expect::Prepare(Box::new(Prepare {
                    judged,
                    step: PrepStep::Start,
                    id: 0,
                    columns_total: 0,
                })))
            }
            Command::StmtExecute(e) => {
                let judged = if e.statement_id == u32::MAX {
                    self.last_prepare.clone()
                } else {
                    self.statements.get_mut(&e.statement_id).map(|s| {
                        s.cursor_rows = 0;
                        s.cursor_bytes = 0;
                        s.judged.clone()
                    })
                };
                // Unknown: the server answers "unknown prepared statement handler" itself.
                let judged = judged.unwrap_or_else(|| self.judge(sh, ""));
                Some(Expect::Result(Box::new(Run::new(
                    judged,
                    true,
                    Some(e.statement_id),
                ))))
            }
            Command::StmtFetch { statement_id, .. } => {
                let mut run = match self.statements.get(&statement_id) {
                    Some(s) => {
                        let mut run = Run::new(s.judged.clone(), true, Some(statement_id));
                        run.columns = s.columns.clone();
                        run.prior_rows = s.cursor_rows;
                        run.prior_bytes = s.cursor_bytes;
                        run
                    }
                    None => Run::new(self.judge(sh, ""), true, Some(statement_id)),
                };
                run.fetch = true;
                run.step = Step::Rows;
                Some(Expect::Result(Box::new(run)))
            }
            Command::StmtClose(id) => {
                self.statements.remove(&id);
                None
            }
            Command::StmtSendLongData { .. } | Command::Quit => None,
            Command::StmtReset(_) | Command::Ping | Command::SetOption(_) => {
                Some(Expect::Simple(After::Nothing))
            }
            Command::ResetConnection => Some(Expect::Simple(After::Reset)),
            Command::InitDb(db) => {
                let db = String::from_utf8_lossy(db).into_owned();
                let judged = self.judge(sh, &format!("USE {}", quote(&db)));
                if let Some(e) = self.refusal(sh, &judged) {
                    return self.local(e, answer, out);
                }
                Some(Expect::Simple(After::Database(db)))
            }
            Command::FieldList { table, .. } => {
                let table = String::from_utf8_lossy(table);
                let judged = self.judge(sh, &format!("SHOW COLUMNS FROM {}", quote(&table)));
                if let Some(e) = self.refusal(sh, &judged) {
                    return self.local(e, answer, out);
                }
                Some(Expect::FieldList)
            }
            Command::ChangeUser(c) => Some(Expect::ChangeUser {
                account: String::from_utf8_lossy(c.username).into_owned(),
                database: String::from_utf8_lossy(c.database).into_owned(),
            }),
            Command::Other { code, body } => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let (sql, result) = match code {
                    code::STATISTICS => (None, false),
                    code::PROCESS_INFO => (Some("SHOW PROCESSLIST".to_owned()), true),
                    code::CREATE_DB => (
                        Some(format!("CREATE DATABASE {}", quote(&text(body)))),
                        false,
                    ),
                    code::DROP_DB => (Some(format!("DROP DATABASE {}", quote(&text(body)))), false),
                    code::PROCESS_KILL => {
                        let id = body
                            .get(..4)
                            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                        (Some(format!("KILL {id}")), false)
                    }
                    code::REFRESH => (Some("FLUSH TABLES".to_owned()), false),
                    code::SHUTDOWN => (Some("SHUTDOWN".to_owned()), false),
                    _ => {
                        let judged =
                            self.judge(sh, &format!("mysql_protocol_command_0x{code:02x}"));
                        let reason = format!(
                            "protocol command 0x{code:02x} is not supported through the data firewall"
                        );
                        let e = self.refuse(sh, &judged, "firewall.protocol", &reason);
                        return self.local(e, answer, out);
                    }
                };
                match sql {
                    None => Some(Expect::Simple(After::Nothing)),
                    Some(sql) => {
                        let judged = self.judge(sh, &sql);
                        if let Some(e) = self.refusal(sh, &judged) {
                            return self.local(e, answer, out);
                        }
                        Some(if result {
                            Expect::Result(Box::new(Run::new(judged, false, None)))
                        } else {
                            Expect::Simple(After::Nothing)
                        })
                    }
                }
            }
        };
        if let Some(expect) = expect {
            self.pending.push_back(Pending {
                expect,
                server: Sequence::starting_at(answer),
                client: answer,
            });
        }
        out.to_server.extend_from_slice(raw);
        Ok(())
    }

    /// Answers the client with `error` (a refusal) in its turn: now when nothing is
    /// awaited, else after the answers before it.
    fn local(&mut self, error: Vec<u8>, seq: u8, out: &mut Out) -> Result<(), ProtocolError> {
        let mut bytes = Vec::with_capacity(error.len() + 4);
        encode_packets(seq, &error, &mut bytes);
        if self.pending.is_empty() {
            out.to_client.extend_from_slice(&bytes);
        } else {
            self.pending.push_back(Pending {
                expect: Expect::Local(bytes),
                server: Sequence::starting_at(0),
                client: 0,
            });
        }
        Ok(())
    }

    /// The error payload for a statement the verdict blocks, and its audit event.
    fn refusal(&mut self, sh: &Shared, judged: &Judged) -> Option<Vec<u8>> {
        match &judged.verdict {
            Verdict::Block { rule, reason } => Some(self.refuse(sh, judged, rule, reason)),
            _ => None,
        }
    }

    /// Counts and audits a refusal and returns the client's ERR 1142 payload.
    fn refuse(&mut self, sh: &Shared, judged: &Judged, rule: &str, reason: &str) -> Vec<u8> {
        sh.metrics.blocked();
        let outcome = Outcome {
            error_code: BLOCKED.0.to_string(),
            raised: (judged.action != Action::Block).then(|| Raised {
                action: Action::Block,
                rule: rule.to_owned(),
                severity: Severity::Medium,
            }),
            ..Outcome::default()
        };
        self.emit(sh, judged, &outcome);
        self.err_packet(
            BLOCKED,
            &format!(
                "blocked by the data firewall (rule {rule}): {reason}; the statement was not sent to the database server"
            ),
        )
    }

    /// A server payload: `raw` is its packets as received, `p` the reassembled payload.
    pub fn server_payload(
        &mut self,
        sh: &Shared,
        raw: &[u8],
        p: &Payload<'_>,
        out: &mut Out,
    ) -> Result<(), ProtocolError> {
        match self.phase {
            Phase::Greeting => {
                if p.data.first() == Some(&0xFF) {
                    // "Too many connections", "host is blocked": for the client to read.
                    out.to_client.extend_from_slice(raw);
                    return Ok(());
                }
                let mut h = parse_handshake(&p.data)?;
                self.connection_id = h.connection_id;
                h.capabilities = h.capabilities & !CLEARED;
                if self.tls {
                    h.capabilities |= Capabilities::SSL;
                }
                self.advertised = h.capabilities;
                self.phase = Phase::Response;
                encode_packets(p.seq, &h.encode(), &mut out.to_client);
                return Ok(());
            }
            Phase::Response | Phase::Tls => {
                self.relay_auth(raw, p, &mut out.to_client, self.shift);
                return Ok(());
            }
            Phase::Auth => {
                if p.data.first() == Some(&0x00) {
                    self.phase = Phase::Command;
                }
                self.relay_auth(raw, p, &mut out.to_client, self.shift);
                return Ok(());
            }
            Phase::Command => {}
        }
        let caps = self.caps;
        let Some(front) = self.pending.front_mut() else {
            return Err(ProtocolError::Unexpected);
        };
        front.server.check_payload(p)?;
        let client_seq = &mut front.client;
        let done = match &mut front.expect {
            Expect::Local(_) => return Err(ProtocolError::Unexpected),
            Expect::Simple(after) => {
                forward(client_seq, raw, p, out);
                if p.data.first() == Some(&0x00) {
                    match std::mem::replace(after, After::Nothing) {
                        After::Nothing => {}
                        After::Database(db) => self.info.database = db,
                        After::Reset => {
                            self.statements.clear();
                            self.last_prepared = None;
                        }
                    }
                }
                true
            }
            Expect::FieldList => {
                forward(client_seq, raw, p, out);
                p.data.first() == Some(&0xFF) || is_end(&p.data, caps)
            }
            Expect::ChangeUser { account, database } => {
                forward(client_seq, raw, p, out);
                match p.data.first() {
                    Some(0x00) => {
                        self.info.account = std::mem::take(account);
                        if !database.is_empty() {
                            self.info.database = std::mem::take(database);
                        }
                        self.statements.clear();
                        self.last_prepared = None;
                        true
                    }
                    Some(0xFF) => true,
                    _ => false,
                }
            }
            Expect::Prepare(prep) => {
                forward(client_seq, raw, p, out);
                let more = |n: u16, then: PrepStep| if n > 0 { Some(then) } else { None };
                let next = match prep.step {
                    PrepStep::Start if p.data.first() == Some(&0xFF) => None,
                    PrepStep::Start => {
                        let ok = parse_prepare_ok(&p.data, caps)?;
                        prep.id = ok.statement_id;
                        prep.columns_total = ok.columns;
                        self.statements.insert(
                            ok.statement_id,
                            Statement {
                                judged: prep.judged.clone(),
                                columns: Vec::new(),
                                cursor_rows: 0,
                                cursor_bytes: 0,
                            },
                        );
                        self.last_prepared = Some(ok.statement_id);
                        if !ok.metadata_follows {
                            None
                        } else {
                            more(ok.params, PrepStep::Params(ok.params))
                                .or_else(|| more(ok.columns, PrepStep::Columns(ok.columns)))
                        }
                    }
                    PrepStep::Params(left) => {
                        let left = left - 1;
                        if left > 0 {
                            Some(PrepStep::Params(left))
                        } else if !caps.contains(Capabilities::DEPRECATE_EOF) {
                            Some(PrepStep::ParamsEof)
                        } else {
                            more(prep.columns_total, PrepStep::Columns(prep.columns_total))
                        }
                    }
                    PrepStep::ParamsEof => {
                        more(prep.columns_total, PrepStep::Columns(prep.columns_total))
                    }
                    PrepStep::Columns(left) => {
                        let def = parse_column_definition(&p.data, caps)?;
                        if let Some(s) = self.statements.get_mut(&prep.id) {
                            s.columns.push(Column {
                                name: String::from_utf8_lossy(def.name).into_owned(),
                                ft: def.field_type(),
                            });
                        }
                        let left = left - 1;
                        if left > 0 {
                            Some(PrepStep::Columns(left))
                        } else if !caps.contains(Capabilities::DEPRECATE_EOF) {
                            Some(PrepStep::ColumnsEof)
                        } else {
                            None
                        }
                    }
                    PrepStep::ColumnsEof => None,
                };
                match next {
                    Some(s) => {
                        prep.step = s;
                        false
                    }
                    None => true,
                }
            }
            Expect::Result(run) => {
                let step = result_packet(sh, caps, run, client_seq, raw, p, out)?;
                if step.infile {
                    self.infile = true;
                }
                if let Some(columns) = &step.cursor {
                    let id = run.statement_id(self.last_prepared);
                    if let Some(s) = id.and_then(|id| self.statements.get_mut(&id)) {
                        s.columns = columns.clone();
                    }
                }
                step.done
            }
        };
        if done {
            if let Some(Pending {
                expect: Expect::Result(run),
                ..
            }) = self.pending.pop_front()
            {
                self.finish(sh, *run);
            }
            while let Some(Pending {
                expect: Expect::Local(_),
                ..
            }) = self.pending.front()
            {
                if let Some(Pending {
                    expect: Expect::Local(bytes),
                    ..
                }) = self.pending.pop_front()
                {
                    out.to_client.extend_from_slice(&bytes);
                }
            }
        }
        Ok(())
    }

    /// Forwards the rows at the front of `buf` (the server's bytes) in one piece when
    /// nothing needs to look inside them: the answer awaited first is streaming the rows of
    /// a result that is not cut and has no mask to apply, and the client's sequence ids
    /// match the server's. Stops before anything else — the end of the rows, an error, a
    /// row the limit must judge, a split, oversized, out-of-sequence or incomplete packet —
    /// which [`Conn::server_payload`] then takes as it comes. Returns the bytes consumed.
    pub fn pass_rows(&mut self, buf: &[u8], max: usize, out: &mut Out) -> usize {
        if self.phase != Phase::Command {
            return 0;
        }
        let Some(Pending {
            expect: Expect::Result(run),
            server,
            client,
        }) = self.pending.front_mut()
        else {
            return 0;
        };
        let unmasked = wanted_masks(&run.judged).is_empty()
            || run.masks.as_ref().is_some_and(|m| m.is_empty());
        if run.step != Step::Rows || run.cut.is_some() || !unmasked || server.expected() != *client
        {
            return 0;
        }
        let limit = limit_of(&run.judged);
        let max_rows = limit.and_then(|l| l.rows).unwrap_or(u64::MAX);
        let max_bytes = limit.and_then(|l| l.bytes).unwrap_or(u64::MAX);
        let (mut rows, mut bytes) = (0u64, 0u64);
        let (mut at, mut seq) = (0usize, *client);
        while let Some(&[l0, l1, l2, id, first]) = buf.get(at..at + 5) {
            let len = u32::from_le_bytes([l0, l1, l2, 0]) as usize;
            if len == 0
                || len >= MAX_CHUNK
                || len > max
                || id != seq
                || buf.len() < at + 4 + len
                || first == 0xFF
                || first == 0xFE
                || run.prior_rows + run.rows + rows >= max_rows
                || run.prior_bytes + run.bytes + bytes + len as u64 > max_bytes
            {
                break;
            }
            rows += 1;
            bytes += len as u64;
            at += 4 + len;
            seq = seq.wrapping_add(1);
        }
        if at > 0 {
            run.rows += rows;
            run.bytes += bytes;
            *server = Sequence::starting_at(seq);
            *client = seq;
            out.to_client.extend_from_slice(&buf[..at]);
        }
        at
    }

    /// The connection ends: statements still streaming are audited with what they
    /// returned (a cut one as cut; any other as 2013, its answer lost with the connection).
    pub fn end(&mut self, sh: &Shared) {
        while let Some(p) = self.pending.pop_front() {
            if let Expect::Result(mut run) = p.expect {
                if run.cut.is_none() && run.error_code.is_empty() {
                    run.error_code = LOST.to_string();
                }
                self.finish(sh, *run);
            }
        }
    }

    /// A run's answer is complete: running totals back to its statement, the event out.
    fn finish(&mut self, sh: &Shared, run: Run) {
        let rows = if run.rows > 0 { run.rows } else { run.affected };
        if run.fetch
            && let Some(s) = run
                .statement_id(self.last_prepared)
                .and_then(|id| self.statements.get_mut(&id))
        {
            s.cursor_rows = run.prior_rows + run.rows;
            s.cursor_bytes = run.prior_bytes + run.bytes;
        }
        if run.error_code.is_empty()
            && run.cut.is_none()
            && let Some(db) = run
                .judged
                .evaluated
                .analysis
                .statements
                .iter()
                .rev()
                .find_map(|s| s.switches_schema.clone())
        {
            self.info.database = db;
        }
        let raised = Raised::by_result(&run.judged, run.cut, run.prior_rows + rows);
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

impl Run {
    fn new(judged: Arc<Judged>, binary: bool, statement: Option<u32>) -> Run {
        Run {
            judged,
            started: Instant::now(),
            binary,
            fetch: false,
            statement,
            step: Step::Start,
            columns: Vec::new(),
            masks: None,
            rows: 0,
            bytes: 0,
            prior_rows: 0,
            prior_bytes: 0,
            affected: 0,
            cut: None,
            error_code: String::new(),
        }
    }

    fn statement_id(&self, last_prepared: Option<u32>) -> Option<u32> {
        match self.statement {
            Some(u32::MAX) => last_prepared,
            other => other,
        }
    }
}

/// What one packet of a result did.
#[derive(Default)]
struct ResultStep {
    done: bool,
    infile: bool,
    /// An execution opened a cursor: its columns, for the fetches.
    cursor: Option<Vec<Column>>,
}

/// One packet of the answer to a statement.
fn result_packet(
    sh: &Shared,
    caps: Capabilities,
    run: &mut Run,
    client_seq: &mut u8,
    raw: &[u8],
    p: &Payload<'_>,
    out: &mut Out,
) -> Result<ResultStep, ProtocolError> {
    let data = &p.data[..];
    let mut step = ResultStep::default();
    let first = data.first().copied();
    // ERR ends the statement wherever it comes (after a cut: the server's 1317).
    if first == Some(0xFF) {
        let e = parse_err(data, caps)?;
        if run.cut.is_none() {
            run.error_code = e.code.to_string();
            forward(client_seq, raw, p, out);
        }
        step.done = true;
        return Ok(step);
    }
    let pass = run.cut.is_none();
    match run.step {
        Step::Start => {
            match first {
                Some(0x00) => {
                    let ok = parse_ok(data, caps)?;
                    run.affected += ok.affected_rows;
                    step.done = !ok.status.contains(Status::MORE_RESULTS_EXISTS);
                }
                Some(0xFB) => step.infile = true,
                _ => {
                    let count = parse_column_count(data, caps)?;
                    if !count.metadata_follows {
                        return Err(ProtocolError::NoMetadata);
                    }
                    run.columns.clear();
                    run.masks = None;
                    run.step = Step::Columns(count.count);
                }
            }
            if pass {
                forward(client_seq, raw, p, out);
            }
        }
        Step::Columns(left) => {
            let def = parse_column_definition(data, caps)?;
            run.columns.push(Column {
                name: String::from_utf8_lossy(def.name).into_owned(),
                ft: def.field_type(),
            });
            run.step = if left > 1 {
                Step::Columns(left - 1)
            } else if caps.contains(Capabilities::DEPRECATE_EOF) {
                Step::Rows
            } else {
                Step::ColumnsEof
            };
            if pass {
                forward(client_seq, raw, p, out);
            }
        }
        Step::ColumnsEof => {
            let end = parse_end(data, caps)?;
            if end.status().contains(Status::CURSOR_EXISTS) && run.binary {
                step.cursor = Some(run.columns.clone());
                step.done = true;
            }
            run.step = Step::Rows;
            if pass {
                forward(client_seq, raw, p, out);
            }
        }
        Step::Rows if is_end(data, caps) => {
            let status = parse_end(data, caps)?.status();
            if run.binary && !run.fetch && run.rows == 0 && status.contains(Status::CURSOR_EXISTS) {
                step.cursor = Some(run.columns.clone());
                step.done = true;
            } else if status.contains(Status::MORE_RESULTS_EXISTS) && !run.fetch {
                run.step = Step::Start;
            } else {
                step.done = true;
            }
            if pass {
                forward(client_seq, raw, p, out);
            }
        }
        Step::Rows => row(sh, run, client_seq, raw, p, out)?,
    }
    Ok(step)
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

/// One row: limit, mask, forward.
fn row(
    sh: &Shared,
    run: &mut Run,
    client_seq: &mut u8,
    raw: &[u8],
    p: &Payload<'_>,
    out: &mut Out,
) -> Result<(), ProtocolError> {
    if run.cut.is_some() {
        return Ok(());
    }
    let len = p.data.len() as u64;
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
            let message = format!(
                "result cut by the data firewall at the limit of {what} (rule {}); the statement was stopped",
                limit.rule
            );
            let error = ErrPacket {
                code: LIMITED.0,
                sql_state: Some(LIMITED.1),
                message: message.as_bytes(),
            }
            .encode(Capabilities::PROTOCOL_41);
            send(client_seq, &error, out);
            run.cut = Some(Raised {
                action: Action::Limit,
                rule: limit.rule.clone(),
                severity: limit.alert,
            });
            run.error_code = LIMITED.0.to_string();
            out.kill = true;
            return Ok(());
        }
    }
    run.rows += 1;
    run.bytes += len;
    let wanted = wanted_masks(&run.judged);
    if wanted.is_empty() {
        forward(client_seq, raw, p, out);
        return Ok(());
    }
    let masks = run
        .masks
        .get_or_insert_with(|| resolve(wanted, &run.columns));
    if masks.is_empty() {
        forward(client_seq, raw, p, out);
        return Ok(());
    }
    let key = &sh.policy.load().rules.mask_key;
    let rewritten = if run.binary {
        let types: Vec<_> = run.columns.iter().map(|c| c.ft).collect();
        rewrite_binary_row(masks, key, &p.data, &types)?
    } else {
        rewrite_text_row(masks, key, &p.data, run.columns.len())?
    };
    send(client_seq, &rewritten, out);
    Ok(())
}

/// Forwards a server payload to the client under the client's next sequence id: as
/// received when the ids agree (the common case), else renumbered.
fn forward(client_seq: &mut u8, raw: &[u8], p: &Payload<'_>, out: &mut Out) {
    if p.seq == *client_seq {
        out.to_client.extend_from_slice(raw);
        *client_seq = p.last_seq.wrapping_add(1);
    } else {
        send(client_seq, &p.data, out);
    }
}

/// Sends a payload of the firewall's making to the client.
fn send(client_seq: &mut u8, payload: &[u8], out: &mut Out) {
    *client_seq = encode_packets(*client_seq, payload, &mut out.to_client);
}

/// A backquoted identifier.
fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer::event::Protocol;
    use sensor::wire::mysql::result::{ColumnFlags, encode_text_row, text_row};
    use sensor::wire::mysql::{
        ColumnDefinition, ColumnType, Handshake, HandshakeResponse, SslRequest, next_payload,
    };

    fn shared() -> Shared {
        Shared::new(crate::listener::Common::for_tests(Protocol::Mysql), None)
    }

    const CAPS: Capabilities = Capabilities(
        Capabilities::MYSQL.0
            | Capabilities::PROTOCOL_41.0
            | Capabilities::SECURE_CONNECTION.0
            | Capabilities::PLUGIN_AUTH.0
            | Capabilities::TRANSACTIONS.0
            | Capabilities::MULTI_RESULTS.0
            | Capabilities::CONNECT_WITH_DB.0
            | Capabilities::DEPRECATE_EOF.0,
    );

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_packets(seq, payload, &mut out);
        out
    }

    /// The payloads (sequence id, bytes) in `bytes`.
    fn payloads(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut rest = bytes;
        let mut all = Vec::new();
        while let Ok(Some(p)) = next_payload(rest, 1 << 26) {
            all.push((p.seq, p.data.to_vec()));
            rest = &rest[p.len..];
        }
        all
    }

    fn feed(c: &mut Conn, sh: &Shared, from_client: bool, bytes: &[u8], out: &mut Out) {
        let mut rest = bytes;
        while let Some(p) = next_payload(rest, 1 << 26).expect("valid framing") {
            let raw = &rest[..p.len];
            let r = if from_client {
                c.client_payload(sh, raw, &p, out)
            } else {
                c.server_payload(sh, raw, &p, out)
            };
            r.expect("accepted");
            rest = &rest[p.len..];
        }
    }

    /// A connection before the server's greeting; `tls`: the listener offers TLS.
    fn fresh(tls: bool) -> Conn {
        Conn::new(
            SessionInfo::new(
                Protocol::Mysql,
                "127.0.0.1:5000".parse().expect("addr"),
                "db".into(),
            ),
            tls,
        )
    }

    /// MariaDB 10.11's greeting with `capabilities`, connection id 42.
    fn greeting(capabilities: Capabilities) -> Handshake<'static> {
        Handshake {
            server_version: b"5.5.5-10.11.6-MariaDB",
            connection_id: 42,
            auth_data_1: [1; 8],
            auth_data_2: b"abcdefghijkl\0",
            capabilities,
            charset: 45,
            status: Status::AUTOCOMMIT,
            auth_plugin: Some(b"mysql_native_password"),
        }
    }

    /// `app`'s answer to the greeting, logging in to `db`.
    fn login(header: SslRequest) -> HandshakeResponse<'static> {
        HandshakeResponse {
            header,
            username: b"app",
            auth_response: &[7; 20],
            database: Some(b"db"),
            auth_plugin: Some(b"mysql_native_password"),
            attributes: None,
            zstd_level: None,
        }
    }

    /// A connection past authentication as `app` on `db`.
    fn conn(sh: &Shared) -> Conn {
        let mut c = fresh(false);
        let mut out = Out::default();
        let greeting = greeting(CAPS | Capabilities::SSL | Capabilities::COMPRESS);
        feed(&mut c, sh, false, &packet(0, &greeting.encode()), &mut out);
        let offered = parse_handshake(&payloads(&out.to_client)[0].1)
            .expect("greeting")
            .capabilities;
        assert!(!offered.contains(Capabilities::SSL) && !offered.contains(Capabilities::COMPRESS));
        assert!(offered.contains(Capabilities::DEPRECATE_EOF));
        assert_eq!(c.connection_id, 42);
        let answer = login(SslRequest {
            capabilities: CAPS | Capabilities::COMPRESS,
            max_packet: 1 << 24,
            charset: 45,
        });
        let mut out = Out::default();
        feed(
            &mut c,
            sh,
            true,
            &packet(1, &answer.encode().expect("encode")),
            &mut out,
        );
        // The client's COMPRESS was cut before the server saw it.
        let sent = payloads(&out.to_server);
        let ClientHandshake::Response(r) = parse_client_handshake(&sent[0].1).expect("answer")
        else {
            panic!("a response")
        };
        assert!(!r.capabilities().contains(Capabilities::COMPRESS));
        // Auth switch and more data pass; the OK ends authentication.
        feed(&mut c, sh, false, &packet(2, b"\x01\x03"), &mut out);
        assert!(!c.authenticated());
        feed(
            &mut c,
            sh,
            false,
            &packet(3, &[0, 0, 0, 2, 0, 0, 0]),
            &mut out,
        );
        assert!(c.authenticated());
        assert_eq!(
            (c.info.account.as_str(), c.info.database.as_str()),
            ("app", "db")
        );
        c
    }

    fn column(name: &str) -> Vec<u8> {
        ColumnDefinition {
            catalog: b"def",
            schema: b"db",
            table: b"t",
            org_table: b"t",
            name: name.as_bytes(),
            org_name: name.as_bytes(),
            extended: None,
            charset: 45,
            length: 400,
            column_type: ColumnType::VAR_STRING,
            flags: ColumnFlags::default(),
            decimals: 0,
            field_list_default: b"",
        }
        .encode(CAPS)
    }

    fn end() -> Vec<u8> {
        vec![0xFE, 0, 0, 2, 0, 0, 0]
    }

    #[test]
    fn a_blocked_query_is_answered_by_the_firewall_in_sequence() {
        let sh = shared();
        let mut c = conn(&sh);
        let mut out = Out::default();
        feed(
            &mut c,
            &sh,
            true,
            &packet(0, b"\x03SELECT SLEEP(10)"),
            &mut out,
        );
        assert!(out.to_server.is_empty(), "never forwarded");
        let answer = payloads(&out.to_client);
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0].0, 1, "the answer's sequence id");
        let e = parse_err(&answer[0].1, CAPS).expect("ERR");
        assert_eq!((e.code, e.sql_state), (1142, Some(*b"42000")));
        assert!(String::from_utf8_lossy(e.message).contains("rule no-sleep"));
        assert_eq!(c.awaiting(), 0);
        // A blocked prepare gets its ERR too, and the session goes on.
        let mut out = Out::default();
        feed(
            &mut c,
            &sh,
            true,
            &packet(0, b"\x16SELECT SLEEP(10)"),
            &mut out,
        );
        assert!(out.to_server.is_empty());
        assert_eq!(payloads(&out.to_client)[0].1[0], 0xFF);
        let mut out = Out::default();
        feed(&mut c, &sh, true, &packet(0, b"\x0e"), &mut out);
        assert_eq!(out.to_server, packet(0, b"\x0e"));
    }

    #[test]
    fn a_result_past_the_limit_is_cut_killed_and_ended_with_an_error() {
        let sh = shared();
        let mut c = conn(&sh);
        let mut out = Out::default();
        feed(
            &mut c,
            &sh,
            true,
            &packet(0, b"\x03SELECT secret FROM t"),
            &mut out,
        );
        assert_eq!(payloads(&out.to_server)[0].1, b"\x03SELECT secret FROM t");
        let mut back = Out::default();
        let mut server = Vec::new();
        server.extend(packet(1, &[1]));
        server.extend(packet(2, &column("secret")));
        for (i, v) in ["abcdef", "ghijkl", "mnopqr", "stuvwx"].iter().enumerate() {
            server.extend(packet(3 + i as u8, &encode_text_row([Some(v.as_bytes())])));
        }
        server.extend(packet(7, &end()));
        feed(&mut c, &sh, false, &server, &mut back);
        assert!(back.kill, "the statement is stopped upstream");
        let got = payloads(&back.to_client);
        let seqs: Vec<u8> = got.iter().map(|p| p.0).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "count, column, 2 rows, the error");
        // The rows that passed are masked (keep 1 1); the end is the limit's error.
        assert_eq!(text_row(&got[2].1, 1).expect("row"), [Some(&b"a****f"[..])]);
        let e = parse_err(&got[4].1, CAPS).expect("ERR");
        assert_eq!((e.code, e.sql_state), (1317, Some(*b"70100")));
        assert!(String::from_utf8_lossy(e.message).contains("2 rows"));
        assert_eq!(c.awaiting(), 0, "the server's end closed the statement");
    }

    #[test]
    fn prepared_statements_keep_their_verdict_and_binary_rows_are_masked() {
        use sensor::wire::mysql::result::{binary_row, encode_binary_row};
        use sensor::wire::mysql::{FieldType, StmtPrepareOk, Value};
        let sh = shared();
        let mut c = conn(&sh);
        let mut out = Out::default();
        feed(
            &mut c,
            &sh,
            true,
            &packet(0, b"\x16SELECT secret FROM t WHERE id = ?"),
            &mut out,
        );
        let ok = StmtPrepareOk {
            statement_id: 9,
            columns: 1,
            params: 1,
            warnings: 0,
            metadata_follows: true,
        };
        let mut server = packet(1, &ok.encode(CAPS));
        server.extend(packet(2, &column("?")));
        server.extend(packet(3, &column("secret")));
        feed(&mut c, &sh, false, &server, &mut out);
        assert_eq!(c.awaiting(), 0);
        assert!(c.statements.contains_key(&9));
        // COM_STMT_EXECUTE 9: the binary result is masked as the prepare decided.
        let mut exec = vec![0x17];
        exec.extend(9u32.to_le_bytes());
        exec.extend([0, 1, 0, 0, 0]);
        let mut out = Out::default();
        feed(&mut c, &sh, true, &packet(0, &exec), &mut out);
        assert_eq!(out.to_server, packet(0, &exec));
        let types = [FieldType::new(ColumnType::VAR_STRING, false)];
        let row = encode_binary_row(&types, &[Value::Bytes(b"abcdef")]).expect("row");
        let mut server = packet(1, &[1]);
        server.extend(packet(2, &column("secret")));
        server.extend(packet(3, &row));
        server.extend(packet(4, &end()));
        let mut back = Out::default();
        feed(&mut c, &sh, false, &server, &mut back);
        let got = payloads(&back.to_client);
        assert_eq!(got.len(), 4);
        assert_eq!(
            binary_row(&got[2].1, &types).expect("row"),
            [Value::Bytes(b"a****f")]
        );
        assert!(!back.kill);
        assert_eq!(c.awaiting(), 0);
    }

    /// What the session does with the server's bytes as they arrive in `chunks`: runs of
    /// plain rows in one piece ([`Conn::pass_rows`]), the rest payload by payload. Returns
    /// the bytes passed in one piece.
    fn feed_server_in_chunks(c: &mut Conn, sh: &Shared, chunks: &[&[u8]], out: &mut Out) -> usize {
        let (mut buf, mut passed) = (Vec::new(), 0);
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            let mut at = 0;
            loop {
                let n = c.pass_rows(&buf[at..], 1 << 26, out);
                (at, passed) = (at + n, passed + n);
                let Some(p) = next_payload(&buf[at..], 1 << 26).expect("valid framing") else {
                    break;
                };
                c.server_payload(sh, &buf[at..at + p.len], &p, out)
                    .expect("accepted");
                at += p.len;
            }
            buf.drain(..at);
        }
        passed
    }

    /// The statement events recorded so far: (rows, bytes, action, error code).
    fn audited(sh: &Shared) -> Vec<(u64, u64, Action, String)> {
        let crate::audit::Sink::Memory(events) = &sh.sink else {
            panic!("events kept in memory")
        };
        let events = events.lock().expect("events");
        events
            .iter()
            .filter_map(|e| match &e.body {
                analyzer::event::Body::Statement(s) => {
                    Some((s.rows, s.bytes, s.action, s.error_code.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Rows passed in one piece reach the client, the limit and the audit exactly as when
    /// the state machine takes them one by one, however the server's bytes are cut up.
    #[test]
    fn rows_passed_in_one_piece_are_relayed_and_counted_as_one_by_one() {
        let mut rng = Rng(0x5EED_0F00_0000_0005);
        // Unmasked under the 2-row limit (cut at the third), masked, and a short result.
        for (sql, rows) in [
            ("SELECT id FROM t", 5),
            ("SELECT secret FROM t", 5),
            ("SELECT id FROM t", 2),
        ] {
            let mut query = vec![0x03];
            query.extend_from_slice(sql.as_bytes());
            let mut server = packet(1, &[1]);
            server.extend(packet(2, &column("c")));
            for i in 0..rows {
                let v = format!("value-{i}");
                server.extend(packet(3 + i, &encode_text_row([Some(v.as_bytes())])));
            }
            server.extend(packet(3 + rows, &end()));
            let one_by_one = {
                let sh = shared();
                let mut c = conn(&sh);
                let mut out = Out::default();
                feed(&mut c, &sh, true, &packet(0, &query), &mut out);
                let mut back = Out::default();
                feed(&mut c, &sh, false, &server, &mut back);
                (back.to_client, back.kill, c.awaiting(), audited(&sh))
            };
            for round in 0..20 {
                let sh = shared();
                let mut c = conn(&sh);
                let mut out = Out::default();
                feed(&mut c, &sh, true, &packet(0, &query), &mut out);
                let mut chunks = Vec::new();
                let mut rest = &server[..];
                while !rest.is_empty() {
                    let n = if round == 0 {
                        rest.len()
                    } else {
                        (1 + rng.next() % 40) as usize
                    };
                    let (chunk, tail) = rest.split_at(n.min(rest.len()));
                    chunks.push(chunk);
                    rest = tail;
                }
                let mut back = Out::default();
                let passed = feed_server_in_chunks(&mut c, &sh, &chunks, &mut back);
                if round == 0 {
                    let masked = sql.contains("secret");
                    assert_eq!(passed > 0, !masked, "{sql}: rows passed in one piece");
                }
                let got = (back.to_client, back.kill, c.awaiting(), audited(&sh));
                assert_eq!(got, one_by_one, "{sql}, {rows} rows, round {round}");
            }
        }
    }

    /// A small deterministic generator (xorshift64*), so that failures replay.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// Random payloads in valid packets, from either side, in every phase: the machine
    /// returns errors, never panics.
    #[test]
    fn random_packets_never_panic() {
        let sh = shared();
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        for round in 0..3000 {
            let mut c = if round % 3 == 0 {
                fresh(false)
            } else {
                conn(&sh)
            };
            let mut out = Out::default();
            for _ in 0..(1 + rng.next() % 12) {
                let len = (rng.next() % 64) as usize;
                let mut payload = rng.bytes(len);
                // Often a plausible first byte: a command, OK, ERR, EOF or a column count.
                if let Some(first) = payload.first_mut()
                    && rng.next().is_multiple_of(2)
                {
                    const FIRST: [u8; 12] = [
                        0x03, 0x16, 0x17, 0x1c, 0x02, 0x04, 0x11, 0x00, 0xFF, 0xFE, 0x01, 0xFB,
                    ];
                    *first = FIRST[(rng.next() % 12) as usize];
                }
                let seq = (rng.next() % 4) as u8;
                let bytes = packet(seq, &payload);
                let from_client = rng.next().is_multiple_of(2);
                let mut rest = &bytes[..];
                while let Ok(Some(p)) = next_payload(rest, 1 << 20) {
                    let raw = &rest[..p.len];
                    let _ = if from_client {
                        c.client_payload(&sh, raw, &p, &mut out)
                    } else {
                        c.server_payload(&sh, raw, &p, &mut out)
                    };
                    rest = &rest[p.len..];
                }
            }
            c.end(&sh);
        }
    }

    #[test]
    fn a_tls_request_is_answered_by_the_session_and_sequence_ids_follow_it() {
        let sh = &shared();
        let mut c = fresh(true);
        let mut out = Out::default();
        feed(
            &mut c,
            sh,
            false,
            &packet(0, &greeting(CAPS).encode()),
            &mut out,
        );
        let sent = payloads(&out.to_client);
        let offered = parse_handshake(&sent[0].1).expect("greeting");
        assert!(
            offered.capabilities.contains(Capabilities::SSL),
            "TLS offered"
        );
        let header = SslRequest {
            capabilities: CAPS | Capabilities::SSL,
            max_packet: 1 << 24,
            charset: 45,
        };
        let mut out = Out::default();
        feed(&mut c, sh, true, &packet(1, &header.encode()), &mut out);
        assert!(
            out.start_tls && out.to_server.is_empty(),
            "the server never sees it"
        );
        // Anything before the handshake is refused (CVE-2021-23214's kind of injection).
        let early = packet(2, b"\x03SELECT 1");
        let p = next_payload(&early, 1 << 20)
            .expect("framing")
            .expect("payload");
        assert!(matches!(
            c.client_payload(sh, &early, &p, &mut Out::default()),
            Err(ProtocolError::Plaintext)
        ));
        c.tls_started();
        let answer = login(header);
        let mut out = Out::default();
        feed(
            &mut c,
            sh,
            true,
            &packet(2, &answer.encode().expect("encode")),
            &mut out,
        );
        let sent = payloads(&out.to_server);
        assert_eq!(
            sent[0].0, 1,
            "the server's sequence has no TLS request in it"
        );
        let ClientHandshake::Response(r) = parse_client_handshake(&sent[0].1).expect("answer")
        else {
            panic!("a response")
        };
        assert!(
            !r.header.capabilities.contains(Capabilities::SSL),
            "plain upstream"
        );
        let mut out = Out::default();
        feed(
            &mut c,
            sh,
            false,
            &packet(2, &[0, 0, 0, 2, 0, 0, 0]),
            &mut out,
        );
        assert_eq!(
            payloads(&out.to_client)[0].0,
            3,
            "the client's sequence goes on"
        );
    }
}
