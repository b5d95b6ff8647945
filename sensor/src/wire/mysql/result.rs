//! The server's answers in the command phase: OK, ERR and EOF; the first answer to a
//! statement ([`parse_query_response`]); result-set metadata (column count, column
//! definitions, `COM_STMT_PREPARE_OK`); and rows in the text protocol (`COM_QUERY`) and
//! the binary protocol (`COM_STMT_EXECUTE`/`COM_STMT_FETCH`), decoded and re-encoded so a
//! proxy can mask values and fix the lengths.

use super::handshake::Capabilities;
use super::packet::{
    MAX_CHUNK, Reader, WireError, bad, put_lenenc_bytes, put_lenenc_int, put_null,
};
use super::value::{ColumnType, FieldType, Value, bit, bitmap_len, read_value, write_value};

/// Server status flags, sent in OK and EOF packets and in the greeting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

impl Status {
    pub const IN_TRANS: Self = Self(0x0001);
    pub const AUTOCOMMIT: Self = Self(0x0002);
    /// Another result set follows this one (multi-statements, stored procedures).
    pub const MORE_RESULTS_EXISTS: Self = Self(0x0008);
    pub const NO_GOOD_INDEX_USED: Self = Self(0x0010);
    pub const NO_INDEX_USED: Self = Self(0x0020);
    /// `COM_STMT_EXECUTE` opened a cursor: rows come through `COM_STMT_FETCH`.
    pub const CURSOR_EXISTS: Self = Self(0x0040);
    /// The cursor is exhausted.
    pub const LAST_ROW_SENT: Self = Self(0x0080);
    pub const DB_DROPPED: Self = Self(0x0100);
    pub const NO_BACKSLASH_ESCAPES: Self = Self(0x0200);
    pub const METADATA_CHANGED: Self = Self(0x0400);
    pub const QUERY_WAS_SLOW: Self = Self(0x0800);
    pub const PS_OUT_PARAMS: Self = Self(0x1000);
    pub const IN_TRANS_READONLY: Self = Self(0x2000);
    /// The OK packet carries session-state changes (with `SESSION_TRACK`).
    pub const SESSION_STATE_CHANGED: Self = Self(0x4000);

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Status {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Column definition flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ColumnFlags(pub u16);

impl ColumnFlags {
    pub const NOT_NULL: Self = Self(0x0001);
    pub const PRI_KEY: Self = Self(0x0002);
    pub const UNIQUE_KEY: Self = Self(0x0004);
    pub const MULTIPLE_KEY: Self = Self(0x0008);
    pub const BLOB: Self = Self(0x0010);
    pub const UNSIGNED: Self = Self(0x0020);
    pub const ZEROFILL: Self = Self(0x0040);
    pub const BINARY: Self = Self(0x0080);
    pub const ENUM: Self = Self(0x0100);
    pub const AUTO_INCREMENT: Self = Self(0x0200);
    pub const TIMESTAMP: Self = Self(0x0400);
    pub const SET: Self = Self(0x0800);
    pub const NUM: Self = Self(0x8000);

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for ColumnFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// An OK packet: a statement without a result set succeeded, a result set ended (header
/// `0xFE`, with `DEPRECATE_EOF`), or authentication succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkPacket<'a> {
    /// `0x00`, or `0xFE` where it stands in for an EOF.
    pub header: u8,
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: Status,
    pub warnings: u16,
    /// Human-readable (`Rows matched: 1  Changed: 1  Warnings: 0`).
    pub info: &'a [u8],
    /// Session-state changes as sent (with `SESSION_TRACK` and `SESSION_STATE_CHANGED`).
    pub session_state: Option<&'a [u8]>,
}

/// Decodes an OK packet (header `0x00` or `0xFE`).
pub fn parse_ok(payload: &[u8], caps: Capabilities) -> Result<OkPacket<'_>, WireError> {
    let mut r = Reader::new(payload, "OK packet");
    let header = r.u8()?;
    if header != 0x00 && header != 0xFE {
        return Err(r.fail("header is neither 0x00 nor 0xFE"));
    }
    let affected_rows = r.lenenc_int()?;
    let last_insert_id = r.lenenc_int()?;
    let (mut status, mut warnings) = (Status::default(), 0);
    if caps.contains(Capabilities::PROTOCOL_41) {
        status = Status(r.u16()?);
        warnings = r.u16()?;
    } else if caps.contains(Capabilities::TRANSACTIONS) {
        status = Status(r.u16()?);
    }
    let (mut info, mut session_state) = (&[][..], None);
    if caps.contains(Capabilities::SESSION_TRACK) {
        if !r.is_empty() {
            info = r.lenenc_bytes()?;
            if status.contains(Status::SESSION_STATE_CHANGED) {
                session_state = Some(r.lenenc_bytes()?);
            }
        }
    } else {
        info = r.eof_bytes();
    }
    Ok(OkPacket {
        header,
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info,
        session_state,
    })
}

impl OkPacket<'_> {
    /// The payload, in the form `caps` negotiated.
    pub fn encode(&self, caps: Capabilities) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.info.len());
        out.push(self.header);
        put_lenenc_int(&mut out, self.affected_rows);
        put_lenenc_int(&mut out, self.last_insert_id);
        if caps.contains(Capabilities::PROTOCOL_41) {
            out.extend_from_slice(&self.status.0.to_le_bytes());
            out.extend_from_slice(&self.warnings.to_le_bytes());
        } else if caps.contains(Capabilities::TRANSACTIONS) {
            out.extend_from_slice(&self.status.0.to_le_bytes());
        }
        if caps.contains(Capabilities::SESSION_TRACK) {
            let state = self
                .session_state
                .filter(|_| self.status.contains(Status::SESSION_STATE_CHANGED));
            if !self.info.is_empty() || state.is_some() {
                put_lenenc_bytes(&mut out, self.info);
            }
            if let Some(state) = state {
                put_lenenc_bytes(&mut out, state);
            }
        } else {
            out.extend_from_slice(self.info);
        }
        out
    }
}

