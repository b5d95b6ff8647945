//! The server messages whose content the firewall and the sensor read: result columns
//! (`T`), rows (`D`), completion tags (`C`), errors and notices (`E`/`N`), the cancel key
//! (`K`). Everything else is forwarded as a frame. Bodies come from [`super::next_frame`];
//! decoding checks every count and length against the body, never trusting the wire.

use super::parser::{WireError, cstr, frame};

fn bad(kind: &'static str, reason: &'static str) -> WireError {
    WireError::Malformed { kind, reason }
}

/// A big-endian reader over a message body that fails instead of panicking.
struct Cursor<'a> {
    rest: &'a [u8],
    kind: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(body: &'a [u8], kind: &'static str) -> Self {
        Cursor { rest: body, kind }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(bad(self.kind, "shorter than its fields say"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i16(&mut self) -> Result<i16, WireError> {
        Ok(self.u16()? as i16)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, WireError> {
        Ok(self.u32()? as i32)
    }

    fn str(&mut self) -> Result<&'a str, WireError> {
        let (s, rest) = cstr(self.rest).ok_or(bad(self.kind, "unterminated string"))?;
        self.rest = rest;
        Ok(s)
    }

    /// A value of a row or a parameter: `-1` length is NULL.
    fn value(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => Err(bad(self.kind, "negative value length")),
            n => self.take(n as usize).map(Some),
        }
    }
}

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The table the column comes from (0: an expression).
    pub table_oid: u32,
    pub type_oid: u32,
    /// 0 text, 1 binary; in the answer to Describe of a statement always 0 (not yet known).
    pub format: i16,
}

/// Decodes a RowDescription (`T`) body.
pub fn row_description(body: &[u8]) -> Result<Vec<Field>, WireError> {
    let mut c = Cursor::new(body, "RowDescription");
    let n = c.u16()? as usize;
    // Each field takes at least 19 bytes: a count past that is a lie, not a reason to
    // reserve memory.
    let mut fields = Vec::with_capacity(n.min(body.len() / 19));
    for _ in 0..n {
        let name = c.str()?.to_owned();
        let table_oid = c.u32()?;
        let _column = c.i16()?;
        let type_oid = c.u32()?;
        let _size = c.i16()?;
        let _modifier = c.i32()?;
        let format = c.i16()?;
        fields.push(Field {
            name,
            table_oid,
            type_oid,
            format,
        });
    }
    Ok(fields)
}

/// The values of a DataRow (`D`) body, in order; `None` is NULL.
pub fn data_row(body: &[u8]) -> Result<Vec<Option<&[u8]>>, WireError> {
    let mut c = Cursor::new(body, "DataRow");
    let n = c.u16()? as usize;
    let mut values = Vec::with_capacity(n.min(body.len() / 4));
    for _ in 0..n {
        values.push(c.value()?);
    }
    if !c.rest.is_empty() {
        return Err(bad("DataRow", "bytes after the last value"));
    }
    Ok(values)
}

/// A DataRow message (`D`, header included) of `values`.
pub fn encode_data_row<'a>(values: impl ExactSizeIterator<Item = Option<&'a [u8]>>) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + values.len() * 16);
    body.extend_from_slice(&(values.len() as u16).to_be_bytes());
    for v in values {
        match v {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                body.extend_from_slice(&(v.len() as u32).to_be_bytes());
                body.extend_from_slice(v);
            }
        }
    }
    frame(b'D', &body)
}

/// The rows a CommandComplete (`C`) tag reports: `SELECT 5`, `INSERT 0 5`, `UPDATE 3`,
/// `COPY 10`, `FETCH 7`; `None` for tags without a count (`BEGIN`, `CREATE TABLE`).
pub fn command_rows(tag: &str) -> Option<u64> {
    let mut words = tag.split(' ');
    let verb = words.next()?;
    let last = tag.rsplit(' ').next()?;
    match verb {
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" | "FETCH" | "MOVE" => {
            last.parse().ok()
        }
        _ => None,
    }
}

/// Decodes a CommandComplete (`C`) body: its tag.
pub fn command_complete(body: &[u8]) -> Result<&str, WireError> {
    Cursor::new(body, "CommandComplete").str()
}

/// The fields of an ErrorResponse (`E`) or NoticeResponse (`N`) that Tianmu records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// `ERROR`, `FATAL`, `WARNING`, … (the non-localized `V` field when present).
    pub severity: String,
    /// SQLSTATE (`C`).
    pub code: String,
    pub message: String,
}

/// Decodes an ErrorResponse or NoticeResponse body.
pub fn notice(body: &[u8]) -> Result<Notice, WireError> {
    let mut c = Cursor::new(body, "ErrorResponse");
    let mut n = Notice::default();
    loop {
        let field = c.take(1)?[0];
        if field == 0 {
            return Ok(n);
        }
        let value = c.str()?;
        match field {
            b'V' => value.clone_into(&mut n.severity),
            b'S' if n.severity.is_empty() => value.clone_into(&mut n.severity),
            b'C' => value.clone_into(&mut n.code),
            b'M' => value.clone_into(&mut n.message),
            _ => {}
        }
    }
}

