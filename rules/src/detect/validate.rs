//! Validators for the detector kinds: check digits, calendar dates, ranges and fixed formats.
//! The scanner in [`super`] finds candidates with Hyperscan and only counts those these
//! functions accept; the demo data generator uses the check-digit functions to make values.
//!
//! Every validator takes the candidate token alone (no surrounding bytes: boundaries are the
//! scanner's job), accepts any bytes and never panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// The first year an 18-character ID card's birth date may have.
pub const MIN_BIRTH_YEAR: u16 = 1900;

/// Floor for [`current_year`]: a clock set before this year is taken as broken, so birth
/// dates are never rejected because the machine's clock is wrong.
const CLOCK_FLOOR_YEAR: u16 = 2025;

/// The two-digit province-level codes (GB/T 2260) an ID card number may start with:
/// the 31 mainland provinces, Taiwan (71, 83 for residence permits), Hong Kong (81),
/// Macao (82) and 91 (permanent residence permits for foreigners, 2023 format).
const ID_PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91,
];

/// GB 11643-1999 weights of the first 17 characters (2^(17-i) mod 11).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643-1999 check characters indexed by the weighted sum mod 11.
const ID_CHECK: [u8; 11] = *b"10X98765432";

/// GB 32100-2015 weights of the first 17 characters (3^i mod 31).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// GB 32100-2015 alphabet: the value of a character is its index (no I, O, S, V, Z).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Licence plate province abbreviations (one Han character each, 3 bytes in UTF-8).
pub(crate) const PLATE_PROVINCES: [&str; 31] = [
    "京", "津", "沪", "渝", "冀", "豫", "云", "辽", "黑", "湘", "皖", "鲁", "新", "苏", "浙", "赣",
    "鄂", "桂", "甘", "晋", "蒙", "陕", "吉", "闽", "贵", "粤", "青", "藏", "川", "宁", "琼",
];

/// [`PLATE_PROVINCES`] as byte arrays, compared without a call per candidate.
const PLATE_PROVINCE_BYTES: [[u8; 3]; 31] = {
    let mut table = [[0u8; 3]; 31];
    let mut i = 0;
    while i < PLATE_PROVINCES.len() {
        let bytes = PLATE_PROVINCES[i].as_bytes();
        table[i] = [bytes[0], bytes[1], bytes[2]];
        i += 1;
    }
    table
};

/// Han suffixes of special plates that have four alphanumerics before them
/// (driving school, police, Hong Kong, Macao, trailer).
pub(crate) const PLATE_SUFFIXES: [&str; 5] = ["学", "警", "港", "澳", "挂"];

/// Separators accepted between a plate's authority letter and its serial.
const PLATE_SEPARATORS: [&str; 3] = ["·", "-", " "];

/// The current calendar year (UTC), never below a floor of 2025.
pub fn current_year() -> u16 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let year = civil_year(days);
    u16::try_from(year)
        .unwrap_or(u16::MAX)
        .max(CLOCK_FLOOR_YEAR)
}

/// The proleptic Gregorian year of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_year(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Whether `year-month-day` is a real date of the Gregorian calendar.
pub fn date_valid(year: u16, month: u8, day: u8) -> bool {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The value of an all-digit slice, `None` if any byte is not a digit or it overflows.
fn digits_value(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
            .flatten()
    })
}

fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

fn id_province_valid(s: &[u8]) -> bool {
    s.get(..2)
        .and_then(digits_value)
        .and_then(|p| ID_PROVINCE_TABLE.get(p as usize))
        .is_some_and(|&known| known)
}

/// [`ID_PROVINCES`] as a lookup table indexed by the two-digit code.
const ID_PROVINCE_TABLE: [bool; 100] = {
    let mut table = [false; 100];
    let mut i = 0;
    while i < ID_PROVINCES.len() {
        table[ID_PROVINCES[i] as usize] = true;
        i += 1;
    }
    table
};

/// The GB 11643-1999 (ISO 7064 MOD 11-2) check character (`b'0'..=b'9'` or `b'X'`) of the
/// first 17 digits of an ID card number; `None` unless `first17` is 17 ASCII digits.
pub fn id_card_check_digit(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (&b, w) in first17.iter().zip(ID_WEIGHTS) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        sum += u32::from(d) * w;
    }
    ID_CHECK.get((sum % 11) as usize).copied()
}