/// An ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    /// 1045 access denied, 1146 no such table, … ; 0xFFFF is a MariaDB progress report
    /// (with `MARIADB_PROGRESS`), not an error, and its `message` is the raw report.
    pub code: u16,
    /// After the `#` marker, with `PROTOCOL_41`.
    pub sql_state: Option<[u8; 5]>,
    pub message: &'a [u8],
}

impl ErrPacket<'_> {
    /// Whether this is a MariaDB progress report rather than an error.
    pub fn is_progress(&self) -> bool {
        self.code == 0xFFFF
    }

    /// The payload; the SQLSTATE is sent only with `PROTOCOL_41`.
    pub fn encode(&self, caps: Capabilities) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.message.len());
        out.push(0xFF);
        out.extend_from_slice(&self.code.to_le_bytes());
        if let (true, Some(state)) = (caps.contains(Capabilities::PROTOCOL_41), self.sql_state) {
            out.push(b'#');
            out.extend_from_slice(&state);
        }
        out.extend_from_slice(self.message);
        out
    }
}

/// Decodes an ERR packet (header `0xFF`).
pub fn parse_err(payload: &[u8], caps: Capabilities) -> Result<ErrPacket<'_>, WireError> {
    let mut r = Reader::new(payload, "ERR packet");
    if r.u8()? != 0xFF {
        return Err(r.fail("header is not 0xFF"));
    }
    let code = r.u16()?;
    let mut sql_state = None;
    if code != 0xFFFF && caps.contains(Capabilities::PROTOCOL_41) && r.peek() == Some(b'#') {
        r.u8()?;
        let mut state = [0; 5];
        state.copy_from_slice(r.take(5)?);
        sql_state = Some(state);
    }
    Ok(ErrPacket {
        code,
        sql_state,
        message: r.eof_bytes(),
    })
}

/// An EOF packet: the end of column definitions or rows without `DEPRECATE_EOF`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EofPacket {
    pub warnings: u16,
    pub status: Status,
}

impl EofPacket {
    pub fn encode(&self, caps: Capabilities) -> Vec<u8> {
        let mut out = vec![0xFE];
        if caps.contains(Capabilities::PROTOCOL_41) {
            out.extend_from_slice(&self.warnings.to_le_bytes());
            out.extend_from_slice(&self.status.0.to_le_bytes());
        }
        out
    }
}

/// Decodes an EOF packet (header `0xFE`, under 9 bytes).
pub fn parse_eof(payload: &[u8], caps: Capabilities) -> Result<EofPacket, WireError> {
    let mut r = Reader::new(payload, "EOF packet");
    if r.u8()? != 0xFE || payload.len() >= 9 {
        return Err(r.fail("not 0xFE with under 9 bytes"));
    }
    if !caps.contains(Capabilities::PROTOCOL_41) {
        return Ok(EofPacket::default());
    }
    let eof = EofPacket {
        warnings: r.u16()?,
        status: Status(r.u16()?),
    };
    r.finish()?;
    Ok(eof)
}

