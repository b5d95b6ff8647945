//! Masking MySQL result rows: which columns of a result set carry a masked output, and the
//! text-protocol (`COM_QUERY`) or binary-protocol (`COM_STMT_EXECUTE`/`FETCH`) row
//! re-encoded with their values masked.
//!
//! As for PostgreSQL (`postgres::mask`): string columns are masked as text; dates masked to
//! their year become 1 January of that year (midnight for date-times); a value of any
//! other type, which a typed client could not decode once masked (`12****` in an `INT`),
//! becomes NULL. Text that is not UTF-8 is redacted whole.

use rules::mask::Mask;
use rules::policy::OutputMask;
use sensor::wire::mysql::value::DateTime;
use sensor::wire::mysql::{ColumnType, FieldType, Value, WireError, result};

use crate::decide::masked_columns;

/// A result column as the firewall keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ft: FieldType,
}

/// One result column to mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Masked {
    pub index: usize,
    pub mask: Mask,
    pub ty: ColumnType,
}

/// The columns to mask ([`masked_columns`]), with their types; a position past the
/// result's columns is none.
pub fn resolve(wanted: &[OutputMask], columns: &[Column]) -> Vec<Masked> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    masked_columns(wanted, &names)
        .into_iter()
        .filter_map(|(index, mask)| {
            columns.get(index).map(|c| Masked {
                index,
                mask,
                ty: c.ft.ty,
            })
        })
        .collect()
}

fn is_text(ty: ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::VARCHAR
            | ColumnType::VAR_STRING
            | ColumnType::STRING
            | ColumnType::TINY_BLOB
            | ColumnType::MEDIUM_BLOB
            | ColumnType::LONG_BLOB
            | ColumnType::BLOB
            | ColumnType::ENUM
            | ColumnType::SET
            | ColumnType::JSON
    )
}

fn is_date(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::DATE | ColumnType::NEWDATE)
}

fn is_datetime(ty: ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::DATETIME
            | ColumnType::DATETIME2
            | ColumnType::TIMESTAMP
            | ColumnType::TIMESTAMP2
    )
}

/// The masked text of a string value; `None` is NULL.
fn mask_text(mask: Mask, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    match std::str::from_utf8(value) {
        Ok(text) => mask.apply(text, key).map(String::into_bytes),
        Err(_) => Mask::Redact.apply("", key).map(String::into_bytes),
    }
}

/// The masked form of one text-protocol value; `None` is NULL.
fn mask_text_value(m: &Masked, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    if (is_date(m.ty) || is_datetime(m.ty)) && m.mask == Mask::Year {
        let year: u16 = std::str::from_utf8(value.get(..4)?).ok()?.parse().ok()?;
        let text = if is_date(m.ty) {
            format!("{year:04}-01-01")
        } else {
            format!("{year:04}-01-01 00:00:00")
        };
        return Some(text.into_bytes());
    }
    if !is_text(m.ty) {
        return None;
    }
    mask_text(m.mask, key, value)
}

/// Appends the text-protocol row `payload` of `columns` columns with the `masks` applied.
pub fn rewrite_text_row(
    masks: &[Masked],
    key: &[u8],
    payload: &[u8],
    columns: usize,
) -> Result<Vec<u8>, WireError> {
    let values = result::text_row(payload, columns)?;
    let masked: Vec<Option<Vec<u8>>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let m = masks.iter().find(|m| m.index == i)?;
            mask_text_value(m, key, (*v)?)
        })
        .collect();
    Ok(result::encode_text_row(
        values.iter().zip(&masked).enumerate().map(|(i, (v, m))| {
            match masks.iter().any(|k| k.index == i) {
                false => *v,
                true => v.and(m.as_deref()),
            }
        }),
    ))
}

