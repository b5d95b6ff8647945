//! The client's commands: one payload each, starting with the command byte. SQL text and
//! names are bytes in the connection's character set (utf8mb4, latin1, gbk, …): the
//! caller decodes them with the charset from the handshake or `SET NAMES`.

use super::handshake::{Attributes, Capabilities, read_attributes, read_auth_response};
use super::packet::{Reader, WireError, bad};
use super::value::{ColumnType, FieldType, Value, bit, bitmap_len, read_value};

/// Command bytes.
pub mod code {
    pub const SLEEP: u8 = 0x00;
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const CREATE_DB: u8 = 0x05;
    pub const DROP_DB: u8 = 0x06;
    pub const REFRESH: u8 = 0x07;
    pub const SHUTDOWN: u8 = 0x08;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_INFO: u8 = 0x0A;
    pub const PROCESS_KILL: u8 = 0x0C;
    pub const DEBUG: u8 = 0x0D;
    pub const PING: u8 = 0x0E;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1A;
    pub const SET_OPTION: u8 = 0x1B;
    pub const STMT_FETCH: u8 = 0x1C;
    pub const RESET_CONNECTION: u8 = 0x1F;
    /// MariaDB: one statement executed with many parameter sets.
    pub const STMT_BULK_EXECUTE: u8 = 0xFA;
}

/// A client command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    Quit,
    /// `USE db` without SQL.
    InitDb(&'a [u8]),
    Query(Query<'a>),
    /// Column definitions of `table` (deprecated `SHOW COLUMNS`).
    FieldList {
        table: &'a [u8],
        wildcard: &'a [u8],
    },
    Ping,
    ChangeUser(ChangeUser<'a>),
    /// The statement text to prepare; answered by `COM_STMT_PREPARE_OK` or ERR.
    StmtPrepare(&'a [u8]),
    /// Its parameters need the statement's parameter count: see [`StmtExecute::params`].
    StmtExecute(StmtExecute<'a>),
    /// A chunk of one parameter's value, sent before the execute; no answer.
    StmtSendLongData {
        statement_id: u32,
        param_id: u16,
        data: &'a [u8],
    },
    /// No answer.
    StmtClose(u32),
    StmtReset(u32),
    /// `rows` more rows from the statement's open cursor.
    StmtFetch {
        statement_id: u32,
        rows: u32,
    },
    ResetConnection,
    /// 0: multi-statements on, 1: off.
    SetOption(u16),
    /// Any other command (`COM_CREATE_DB`, `COM_PROCESS_KILL`, `COM_BINLOG_DUMP`,
    /// MariaDB's `COM_STMT_BULK_EXECUTE`, …): its byte and the rest of the payload.
    Other {
        code: u8,
        body: &'a [u8],
    },
}

/// `COM_QUERY`: SQL text, and with `QUERY_ATTRIBUTES` (MySQL 8.0.23+) named attributes
/// sent before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query<'a> {
    pub sql: &'a [u8],
    pub attributes: Vec<Param<'a>>,
}

/// One parameter value (of a prepared statement or a query attribute).
#[derive(Debug, Clone, PartialEq)]
pub struct Param<'a> {
    /// Empty unless the client named it (query attributes).
    pub name: &'a [u8],
    pub ty: FieldType,
    pub value: Value<'a>,
}

/// `COM_CHANGE_USER`: re-authenticate as another user on the same connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeUser<'a> {
    pub username: &'a [u8],
    pub auth_response: &'a [u8],
    pub database: &'a [u8],
    pub charset: Option<u16>,
    pub auth_plugin: Option<&'a [u8]>,
    pub attributes: Option<Attributes<'a>>,
}

/// `COM_STMT_EXECUTE` up to its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StmtExecute<'a> {
    /// `0xFFFFFFFF` on MariaDB: the statement prepared last (pipelined prepare+execute).
    pub statement_id: u32,
    /// Cursor type (`CURSOR_*`) and [`StmtExecute::PARAMETER_COUNT_AVAILABLE`].
    pub flags: u8,
    /// Always 1.
    pub iterations: u32,
    /// The parameter block as sent.
    pub params: &'a [u8],
}

/// The parameters of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteParams<'a> {
    /// The client sent types (new-params-bound flag): remember them for later executions
    /// of the statement, which may omit them.
    pub new_types: bool,
    pub params: Vec<Param<'a>>,
}