/// Whether a packet where a row (or a column definition) could be is the end marker.
///
/// A row never starts with `0xFF` (that is an ERR) and starts with `0xFE` only when its
/// first value is at least 2^24 bytes long (the 8-byte length form), which makes the
/// payload at least 9 bytes — and, being over 16 MiB, a full `0xFFFFFF` packet. So:
/// without `DEPRECATE_EOF` the end is `0xFE` with under 9 bytes (an EOF); with it, the
/// end is an OK packet with header `0xFE` and under `0xFFFFFF` bytes (its info and
/// session-state strings can make it longer than 9).
pub fn is_end(payload: &[u8], caps: Capabilities) -> bool {
    payload.first() == Some(&0xFE)
        && if caps.contains(Capabilities::DEPRECATE_EOF) {
            payload.len() < MAX_CHUNK
        } else {
            payload.len() < 9
        }
}

/// The end of column definitions or rows: an EOF, or with `DEPRECATE_EOF` an OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End<'a> {
    Eof(EofPacket),
    Ok(OkPacket<'a>),
}

impl End<'_> {
    pub fn status(&self) -> Status {
        match self {
            End::Eof(e) => e.status,
            End::Ok(o) => o.status,
        }
    }

    pub fn warnings(&self) -> u16 {
        match self {
            End::Eof(e) => e.warnings,
            End::Ok(o) => o.warnings,
        }
    }
}

/// Decodes an end marker ([`is_end`]) in the form `caps` negotiated.
pub fn parse_end(payload: &[u8], caps: Capabilities) -> Result<End<'_>, WireError> {
    if !is_end(payload, caps) {
        return Err(bad("end of result", "not an end marker"));
    }
    if caps.contains(Capabilities::DEPRECATE_EOF) {
        parse_ok(payload, caps).map(End::Ok)
    } else {
        parse_eof(payload, caps).map(End::Eof)
    }
}

/// The number of columns that opens a result set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnCount {
    pub count: u64,
    /// `false` when the server skips the column definitions (MySQL's optional metadata,
    /// MariaDB's metadata cache): the client reuses the ones it has.
    pub metadata_follows: bool,
}

fn sends_metadata_flag(caps: Capabilities) -> bool {
    caps.contains(Capabilities::OPTIONAL_RESULTSET_METADATA)
        || caps.contains(Capabilities::MARIADB_CACHE_METADATA)
}

/// Decodes a column-count packet.
pub fn parse_column_count(payload: &[u8], caps: Capabilities) -> Result<ColumnCount, WireError> {
    let mut r = Reader::new(payload, "column count");
    let count = r.lenenc_int()?;
    if count == 0 {
        return Err(r.fail("zero columns"));
    }
    let metadata_follows = if sends_metadata_flag(caps) {
        r.u8()? != 0
    } else {
        true
    };
    r.finish()?;
    Ok(ColumnCount {
        count,
        metadata_follows,
    })
}

impl ColumnCount {
    pub fn encode(&self, caps: Capabilities) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        put_lenenc_int(&mut out, self.count);
        if sends_metadata_flag(caps) {
            out.push(u8::from(self.metadata_follows));
        }
        out
    }
}

/// The first answer to `COM_QUERY` or `COM_STMT_EXECUTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResponse<'a> {
    Ok(OkPacket<'a>),
    Err(ErrPacket<'a>),
    /// `0xFB`: `LOAD DATA LOCAL INFILE` — the server asks the client for this file.
    LocalInfile(&'a [u8]),
    /// A result set of this many columns follows.
    ResultSet(ColumnCount),
}

/// Decodes the first answer to a statement.
pub fn parse_query_response(
    payload: &[u8],
    caps: Capabilities,
) -> Result<QueryResponse<'_>, WireError> {
    match payload.first() {
        Some(0x00) => parse_ok(payload, caps).map(QueryResponse::Ok),
        Some(0xFF) => parse_err(payload, caps).map(QueryResponse::Err),
        Some(0xFB) => Ok(QueryResponse::LocalInfile(&payload[1..])),
        Some(_) => parse_column_count(payload, caps).map(QueryResponse::ResultSet),
        None => Err(bad("statement response", "empty")),
    }
}

/// `COM_STMT_PREPARE_OK`. Then come `params` parameter definitions and `columns` column
/// definitions, each group closed by an EOF unless `DEPRECATE_EOF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StmtPrepareOk {
    pub statement_id: u32,
    pub columns: u16,
    pub params: u16,
    pub warnings: u16,
    /// With `OPTIONAL_RESULTSET_METADATA`: whether the definitions follow.
    pub metadata_follows: bool,
}

