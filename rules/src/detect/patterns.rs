//! The Hyperscan expressions behind the detectors and, for each, how to find the candidate
//! token around a match's end offset in the original bytes.
//!
//! The database is compiled without `HS_FLAG_SOM_LEFTMOST`: start-of-match tracking made the
//! raw scan slower (see `benches/detect.rs`), and every token is either fixed-width or a
//! maximal run of its character class, so walking back a few bytes from the end offset finds
//! it. Each expression ends with its right boundary (a consumed non-token byte or the end of
//! the buffer), so Hyperscan reports one match per candidate; the locators check both
//! boundaries on the original bytes, also because a scan window may cut a token.
//! No expression uses `HS_FLAG_UTF8`: the Han characters of licence plates are matched as
//! byte sequences, so invalid UTF-8 input is scanned safely.

use std::ops::Range;

use super::Kind;
use super::validate::{email_domain_char, email_local_char};

/// How to find the token of a match from its end offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locate {
    /// A maximal run of digits with an optional trailing `X`/`x`, not adjacent to a letter,
    /// an `@` (an e-mail's local part) or a decimal point.
    Digits,
    /// A fixed number of alphanumerics, delimited like [`Locate::Digits`].
    Word(usize),
    /// An 18-character social credit code with a letter among its first 17 characters
    /// (codes whose first 17 are digits are [`Locate::Digits`] tokens).
    CodeWithLetter,
    /// `local@domain.tld`, the longest on both sides.
    Email,
    /// A licence plate ending in a letter or digit (followed by no alphanumeric).
    Plate,
    /// A licence plate ending in a Han suffix (学, 警, …).
    PlateSuffix,
    /// A dotted quad not part of a longer dotted number.
    Ipv4,
}

/// One expression of the database.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// The kinds its tokens may be, in precedence order: the first enabled kind whose
    /// validator accepts the token is reported. No token is located by two specs.
    pub kinds: &'static [Kind],
    pub expression: &'static str,
    pub locate: Locate,
}

/// The longest token any locator accepts plus its boundary bytes, in bytes. A scan window
/// overlaps the next by more than this, so every token is seen whole by the window it
/// starts in.
pub(crate) const MAX_TOKEN: usize = 64 + 1 + 253 + 2;

/// A token's end: not followed by an alphanumeric or `@`, or at the end of the buffer.
macro_rules! right {
    () => {
        r"(?:[^0-9A-Za-z@]|\z)"
    };
}

macro_rules! plate_head {
    () => {
        concat!(
            "(?:京|津|沪|渝|冀|豫|云|辽|黑|湘|皖|鲁|新|苏|浙|赣|鄂|桂|甘|晋|蒙|陕|吉|闽|贵|粤|青|藏|川|宁|琼)",
            r"[A-HJ-NP-Z](?:·|-|\x20)?"
        )
    };
}

/// All expressions. The numeric kinds share one expression (any run of 11 or more digits
/// ending at a boundary) and are told apart by length and validation: with one precise
/// expression per kind (ID card dates, mobile prefixes, card IINs) the raw scan of the bench
/// corpus ran at about 100 MB/s, with the shared one at about 300 MB/s.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        kinds: &[
            Kind::IdCard,
            Kind::SocialCreditCode,
            Kind::BankCard,
            Kind::Mobile,
        ],
        expression: concat!(r"[0-9]{11,19}[Xx]?", right!()),
        locate: Locate::Digits,
    },
    Spec {
        kinds: &[Kind::SocialCreditCode],
        expression: concat!(
            r"(?:[ANY][1-9][0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}",
            r"|[1-9]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]*[A-HJ-NP-RTUW-Y][0-9A-HJ-NP-RTUW-Y]*)",
            right!()
        ),
        locate: Locate::CodeWithLetter,
    },
    Spec {
        kinds: &[Kind::Passport],
        expression: concat!(
            r"(?:^|[^0-9A-Za-z])(?:[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7})",
            right!()
        ),
        locate: Locate::Word(9),
    },
    Spec {
        kinds: &[Kind::LicencePlate],
        expression: concat!(
            plate_head!(),
            r"(?:[0-9A-HJ-NP-Z]{5}|[DF][0-9A-HJ-NP-Z][0-9]{4}|[0-9]{5}[DF])(?:[^0-9A-Za-z]|\z)"
        ),
        locate: Locate::Plate,
    },
    Spec {
        kinds: &[Kind::LicencePlate],
        expression: concat!(plate_head!(), "[0-9A-HJ-NP-Z]{4}(?:学|警|港|澳|挂)"),
        locate: Locate::PlateSuffix,
    },
    Spec {
        kinds: &[Kind::Email],
        expression: r"[A-Za-z0-9._%+\-]@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}(?:[^A-Za-z0-9.\-_]|\.(?:[^A-Za-z0-9]|\z)|\z)",
        locate: Locate::Email,
    },
    Spec {
        kinds: &[Kind::Ipv4],
        expression: r"(?:^|[^0-9A-Za-z.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?:[^0-9A-Za-z.]|\.(?:[^0-9]|\z)|\z)",
        locate: Locate::Ipv4,
    },
];