impl<'a> StmtExecute<'a> {
    pub const CURSOR_READ_ONLY: u8 = 0x01;
    pub const CURSOR_FOR_UPDATE: u8 = 0x02;
    pub const CURSOR_SCROLLABLE: u8 = 0x04;
    /// MySQL 8 with `QUERY_ATTRIBUTES`: a parameter count precedes the parameters.
    pub const PARAMETER_COUNT_AVAILABLE: u8 = 0x08;

    /// Whether the client asks for a cursor (rows then come by `COM_STMT_FETCH`, if the
    /// server opens one: see `Status::CURSOR_EXISTS`).
    pub fn wants_cursor(&self) -> bool {
        self.flags & (Self::CURSOR_READ_ONLY | Self::CURSOR_FOR_UPDATE | Self::CURSOR_SCROLLABLE)
            != 0
    }

    /// Decodes the parameters, given the statement's parameter count (from its
    /// `COM_STMT_PREPARE_OK`) and the types the client bound at an earlier execution
    /// (used when this one does not send them).
    pub fn params(
        &self,
        param_count: u16,
        bound_types: &[FieldType],
        caps: Capabilities,
    ) -> Result<ExecuteParams<'a>, WireError> {
        let mut r = Reader::new(self.params, "COM_STMT_EXECUTE");
        let named = caps.contains(Capabilities::QUERY_ATTRIBUTES);
        let mut count = u64::from(param_count);
        if named && (count > 0 || self.flags & Self::PARAMETER_COUNT_AVAILABLE != 0) {
            count = r.lenenc_int()?;
        }
        let out = if count == 0 {
            ExecuteParams {
                new_types: false,
                params: Vec::new(),
            }
        } else {
            read_params(&mut r, count, bound_types, named)?
        };
        r.finish()?;
        Ok(out)
    }
}

/// Most parameters a statement (or a query's attributes) may have: the count of
/// `COM_STMT_PREPARE_OK` is 16 bits, and servers refuse more placeholders.
pub const MAX_PARAMS: u64 = 65_535;

/// NULL bitmap, new-params-bound flag, [types (and names)], values.
fn read_params<'a>(
    r: &mut Reader<'a>,
    count: u64,
    bound_types: &[FieldType],
    named: bool,
) -> Result<ExecuteParams<'a>, WireError> {
    // Checked before anything is reserved: the protocol's own limit, then what the
    // bitmap and the types take of the payload.
    if count > MAX_PARAMS {
        return Err(r.fail("more than 65535 parameters"));
    }
    let count = count as usize;
    let nulls = r.take(bitmap_len(count, 0))?;
    let new_types = r.u8()? != 0;
    if new_types && count > r.rest().len() / 2 {
        return Err(r.fail("more parameter types than the payload holds"));
    }
    let mut params = Vec::with_capacity(count);
    if new_types {
        for _ in 0..count {
            let ty = ColumnType(r.u8()?);
            let flag = r.u8()?;
            let name = if named { r.lenenc_bytes()? } else { &[] };
            params.push(Param {
                name,
                ty: FieldType::new(ty, flag & 0x80 != 0),
                value: Value::Null,
            });
        }
    } else {
        if bound_types.len() != count {
            return Err(r.fail("parameter types neither sent nor bound before"));
        }
        params.extend(bound_types.iter().map(|&ty| Param {
            name: &[],
            ty,
            value: Value::Null,
        }));
    }
    for (i, p) in params.iter_mut().enumerate() {
        if !bit(nulls, i, 0) {
            p.value = read_value(r, p.ty)?;
        }
    }
    Ok(ExecuteParams { new_types, params })
}