/// Decodes a `COM_STMT_PREPARE_OK` (the answer to `COM_STMT_PREPARE` that is not ERR).
pub fn parse_prepare_ok(payload: &[u8], caps: Capabilities) -> Result<StmtPrepareOk, WireError> {
    let mut r = Reader::new(payload, "COM_STMT_PREPARE_OK");
    if r.u8()? != 0 {
        return Err(r.fail("header is not 0x00"));
    }
    let statement_id = r.u32()?;
    let columns = r.u16()?;
    let params = r.u16()?;
    r.u8()?;
    let warnings = if r.is_empty() { 0 } else { r.u16()? };
    let metadata_follows =
        if caps.contains(Capabilities::OPTIONAL_RESULTSET_METADATA) && !r.is_empty() {
            r.u8()? != 0
        } else {
            true
        };
    Ok(StmtPrepareOk {
        statement_id,
        columns,
        params,
        warnings,
        metadata_follows,
    })
}

impl StmtPrepareOk {
    pub fn encode(&self, caps: Capabilities) -> Vec<u8> {
        let mut out = Vec::with_capacity(13);
        out.push(0);
        out.extend_from_slice(&self.statement_id.to_le_bytes());
        out.extend_from_slice(&self.columns.to_le_bytes());
        out.extend_from_slice(&self.params.to_le_bytes());
        out.push(0);
        out.extend_from_slice(&self.warnings.to_le_bytes());
        if caps.contains(Capabilities::OPTIONAL_RESULTSET_METADATA) {
            out.push(u8::from(self.metadata_follows));
        }
        out
    }
}

/// ColumnDefinition41: one column of a result set (or one parameter of a prepared
/// statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition<'a> {
    /// Always `def`.
    pub catalog: &'a [u8],
    pub schema: &'a [u8],
    /// The table as the statement named it (an alias, or a derived table's name).
    pub table: &'a [u8],
    /// The table the column really comes from; empty for expressions.
    pub org_table: &'a [u8],
    /// The column as the result names it (an alias).
    pub name: &'a [u8],
    /// The column it really is; empty for expressions.
    pub org_name: &'a [u8],
    /// MariaDB's extended metadata entries as sent (with `MARIADB_EXTENDED_METADATA`).
    pub extended: Option<&'a [u8]>,
    /// Collation id (63: binary).
    pub charset: u16,
    /// Maximum display length.
    pub length: u32,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    pub decimals: u8,
    /// Bytes after the fixed fields as sent: `COM_FIELD_LIST`'s default value.
    pub field_list_default: &'a [u8],
}

impl ColumnDefinition<'_> {
    /// What reading this column's binary values needs.
    pub fn field_type(&self) -> FieldType {
        FieldType::new(self.column_type, self.flags.contains(ColumnFlags::UNSIGNED))
    }

    pub fn encode(&self, caps: Capabilities) -> Vec<u8> {
        let strings = [
            self.catalog,
            self.schema,
            self.table,
            self.org_table,
            self.name,
            self.org_name,
        ];
        let mut out = Vec::with_capacity(
            32 + strings.iter().map(|s| s.len()).sum::<usize>() + self.field_list_default.len(),
        );
        for s in strings {
            put_lenenc_bytes(&mut out, s);
        }
        if caps.contains(Capabilities::MARIADB_EXTENDED_METADATA) {
            put_lenenc_bytes(&mut out, self.extended.unwrap_or_default());
        }
        out.push(0x0C);
        out.extend_from_slice(&self.charset.to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.push(self.column_type.0);
        out.extend_from_slice(&self.flags.0.to_le_bytes());
        out.push(self.decimals);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(self.field_list_default);
        out
    }
}