fn byte_at(data: &[u8], i: usize) -> Option<u8> {
    data.get(i).copied()
}

fn byte_before(data: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| byte_at(data, j))
}

/// Whether the byte before `start` may precede a number or code: not alphanumeric and not
/// the dot of a decimal fraction.
fn left_free(data: &[u8], start: usize) -> bool {
    match byte_before(data, start) {
        None => true,
        Some(b'.') => !byte_before(data, start - 1).is_some_and(|b| b.is_ascii_digit()),
        Some(b) => !b.is_ascii_alphanumeric(),
    }
}

/// Whether the byte at `end` may follow a number or code: not alphanumeric, not `@` (an
/// e-mail's local part) and not a dot followed by a digit (a decimal number).
fn right_free(data: &[u8], end: usize) -> bool {
    match byte_at(data, end) {
        None => true,
        Some(b'.') => !byte_at(data, end + 1).is_some_and(|b| b.is_ascii_digit()),
        Some(b) => !b.is_ascii_alphanumeric() && b != b'@',
    }
}

/// The start of the run of bytes satisfying `pred` that ends at `end`; `None` if the run is
/// longer than `max` bytes or `end` is out of bounds.
fn run_start(data: &[u8], end: usize, max: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    let head = data.get(end.saturating_sub(max + 1)..end)?;
    let run = head.iter().rev().take_while(|&&b| pred(b)).count();
    (run <= max).then_some(end - run)
}

/// The end of the token of a match ending at `to` whose expression consumed at most `max`
/// trailing boundary bytes, none of which satisfies `token_end`.
fn token_end(data: &[u8], to: usize, max: usize, is_last: impl Fn(u8) -> bool) -> Option<usize> {
    let mut end = to;
    while !is_last(byte_before(data, end)?) {
        if to - end == max {
            return None;
        }
        end -= 1;
    }
    Some(end)
}

impl Locate {
    /// The token of a match ending at `to` in `data`, boundaries checked; `None` when the
    /// bytes around the match do not delimit a token.
    pub(crate) fn token(self, data: &[u8], to: usize) -> Option<Range<usize>> {
        match self {
            Locate::Digits => digits(data, to),
            Locate::Word(width) => word(data, to, width),
            Locate::CodeWithLetter => {
                let span = word(data, to, 18)?;
                let first17 = data.get(span.start..span.end - 1)?;
                first17.iter().any(u8::is_ascii_alphabetic).then_some(span)
            }
            Locate::Email => email(data, to),
            Locate::Plate => {
                let end = token_end(data, to, 1, |b| b.is_ascii_alphanumeric())?;
                if byte_at(data, end).is_some_and(|b| b.is_ascii_alphanumeric()) {
                    return None;
                }
                plate(data, end, 9..=12)
            }
            Locate::PlateSuffix => plate(data, to, 11..=13),
            Locate::Ipv4 => ipv4(data, to),
        }
    }
}

fn word(data: &[u8], to: usize, width: usize) -> Option<Range<usize>> {
    let end = token_end(data, to, 1, |b| b.is_ascii_alphanumeric())?;
    let start = end.checked_sub(width)?;
    let token = data.get(start..end)?;
    (token.iter().all(u8::is_ascii_alphanumeric) && left_free(data, start) && right_free(data, end))
        .then_some(start..end)
}

fn digits(data: &[u8], to: usize) -> Option<Range<usize>> {
    let end = token_end(data, to, 1, |b| b.is_ascii_alphanumeric())?;
    let digits_end = match byte_before(data, end)? {
        b'X' | b'x' => end - 1,
        _ => end,
    };
    let start = run_start(data, digits_end, 19, |b| b.is_ascii_digit())?;
    (start < digits_end && left_free(data, start) && right_free(data, end)).then_some(start..end)
}

fn email(data: &[u8], to: usize) -> Option<Range<usize>> {
    let end = token_end(data, to, 2, |b| b.is_ascii_alphabetic())?;
    // Walk back over the domain to the `@`, then over the local part; both are bounded.
    let at = run_start(data, end, 253, email_domain_char)?.checked_sub(1)?;
    if byte_at(data, at) != Some(b'@') {
        return None;
    }
    let start = run_start(data, at, 64, email_local_char)?;
    let right = match byte_at(data, end) {
        None => true,
        Some(b'.') => !byte_at(data, end + 1).is_some_and(|b| b.is_ascii_alphanumeric()),
        Some(b) => !email_domain_char(b) && b != b'_',
    };
    right.then_some(start..end)
}