/// Decodes a command payload. `caps` are the negotiated capabilities (they decide
/// whether `COM_QUERY` carries attributes and how `COM_CHANGE_USER` sends its proof).
pub fn parse_command(payload: &[u8], caps: Capabilities) -> Result<Command<'_>, WireError> {
    let Some((&cmd, body)) = payload.split_first() else {
        return Err(bad("command", "empty payload"));
    };
    let id = |kind| {
        let mut r = Reader::new(body, kind);
        r.u32()
    };
    Ok(match cmd {
        code::QUIT => Command::Quit,
        code::INIT_DB => Command::InitDb(body),
        code::QUERY => Command::Query(parse_query(body, caps)?),
        code::FIELD_LIST => {
            let mut r = Reader::new(body, "COM_FIELD_LIST");
            let table = r.nul_bytes()?;
            Command::FieldList {
                table,
                wildcard: r.eof_bytes(),
            }
        }
        code::PING => Command::Ping,
        code::CHANGE_USER => Command::ChangeUser(parse_change_user(body, caps)?),
        code::STMT_PREPARE => Command::StmtPrepare(body),
        code::STMT_EXECUTE => {
            let mut r = Reader::new(body, "COM_STMT_EXECUTE");
            Command::StmtExecute(StmtExecute {
                statement_id: r.u32()?,
                flags: r.u8()?,
                iterations: r.u32()?,
                params: r.eof_bytes(),
            })
        }
        code::STMT_SEND_LONG_DATA => {
            let mut r = Reader::new(body, "COM_STMT_SEND_LONG_DATA");
            Command::StmtSendLongData {
                statement_id: r.u32()?,
                param_id: r.u16()?,
                data: r.eof_bytes(),
            }
        }
        code::STMT_CLOSE => Command::StmtClose(id("COM_STMT_CLOSE")?),
        code::STMT_RESET => Command::StmtReset(id("COM_STMT_RESET")?),
        code::STMT_FETCH => {
            let mut r = Reader::new(body, "COM_STMT_FETCH");
            Command::StmtFetch {
                statement_id: r.u32()?,
                rows: r.u32()?,
            }
        }
        code::RESET_CONNECTION => Command::ResetConnection,
        code::SET_OPTION => Command::SetOption(Reader::new(body, "COM_SET_OPTION").u16()?),
        code => Command::Other { code, body },
    })
}

fn parse_query(body: &[u8], caps: Capabilities) -> Result<Query<'_>, WireError> {
    if !caps.contains(Capabilities::QUERY_ATTRIBUTES) {
        return Ok(Query {
            sql: body,
            attributes: Vec::new(),
        });
    }
    let mut r = Reader::new(body, "COM_QUERY");
    let count = r.lenenc_int()?;
    if r.lenenc_int()? != 1 {
        return Err(r.fail("parameter set count is not 1"));
    }
    let mut attributes = Vec::new();
    if count > 0 {
        let p = read_params(&mut r, count, &[], true)?;
        if !p.new_types {
            return Err(r.fail("attributes without their types"));
        }
        attributes = p.params;
    }
    Ok(Query {
        sql: r.eof_bytes(),
        attributes,
    })
}