/// Decodes a BackendKeyData (`K`) body: the server process id and its cancel secret.
pub fn backend_key(body: &[u8]) -> Result<(u32, u32), WireError> {
    let mut c = Cursor::new(body, "BackendKeyData");
    Ok((c.u32()?, c.u32()?))
}

/// The result-column formats a Bind (`B`) body asks for: none (all text), one (for all
/// columns) or one per column; each 0 (text) or 1 (binary).
pub fn bind_result_formats(body: &[u8]) -> Result<Vec<i16>, WireError> {
    let mut c = Cursor::new(body, "Bind");
    c.str()?;
    c.str()?;
    let n = c.u16()? as usize;
    c.take(n * 2)?;
    let params = c.u16()?;
    for _ in 0..params {
        c.value()?;
    }
    let n = c.u16()? as usize;
    let mut formats = Vec::with_capacity(n.min(c.rest.len() / 2));
    for _ in 0..n {
        formats.push(c.i16()?);
    }
    Ok(formats)
}

/// The format of result column `i` under Bind's result formats.
pub fn format_of(formats: &[i16], i: usize) -> i16 {
    match formats {
        [] => 0,
        [one] => *one,
        many => many.get(i).copied().unwrap_or(0),
    }
}

/// The CancelRequest a client sends for the backend `(pid, secret)`.
pub fn cancel_request(pid: u32, secret: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&16u32.to_be_bytes());
    m[4..8].copy_from_slice(&super::parser::CANCEL_REQUEST.to_be_bytes());
    m[8..12].copy_from_slice(&pid.to_be_bytes());
    m[12..].copy_from_slice(&secret.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, type_oid: u32, format: i16) -> Vec<u8> {
        let mut b = name.as_bytes().to_vec();
        b.push(0);
        b.extend(16384u32.to_be_bytes());
        b.extend(2i16.to_be_bytes());
        b.extend(type_oid.to_be_bytes());
        b.extend((-1i16).to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.extend(format.to_be_bytes());
        b
    }

    #[test]
    fn row_descriptions_and_rows() {
        let mut t = 2u16.to_be_bytes().to_vec();
        t.extend(field("name", 1043, 0));
        t.extend(field("id_card", 25, 1));
        let fields = row_description(&t).expect("valid");
        assert_eq!(fields.len(), 2);
        assert_eq!(
            (
                fields[1].name.as_str(),
                fields[1].type_oid,
                fields[1].format
            ),
            ("id_card", 25, 1)
        );
        // A count larger than the body: an error, not an allocation or a panic.
        let mut lie = 60000u16.to_be_bytes().to_vec();
        lie.extend(field("a", 25, 0));
        assert!(row_description(&lie).is_err());

        let row = encode_data_row([Some(&b"Zhang"[..]), None, Some(b"")].into_iter());
        assert_eq!(row[0], b'D');
        let values = data_row(&row[5..]).expect("valid");
        assert_eq!(values, [Some(&b"Zhang"[..]), None, Some(&b""[..])]);
        for cut in 5..row.len() - 1 {
            assert!(data_row(&row[5..cut]).is_err(), "cut at {cut}");
        }
        assert!(
            data_row(&[0, 1, 0xff, 0xff, 0xff, 0xfe]).is_err(),
            "length -2"
        );
        assert!(
            data_row(&[0, 1, 0x7f, 0xff, 0xff, 0xff]).is_err(),
            "length past the body"
        );
    }

    #[test]
    fn completion_tags_errors_and_keys() {
        let table = [
            ("SELECT 5", Some(5)),
            ("INSERT 0 12", Some(12)),
            ("UPDATE 3", Some(3)),
            ("COPY 100", Some(100)),
            ("FETCH 0", Some(0)),
            ("BEGIN", None),
            ("CREATE TABLE", None),
            ("", None),
        ];
        for (tag, want) in table {
            assert_eq!(command_rows(tag), want, "{tag}");
        }
        let e = super::super::parser::error_response("42501", "no", None);
        let n = notice(&e[5..]).expect("valid");
        assert_eq!(
            (n.severity.as_str(), n.code.as_str(), n.message.as_str()),
            ("ERROR", "42501", "no")
        );
        assert!(notice(b"Cx").is_err(), "unterminated");
        assert_eq!(backend_key(&[0, 0, 1, 0, 0, 0, 0, 7]), Ok((256, 7)));
        assert!(backend_key(&[0, 0, 1]).is_err());
        let c = cancel_request(256, 7);
        assert_eq!(
            super::super::parser::parse_startup(&c[4..]),
            Ok(super::super::parser::Startup::Cancel {
                pid: 256,
                secret: 7
            })
        );
    }

    #[test]
    fn bind_formats() {
        // portal "", statement "s", 1 param format (binary), 1 param "42", 2 result formats.
        let mut b = b"\0s\0".to_vec();
        b.extend([0, 1, 0, 1]);
        b.extend([0, 1, 0, 0, 0, 2, b'4', b'2']);
        b.extend([0, 2, 0, 0, 0, 1]);
        assert_eq!(bind_result_formats(&b), Ok(vec![0, 1]));
        assert_eq!(format_of(&[0, 1], 1), 1);
        assert_eq!(format_of(&[1], 7), 1);
        assert_eq!(format_of(&[], 3), 0);
        assert!(bind_result_formats(&b[..b.len() - 1]).is_err());
    }
}