/// The re-encoded binary-protocol row `payload` of `types` with the `masks` applied.
pub fn rewrite_binary_row(
    masks: &[Masked],
    key: &[u8],
    payload: &[u8],
    types: &[FieldType],
) -> Result<Vec<u8>, WireError> {
    let values = result::binary_row(payload, types)?;
    let mut owned: Vec<Option<Vec<u8>>> = vec![None; values.len()];
    let mut out: Vec<Value<'_>> = values.clone();
    for m in masks {
        let Some(v) = values.get(m.index) else {
            continue;
        };
        out[m.index] = match (v, m.mask) {
            (Value::Null, _) => Value::Null,
            (Value::DateTime(d), Mask::Year) => Value::DateTime(DateTime {
                year: d.year,
                month: 1,
                day: 1,
                ..DateTime::default()
            }),
            (Value::Bytes(b), mask) if is_text(m.ty) => {
                owned[m.index] = mask_text(mask, key, b);
                Value::Null
            }
            _ => Value::Null,
        };
    }
    for (i, o) in owned.iter().enumerate() {
        if let Some(b) = o {
            out[i] = Value::Bytes(b);
        }
    }
    result::encode_binary_row(types, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: ColumnType) -> Column {
        Column {
            name: name.into(),
            ft: FieldType::new(ty, false),
        }
    }

    fn wanted(output: &str, index: usize, mask: &str) -> OutputMask {
        OutputMask {
            index,
            output: output.into(),
            column: format!("db.t.{output}"),
            mask: mask.parse().expect("mask"),
            rule: "clearance".into(),
        }
    }

    #[test]
    fn columns_resolve_by_name_then_position() {
        let cols = [
            col("name", ColumnType::VAR_STRING),
            col("id_card", ColumnType::VAR_STRING),
        ];
        let r = resolve(&[wanted("ID_CARD", 0, "keep 6 4")], &cols);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].index, 1);
        let r = resolve(&[wanted("x", 1, "redact")], &cols);
        assert_eq!(r[0].index, 1, "position");
        assert!(resolve(&[wanted("x", 5, "redact")], &cols).is_empty());
    }

    #[test]
    fn text_rows_are_masked_and_typed_values_nulled() {
        let m = |index, mask: &str, ty| Masked {
            index,
            mask: mask.parse().expect("mask"),
            ty,
        };
        let masks = [
            m(1, "keep 6 4", ColumnType::VAR_STRING),
            m(2, "keep 1 0", ColumnType::VAR_STRING),
            m(3, "keep 1 1", ColumnType::LONG),
            m(4, "year", ColumnType::DATE),
        ];
        let row = result::encode_text_row([
            Some(&b"7"[..]),
            Some(b"330102199001011234"),
            Some("张三丰".as_bytes()),
            Some(b"42"),
            Some(b"1987-03-14"),
        ]);
        let got = rewrite_text_row(&masks, b"k", &row, 5).expect("valid");
        let values = result::text_row(&got, 5).expect("valid");
        assert_eq!(values[0], Some(&b"7"[..]));
        assert_eq!(values[1], Some(&b"330102********1234"[..]));
        assert_eq!(values[2], Some("张**".as_bytes()));
        assert_eq!(values[3], None);
        assert_eq!(values[4], Some(&b"1987-01-01"[..]));
        // Truncated and wrong-length rows are errors, not panics.
        assert!(rewrite_text_row(&masks, b"k", &row[..row.len() - 1], 5).is_err());
        assert!(rewrite_text_row(&masks, b"k", &row, 6).is_err());
    }

    #[test]
    fn binary_rows_are_masked() {
        let types = [
            FieldType::new(ColumnType::LONG, false),
            FieldType::new(ColumnType::VAR_STRING, false),
            FieldType::new(ColumnType::DATE, false),
        ];
        let masks = [
            Masked {
                index: 1,
                mask: "keep 3 4".parse().expect("mask"),
                ty: ColumnType::VAR_STRING,
            },
            Masked {
                index: 2,
                mask: Mask::Year,
                ty: ColumnType::DATE,
            },
        ];
        let d = DateTime {
            year: 1990,
            month: 5,
            day: 17,
            ..DateTime::default()
        };
        let row = result::encode_binary_row(
            &types,
            &[
                Value::Int(7),
                Value::Bytes(b"13812345678"),
                Value::DateTime(d),
            ],
        )
        .expect("encode");
        let got = rewrite_binary_row(&masks, b"k", &row, &types).expect("valid");
        let values = result::binary_row(&got, &types).expect("valid");
        assert_eq!(values[0], Value::Int(7));
        assert_eq!(values[1], Value::Bytes(b"138****5678"));
        assert!(matches!(
            values[2],
            Value::DateTime(DateTime {
                year: 1990,
                month: 1,
                day: 1,
                ..
            })
        ));
        assert!(rewrite_binary_row(&masks, b"k", &row[..row.len() - 2], &types).is_err());
    }
}