fn parse_change_user(body: &[u8], caps: Capabilities) -> Result<ChangeUser<'_>, WireError> {
    let mut r = Reader::new(body, "COM_CHANGE_USER");
    let username = r.nul_bytes()?;
    // No length-encoded form here: one length byte or NUL-terminated.
    let mut form = caps;
    form.remove(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA);
    let auth_response = read_auth_response(&mut r, form)?;
    let database = r.nul_bytes()?;
    let mut change = ChangeUser {
        username,
        auth_response,
        database,
        charset: None,
        auth_plugin: None,
        attributes: None,
    };
    if r.is_empty() {
        return Ok(change);
    }
    change.charset = Some(r.u16()?);
    if caps.contains(Capabilities::PLUGIN_AUTH) && !r.is_empty() {
        change.auth_plugin = Some(r.nul_or_eof_bytes());
    }
    if caps.contains(Capabilities::CONNECT_ATTRS) && !r.is_empty() {
        change.attributes = Some(read_attributes(&mut r)?);
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mysql::handshake::tests::hex;
    use crate::wire::mysql::packet::{put_lenenc_bytes, put_nul_bytes};

    const CAPS: Capabilities = Capabilities(0x01af_a208);

    #[test]
    fn simple_commands() {
        let table: Vec<(Vec<u8>, Command<'static>)> = vec![
            (vec![0x01], Command::Quit),
            (b"\x02publicdata".to_vec(), Command::InitDb(b"publicdata")),
            (
                b"\x03SELECT 2".to_vec(),
                Command::Query(Query {
                    sql: b"SELECT 2",
                    attributes: vec![],
                }),
            ),
            (
                b"\x04citizens\0id%".to_vec(),
                Command::FieldList {
                    table: b"citizens",
                    wildcard: b"id%",
                },
            ),
            (vec![0x0e], Command::Ping),
            (b"\x16SELECT ?".to_vec(), Command::StmtPrepare(b"SELECT ?")),
            (
                b"\x18\x01\0\0\0\x02\0chunk".to_vec(),
                Command::StmtSendLongData {
                    statement_id: 1,
                    param_id: 2,
                    data: b"chunk",
                },
            ),
            (vec![0x19, 7, 0, 0, 0], Command::StmtClose(7)),
            (vec![0x1a, 7, 0, 0, 0], Command::StmtReset(7)),
            // COM_STMT_FETCH of one row from statement 1, as captured.
            (
                hex("1c 01000000 01000000"),
                Command::StmtFetch {
                    statement_id: 1,
                    rows: 1,
                },
            ),
            (vec![0x1f], Command::ResetConnection),
            (vec![0x1b, 1, 0], Command::SetOption(1)),
            (
                vec![0x06, b'x'],
                Command::Other {
                    code: code::DROP_DB,
                    body: b"x",
                },
            ),
        ];
        for (wire, want) in &table {
            assert_eq!(parse_command(wire, CAPS).as_ref(), Ok(want), "{wire:?}");
        }
        // Truncated fixed fields: errors.
        for wire in [
            &[0x19, 7, 0, 0][..],
            &[0x1c, 1, 0, 0, 0, 1],
            &[0x1b, 1],
            &[0x18, 1, 0, 0, 0, 2],
        ] {
            assert!(parse_command(wire, CAPS).is_err(), "{wire:?}");
        }
        assert!(parse_command(&[], CAPS).is_err());
        assert!(
            parse_command(b"\x04citizens", CAPS).is_err(),
            "unterminated table"
        );
    }

    #[test]
    fn prepared_statement_execution() {
        // The execute captured from a raw client: statement 1, no cursor, one
        // VAR_STRING parameter 'x' with its type.
        let wire = hex("17 01000000 00 01000000 00 01 fd00 0178");
        let Ok(Command::StmtExecute(ex)) = parse_command(&wire, CAPS) else {
            panic!("not an execute")
        };
        assert_eq!((ex.statement_id, ex.flags, ex.iterations), (1, 0, 1));
        assert!(!ex.wants_cursor());
        let p = ex.params(1, &[], CAPS).expect("params");
        let string = FieldType::new(ColumnType::VAR_STRING, false);
        assert!(p.new_types);
        assert_eq!(
            p.params,
            [Param {
                name: b"",
                ty: string,
                value: Value::Bytes(b"x")
            }]
        );
        // Wrong counts: too few parameters read leaves bytes, too many runs out.
        assert!(ex.params(0, &[], CAPS).is_err());
        assert!(ex.params(2, &[], CAPS).is_err());
        // Re-executed without types (cursor flag set): the bound ones are used.
        let again = hex("17 01000000 01 01000000 00 00 0179");
        let Ok(Command::StmtExecute(ex)) = parse_command(&again, CAPS) else {
            panic!("not an execute")
        };
        assert!(ex.wants_cursor());
        let p = ex.params(1, &[string], CAPS).expect("params");
        assert!(!p.new_types);
        assert_eq!(p.params[0].value, Value::Bytes(b"y"));
        assert!(ex.params(1, &[], CAPS).is_err(), "no types known");
        // A NULL parameter takes no value bytes; an unsigned LONGLONG.
        let mixed = hex("17 02000000 00 01000000 01 01 0600 0880 ffffffffffffffff");
        let Ok(Command::StmtExecute(ex)) = parse_command(&mixed, CAPS) else {
            panic!("not an execute")
        };
        let p = ex.params(2, &[], CAPS).expect("params");
        assert_eq!(p.params[0].value, Value::Null);
        assert_eq!(p.params[1].value, Value::UInt(u64::MAX));
        assert_eq!(p.params[1].ty.ty, ColumnType::LONGLONG);
        for cut in 10..mixed.len() {
            let Ok(Command::StmtExecute(ex)) = parse_command(&mixed[..cut], CAPS) else {
                panic!("header intact")
            };
            assert!(ex.params(2, &[], CAPS).is_err(), "cut at {cut}");
        }
        // No parameters: nothing follows.
        let none = hex("17 03000000 00 01000000");
        let Ok(Command::StmtExecute(ex)) = parse_command(&none, CAPS) else {
            panic!("not an execute")
        };
        assert_eq!(ex.params(0, &[], CAPS).map(|p| p.params.len()), Ok(0));
        assert!(parse_command(&none[..9], CAPS).is_err());
    }

    #[test]
    fn execute_with_query_attributes() {
        let caps = CAPS | Capabilities::QUERY_ATTRIBUTES;
        // One statement parameter (7, a TINY) and one extra named attribute, counted.
        let mut wire = hex("17 05000000 08 01000000 02 00 01");
        wire.extend([0x01, 0x00, 0x00]);
        wire.extend([0xfd, 0x00]);
        put_lenenc_bytes(&mut wire, b"trace_id");
        wire.push(7);
        put_lenenc_bytes(&mut wire, b"abc-123");
        let Ok(Command::StmtExecute(ex)) = parse_command(&wire, caps) else {
            panic!("not an execute")
        };
        let p = ex.params(1, &[], caps).expect("params");
        assert_eq!(p.params.len(), 2);
        assert_eq!(p.params[0].value, Value::Int(7));
        assert_eq!(p.params[1].name, b"trace_id");
        assert_eq!(p.params[1].value, Value::Bytes(b"abc-123"));
        // Counts past the limit or the payload: refused before anything is reserved.
        let lie = hex("17 05000000 08 01000000 fe ffffffffffffff7f 00 01");
        let Ok(Command::StmtExecute(ex)) = parse_command(&lie, caps) else {
            panic!("not an execute")
        };
        assert!(ex.params(1, &[], caps).is_err());
        let big = hex("17 05000000 08 01000000 fd ffff00 00 01");
        let Ok(Command::StmtExecute(ex)) = parse_command(&big, caps) else {
            panic!("not an execute")
        };
        assert!(ex.params(1, &[], caps).is_err(), "65535 types in 3 bytes");
    }

    #[test]
    fn query_attributes_before_the_sql() {
        let caps = CAPS | Capabilities::QUERY_ATTRIBUTES;
        // Without attributes: two zero counts... the set count is still 1.
        let plain = b"\x03\x00\x01SELECT 1";
        let Ok(Command::Query(q)) = parse_command(plain, caps) else {
            panic!("not a query")
        };
        assert_eq!((q.sql, q.attributes.len()), (&b"SELECT 1"[..], 0));
        // One attribute `app` = 'portal' (VAR_STRING), then the SQL.
        let mut wire = vec![0x03, 1, 1, 0x00, 0x01, 0xfd, 0x00];
        put_lenenc_bytes(&mut wire, b"app");
        put_lenenc_bytes(&mut wire, b"portal");
        wire.extend(b"DELETE FROM citizens");
        let Ok(Command::Query(q)) = parse_command(&wire, caps) else {
            panic!("not a query")
        };
        assert_eq!(q.sql, b"DELETE FROM citizens");
        assert_eq!(
            (q.attributes[0].name, q.attributes[0].value),
            (&b"app"[..], Value::Bytes(b"portal"))
        );
        // Without the capability the same bytes are all SQL.
        let Ok(Command::Query(q)) = parse_command(&wire, CAPS) else {
            panic!("not a query")
        };
        assert_eq!(q.sql, &wire[1..]);
        // Broken: set count 2, no types, truncated value.
        assert!(parse_command(&[0x03, 0, 2], caps).is_err());
        assert!(parse_command(&[0x03, 1, 1, 0, 0], caps).is_err());
        assert!(parse_command(&wire[..12], caps).is_err());
    }

    #[test]
    fn change_user() {
        let mut wire = vec![code::CHANGE_USER];
        put_nul_bytes(&mut wire, b"auditor");
        wire.push(20);
        wire.extend([9; 20]);
        put_nul_bytes(&mut wire, b"publicdata");
        wire.extend(45u16.to_le_bytes());
        put_nul_bytes(&mut wire, b"mysql_native_password");
        wire.extend([0x06, 0x03, b'_', b'o', b's', 0x01, b'L']);
        let caps = CAPS | Capabilities::CONNECT_ATTRS;
        let Ok(Command::ChangeUser(c)) = parse_command(&wire, caps) else {
            panic!("not a change-user")
        };
        assert_eq!(c.username, b"auditor");
        assert_eq!(c.auth_response, [9; 20]);
        assert_eq!(c.database, b"publicdata");
        assert_eq!(c.charset, Some(45));
        assert_eq!(c.auth_plugin, Some(&b"mysql_native_password"[..]));
        assert_eq!(c.attributes, Some(vec![(&b"_os"[..], &b"L"[..])]));
        // The short form (no charset and after) and truncations.
        let short = parse_command(&wire[..1 + 8 + 21 + 11], caps).expect("short form");
        assert!(matches!(
            short,
            Command::ChangeUser(ChangeUser { charset: None, .. })
        ));
        assert!(parse_command(&wire[..1 + 8 + 10], caps).is_err());
        assert!(parse_command(&wire[..1 + 8 + 21 + 12], caps).is_err());
    }
}
