//! Column types and the binary protocol's value encoding, shared by prepared-statement
//! parameters (`COM_STMT_EXECUTE`, query attributes) and binary result rows.
//!
//! Integers are fixed-width little-endian (1, 2, 4 or 8 bytes by type), `FLOAT`/`DOUBLE`
//! IEEE-754, dates and times a length byte and as many fields as are non-zero, and
//! everything else (strings, decimals, blobs, JSON, bits, enums) a length-encoded string.

use super::packet::{Reader, WireError, put_lenenc_bytes};

/// A column or parameter type (`enum_field_types`). A newtype rather than an enum: types
/// a newer server invents still decode (as long as no value of them must be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColumnType(pub u8);

impl ColumnType {
    pub const DECIMAL: Self = Self(0x00);
    pub const TINY: Self = Self(0x01);
    pub const SHORT: Self = Self(0x02);
    pub const LONG: Self = Self(0x03);
    pub const FLOAT: Self = Self(0x04);
    pub const DOUBLE: Self = Self(0x05);
    pub const NULL: Self = Self(0x06);
    pub const TIMESTAMP: Self = Self(0x07);
    pub const LONGLONG: Self = Self(0x08);
    pub const INT24: Self = Self(0x09);
    pub const DATE: Self = Self(0x0A);
    pub const TIME: Self = Self(0x0B);
    pub const DATETIME: Self = Self(0x0C);
    pub const YEAR: Self = Self(0x0D);
    pub const NEWDATE: Self = Self(0x0E);
    pub const VARCHAR: Self = Self(0x0F);
    pub const BIT: Self = Self(0x10);
    pub const TIMESTAMP2: Self = Self(0x11);
    pub const DATETIME2: Self = Self(0x12);
    pub const TIME2: Self = Self(0x13);
    pub const VECTOR: Self = Self(0xF2);
    pub const JSON: Self = Self(0xF5);
    pub const NEWDECIMAL: Self = Self(0xF6);
    pub const ENUM: Self = Self(0xF7);
    pub const SET: Self = Self(0xF8);
    pub const TINY_BLOB: Self = Self(0xF9);
    pub const MEDIUM_BLOB: Self = Self(0xFA);
    pub const LONG_BLOB: Self = Self(0xFB);
    pub const BLOB: Self = Self(0xFC);
    pub const VAR_STRING: Self = Self(0xFD);
    pub const STRING: Self = Self(0xFE);
    pub const GEOMETRY: Self = Self(0xFF);

    /// How a value of this type is laid out in the binary protocol; `None` for types
    /// with no binary form.
    pub fn encoding(self) -> Option<Encoding> {
        Some(match self.0 {
            0x01 => Encoding::Int(1),
            0x02 | 0x0D => Encoding::Int(2),
            0x03 | 0x09 => Encoding::Int(4),
            0x08 => Encoding::Int(8),
            0x04 => Encoding::Float,
            0x05 => Encoding::Double,
            0x06 => Encoding::Null,
            0x07 | 0x0A | 0x0C | 0x0E | 0x11 | 0x12 => Encoding::DateTime,
            0x0B | 0x13 => Encoding::Time,
            0x00 | 0x0F | 0x10 | 0xF2 | 0xF5..=0xFF => Encoding::Bytes,
            _ => return None,
        })
    }
}

/// The binary layout of a [`ColumnType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A little-endian integer of this many bytes.
    Int(u8),
    Float,
    Double,
    /// No bytes (the `NULL` type).
    Null,
    /// Length byte (0, 4, 7 or 11) and date, time, microseconds.
    DateTime,
    /// Length byte (0, 8 or 12), sign, days, time, microseconds.
    Time,
    /// A length-encoded string.
    Bytes,
}

/// A type with its signedness: what reading a binary value needs. Parameters carry the
/// `UNSIGNED` bit in their type's second byte, result columns in their flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldType {
    pub ty: ColumnType,
    pub unsigned: bool,
}

impl FieldType {
    pub fn new(ty: ColumnType, unsigned: bool) -> Self {
        FieldType { ty, unsigned }
    }
}

/// A `DATE`, `DATETIME` or `TIMESTAMP` value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub micros: u32,
}