/// Decodes a column (or parameter) definition.
pub fn parse_column_definition(
    payload: &[u8],
    caps: Capabilities,
) -> Result<ColumnDefinition<'_>, WireError> {
    let mut r = Reader::new(payload, "column definition");
    let catalog = r.lenenc_bytes()?;
    let schema = r.lenenc_bytes()?;
    let table = r.lenenc_bytes()?;
    let org_table = r.lenenc_bytes()?;
    let name = r.lenenc_bytes()?;
    let org_name = r.lenenc_bytes()?;
    let extended = if caps.contains(Capabilities::MARIADB_EXTENDED_METADATA) {
        Some(r.lenenc_bytes()?)
    } else {
        None
    };
    let fixed = r.lenenc_int()?;
    if !(10..=64).contains(&fixed) {
        return Err(r.fail("fixed-length fields are not 10 to 64 bytes"));
    }
    let charset = r.u16()?;
    let length = r.u32()?;
    let column_type = ColumnType(r.u8()?);
    let flags = ColumnFlags(r.u16()?);
    let decimals = r.u8()?;
    r.take(fixed as usize - 10)?;
    Ok(ColumnDefinition {
        catalog,
        schema,
        table,
        org_table,
        name,
        org_name,
        extended,
        charset,
        length,
        column_type,
        flags,
        decimals,
        field_list_default: r.eof_bytes(),
    })
}

/// The values of a text-protocol row (`COM_QUERY`), in order; `None` is NULL. A row
/// carries no count of its own: `columns` is the result set's column count, and a row
/// with more or fewer values is an error. Check for ERR (`0xFF`) and [`is_end`] first:
/// neither is a row.
pub fn text_row(payload: &[u8], columns: usize) -> Result<Vec<Option<&[u8]>>, WireError> {
    let mut r = Reader::new(payload, "text row");
    // Each value takes at least one byte: the payload bounds what is reserved.
    let mut values = Vec::with_capacity(columns.min(payload.len()));
    for _ in 0..columns {
        values.push(r.lenenc_bytes_or_null()?);
    }
    r.finish()?;
    Ok(values)
}

/// A text-protocol row payload of `values`.
pub fn encode_text_row<'a>(values: impl IntoIterator<Item = Option<&'a [u8]>>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        match v {
            Some(v) => put_lenenc_bytes(&mut out, v),
            None => put_null(&mut out),
        }
    }
    out
}

/// The values of a binary-protocol row: header `0x00`, a NULL bitmap (2 bits of offset),
/// then each non-NULL value in its column's binary form.
pub fn binary_row<'a>(payload: &'a [u8], types: &[FieldType]) -> Result<Vec<Value<'a>>, WireError> {
    let mut r = Reader::new(payload, "binary row");
    if r.u8()? != 0x00 {
        return Err(r.fail("header is not 0x00"));
    }
    let nulls = r.take(bitmap_len(types.len(), 2))?;
    // The bitmap bounds the column count by the payload too.
    let mut values = Vec::with_capacity(types.len());
    for (i, &ft) in types.iter().enumerate() {
        values.push(if bit(nulls, i, 2) {
            Value::Null
        } else {
            read_value(&mut r, ft)?
        });
    }
    r.finish()?;
    Ok(values)
}

