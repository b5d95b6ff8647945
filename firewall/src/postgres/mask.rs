//! Masking PostgreSQL result values in place: which columns of a result carry a masked
//! output, and the DataRow rewritten with their values masked and the lengths fixed up.
//!
//! Text-format values and binary values of text types are masked as text. A binary value
//! of another type, or a masked text that its type cannot hold (`12****` in an integer
//! column), becomes NULL: the client must be able to decode what it receives, and a value
//! that cannot be shown masked is not shown. Dates masked to their year become 1 January
//! of that year, in either format.

use rules::mask::Mask;
use rules::policy::OutputMask;

use crate::decide::masked_columns;
use sensor::wire::postgres::backend::{self, Field, format_of};
use sensor::wire::postgres::parser::WireError;

/// One result column to mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub index: usize,
    pub mask: Mask,
    pub binary: bool,
    /// The column's type (0: unknown, treated as text).
    pub type_oid: u32,
}

const TEXT: u32 = 25;
const VARCHAR: u32 = 1043;
const BPCHAR: u32 = 1042;
const NAME: u32 = 19;
const UNKNOWN: u32 = 705;
const DATE: u32 = 1082;

fn text_like(oid: u32) -> bool {
    matches!(oid, 0 | TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN)
}

/// The columns to mask ([`masked_columns`]), with their formats and types.
pub fn resolve(wanted: &[OutputMask], fields: Option<&[Field]>, formats: &[i16]) -> Vec<Masked> {
    let names: Vec<&str> = fields
        .unwrap_or_default()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    masked_columns(wanted, &names)
        .into_iter()
        .map(|(index, mask)| {
            let field = fields.and_then(|f| f.get(index));
            Masked {
                index,
                mask,
                binary: field.is_some_and(|f| f.format == 1) || format_of(formats, index) == 1,
                type_oid: field.map_or(0, |f| f.type_oid),
            }
        })
        .collect()
}

/// Appends the DataRow `body` with the `masks` applied, as a whole message, to `out`.
pub fn rewrite_row(
    masks: &[Masked],
    key: &[u8],
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let values = backend::data_row(body)?;
    let masked: Vec<Option<Vec<u8>>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let m = masks.iter().find(|m| m.index == i)?;
            mask_value(m, key, (*v)?)
        })
        .collect();
    let row = backend::encode_data_row(values.iter().zip(&masked).enumerate().map(
        |(i, (v, m))| match (masks.iter().any(|k| k.index == i), v) {
            (false, v) => *v,
            (true, None) => None,
            (true, Some(_)) => m.as_deref(),
        },
    ));
    out.extend_from_slice(&row);
    Ok(())
}

/// The masked form of one non-NULL value; `None` is NULL.
fn mask_value(m: &Masked, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    if m.type_oid == DATE && m.mask == Mask::Year {
        let year = if m.binary {
            let days = i32::from_be_bytes(value.try_into().ok()?);
            let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?;
            chrono::Datelike::year(&epoch.checked_add_signed(chrono::TimeDelta::days(days.into()))?)
        } else {
            std::str::from_utf8(value).ok()?.get(..4)?.parse().ok()?
        };
        let jan1 = chrono::NaiveDate::from_ymd_opt(year, 1, 1)?;
        return Some(if m.binary {
            let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?;
            i32::try_from((jan1 - epoch).num_days())
                .ok()?
                .to_be_bytes()
                .to_vec()
        } else {
            jan1.format("%Y-%m-%d").to_string().into_bytes()
        });
    }
    if !text_like(m.type_oid) {
        return None;
    }
    // Text in an encoding other than UTF-8 cannot be cut by characters: redacted whole.
    let Ok(text) = std::str::from_utf8(value) else {
        return Mask::Redact.apply("", key).map(String::into_bytes);
    };
    m.mask.apply(text, key).map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, type_oid: u32, format: i16) -> Field {
        Field {
            name: name.into(),
            table_oid: 1,
            type_oid,
            format,
        }
    }

    fn wanted(output: &str, index: usize, mask: &str) -> OutputMask {
        OutputMask {
            index,
            output: output.into(),
            column: format!("db.public.t.{output}"),
            mask: mask.parse().expect("mask"),
            rule: "clearance".into(),
        }
    }

    #[test]
    fn columns_resolve_by_name_then_position() {
        let fields = [field("name", VARCHAR, 0), field("id_card", TEXT, 0)];
        let w = [wanted("id_card", 0, "keep 6 4")];
        let r = resolve(&w, Some(&fields), &[]);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].index, r[0].binary, r[0].type_oid), (1, false, TEXT));
        let r = resolve(&[wanted("x", 1, "redact")], Some(&fields), &[1]);
        assert_eq!(
            (r[0].index, r[0].binary),
            (1, true),
            "position, binary by Bind"
        );
        let r = resolve(&w, None, &[]);
        assert_eq!(
            (r[0].index, r[0].type_oid),
            (0, 0),
            "no description: position"
        );
    }

    fn rewrite(masks: &[Masked], values: &[Option<&[u8]>]) -> Vec<Option<Vec<u8>>> {
        let row = backend::encode_data_row(values.iter().copied());
        let mut out = Vec::new();
        rewrite_row(masks, b"k", &row[5..], &mut out).expect("valid row");
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len + 1, out.len(), "length fixed up");
        backend::data_row(&out[5..])
            .expect("valid")
            .into_iter()
            .map(|v| v.map(<[u8]>::to_vec))
            .collect()
    }

    #[test]
    fn values_are_masked_in_text_and_binary() {
        let m = |index, mask: &str, binary, type_oid| Masked {
            index,
            mask: mask.parse().expect("mask"),
            binary,
            type_oid,
        };
        let got = rewrite(
            &[
                m(1, "keep 6 4", false, TEXT),
                m(2, "keep 1 0", true, VARCHAR),
            ],
            &[
                Some(b"7"),
                Some(b"330102199001011234"),
                Some("张三丰".as_bytes()),
            ],
        );
        assert_eq!(got[0].as_deref(), Some(&b"7"[..]));
        assert_eq!(got[1].as_deref(), Some(&b"330102********1234"[..]));
        assert_eq!(got[2].as_deref(), Some("张**".as_bytes()));
        // NULL stays NULL; a binary integer cannot hold a mask: NULL.
        let got = rewrite(
            &[m(0, "keep 1 1", false, TEXT), m(1, "keep 1 1", true, 23)],
            &[None, Some(&[0, 0, 0, 42])],
        );
        assert_eq!(got, [None, None]);
        // Dates to 1 January of their year, text and binary (8475 days = 2023-03-15).
        let got = rewrite(
            &[m(0, "year", false, DATE), m(1, "year", true, DATE)],
            &[Some(b"1987-03-14"), Some(&8475i32.to_be_bytes())],
        );
        assert_eq!(got[0].as_deref(), Some(&b"1987-01-01"[..]));
        assert_eq!(got[1].as_deref(), Some(&8401i32.to_be_bytes()[..]));
        // Not UTF-8 (a GBK client encoding): redacted whole.
        let got = rewrite(
            &[m(0, "keep 1 0", false, TEXT)],
            &[Some(&[0xd5, 0xc5, 0xc8])],
        );
        assert_eq!(got[0].as_deref(), Some(&b"******"[..]));
    }
}