/// Whether `s` is a resident ID card number (居民身份证号码) with a birth year up to the
/// current year; see [`id_card_valid_until`].
pub fn id_card_valid(s: &[u8]) -> bool {
    id_card_valid_until(s, current_year())
}

/// Whether `s` is a resident ID card number whose birth year is at most `max_year`:
///
/// - 18 characters (GB 11643-1999): a known province code, 4 more area digits, a real birth
///   date `YYYYMMDD` with `1900 <= YYYY <= max_year`, 3 sequence digits and the check
///   character (`X` or `x` for 10);
/// - 15 digits (the pre-1999 form): a known province code, 4 more area digits, a real birth
///   date `YYMMDD` in the 1900s and 3 sequence digits (no check digit).
pub fn id_card_valid_until(s: &[u8], max_year: u16) -> bool {
    match s.len() {
        18 => {
            let (first17, check) = s.split_at(17);
            // The check digit first: it rejects most digit strings that are no ID number.
            id_card_check_digit(first17)
                .is_some_and(|c| check.first().is_some_and(|b| b.to_ascii_uppercase() == c))
                && id_province_valid(s)
                && birth_date_valid(&s[6..14], 0, max_year)
        }
        15 => all_digits(s) && id_province_valid(s) && birth_date_valid(&s[6..12], 1900, max_year),
        _ => false,
    }
}

/// Whether `date` (`YYYYMMDD`, or `YYMMDD` with `century` added to the year) is a real date
/// with a year from [`MIN_BIRTH_YEAR`] to `max_year`.
fn birth_date_valid(date: &[u8], century: u32, max_year: u16) -> bool {
    let (year, rest) = date.split_at(date.len().saturating_sub(4));
    let (month, day) = rest.split_at(2);
    let (Some(y), Some(m), Some(d)) = (digits_value(year), digits_value(month), digits_value(day))
    else {
        return false;
    };
    match (u16::try_from(y + century), u8::try_from(m), u8::try_from(d)) {
        (Ok(y), Ok(m), Ok(d)) => (MIN_BIRTH_YEAR..=max_year).contains(&y) && date_valid(y, m, d),
        _ => false,
    }
}

/// The Luhn (mod 10) check digit that completes `payload` (all ASCII digits, non-empty).
pub fn luhn_check_digit(payload: &[u8]) -> Option<u8> {
    if payload.is_empty() {
        return None;
    }
    // The check digit will sit right of the payload, so the payload's last digit is doubled.
    let sum = luhn_sum(payload, true)?;
    u8::try_from((10 - sum % 10) % 10).ok().map(|d| b'0' + d)
}