/// A `TIME` value: a signed duration of days and a time of day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Time {
    pub negative: bool,
    pub days: u32,
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
    pub micros: u32,
}

/// One binary-protocol value. Integers are widened: `Int` for signed columns, `UInt` for
/// unsigned ones; encoding narrows them back and refuses a value that does not fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    DateTime(DateTime),
    Time(Time),
    /// Strings, decimals (as text), blobs, JSON, bits, enums, sets, geometry.
    Bytes(&'a [u8]),
}

/// Reads one value of `ft` (not NULL: NULLs are in the bitmap and take no bytes).
pub fn read_value<'a>(r: &mut Reader<'a>, ft: FieldType) -> Result<Value<'a>, WireError> {
    let Some(enc) = ft.ty.encoding() else {
        return Err(WireError::UnknownType {
            kind: "binary value",
            ty: ft.ty.0,
        });
    };
    Ok(match enc {
        Encoding::Int(width) => {
            let raw = match width {
                1 => u64::from(r.u8()?),
                2 => u64::from(r.u16()?),
                4 => u64::from(r.u32()?),
                _ => r.u64()?,
            };
            if ft.unsigned {
                Value::UInt(raw)
            } else {
                // Sign-extend from the type's width.
                let shift = 64 - 8 * u32::from(width);
                Value::Int(((raw << shift) as i64) >> shift)
            }
        }
        Encoding::Float => Value::Float(f32::from_bits(r.u32()?)),
        Encoding::Double => Value::Double(f64::from_bits(r.u64()?)),
        Encoding::Null => Value::Null,
        Encoding::DateTime => {
            let len = r.u8()?;
            let mut d = DateTime::default();
            if !matches!(len, 0 | 4 | 7 | 11) {
                return Err(r.fail("date length is not 0, 4, 7 or 11"));
            }
            if len >= 4 {
                d.year = r.u16()?;
                d.month = r.u8()?;
                d.day = r.u8()?;
            }
            if len >= 7 {
                d.hour = r.u8()?;
                d.minute = r.u8()?;
                d.second = r.u8()?;
            }
            if len == 11 {
                d.micros = r.u32()?;
            }
            Value::DateTime(d)
        }
        Encoding::Time => {
            let len = r.u8()?;
            let mut t = Time::default();
            if !matches!(len, 0 | 8 | 12) {
                return Err(r.fail("time length is not 0, 8 or 12"));
            }
            if len >= 8 {
                t.negative = r.u8()? != 0;
                t.days = r.u32()?;
                t.hours = r.u8()?;
                t.minutes = r.u8()?;
                t.seconds = r.u8()?;
            }
            if len == 12 {
                t.micros = r.u32()?;
            }
            Value::Time(t)
        }
        Encoding::Bytes => Value::Bytes(r.lenenc_bytes()?),
    })
}