/// A binary-protocol row payload of `values` as columns of `types`.
pub fn encode_binary_row(types: &[FieldType], values: &[Value<'_>]) -> Result<Vec<u8>, WireError> {
    if types.len() != values.len() {
        return Err(bad("binary row", "values and columns differ in number"));
    }
    let head = 1 + bitmap_len(types.len(), 2);
    let mut out = vec![0; head];
    for (i, (&ft, v)) in types.iter().zip(values).enumerate() {
        if matches!(v, Value::Null) {
            out[1 + (i + 2) / 8] |= 1 << ((i + 2) % 8);
        } else {
            write_value(&mut out, ft, v, i)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mysql::handshake::tests::hex;
    use crate::wire::mysql::packet::next_payload;
    use crate::wire::mysql::value::{DateTime, Time};

    /// The capabilities the `mariadb` client negotiated with MariaDB 10.11 (no
    /// DEPRECATE_EOF, extended metadata).
    const CLI: Capabilities = Capabilities(0x1d_00bf_a28c);
    /// A raw client's: PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH(_LENENC), TRANSACTIONS,
    /// MULTI_*, DEPRECATE_EOF, SESSION_TRACK, CONNECT_WITH_DB; no extended capabilities.
    const RAW: Capabilities = Capabilities(0x01af_a208);

    fn payloads(wire: &[u8]) -> Vec<Vec<u8>> {
        let mut rest = wire;
        let mut out = Vec::new();
        while let Some(p) = next_payload(rest, 1 << 20).expect("valid") {
            out.push(p.data.to_vec());
            rest = &rest[p.len..];
        }
        assert!(rest.is_empty(), "whole packets");
        out
    }

    #[test]
    fn text_result_set_from_the_cli() {
        // SELECT 1 AS one, NULL AS n, 'abc' AS s — as MariaDB answered the mariadb client.
        let wire = hex("02000001 03 01 \
             1a000002 03646566 00 00 00 036f6e65 00 00 0c 3f00 01000000 03 8100 00 0000 \
             18000003 03646566 00 00 00 016e 00 00 0c 3f00 00000000 06 8000 00 0000 \
             18000004 03646566 00 00 00 0173 00 00 0c 2100 09000000 fd 0100 27 0000 \
             05000005 fe 0000 0200 \
             07000006 0131 fb 03616263 \
             05000007 fe 0000 0200");
        let p = payloads(&wire);
        assert_eq!(
            parse_query_response(&p[0], CLI),
            Ok(QueryResponse::ResultSet(ColumnCount {
                count: 3,
                metadata_follows: true
            }))
        );
        let cols: Vec<_> = p[1..4]
            .iter()
            .map(|c| parse_column_definition(c, CLI).expect("column"))
            .collect();
        assert_eq!(cols[0].name, b"one");
        assert_eq!(cols[0].extended, Some(&b""[..]));
        assert_eq!(
            (cols[0].column_type, cols[0].length, cols[0].charset),
            (ColumnType::LONG, 1, 63)
        );
        assert!(
            cols[0]
                .flags
                .contains(ColumnFlags::NOT_NULL | ColumnFlags::BINARY)
        );
        assert_eq!(cols[1].column_type, ColumnType::NULL);
        assert_eq!(
            (cols[2].column_type, cols[2].charset, cols[2].decimals),
            (ColumnType::VAR_STRING, 33, 0x27)
        );
        for (c, raw) in cols.iter().zip(&p[1..4]) {
            assert_eq!(&c.encode(CLI), raw);
        }
        assert!(is_end(&p[4], CLI));
        assert_eq!(
            parse_end(&p[4], CLI),
            Ok(End::Eof(EofPacket {
                warnings: 0,
                status: Status::AUTOCOMMIT
            }))
        );
        assert!(!is_end(&p[5], CLI));
        let row = text_row(&p[5], 3).expect("row");
        assert_eq!(row, [Some(&b"1"[..]), None, Some(b"abc")]);
        assert_eq!(encode_text_row(row.iter().copied()), p[5]);
        // Masking rewrites a value and the length with it.
        let masked = encode_text_row([Some(&b"1"[..]), None, Some(b"*")]);
        assert_eq!(masked, [1, b'1', 0xfb, 1, b'*']);
        assert_eq!(EofPacket::default().encode(CLI).len(), 5);
        // Truncated rows and definitions are errors.
        for cut in 0..p[5].len() {
            assert!(text_row(&p[5][..cut], 3).is_err(), "cut at {cut}");
        }
        assert!(text_row(&p[5], 2).is_err(), "a value too many");
        assert!(text_row(&p[5], 4).is_err(), "a value too few");
        assert_eq!(text_row(&[], 0), Ok(vec![]));
        for cut in 0..p[1].len() {
            assert!(
                parse_column_definition(&p[1][..cut], CLI).is_err(),
                "cut {cut}"
            );
        }
        assert!(
            text_row(&[0x05, b'a'], 1).is_err(),
            "length past the payload"
        );
        assert!(text_row(&[0xff, 0, 0], 1).is_err(), "an ERR is not a row");
    }

    #[test]
    fn multi_results_ok_err_with_deprecate_eof() {
        // SELECT 1 AS a; SELECT 2 AS b — the first result's end says more follow.
        let wire = hex("01000001 01 \
             17000002 03646566 00 00 00 0161 00 0c 3f00 01000000 03 8100 00 0000 \
             02000003 0131 \
             07000004 fe 00 00 0a00 0000 \
             01000005 01");
        let p = payloads(&wire);
        let col = parse_column_definition(&p[1], RAW).expect("column");
        assert_eq!((col.name, col.extended), (&b"a"[..], None));
        assert_eq!(col.encode(RAW), p[1]);
        assert!(!is_end(&p[2], RAW));
        assert!(is_end(&p[3], RAW));
        let end = parse_end(&p[3], RAW).expect("end");
        assert!(end.status().contains(Status::MORE_RESULTS_EXISTS));
        let End::Ok(ok) = &end else {
            panic!("an OK with DEPRECATE_EOF")
        };
        assert_eq!(ok.header, 0xFE);
        assert_eq!(ok.encode(RAW), p[3]);
        assert!(parse_end(&p[3], CLI).is_err(), "7 bytes, not an EOF's 5");
        assert!(parse_end(&p[2], RAW).is_err());

        // SET @a = 1 → OK; the login's OK with a session-state change (schema mysql).
        let ok = hex("00 00 00 0200 0000");
        let QueryResponse::Ok(o) = parse_query_response(&ok, RAW).expect("ok") else {
            panic!("not OK")
        };
        assert_eq!(
            (o.affected_rows, o.status, o.info),
            (0, Status::AUTOCOMMIT, &b""[..])
        );
        assert_eq!(o.encode(RAW), ok);
        let login = hex("00 00 00 0240 0000 00 08 0106056d7973716c");
        let o = parse_ok(&login, CLI).expect("ok");
        assert_eq!(o.session_state, Some(&hex("0106056d7973716c")[..]));
        assert_eq!(o.encode(CLI), login);
        let update = OkPacket {
            header: 0,
            affected_rows: 300,
            last_insert_id: 70_000,
            status: Status::AUTOCOMMIT | Status::IN_TRANS,
            warnings: 1,
            info: b"Rows matched: 300  Changed: 300  Warnings: 1",
            session_state: None,
        };
        for caps in [CLI, RAW, Capabilities::PROTOCOL_41] {
            assert_eq!(parse_ok(&update.encode(caps), caps).as_ref(), Ok(&update));
        }

        // SELECT * FROM no_such_table → ERR 1146 with SQLSTATE 42S02.
        let err = hex(
            "ff 7a04 23 3432533032 5461626c6520276d7973716c2e6e6f5f737563685f7461626c652720646f65736e2774206578697374",
        );
        let QueryResponse::Err(e) = parse_query_response(&err, RAW).expect("err") else {
            panic!("not ERR")
        };
        assert_eq!((e.code, e.sql_state), (1146, Some(*b"42S02")));
        assert_eq!(e.message, b"Table 'mysql.no_such_table' doesn't exist");
        assert_eq!(e.encode(RAW), err);
        let pre41 = parse_err(&err, Capabilities::empty()).expect("err");
        assert_eq!(pre41.sql_state, None);
        assert!(parse_err(&[0xff, 1], RAW).is_err());
        let progress = parse_err(&[0xff, 0xff, 0xff, b'#', 1, 2], RAW).expect("progress");
        assert!(progress.is_progress() && progress.sql_state.is_none());

        assert_eq!(
            parse_query_response(b"\xfb/etc/passwd", RAW),
            Ok(QueryResponse::LocalInfile(b"/etc/passwd"))
        );
        assert!(parse_query_response(&[], RAW).is_err());
        assert!(parse_query_response(&[0], RAW).is_err(), "truncated OK");
        assert!(parse_column_count(&[0], RAW).is_err(), "zero columns");
        assert!(parse_column_count(&[2, 0], RAW).is_err(), "trailing byte");
        let cached = Capabilities::MARIADB_CACHE_METADATA;
        let skip = ColumnCount {
            count: 4,
            metadata_follows: false,
        };
        assert_eq!(parse_column_count(&skip.encode(cached), cached), Ok(skip));
    }

    /// The prepared statement's ten result columns, as the server described them.
    fn prepared_types() -> Vec<FieldType> {
        use ColumnType as T;
        [
            (T::VAR_STRING, false),
            (T::LONG, false),
            (T::DOUBLE, false),
            (T::DATE, false),
            (T::DATETIME, false),
            (T::TIME, false),
            (T::VAR_STRING, false),
            (T::NULL, false),
            (T::NEWDECIMAL, false),
            (T::LONG, true),
        ]
        .into_iter()
        .map(|(t, u)| FieldType::new(t, u))
        .collect()
    }

    #[test]
    fn binary_result_set_with_cursor() {
        // COM_STMT_PREPARE_OK: statement 1, 10 columns, 1 parameter.
        let prep = hex("00 01000000 0a00 0100 00 0000");
        let ok = parse_prepare_ok(&prep, RAW).expect("prepare ok");
        assert_eq!(
            ok,
            StmtPrepareOk {
                statement_id: 1,
                columns: 10,
                params: 1,
                warnings: 0,
                metadata_follows: true
            }
        );
        assert_eq!(ok.encode(RAW), prep);
        assert!(parse_prepare_ok(&prep[..5], RAW).is_err());
        // Column `u` (CAST(7 AS UNSIGNED)): flags carry UNSIGNED.
        let u = hex("036465660000000175000c3f000100000003a100000000");
        let u = parse_column_definition(&u, RAW).expect("column");
        assert_eq!(u.field_type(), FieldType::new(ColumnType::LONG, true));

        // The row of `SELECT ? AS p, CAST(-5 AS SIGNED) AS i, … ` with p = 'x'.
        let row = hex(
            "00 0002 0178 fbffffff 0000000000000c40 04e807021d 0be807021d0d2d0190d00300 \
             0c0101000000010102 20a10700 095a68616e672053616e 04312e3530 07000000",
        );
        let types = prepared_types();
        let values = binary_row(&row, &types).expect("row");
        let when = DateTime {
            year: 2024,
            month: 2,
            day: 29,
            ..DateTime::default()
        };
        assert_eq!(
            values,
            [
                Value::Bytes(b"x"),
                Value::Int(-5),
                Value::Double(3.5),
                Value::DateTime(when),
                Value::DateTime(DateTime {
                    hour: 13,
                    minute: 45,
                    second: 1,
                    micros: 250_000,
                    ..when
                }),
                Value::Time(Time {
                    negative: true,
                    days: 1,
                    hours: 1,
                    minutes: 1,
                    seconds: 2,
                    micros: 500_000
                }),
                Value::Bytes(b"Zhang San"),
                Value::Null,
                Value::Bytes(b"1.50"),
                Value::UInt(7),
            ]
        );
        assert_eq!(encode_binary_row(&types, &values), Ok(row.clone()));
        // Masking the name: the length changes, the rest stays.
        let mut masked = values.clone();
        masked[6] = Value::Bytes(b"Zhang *");
        let again = encode_binary_row(&types, &masked).expect("encodes");
        assert_eq!(again.len(), row.len() - 2);
        assert_eq!(binary_row(&again, &types), Ok(masked));
        // Wrong value kinds and counts are refused.
        let mut wrong = values.clone();
        wrong[1] = Value::Bytes(b"***");
        assert_eq!(
            encode_binary_row(&types, &wrong),
            Err(WireError::ValueMismatch { index: 1, ty: 3 })
        );
        assert!(encode_binary_row(&types[1..], &values).is_err());
        // Truncated, extended, wrong header, wrong column count: errors.
        for cut in 0..row.len() {
            assert!(binary_row(&row[..cut], &types).is_err(), "cut at {cut}");
        }
        let mut long = row.clone();
        long.push(0);
        assert!(binary_row(&long, &types).is_err());
        assert!(binary_row(&row, &types[..9]).is_err());
        let mut header = row.clone();
        header[0] = 1;
        assert!(binary_row(&header, &types).is_err());

        // With a read-only cursor: the metadata ends with CURSOR_EXISTS, a fetch's rows
        // end without LAST_ROW_SENT, the final fetch with it.
        for (end, last) in [("fe00004200 0000", false), ("fe00008200 0000", true)] {
            let end = hex(end);
            let status = parse_end(&end, RAW).expect("end").status();
            assert!(status.contains(Status::AUTOCOMMIT));
            assert_eq!(status.contains(Status::CURSOR_EXISTS), !last);
            assert_eq!(status.contains(Status::LAST_ROW_SENT), last);
        }
    }

    #[test]
    fn null_bitmap_past_eight_columns() {
        let types = vec![FieldType::new(ColumnType::TINY, false); 15];
        let values: Vec<Value<'_>> = (0..15)
            .map(|i| {
                if i % 3 == 0 {
                    Value::Null
                } else {
                    Value::Int(i)
                }
            })
            .collect();
        let row = encode_binary_row(&types, &values).expect("encodes");
        assert_eq!(row.len(), 1 + 3 + 10, "bitmap of (15 + 2 + 7) / 8 bytes");
        assert_eq!(binary_row(&row, &types), Ok(values));
        assert_eq!(encode_binary_row(&[], &[]), Ok(vec![0, 0]));
        assert_eq!(binary_row(&[0, 0], &[]), Ok(vec![]));
    }
}
