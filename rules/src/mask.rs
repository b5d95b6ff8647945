//! Masks (数据脱敏 — data masking): how a sensitive value is shown to someone who may see the
//! row but not the value. The catalog says how each column is masked; the policy says when.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How a value is masked. Written in files as `keep 6 4`, `hmac`, `null`, `year`, `redact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mask {
    /// Keeps the first `prefix` and the last `suffix` characters and stars the rest
    /// (`keep 6 4`: `330102********1234`). A value too short to keep both is starred whole.
    Keep { prefix: u8, suffix: u8 },
    /// A keyed HMAC-SHA256 of the value, 16 hex digits: equal values stay equal (joins and
    /// counts still work), nobody without the key can reverse or test a guess.
    Hmac,
    /// SQL NULL.
    Null,
    /// A date generalized to its year (`1987-03-14` → `1987`); anything else is redacted.
    Year,
    /// A fixed `******`, which does not even reveal the length.
    #[default]
    Redact,
}

const STAR: char = '*';
const REDACTED: &str = "******";

impl Mask {
    /// The masked form of `value`; `None` means SQL NULL. `key` is the HMAC key.
    pub fn apply(&self, value: &str, key: &[u8]) -> Option<String> {
        match *self {
            Mask::Keep { prefix, suffix } => Some(keep(value, prefix.into(), suffix.into())),
            Mask::Hmac => {
                // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                    return Some(REDACTED.to_owned());
                };
                mac.update(value.as_bytes());
                let digest = mac.finalize().into_bytes();
                Some(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
            }
            Mask::Null => None,
            Mask::Year => Some(year_of(value).unwrap_or(REDACTED).to_owned()),
            Mask::Redact => Some(REDACTED.to_owned()),
        }
    }
}

fn keep(value: &str, prefix: usize, suffix: usize) -> String {
    let n = value.chars().count();
    if n <= prefix + suffix {
        return STAR.to_string().repeat(n.max(1));
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < prefix || i >= n - suffix {
                c
            } else {
                STAR
            }
        })
        .collect()
}

/// The year of `YYYY-MM-DD…`, `YYYY/MM/DD…` or `YYYYMMDD`.
fn year_of(value: &str) -> Option<&str> {
    let v = value.trim();
    let year = v.get(..4)?;
    let rest = &v[4..];
    let looks_like_date = rest.starts_with(['-', '/'])
        || (rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit()));
    (year.bytes().all(|b| b.is_ascii_digit()) && looks_like_date).then_some(year)
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mask::Keep { prefix, suffix } => write!(f, "keep {prefix} {suffix}"),
            Mask::Hmac => f.write_str("hmac"),
            Mask::Null => f.write_str("null"),
            Mask::Year => f.write_str("year"),
            Mask::Redact => f.write_str("redact"),
        }
    }
}

impl FromStr for Mask {
    type Err = String;

    fn from_str(s: &str) -> Result<Mask, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let expected = "expected `keep PREFIX SUFFIX`, `hmac`, `null`, `year` or `redact`";
        match words.as_slice() {
            ["keep", p, s] => {
                let n = |w: &str| {
                    w.parse::<u8>()
                        .map_err(|_| format!("`{w}` is not a character count (0-255); {expected}"))
                };
                Ok(Mask::Keep {
                    prefix: n(p)?,
                    suffix: n(s)?,
                })
            }
            ["hmac"] => Ok(Mask::Hmac),
            ["null"] => Ok(Mask::Null),
            ["year"] => Ok(Mask::Year),
            ["redact"] => Ok(Mask::Redact),
            _ => Err(format!("`{s}` is not a mask; {expected}")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Mask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mask, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Mask {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_as_the_demo_shows_them() {
        let k = b"key";
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("keep 6 4", "330102199003071234", Some("330102********1234")),
            ("keep 3 4", "13812345678", Some("138****5678")),
            (
                "keep 0 4",
                "6222021234567890123",
                Some("***************0123"),
            ),
            ("keep 1 0", "张三丰", Some("张**")),
            (
                "keep 6 0",
                "浙江省杭州市西湖区文三路",
                Some("浙江省杭州市******"),
            ),
            ("keep 6 4", "12345", Some("*****")),
            ("keep 1 0", "", Some("*")),
            ("year", "1987-03-14", Some("1987")),
            ("year", "19870314", Some("1987")),
            ("year", "March 1987", Some("******")),
            ("null", "x", None),
            ("redact", "anything", Some("******")),
        ];
        for (spec, value, want) in cases {
            let m: Mask = spec.parse().expect(spec);
            assert_eq!(m.apply(value, k).as_deref(), *want, "{spec} on {value}");
            assert_eq!(&m.to_string(), spec);
        }
    }

    #[test]
    fn hmac_is_stable_keyed_and_short() {
        let a = Mask::Hmac
            .apply("330102199003071234", b"k1")
            .expect("a value");
        assert_eq!(a.len(), 16);
        assert_eq!(
            Mask::Hmac.apply("330102199003071234", b"k1").as_deref(),
            Some(a.as_str())
        );
        assert_ne!(
            Mask::Hmac.apply("330102199003071234", b"k2").as_deref(),
            Some(a.as_str())
        );
    }

    #[test]
    fn bad_specs_say_what_was_expected() {
        for bad in ["keep 6", "keep a 4", "keep 300 1", "hash", ""] {
            let e = bad.parse::<Mask>().expect_err(bad);
            assert!(e.contains("expected `keep PREFIX SUFFIX`"), "{bad}: {e}");
        }
    }
}