/// Appends `value` as a value of `ft`; `index` names it in the error when the two do not
/// match (a `Bytes` for an `INT` column, 300 for a `TINYINT`). `Null` writes nothing.
pub fn write_value(
    out: &mut Vec<u8>,
    ft: FieldType,
    value: &Value<'_>,
    index: usize,
) -> Result<(), WireError> {
    let mismatch = || WireError::ValueMismatch { index, ty: ft.ty.0 };
    let Some(enc) = ft.ty.encoding() else {
        return Err(WireError::UnknownType {
            kind: "binary value",
            ty: ft.ty.0,
        });
    };
    match (enc, value) {
        (_, Value::Null) => {}
        (Encoding::Int(width), Value::Int(v)) if !ft.unsigned => {
            let bits = 8 * u32::from(width);
            let fits = bits == 64 || (*v >= -(1i64 << (bits - 1)) && *v < (1i64 << (bits - 1)));
            if !fits {
                return Err(mismatch());
            }
            out.extend_from_slice(&v.to_le_bytes()[..usize::from(width)]);
        }
        (Encoding::Int(width), Value::UInt(v)) if ft.unsigned => {
            if width < 8 && *v >> (8 * u32::from(width)) != 0 {
                return Err(mismatch());
            }
            out.extend_from_slice(&v.to_le_bytes()[..usize::from(width)]);
        }
        (Encoding::Float, Value::Float(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Encoding::Double, Value::Double(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (Encoding::DateTime, Value::DateTime(d)) => {
            // The shortest form that holds every non-zero field, as servers send it.
            let len: u8 = if d.micros != 0 {
                11
            } else if d.hour != 0 || d.minute != 0 || d.second != 0 {
                7
            } else if d.year != 0 || d.month != 0 || d.day != 0 {
                4
            } else {
                0
            };
            out.push(len);
            if len >= 4 {
                out.extend_from_slice(&d.year.to_le_bytes());
                out.extend_from_slice(&[d.month, d.day]);
            }
            if len >= 7 {
                out.extend_from_slice(&[d.hour, d.minute, d.second]);
            }
            if len == 11 {
                out.extend_from_slice(&d.micros.to_le_bytes());
            }
        }
        (Encoding::Time, Value::Time(t)) => {
            let len: u8 = if t.micros != 0 {
                12
            } else if t.negative || t.days != 0 || t.hours != 0 || t.minutes != 0 || t.seconds != 0
            {
                8
            } else {
                0
            };
            out.push(len);
            if len >= 8 {
                out.push(u8::from(t.negative));
                out.extend_from_slice(&t.days.to_le_bytes());
                out.extend_from_slice(&[t.hours, t.minutes, t.seconds]);
            }
            if len == 12 {
                out.extend_from_slice(&t.micros.to_le_bytes());
            }
        }
        (Encoding::Bytes, Value::Bytes(b)) => put_lenenc_bytes(out, b),
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// Whether bit `i` (after `offset` unused bits) of a NULL bitmap is set.
pub(super) fn bit(bitmap: &[u8], i: usize, offset: usize) -> bool {
    let at = i + offset;
    bitmap.get(at / 8).is_some_and(|b| b & (1 << (at % 8)) != 0)
}

/// Bytes of a NULL bitmap for `n` values after `offset` unused bits.
pub(super) fn bitmap_len(n: usize, offset: usize) -> usize {
    (n + offset).div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ft(ty: ColumnType, unsigned: bool) -> FieldType {
        FieldType::new(ty, unsigned)
    }

    fn round_trip(f: FieldType, v: Value<'_>, wire: &[u8]) {
        let mut out = Vec::new();
        write_value(&mut out, f, &v, 0).expect("encodes");
        assert_eq!(out, wire, "{f:?} {v:?}");
        let mut r = Reader::new(wire, "test");
        assert_eq!(read_value(&mut r, f), Ok(v));
        assert!(r.is_empty());
        for cut in 0..wire.len() {
            assert!(
                read_value(&mut Reader::new(&wire[..cut], "test"), f).is_err(),
                "{f:?} cut at {cut}"
            );
        }
    }

    #[test]
    fn values_round_trip() {
        use ColumnType as T;
        round_trip(ft(T::TINY, false), Value::Int(-1), &[0xff]);
        round_trip(ft(T::TINY, true), Value::UInt(255), &[0xff]);
        round_trip(ft(T::SHORT, false), Value::Int(-2), &[0xfe, 0xff]);
        round_trip(ft(T::YEAR, true), Value::UInt(2024), &[0xe8, 0x07]);
        // -5 as the server sent it for CAST(-5 AS SIGNED) (a LONG column).
        round_trip(
            ft(T::LONG, false),
            Value::Int(-5),
            &[0xfb, 0xff, 0xff, 0xff],
        );
        round_trip(ft(T::INT24, true), Value::UInt(7), &[7, 0, 0, 0]);
        round_trip(ft(T::LONGLONG, true), Value::UInt(u64::MAX), &[0xff; 8]);
        round_trip(
            ft(T::LONGLONG, false),
            Value::Int(i64::MIN),
            &[0, 0, 0, 0, 0, 0, 0, 0x80],
        );
        round_trip(
            ft(T::FLOAT, false),
            Value::Float(1.5),
            &1.5f32.to_le_bytes(),
        );
        round_trip(
            ft(T::DOUBLE, false),
            Value::Double(3.5),
            &[0, 0, 0, 0, 0, 0, 0x0c, 0x40],
        );
        round_trip(ft(T::NULL, false), Value::Null, &[]);
        round_trip(
            ft(T::DATETIME, false),
            Value::DateTime(DateTime::default()),
            &[0],
        );
        let day = DateTime {
            year: 2024,
            month: 2,
            day: 29,
            ..DateTime::default()
        };
        round_trip(
            ft(T::DATE, false),
            Value::DateTime(day),
            &[4, 0xe8, 0x07, 2, 29],
        );
        let second = DateTime {
            hour: 13,
            minute: 45,
            second: 1,
            ..day
        };
        round_trip(
            ft(T::DATETIME, false),
            Value::DateTime(second),
            &[7, 0xe8, 0x07, 2, 29, 13, 45, 1],
        );
        // TIMESTAMP '2024-02-29 13:45:01.250000' as the server sent it.
        round_trip(
            ft(T::DATETIME, false),
            Value::DateTime(DateTime {
                micros: 250_000,
                ..second
            }),
            &[
                11, 0xe8, 0x07, 0x02, 0x1d, 0x0d, 0x2d, 0x01, 0x90, 0xd0, 0x03, 0x00,
            ],
        );
        // TIME '-25:01:02.5' as the server sent it.
        round_trip(
            ft(T::TIME, false),
            Value::Time(Time {
                negative: true,
                days: 1,
                hours: 1,
                minutes: 1,
                seconds: 2,
                micros: 500_000,
            }),
            &[12, 1, 1, 0, 0, 0, 1, 1, 2, 0x20, 0xa1, 0x07, 0],
        );
        round_trip(ft(T::TIME, false), Value::Time(Time::default()), &[0]);
        round_trip(
            ft(T::TIME, false),
            Value::Time(Time {
                hours: 1,
                ..Time::default()
            }),
            &[8, 0, 0, 0, 0, 0, 1, 0, 0],
        );
        round_trip(ft(T::NEWDECIMAL, false), Value::Bytes(b"1.50"), b"\x041.50");
        round_trip(ft(T::VAR_STRING, false), Value::Bytes(b""), &[0]);
        round_trip(ft(T::JSON, false), Value::Bytes(b"{}"), b"\x02{}");
    }

    #[test]
    fn bad_values() {
        let mut out = Vec::new();
        let tiny = ft(ColumnType::TINY, false);
        assert_eq!(
            write_value(&mut out, tiny, &Value::Int(300), 4),
            Err(WireError::ValueMismatch { index: 4, ty: 1 })
        );
        assert!(write_value(&mut out, tiny, &Value::Bytes(b"***"), 0).is_err());
        assert!(write_value(&mut out, ft(ColumnType::TINY, true), &Value::Int(1), 0).is_err());
        assert!(
            write_value(
                &mut out,
                ft(ColumnType::SHORT, true),
                &Value::UInt(65536),
                0
            )
            .is_err()
        );
        assert!(out.is_empty(), "nothing written on a mismatch");
        let date = ft(ColumnType::DATE, false);
        assert!(read_value(&mut Reader::new(&[5, 0, 0, 0, 0, 0], "t"), date).is_err());
        assert!(read_value(&mut Reader::new(&[9; 20], "t"), ft(ColumnType::TIME, false)).is_err());
        assert_eq!(
            read_value(&mut Reader::new(&[0], "t"), ft(ColumnType(0x20), false)),
            Err(WireError::UnknownType {
                kind: "binary value",
                ty: 0x20
            })
        );
    }

    #[test]
    fn bitmaps() {
        assert_eq!(bitmap_len(0, 0), 0);
        assert_eq!(
            bitmap_len(0, 2),
            1,
            "a binary row always has its bitmap byte"
        );
        assert_eq!(bitmap_len(1, 0), 1);
        assert_eq!(bitmap_len(8, 0), 1);
        assert_eq!(bitmap_len(9, 0), 2);
        assert_eq!(bitmap_len(6, 2), 1);
        assert_eq!(bitmap_len(7, 2), 2);
        assert_eq!(bitmap_len(10, 2), 2);
        assert!(bit(&[0, 2], 7, 2));
        assert!(!bit(&[0, 2], 6, 2));
        assert!(!bit(&[], 0, 0));
    }
}