/// The Luhn sum of `digits`, doubling every second digit from the right, starting with the
/// last one when `double_last`; `None` if a byte is not a digit.
fn luhn_sum(digits: &[u8], double_last: bool) -> Option<u32> {
    /// A digit doubled, with the digits of the product added (2 × 7 = 14 → 5).
    const DOUBLED: [u8; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    let mut double = double_last;
    for &b in digits.iter().rev() {
        let d = b.wrapping_sub(b'0');
        let term = if double {
            DOUBLED.get(usize::from(d))?
        } else {
            (d < 10).then_some(&d)?
        };
        sum += u32::from(*term);
        double = !double;
    }
    Some(sum)
}

/// Whether `s` is at least two ASCII digits passing the Luhn (mod 10) check.
pub fn luhn_valid(s: &[u8]) -> bool {
    s.len() >= 2 && luhn_sum(s, false).is_some_and(|sum| sum.is_multiple_of(10))
}

/// Whether a card number of `len` digits may start with `s`'s issuer prefix (IIN):
///
/// | prefix | network | lengths |
/// |---|---|---|
/// | 62 | UnionPay | 16–19 |
/// | 60, 65 | Discover / UnionPay co-brands, domestic 60xxxx BINs | 16–19 |
/// | 4 | Visa | 16–19 |
/// | 51–55, 2221–2720 | Mastercard | 16 |
/// | 34, 37 | American Express | 15 |
/// | 3528–3589 | JCB | 16–19 |
/// | 9558, 95599 | legacy ICBC / ABC domestic cards | 19 |
fn iin_valid(s: &[u8], len: usize) -> bool {
    let prefix = |n: usize| s.get(..n).and_then(digits_value);
    let (Some(p2), Some(p4)) = (prefix(2), prefix(4)) else {
        return false;
    };
    let long = (16..=19).contains(&len);
    match p2 {
        62 | 60 | 65 => long,
        40..=49 => long,
        51..=55 => len == 16,
        22..=27 => len == 16 && (2221..=2720).contains(&p4),
        34 | 37 => len == 15,
        35 => long && (3528..=3589).contains(&p4),
        95 => len == 19 && (p4 == 9558 || prefix(5) == Some(95599)),
        _ => false,
    }
}

/// Whether `s` is a bank card number: 15–19 ASCII digits with a plausible issuer prefix for
/// its length (see the table on the private `iin_valid`: UnionPay 62, Visa 4, Mastercard
/// 51–55/2221–2720, Amex 34/37 with 15 digits, JCB 3528–3589, Discover 60/65, legacy 9558 and
/// 95599) and a valid Luhn check digit.
pub fn bank_card_valid(s: &[u8]) -> bool {
    (15..=19).contains(&s.len()) && iin_valid(s, s.len()) && luhn_valid(s)
}

/// The value of a GB 32100-2015 character (`0-9`, `A-H`, `J-N`, `P-R`, `T-U`, `W-Y`).
fn uscc_value(b: u8) -> Option<u32> {
    match USCC_VALUES[usize::from(b)] {
        u8::MAX => None,
        v => Some(u32::from(v)),
    }
}

/// [`USCC_ALPHABET`] inverted: byte → value, `u8::MAX` for bytes outside the alphabet.
const USCC_VALUES: [u8; 256] = {
    let mut table = [u8::MAX; 256];
    let mut i = 0;
    while i < USCC_ALPHABET.len() {
        table[USCC_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The GB 32100-2015 check character of the first 17 characters of a unified social credit
/// code; `None` unless `first17` is 17 characters of the code's alphabet.
pub fn uscc_check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (&b, w) in first17.iter().zip(USCC_WEIGHTS) {
        sum += uscc_value(b)? * w;
    }
    USCC_ALPHABET.get(((31 - sum % 31) % 31) as usize).copied()
}

/// Whether `s` is a unified social credit code (统一社会信用代码, GB 32100-2015): 18
/// upper-case characters of the code's alphabet, where the registration authority (1st) is
/// `1-9`, `A`, `N` or `Y`, the entity type (2nd) is `1-9`, the administrative division (3rd–8th)
/// is six digits, and the 18th is the mod-31 check character.
pub fn uscc_valid(s: &[u8]) -> bool {
    let [authority, entity, ..] = s else {
        return false;
    };
    s.len() == 18
        && (matches!(authority, b'1'..=b'9' | b'A' | b'N' | b'Y'))
        && matches!(entity, b'1'..=b'9')
        && all_digits(&s[2..8])
        && uscc_check_char(&s[..17]).is_some_and(|c| s.get(17) == Some(&c))
}

/// Whether `s` is a mainland China mobile number: 11 digits with an allocated prefix
/// (`13x`, `145-149`, `15[0-35-9]`, `16[2567]`, `17[0-8]`, `18x`, `19[0-35-9]`),
/// optionally preceded by the country code written `+86`, `86` or `0086` (no separator).
pub fn mobile_valid(s: &[u8]) -> bool {
    let number = match s.len() {
        14 => s.strip_prefix(b"+86"),
        13 => s.strip_prefix(b"86"),
        15 => s.strip_prefix(b"0086"),
        11 => Some(s),
        _ => None,
    };
    let Some(n @ [b'1', second, third, ..]) = number else {
        return false;
    };
    all_digits(n)
        && match second {
            b'3' | b'8' => true,
            b'4' => matches!(third, b'5'..=b'9'),
            b'5' | b'9' => *third != b'4',
            b'6' => matches!(third, b'2' | b'5' | b'6' | b'7'),
            b'7' => *third != b'9',
            _ => false,
        }
}

/// Whether `s` is a Chinese ordinary passport number: `E` or `G` followed by 8 digits
/// (G: 2007–2012 booklets, E: e-passports since 2012), or `E`, a letter other than `I` and
/// `O`, and 7 digits (e-passports after the `E` + 8 digits range ran out). Upper case only.
pub fn passport_valid(s: &[u8]) -> bool {
    match s {
        [b'E' | b'G', rest @ ..] if rest.len() == 8 && all_digits(rest) => true,
        [b'E', letter, rest @ ..] => rest.len() == 7 && plate_letter(*letter) && all_digits(rest),
        _ => false,
    }
}

/// Upper-case letters other than `I` and `O`, which plates and passports do not use.
fn plate_letter(b: u8) -> bool {
    b.is_ascii_uppercase() && b != b'I' && b != b'O'
}

fn plate_char(b: u8) -> bool {
    b.is_ascii_digit() || plate_letter(b)
}

/// Whether `s` (UTF-8 bytes) is a Chinese motor vehicle licence plate: a province
/// abbreviation (京, 沪, 浙, … one of 31), the issuing authority's letter, an optional `·`,
/// `-` or space, then a serial of
///
/// - 5 letters or digits (ordinary plates), or
/// - 6 for new-energy vehicles: `D`/`F` + a letter or digit + 4 digits (small vehicles) or
///   5 digits + `D`/`F` (large vehicles), or
/// - 4 letters or digits followed by 学, 警, 港, 澳 or 挂 (special plates).
///
/// Letters are upper case, never `I` or `O`.
pub fn licence_plate_valid(s: &[u8]) -> bool {
    let [a, b, c, letter, rest @ ..] = s else {
        return false;
    };
    if !PLATE_PROVINCE_BYTES.contains(&[*a, *b, *c]) {
        return false;
    }
    if !plate_letter(*letter) {
        return false;
    }
    let serial = PLATE_SEPARATORS
        .iter()
        .find_map(|sep| rest.strip_prefix(sep.as_bytes()))
        .unwrap_or(rest);
    plate_serial_valid(serial)
}

fn plate_serial_valid(s: &[u8]) -> bool {
    match s {
        [a, b, c, d, e] => [a, b, c, d, e].iter().all(|&&x| plate_char(x)),
        [b'D' | b'F', second, tail @ ..] if tail.len() == 4 => {
            plate_char(*second) && all_digits(tail)
        }
        [head @ .., b'D' | b'F'] if head.len() == 5 => all_digits(head),
        _ => PLATE_SUFFIXES.iter().any(|suffix| {
            s.strip_suffix(suffix.as_bytes())
                .is_some_and(|head| head.len() == 4 && head.iter().all(|&x| plate_char(x)))
        }),
    }
}

/// Characters of an e-mail address's local part accepted by the detector.
pub(crate) fn email_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Characters of an e-mail address's domain.
pub(crate) fn email_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Whether `s` is an e-mail address in the common practical form: exactly one `@`; a local
/// part of 1–64 characters from `A-Z a-z 0-9 . _ % + -` without a leading, trailing or
/// doubled dot; a domain of at most 253 characters made of at least two dot-separated labels
/// of 1–63 letters, digits and inner hyphens, the last (the TLD) being 2 or more letters.
/// Quoted local parts and IP-literal domains are not accepted.
pub fn email_valid(s: &[u8]) -> bool {
    let mut parts = s.splitn(2, |&b| b == b'@');
    let (Some(local), Some(domain)) = (parts.next(), parts.next()) else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local.iter().all(|&b| email_local_char(b))
        && local.first() != Some(&b'.')
        && local.last() != Some(&b'.')
        && !local.windows(2).any(|w| w == b"..");
    if !local_ok || domain.is_empty() || domain.len() > 253 {
        return false;
    }
    let mut labels = 0usize;
    for label in domain.split(|&b| b == b'.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-');
        if !ok {
            return false;
        }
        labels += 1;
    }
    let tld = domain.rsplit(|&b| b == b'.').next().unwrap_or_default();
    labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
}

/// Whether `s` is a dotted-quad IPv4 address: four decimal octets 0–255, each without
/// leading zeros (`0` itself is fine, `01` is not).
pub fn ipv4_valid(s: &[u8]) -> bool {
    // One pass: per octet its value, its digit count and whether it started with 0.
    let (mut dots, mut value, mut len, mut leading_zero) = (0u8, 0u32, 0u8, false);
    for &b in s {
        match b {
            b'0'..=b'9' => {
                leading_zero |= len == 0 && b == b'0';
                value = value * 10 + u32::from(b - b'0');
                len += 1;
                if len > 3 || (leading_zero && len > 1) {
                    return false;
                }
            }
            b'.' if len > 0 && value <= 255 && dots < 3 => {
                (dots, value, len, leading_zero) = (dots + 1, 0, 0, false);
            }
            _ => return false,
        }
    }
    dots == 3 && len > 0 && value <= 255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_year_matches_known_days() {
        for (days, year) in [
            (0, 1970),
            (-1, 1969),
            (10_957, 2000),
            (20_454, 2026),
            (20_453, 2025),
        ] {
            assert_eq!(civil_year(days), year, "day {days}");
        }
        assert!(current_year() >= CLOCK_FLOOR_YEAR);
    }

    #[test]
    fn dates() {
        for (y, m, d, ok) in [
            (2000, 2, 29, true),
            (1900, 2, 29, false),
            (2024, 2, 29, true),
            (2023, 2, 29, false),
            (2023, 4, 31, false),
            (2023, 12, 31, true),
            (2023, 13, 1, false),
            (2023, 0, 1, false),
            (2023, 1, 0, false),
        ] {
            assert_eq!(date_valid(y, m, d), ok, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn id_cards() {
        for (s, ok) in [
            // The GB 11643-1999 example number.
            ("11010519491231002X", true),
            ("11010519491231002x", true),
            ("110105194912310021", false), // wrong check digit
            ("110105194912310020", false),
            ("11010519491331002X", false), // month 13 (check digit aside)
            ("11010519490230002X", false), // 30 February
            ("99010519491231002X", false), // no province 99
            ("1101051949123100", false),   // truncated
            ("11010519491231002X1", false),
            ("11010519491231002Y", false),
            ("110105491231002", true),  // 15-digit form, 1949-12-31
            ("110105000229002", false), // 1900-02-29 does not exist
            ("110105960229002", true),  // 1996-02-29
            ("11010549123100X", false),
            ("", false),
        ] {
            assert_eq!(id_card_valid(s.as_bytes()), ok, "{s}");
        }
        // Birth years outside 1900..=max_year.
        let make = |date: &str| {
            let first17 = format!("110105{date}002");
            let check = id_card_check_digit(first17.as_bytes()).expect("17 digits");
            format!("{first17}{}", char::from(check))
        };
        assert!(id_card_valid_until(make("19000101").as_bytes(), 2026));
        assert!(!id_card_valid_until(make("18991231").as_bytes(), 2026));
        assert!(id_card_valid_until(make("20260101").as_bytes(), 2026));
        assert!(!id_card_valid_until(make("20270101").as_bytes(), 2026));
        assert!(!id_card_valid_until(make("20240230").as_bytes(), 2026));
    }

    #[test]
    fn id_card_check_digit_rejects_bad_input() {
        assert_eq!(id_card_check_digit(b"11010519491231002"), Some(b'X'));
        assert_eq!(id_card_check_digit(b"1101051949123100"), None);
        assert_eq!(id_card_check_digit(b"1101051949123100A"), None);
    }

    #[test]
    fn luhn() {
        for (s, ok) in [
            ("79927398713", true),
            ("79927398710", false),
            ("4111111111111111", true),
            ("4111111111111112", false),
            ("0", false),
            ("00", true),
            ("", false),
            ("41111111111111a1", false),
        ] {
            assert_eq!(luhn_valid(s.as_bytes()), ok, "{s}");
        }
        assert_eq!(luhn_check_digit(b"7992739871"), Some(b'3'));
        assert_eq!(luhn_check_digit(b""), None);
    }

    #[test]
    fn bank_cards() {
        for (s, ok) in [
            ("4111111111111111", true),      // Visa test number
            ("5555555555554444", true),      // Mastercard
            ("2223003122003222", true),      // Mastercard 2-series
            ("378282246310005", true),       // Amex, 15 digits
            ("3782822463100050", false),     // Amex is never 16 digits
            ("3530111333300000", true),      // JCB
            ("6212345678901232", true),      // UnionPay 16
            ("6212345678901234567", false),  // UnionPay 19, bad Luhn
            ("6011111111111117", true),      // Discover
            ("4111111111111112", false),     // bad Luhn
            ("1111111111111117", false),     // no such IIN
            ("411111111111111", false),      // Visa with 15 digits
            ("41111111111111111111", false), // 20 digits
        ] {
            assert_eq!(bank_card_valid(s.as_bytes()), ok, "{s}");
        }
    }

    #[test]
    fn usccs() {
        for (s, ok) in [
            ("91350100M000100Y43", true),
            ("91350100M000100Y44", false),
            ("91350100M000100Y4I", false), // I is not in the alphabet
            ("01350100M000100Y43", false), // authority 0
            ("9135010OM000100Y43", false), // O in the division code
            ("91350100M000100Y4", false),
            ("91350100m000100y43", false), // lower case
        ] {
            assert_eq!(uscc_valid(s.as_bytes()), ok, "{s}");
        }
        assert_eq!(uscc_check_char(b"91350100M000100Y4"), Some(b'3'));
        assert_eq!(uscc_check_char(b"91350100M000100Z4"), None);
    }

    #[test]
    fn mobiles() {
        for (s, ok) in [
            ("13812345678", true),
            ("14512345678", true),
            ("14412345678", false),
            ("15412345678", false),
            ("16212345678", true),
            ("16312345678", false),
            ("17812345678", true),
            ("17912345678", false),
            ("19412345678", false),
            ("19912345678", true),
            ("12812345678", false),
            ("1381234567", false),
            ("+8613812345678", true),
            ("8613812345678", true),
            ("008613812345678", true),
            ("+8612812345678", false),
            ("1381234567a", false),
        ] {
            assert_eq!(mobile_valid(s.as_bytes()), ok, "{s}");
        }
    }

    #[test]
    fn passports() {
        for (s, ok) in [
            ("E12345678", true),
            ("G12345678", true),
            ("EA1234567", true),
            ("EI1234567", false),
            ("GA1234567", false),
            ("e12345678", false),
            ("E1234567", false),
            ("D12345678", false),
        ] {
            assert_eq!(passport_valid(s.as_bytes()), ok, "{s}");
        }
    }

    #[test]
    fn plates() {
        for (s, ok) in [
            ("浙A12345", true),
            ("浙A·12345", true),
            ("京B-Z3A45", true),
            ("粤BD12345", true),
            ("粤B12345F", true),
            ("粤BD1234", true), // ordinary 5-character serial D1234
            ("粤BX12345", false),
            ("粤B1234学", true),
            ("粤B123学", false),
            ("浙I12345", false),
            ("浙a12345", false),
            ("江A12345", false),
            ("浙A1234O", false),
            ("浙", false),
        ] {
            assert_eq!(licence_plate_valid(s.as_bytes()), ok, "{s}");
        }
        assert_eq!(PLATE_PROVINCES.iter().filter(|p| p.len() == 3).count(), 31);
    }

    #[test]
    fn emails() {
        for (s, ok) in [
            ("alice@example.com", true),
            ("a.b+tag@mail.example.com.cn", true),
            ("13812345678@163.com", true),
            ("a@b.c", false),
            ("a@localhost", false),
            ("a@@b.com", false),
            ("a@b@c.com", false),
            (".a@b.com", false),
            ("a.@b.com", false),
            ("a..b@b.com", false),
            ("a@-b.com", false),
            ("a@b-.com", false),
            ("a@b..com", false),
            ("a@b.c0m", false),
            ("@b.com", false),
            ("a@", false),
        ] {
            assert_eq!(email_valid(s.as_bytes()), ok, "{s}");
        }
        let long_local = format!("{}@b.com", "a".repeat(65));
        assert!(!email_valid(long_local.as_bytes()));
    }

    #[test]
    fn ipv4s() {
        for (s, ok) in [
            ("1.2.3.4", true),
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("256.1.1.1", false),
            ("1.2.3.4.5", false),
            ("1.2.3", false),
            ("01.2.3.4", false),
            ("1..3.4", false),
            ("1.2.3.1000", false),
            ("a.b.c.d", false),
        ] {
            assert_eq!(ipv4_valid(s.as_bytes()), ok, "{s}");
        }
    }
}