fn plate(
    data: &[u8],
    end: usize,
    lengths: std::ops::RangeInclusive<usize>,
) -> Option<Range<usize>> {
    lengths.into_iter().find_map(|len| {
        let start = end.checked_sub(len)?;
        // Province abbreviations are 3-byte UTF-8 sequences (lead byte 0xE4..=0xE9).
        if !byte_at(data, start).is_some_and(|b| (0xE4..=0xE9).contains(&b)) {
            return None;
        }
        let token = data.get(start..end)?;
        super::validate::licence_plate_valid(token).then_some(start..end)
    })
}

fn ipv4(data: &[u8], to: usize) -> Option<Range<usize>> {
    let end = token_end(data, to, 2, |b| b.is_ascii_digit())?;
    let start = run_start(data, end, 15, |b| b.is_ascii_digit() || b == b'.')?;
    let left = byte_before(data, start).is_none_or(|b| !b.is_ascii_alphanumeric());
    let right = match byte_at(data, end) {
        None => true,
        Some(b'.') => !byte_at(data, end + 1).is_some_and(|b| b.is_ascii_digit()),
        Some(b) => !b.is_ascii_alphanumeric(),
    };
    (left && right).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::validate::{PLATE_PROVINCES, PLATE_SUFFIXES};

    #[test]
    fn plate_expressions_list_every_province_and_suffix() {
        let provinces = format!("(?:{})", PLATE_PROVINCES.join("|"));
        let suffixes = format!("(?:{})", PLATE_SUFFIXES.join("|"));
        for spec in SPECS.iter().filter(|s| s.kinds == [Kind::LicencePlate]) {
            assert!(
                spec.expression.starts_with(&provinces),
                "{}",
                spec.expression
            );
        }
        assert!(SPECS.iter().any(|s| s.expression.ends_with(&suffixes)));
        // `plate` skips candidates whose first byte cannot start a province abbreviation.
        assert!(
            PLATE_PROVINCES
                .iter()
                .all(|p| (0xE4..=0xE9).contains(&p.as_bytes()[0]))
        );
    }

    #[test]
    fn spec_kinds_are_in_precedence_order_and_cover_every_kind() {
        for spec in SPECS {
            assert!(spec.kinds.windows(2).all(|w| w[0] < w[1]), "{spec:?}");
        }
        for kind in Kind::ALL {
            assert!(SPECS.iter().any(|s| s.kinds.contains(&kind)), "{kind}");
        }
    }

    #[test]
    fn codes_with_letters() {
        let cases: &[(&str, usize, Option<&str>)] = &[
            ("91350100M000100Y43", 18, Some("91350100M000100Y43")),
            (" 91350100M000100Y43,", 19, Some("91350100M000100Y43")),
            ("91350100M000100Y43A", 19, None),
            ("91350100100010054X", 18, None), // digits and X: a Digits token
            ("Y13501001000100543", 18, Some("Y13501001000100543")),
        ];
        for &(data, to, want) in cases {
            let got = Locate::CodeWithLetter
                .token(data.as_bytes(), to)
                .map(|r| &data[r]);
            assert_eq!(got, want, "{data:?} @ {to}");
        }
    }

    #[test]
    fn digit_tokens() {
        // (data, match end, expected token)
        let cases: &[(&str, usize, Option<&str>)] = &[
            ("13812345678", 11, Some("13812345678")),
            (" 13812345678,", 13, Some("13812345678")),
            ("+8613812345678", 14, Some("8613812345678")),
            ("tel:8613812345678 ", 18, Some("8613812345678")),
            ("913812345678", 12, Some("913812345678")), // the locator finds the run; length is the validator's
            ("a13812345678", 12, None),
            ("13812345678a", 11, None),
            ("13812345678@qq.com", 12, None),
            ("0.13812345678", 13, None),
            ("13812345678.5", 12, None),
            ("13812345678. ", 12, Some("13812345678")),
            ("11010519491231002X", 18, Some("11010519491231002X")),
            ("11010519491231002X ", 19, Some("11010519491231002X")),
            ("12345678901234567890123", 23, None),
            ("", 0, None),
            ("x", 5, None),
        ];
        for &(data, to, want) in cases {
            let got = Locate::Digits.token(data.as_bytes(), to);
            let got = got.map(|r| &data[r]);
            assert_eq!(got, want, "{data:?} @ {to}");
        }
    }

    #[test]
    fn email_tokens() {
        let cases: &[(&str, usize, Option<&str>)] = &[
            ("alice@example.com", 17, Some("alice@example.com")),
            ("<alice@example.com>", 19, Some("alice@example.com")),
            (
                "mail alice@example.com. next",
                23,
                Some("alice@example.com"),
            ),
            ("alice@example.com.", 18, Some("alice@example.com")),
            ("邮箱alice@example.com或", 24, Some("alice@example.com")),
            ("alice@example.com_x", 18, None),
        ];
        for &(data, to, want) in cases {
            let got = Locate::Email.token(data.as_bytes(), to).map(|r| &data[r]);
            assert_eq!(got, want, "{data:?} @ {to}");
        }
    }
}
