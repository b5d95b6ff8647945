//! The generator: a seed and row counts in, a [`Dataset`] out, the same bytes every time.
//!
//! Randomness comes from ChaCha8 (`rand_chacha`) keyed with the seed, one stream per table,
//! and is turned into choices by this module's own [`Dice`] rather than by `rand`'s
//! distributions: ChaCha8's output is value-stable across `rand_chacha` releases while
//! `rand::rngs::StdRng` and `rand`'s sampling algorithms may change between `rand` versions.
//! A seed therefore names one data set for good, and the tables of one seed do not depend on
//! each other's counts except through the rows they reference (a licence holder is drawn
//! from `population`).
//!
//! Identifiers are valid by construction with the check functions of [`rules::detect`]:
//! ID cards (GB 11643: real district, real birth date, sequence parity = gender, check
//! character), USCCs (GB 32100 check character over a GB 11714 organisation code that has
//! its own check digit), UnionPay cards (real bank BINs, Luhn digit) and mobile numbers
//! (allocated prefixes).

use std::collections::HashSet;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rules::detect::{id_card_check_digit, luhn_check_digit, uscc_check_char};

use super::names::{
    BRANDS, COMMON_GIVEN, COMPANY_FORMS, COOPERATIVE_PRODUCE, FEMALE_GIVEN, INDUSTRIES, MALE_GIVEN,
    SHOP_TRADES, SURNAMES,
};
use super::places::{CITIES, DISTRICTS, District, PROVINCE, STREETS, district};
use super::{
    BankAccount, Counts, CreditRecord, Dataset, Date, Gender, LegalPerson, License, OpenDataset,
    Person,
};

/// Generates the demo data set for `seed` with exactly `counts` rows per table.
///
/// Deterministic: the same seed and counts give equal datasets (and equal
/// [`Dataset::checksum`]s) on every machine and every run. Links hold whenever the
/// referenced table has rows: `legal_person.legal_rep_id_card`, `license.holder_id_card`
/// and `bank_account.holder_id_card` are `population.id_card` values, and
/// `credit_record.uscc` values are `legal_person.uscc` values.
pub fn generate(seed: u64, counts: &Counts) -> Dataset {
    let population = people(seed, counts.population);
    let legal_person = legal_persons(seed, counts.legal_person, &population);
    let credit_record = credit_records(seed, counts.credit_record, &legal_person);
    let license = licenses(seed, counts.license, &population);
    let bank_account = bank_accounts(seed, counts.bank_account, &population);
    let open_dataset = open_datasets(seed, counts.open_dataset);
    Dataset {
        seed,
        counts: *counts,
        population,
        legal_person,
        credit_record,
        license,
        bank_account,
        open_dataset,
    }
}

/// ChaCha8 streams, one per table, so that each table's draws are independent.
mod stream {
    pub const POPULATION: u64 = 1;
    pub const LEGAL_PERSON: u64 = 2;
    pub const CREDIT_RECORD: u64 = 3;
    pub const LICENSE: u64 = 4;
    pub const BANK_ACCOUNT: u64 = 5;
    pub const OPEN_DATASET: u64 = 6;
}

/// Uniform choices from a ChaCha8 stream, with sampling defined here (see the module docs).
struct Dice(ChaCha8Rng);

impl Dice {
    fn new(seed: u64, stream: u64) -> Dice {
        let mut key = *b"tianmu demo data, seed follows:\0";
        key[24..].copy_from_slice(&seed.to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(stream);
        Dice(rng)
    }

    /// A uniform integer in `0..n` (Lemire's multiply-and-reject); `n` must be positive.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Dice::below needs a non-empty range");
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.0.next_u64()) * u128::from(n);
            // The low half decides rejection, the high half is the result.
            #[allow(clippy::cast_possible_truncation)]
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniform integer in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn index(&mut self, len: usize) -> usize {
        // usize and u64 have the same width on every supported target.
        self.below(len as u64) as usize
    }

    /// A uniform element of a non-empty slice.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An element of a non-empty slice of `(item, weight)`, chosen in proportion to weight.
    fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut ticket = self.below(total);
        for (item, weight) in items {
            if ticket < u64::from(*weight) {
                return item;
            }
            ticket -= u64::from(*weight);
        }
        unreachable!("the ticket is below the total of the weights")
    }

    /// `n` random decimal digits.
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// A uniform date in `from..=to` (`from <= to`).
    fn date(&mut self, from: Date, to: Date) -> Date {
        let (lo, hi) = (days_from_civil(from), days_from_civil(to));
        let offset = self.below(u64::try_from(hi - lo + 1).unwrap_or(1));
        civil_from_days(lo + i64::try_from(offset).unwrap_or(0))
    }
}

const fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

/// Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(d: Date) -> i64 {
    let (m, day) = (i64::from(d.month), i64::from(d.day));
    let y = i64::from(d.year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The Gregorian date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Dates here lie between 1900 and 2100: every part fits its field.
    Date {
        year: u16::try_from(year).unwrap_or(u16::MAX),
        month: u8::try_from(month).unwrap_or(1),
        day: u8::try_from(day).unwrap_or(1),
    }
}

/// The day someone born on `birth` turns `years` old (29 February births on 28 February).
fn anniversary(birth: Date, years: u16) -> Date {
    let day = if birth.month == 2 && birth.day == 29 {
        28
    } else {
        birth.day
    };
    date(birth.year + years, birth.month, day)
}

/// Birth dates of the population: adults in 2024, the data's "now".
const BIRTH_FROM: Date = date(1940, 1, 1);
const BIRTH_TO: Date = date(2006, 12, 31);
/// The last day any record of the data set may carry. Fixed, so that data never depends on
/// the day it is generated.
const DATA_END: Date = date(2024, 12, 31);

/// Mobile prefixes allocated to China Mobile, China Unicom and China Telecom.
const MOBILE_PREFIXES: &[&str] = &[
    "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
    "178", "182", "183", "184", "187", "188", "198", "130", "131", "132", "145", "155", "156",
    "166", "175", "176", "185", "186", "133", "149", "153", "173", "177", "180", "181", "189",
    "191", "199",
];

/// A resident ID card number and the facts it encodes.
struct Identity {
    id_card: String,
    birth: Date,
    origin: &'static District,
}

/// A new ID card number, not in `seen` (which it joins): district of birth registration,
/// birth date, a sequence number whose parity is the gender (odd for men) and the GB 11643
/// check character.
fn identity(dice: &mut Dice, gender: Gender, seen: &mut HashSet<String>) -> Identity {
    loop {
        let origin = dice.pick(DISTRICTS);
        let birth = dice.date(BIRTH_FROM, BIRTH_TO);
        let parity = match gender {
            Gender::Male => 1,
            Gender::Female => 0,
        };
        let sequence = dice.below(500) * 2 + parity;
        let first17 = format!("{}{}{sequence:03}", origin.code, birth.compact());
        let check = id_card_check_digit(first17.as_bytes())
            .expect("district code, birth date and sequence are 17 ASCII digits");
        let id_card = format!("{first17}{}", char::from(check));
        if seen.insert(id_card.clone()) {
            return Identity {
                id_card,
                birth,
                origin,
            };
        }
    }
}

fn gender(dice: &mut Dice) -> Gender {
    if dice.chance(50) {
        Gender::Male
    } else {
        Gender::Female
    }
}

/// A full name: a surname by frequency and one or two given-name characters.
fn person_name(dice: &mut Dice, gender: Gender) -> String {
    let mut name = String::from(*dice.weighted(SURNAMES));
    let given = if dice.chance(75) { 2 } else { 1 };
    for _ in 0..given {
        let list = match (dice.chance(20), gender) {
            (true, _) => COMMON_GIVEN,
            (false, Gender::Male) => MALE_GIVEN,
            (false, Gender::Female) => FEMALE_GIVEN,
        };
        let given: &&str = dice.pick(list);
        name.push_str(given);
    }
    name
}

/// `浙江省杭州市西湖区文三路128号3幢2单元501室`.
fn home_address(dice: &mut Dice, d: &District) -> String {
    format!(
        "{PROVINCE}{}{}{}{}号{}幢{}单元{}{:02}室",
        d.city,
        d.name,
        dice.pick(STREETS),
        dice.range(1, 999),
        dice.range(1, 30),
        dice.range(1, 4),
        dice.range(1, 28),
        dice.range(1, 4),
    )
}

/// `浙江省宁波市鄞州区科技大道88号12楼1203室` or `…88号5幢`.
fn business_address(dice: &mut Dice, d: &District) -> String {
    let base = format!(
        "{PROVINCE}{}{}{}{}号",
        d.city,
        d.name,
        dice.pick(STREETS),
        dice.range(1, 999)
    );
    if dice.chance(60) {
        let floor = dice.range(1, 30);
        format!("{base}{floor}楼{floor}{:02}室", dice.range(1, 20))
    } else {
        format!("{base}{}幢", dice.range(1, 20))
    }
}

fn people(seed: u64, count: usize) -> Vec<Person> {
    let mut dice = Dice::new(seed, stream::POPULATION);
    let mut ids = HashSet::with_capacity(count);
    let mut phones = HashSet::with_capacity(count);
    (1..=count)
        .map(|n| {
            let gender = gender(&mut dice);
            let who = identity(&mut dice, gender, &mut ids);
            // Most people still live in the district that registered their birth.
            let home = if dice.chance(80) {
                who.origin
            } else {
                dice.pick(DISTRICTS)
            };
            let name = person_name(&mut dice, gender);
            let phone = loop {
                let phone = format!("{}{}", dice.pick(MOBILE_PREFIXES), dice.digits(8));
                if phones.insert(phone.clone()) {
                    break phone;
                }
            };
            Person {
                id: row_id(n),
                name,
                id_card: who.id_card,
                phone,
                address: home_address(&mut dice, home),
                birth_date: who.birth,
                gender,
                district_code: home.code,
            }
        })
        .collect()
}

fn row_id(n: usize) -> i64 {
    i64::try_from(n).expect("row numbers fit in i64")
}

/// A person to refer to: a `population` row, or a new identity when the table is empty.
struct Someone {
    name: String,
    id_card: String,
    birth: Date,
    origin: &'static District,
}

fn someone(dice: &mut Dice, population: &[Person], fresh: &mut HashSet<String>) -> Someone {
    if population.is_empty() {
        let gender = gender(dice);
        let who = identity(dice, gender, fresh);
        return Someone {
            name: person_name(dice, gender),
            id_card: who.id_card,
            birth: who.birth,
            origin: who.origin,
        };
    }
    let p = dice.pick(population);
    let origin = district(&p.id_card[..6]).expect("population ID cards start with a known code");
    Someone {
        name: p.name.clone(),
        id_card: p.id_card.clone(),
        birth: p.birth_date,
        origin,
    }
}

/// GB 11714-1997 weights of an organisation code's eight body characters.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// An organisation code (组织机构代码, GB 11714): eight digits and their check character,
/// the 9th–17th characters of a USCC.
fn organisation_code(dice: &mut Dice) -> String {
    let body = dice.digits(8);
    let sum: u32 = body
        .bytes()
        .zip(ORG_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        c => char::from_digit(c, 10).expect("11 - n % 11 is below 10 here"),
    };
    format!("{body}{check}")
}

/// Kinds of registered entities, with their GB 32100 authority and type characters.
#[derive(Clone, Copy)]
enum EntityKind {
    /// 企业 (authority 9, type 1).
    Company,
    /// 个体工商户 (9, 2).
    Shop,
    /// 农民专业合作社 (9, 3).
    Cooperative,
}

const ENTITY_KINDS: &[(EntityKind, u32)] = &[
    (EntityKind::Company, 85),
    (EntityKind::Shop, 10),
    (EntityKind::Cooperative, 5),
];

/// A new USCC not in `seen`: registration authority and entity type, the district code,
/// a GB 11714 organisation code and the GB 32100 check character.
fn uscc(dice: &mut Dice, kind: EntityKind, d: &District, seen: &mut HashSet<String>) -> String {
    let prefix = match kind {
        EntityKind::Company => "91",
        EntityKind::Shop => "92",
        EntityKind::Cooperative => "93",
    };
    loop {
        let first17 = format!("{prefix}{}{}", d.code, organisation_code(dice));
        let check = uscc_check_char(first17.as_bytes())
            .expect("digits and X are in the GB 32100 alphabet and there are 17 of them");
        let code = format!("{first17}{}", char::from(check));
        if seen.insert(code.clone()) {
            return code;
        }
    }
}

fn legal_persons(seed: u64, count: usize, population: &[Person]) -> Vec<LegalPerson> {
    let mut dice = Dice::new(seed, stream::LEGAL_PERSON);
    let mut seen = HashSet::with_capacity(count);
    let mut fresh = HashSet::new();
    (0..count)
        .map(|_| {
            let kind = *dice.weighted(ENTITY_KINDS);
            let place = dice.pick(DISTRICTS);
            let rep = someone(&mut dice, population, &mut fresh);
            let code = uscc(&mut dice, kind, place, &mut seen);
            let (name, capital) = match kind {
                EntityKind::Company => {
                    let region = if dice.chance(75) {
                        place.city.trim_end_matches('市')
                    } else {
                        "浙江"
                    };
                    let name = format!(
                        "{region}{}{}{}",
                        dice.pick(BRANDS),
                        dice.pick(INDUSTRIES),
                        dice.weighted(COMPANY_FORMS)
                    );
                    let capital = *dice.weighted(&[
                        (100_000, 8),
                        (300_000, 8),
                        (500_000, 12),
                        (1_000_000, 20),
                        (2_000_000, 10),
                        (3_000_000, 10),
                        (5_000_000, 12),
                        (10_000_000, 10),
                        (20_000_000, 5),
                        (50_000_000, 3),
                        (100_000_000, 2),
                    ]);
                    (name, capital)
                }
                EntityKind::Shop => {
                    let name = format!("{}{}{}", place.name, rep.name, dice.pick(SHOP_TRADES));
                    (name, *dice.pick(&[10_000, 30_000, 50_000, 100_000]))
                }
                EntityKind::Cooperative => {
                    let name = format!(
                        "{}{}{}专业合作社",
                        place.name,
                        dice.pick(BRANDS),
                        dice.pick(COOPERATIVE_PRODUCE)
                    );
                    (name, *dice.pick(&[100_000, 500_000, 1_000_000, 2_000_000]))
                }
            };
            LegalPerson {
                uscc: code,
                name,
                legal_rep_name: rep.name,
                legal_rep_id_card: rep.id_card,
                registered_capital: capital,
                address: business_address(&mut dice, place),
            }
        })
        .collect()
}

const PERMITS: &[(&str, &str)] = &[
    ("食品经营许可证", "JY1"),
    ("道路运输经营许可证", "浙交运管许可"),
    ("排污许可证", "PW"),
    ("药品经营许可证", "浙AA"),
    ("建筑工程施工许可证", "SG"),
];

const LAWS: &[&str] = &[
    "中华人民共和国食品安全法",
    "中华人民共和国广告法",
    "中华人民共和国安全生产法",
    "中华人民共和国消防法",
    "中华人民共和国税收征收管理法",
    "中华人民共和国环境保护法",
    "中华人民共和国产品质量法",
];

const HONOURS: &[&str] = &[
    "浙江省守合同重信用企业",
    "诚信示范企业",
    "劳动保障诚信示范单位",
    "纳税信用A级纳税人",
];

const DISHONOUR: &[(&str, &str)] = &[
    ("经营异常名录", "通过登记的住所或者经营场所无法联系"),
    ("经营异常名录", "未按规定公示年度报告"),
    (
        "严重违法失信名单",
        "被列入经营异常名录届满3年仍未履行相关义务",
    ),
    (
        "失信被执行人名单",
        "有履行能力而拒不履行生效法律文书确定的义务",
    ),
];

#[derive(Clone, Copy)]
enum RecordKind {
    Permit,
    Penalty,
    TaxRating,
    Honour,
    Dishonour,
    Contract,
}

const RECORD_KINDS: &[(RecordKind, u32)] = &[
    (RecordKind::Permit, 35),
    (RecordKind::TaxRating, 25),
    (RecordKind::Penalty, 15),
    (RecordKind::Honour, 10),
    (RecordKind::Dishonour, 10),
    (RecordKind::Contract, 5),
];

fn credit_records(seed: u64, count: usize, legal_persons: &[LegalPerson]) -> Vec<CreditRecord> {
    let mut dice = Dice::new(seed, stream::CREDIT_RECORD);
    let mut fresh = HashSet::new();
    (1..=count)
        .map(|n| {
            let code = match legal_persons {
                [] => {
                    let place = dice.pick(DISTRICTS);
                    uscc(&mut dice, EntityKind::Company, place, &mut fresh)
                }
                all => dice.pick(all).uscc.clone(),
            };
            let record_date = dice.date(date(2015, 1, 1), DATA_END);
            let year = record_date.year;
            let (record_type, detail) = match *dice.weighted(RECORD_KINDS) {
                RecordKind::Permit => {
                    let (permit, prefix) = *dice.pick(PERMITS);
                    let detail = format!(
                        "准予{permit}许可，许可证编号{prefix}{}{}",
                        &code[2..8],
                        dice.digits(8)
                    );
                    ("行政许可", detail)
                }
                RecordKind::Penalty => {
                    let detail = format!(
                        "违反《{}》，责令改正并处罚款人民币{}元",
                        dice.pick(LAWS),
                        dice.range(1, 200) * 1000
                    );
                    ("行政处罚", detail)
                }
                RecordKind::TaxRating => {
                    let grade =
                        dice.weighted(&[("A", 30), ("B", 45), ("M", 15), ("C", 7), ("D", 3)]);
                    let detail = format!("{}年度纳税信用等级评定为{grade}级", year - 1);
                    ("纳税信用评价", detail)
                }
                RecordKind::Honour => {
                    let detail = format!("被评为{}年度{}", year - 1, dice.pick(HONOURS));
                    ("守信激励", detail)
                }
                RecordKind::Dishonour => {
                    let (list, reason) = *dice.pick(DISHONOUR);
                    ("失信惩戒", format!("列入{list}，列入原因：{reason}"))
                }
                RecordKind::Contract => {
                    let grade = dice.pick(&["良好", "合格", "优秀"]);
                    let detail = format!("{year}年度政府采购合同履约评价为{grade}");
                    ("合同履约", detail)
                }
            };
            CreditRecord {
                id: row_id(n),
                uscc: code,
                record_type,
                detail,
                record_date,
            }
        })
        .collect()
}

#[derive(Clone, Copy)]
enum LicenseKind {
    /// 机动车驾驶证: the 12-digit file number (档案编号), city code first.
    Driving,
    /// 不动产权证书: `浙(2019)杭州市不动产权第0123456号`.
    RealEstate,
    /// 结婚证: `J330106-2015-004567`.
    Marriage,
    /// 教师资格证: year, district code and seven digits.
    Teacher,
    /// 导游证: `D-3301-012345`.
    TourGuide,
}

const LICENSE_KINDS: &[(LicenseKind, u32)] = &[
    (LicenseKind::Driving, 40),
    (LicenseKind::RealEstate, 25),
    (LicenseKind::Marriage, 20),
    (LicenseKind::Teacher, 8),
    (LicenseKind::TourGuide, 7),
];

fn licenses(seed: u64, count: usize, population: &[Person]) -> Vec<License> {
    let mut dice = Dice::new(seed, stream::LICENSE);
    let mut fresh = HashSet::new();
    (1..=count)
        .map(|n| {
            let holder = someone(&mut dice, population, &mut fresh);
            let kind = *dice.weighted(LICENSE_KINDS);
            let min_age = match kind {
                LicenseKind::Marriage => 22,
                _ => 18,
            };
            let from = anniversary(holder.birth, min_age).max(date(2000, 1, 1));
            let issue_date = dice.date(from.min(DATA_END), DATA_END);
            let year = issue_date.year;
            let d = holder.origin;
            let city_code = &d.code[..4];
            let (license_type, license_no) = match kind {
                LicenseKind::Driving => {
                    ("机动车驾驶证", format!("{city_code}00{}", dice.digits(6)))
                }
                LicenseKind::RealEstate => {
                    // County-level cities and counties register their own real estate.
                    let registry = if d.name.ends_with('市') || d.name.ends_with('县') {
                        d.name
                    } else {
                        d.city
                    };
                    let no = format!("浙({year}){registry}不动产权第{}号", dice.digits(7));
                    ("不动产权证书", no)
                }
                LicenseKind::Marriage => {
                    ("结婚证", format!("J{}-{year}-{}", d.code, dice.digits(6)))
                }
                LicenseKind::Teacher => {
                    ("教师资格证", format!("{year}{}{}", d.code, dice.digits(7)))
                }
                LicenseKind::TourGuide => ("导游证", format!("D-{city_code}-{}", dice.digits(6))),
            };
            License {
                id: row_id(n),
                holder_id_card: holder.id_card,
                license_type,
                license_no,
                issue_date,
            }
        })
        .collect()
}

/// Banks with one of their UnionPay debit-card BINs and the card length.
const BANKS: &[(&str, &str, usize, u32)] = &[
    ("中国工商银行", "622202", 19, 22),
    ("中国建设银行", "621700", 19, 20),
    ("中国农业银行", "622848", 19, 18),
    ("中国银行", "621661", 19, 12),
    ("交通银行", "622262", 19, 8),
    ("招商银行", "622588", 16, 10),
    ("中国邮政储蓄银行", "621799", 19, 10),
];

fn bank_accounts(seed: u64, count: usize, population: &[Person]) -> Vec<BankAccount> {
    let mut dice = Dice::new(seed, stream::BANK_ACCOUNT);
    let mut fresh = HashSet::new();
    let mut cards = HashSet::with_capacity(count);
    let banks: Vec<_> = BANKS
        .iter()
        .map(|&(name, bin, len, weight)| ((name, bin, len), weight))
        .collect();
    (1..=count)
        .map(|n| {
            let holder = someone(&mut dice, population, &mut fresh);
            let (bank, bin, len) = *dice.weighted(&banks);
            let card_no = loop {
                let payload = format!("{bin}{}", dice.digits(len - bin.len() - 1));
                let check = luhn_check_digit(payload.as_bytes())
                    .expect("a BIN and random digits are a non-empty digit string");
                let card = format!("{payload}{}", char::from(check));
                if cards.insert(card.clone()) {
                    break card;
                }
            };
            BankAccount {
                id: row_id(n),
                holder_id_card: holder.id_card,
                card_no,
                bank,
            }
        })
        .collect()
}

/// Open-data domains: category, city department, provincial department, topics.
const OPEN_DOMAINS: &[(&str, &str, &str, &[&str])] = &[
    (
        "交通出行",
        "交通运输局",
        "交通运输厅",
        &[
            "公共自行车站点信息",
            "公交线路信息",
            "停车场泊位信息",
            "充电桩分布信息",
            "道路施工信息",
        ],
    ),
    (
        "教育科技",
        "教育局",
        "教育厅",
        &[
            "中小学学校名录",
            "幼儿园名录",
            "校外培训机构名录",
            "高新技术企业名单",
        ],
    ),
    (
        "医疗卫生",
        "卫生健康委员会",
        "卫生健康委员会",
        &[
            "医疗机构名录",
            "零售药店分布",
            "预防接种门诊信息",
            "急救站点信息",
        ],
    ),
    (
        "市场监管",
        "市场监督管理局",
        "市场监督管理局",
        &[
            "食品经营许可信息",
            "特种设备使用登记信息",
            "双随机抽查结果",
            "企业年报公示信息",
        ],
    ),
    (
        "生态环境",
        "生态环境局",
        "生态环境厅",
        &[
            "空气质量监测数据",
            "地表水水质监测断面",
            "重点排污单位名录",
            "噪声监测数据",
        ],
    ),
    (
        "文化旅游",
        "文化广电旅游局",
        "文化广电和旅游厅",
        &[
            "A级旅游景区名录",
            "星级饭店名录",
            "公共图书馆信息",
            "文物保护单位名录",
        ],
    ),
    (
        "社会保障",
        "人力资源和社会保障局",
        "人力资源和社会保障厅",
        &[
            "医保定点医疗机构",
            "职业技能培训机构",
            "人力资源服务机构名录",
        ],
    ),
    (
        "城建住房",
        "住房和城乡建设局",
        "住房和城乡建设厅",
        &[
            "商品房预售许可信息",
            "建筑施工企业资质信息",
            "公共租赁住房房源信息",
        ],
    ),
    (
        "农业农村",
        "农业农村局",
        "农业农村厅",
        &["农产品质量抽检结果", "家庭农场名录", "农民专业合作社名录"],
    ),
];

fn open_datasets(seed: u64, count: usize) -> Vec<OpenDataset> {
    let mut dice = Dice::new(seed, stream::OPEN_DATASET);
    (1..=count)
        .map(|n| {
            let (category, city_dept, province_dept, topics) = *dice.pick(OPEN_DOMAINS);
            let (region, dept) = if dice.chance(85) {
                (dice.pick(CITIES).1, city_dept)
            } else {
                (PROVINCE, province_dept)
            };
            let publish_date = dice.date(date(2018, 1, 1), DATA_END);
            let topic = dice.pick(topics);
            let title = if dice.chance(30) {
                format!("{region}{topic}（{}年）", publish_date.year - 1)
            } else {
                format!("{region}{topic}")
            };
            let id = row_id(n);
            OpenDataset {
                id,
                title,
                category,
                publisher: format!("{region}{dept}"),
                publish_date,
                url: format!("https://data.zjzwfw.gov.cn/jdop_front/detail/data.do?iid={id}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::detect::validate::{date_valid, id_card_valid_until};
    use rules::detect::{bank_card_valid, id_card_valid, luhn_valid, mobile_valid, uscc_valid};

    fn small() -> Dataset {
        generate(7, &Counts::scaled(0.05))
    }

    #[test]
    fn dice_is_uniform_enough_and_in_range() {
        let mut dice = Dice::new(1, 0);
        let mut buckets = [0u32; 7];
        for _ in 0..70_000 {
            buckets[dice.below(7) as usize] += 1;
        }
        for b in buckets {
            assert!((9_000..11_000).contains(&b), "{buckets:?}");
        }
        for _ in 0..1_000 {
            assert!((5..=9).contains(&dice.range(5, 9)));
            let d = dice.date(date(2024, 2, 28), date(2024, 3, 1));
            assert!([date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)].contains(&d));
        }
    }

    #[test]
    fn dice_streams_are_pinned() {
        // ChaCha8 keyed as Dice::new does and sampled by Dice::below: if these numbers
        // change, every seed names a different data set.
        let mut dice = Dice::new(42, stream::POPULATION);
        let draws: Vec<u64> = (0..4).map(|_| dice.below(1_000_000)).collect();
        assert_eq!(draws, [658_132, 987_937, 74_641, 145_630]);
        let mut other = Dice::new(42, stream::LICENSE);
        assert_ne!(
            draws,
            (0..4).map(|_| other.below(1_000_000)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(date(1970, 1, 1)), 0);
        assert_eq!(days_from_civil(date(2000, 3, 1)), 11_017);
        let mut day = days_from_civil(date(1899, 12, 1));
        let end = days_from_civil(date(2030, 1, 1));
        let mut prev = civil_from_days(day - 1);
        while day < end {
            let d = civil_from_days(day);
            assert!(date_valid(d.year, d.month, d.day), "{d}");
            assert!(d > prev, "{d} after {prev}");
            assert_eq!(days_from_civil(d), day);
            prev = d;
            day += 1;
        }
    }

    #[test]
    fn counts_are_exact() {
        let counts = Counts::scaled(0.03);
        let data = generate(1, &counts);
        for table in super::super::Table::ALL {
            assert_eq!(data.len(table), counts.get(table), "{table}");
            assert_eq!(data.rows(table).count(), counts.get(table), "{table}");
            for row in data.rows(table) {
                assert_eq!(row.len(), table.columns().len(), "{table}");
            }
        }
        assert!(generate(1, &Counts::scaled(0.0)).is_empty());
    }

    #[test]
    fn id_cards_are_valid_and_match_the_person() {
        let data = generate(3, &Counts::scaled(0.1));
        assert_eq!(data.population.len(), 10_000);
        let mut seen = HashSet::new();
        for p in &data.population {
            let card = p.id_card.as_bytes();
            assert!(id_card_valid(card), "{}", p.id_card);
            // Valid even for a checker whose clock says 2024, the data's "now".
            assert!(id_card_valid_until(card, 2024), "{}", p.id_card);
            assert_eq!(&p.id_card[6..14], p.birth_date.compact());
            let b = p.birth_date;
            assert!(date_valid(b.year, b.month, b.day) && (BIRTH_FROM..=BIRTH_TO).contains(&b));
            let sequence_digit = card[16] - b'0';
            let odd = sequence_digit % 2 == 1;
            assert_eq!(
                odd,
                p.gender == Gender::Male,
                "{} {:?}",
                p.id_card,
                p.gender
            );
            assert!(district(&p.id_card[..6]).is_some(), "{}", p.id_card);
            assert!(seen.insert(&p.id_card), "duplicate {}", p.id_card);
            assert!(mobile_valid(p.phone.as_bytes()), "{}", p.phone);
            let home = district(p.district_code).expect("a known district");
            assert!(
                p.address
                    .starts_with(&format!("{PROVINCE}{}{}", home.city, home.name))
            );
            let chars = p.name.chars().count();
            assert!((2..=4).contains(&chars), "{}", p.name);
        }
        let men = data
            .population
            .iter()
            .filter(|p| p.gender == Gender::Male)
            .count();
        assert!((4_500..5_500).contains(&men), "{men} men of 10,000");
    }

    #[test]
    fn usccs_and_cards_are_valid() {
        let data = generate(11, &Counts::scaled(0.25));
        assert_eq!(data.legal_person.len(), 5_000);
        let mut seen = HashSet::new();
        for lp in &data.legal_person {
            let code = lp.uscc.as_bytes();
            assert!(uscc_valid(code), "{}", lp.uscc);
            assert!(district(&lp.uscc[2..8]).is_some(), "{}", lp.uscc);
            // The embedded organisation code carries its own GB 11714 check character.
            let org = &code[8..17];
            let sum: u32 = org[..8]
                .iter()
                .zip(ORG_WEIGHTS)
                .map(|(b, w)| u32::from(b - b'0') * w)
                .sum();
            let expected = match 11 - sum % 11 {
                10 => b'X',
                11 => b'0',
                c => b'0' + c as u8,
            };
            assert_eq!(org[8], expected, "{}", lp.uscc);
            assert!(seen.insert(&lp.uscc), "duplicate {}", lp.uscc);
            assert!(id_card_valid(lp.legal_rep_id_card.as_bytes()));
            assert!(lp.registered_capital >= 10_000);
        }
        assert_eq!(data.bank_account.len(), 2_500);
        let mut cards = HashSet::new();
        for account in &data.bank_account {
            let card = account.card_no.as_bytes();
            assert!(
                bank_card_valid(card) && luhn_valid(card),
                "{}",
                account.card_no
            );
            assert!(account.card_no.starts_with("62"));
            assert!(
                cards.insert(&account.card_no),
                "duplicate {}",
                account.card_no
            );
        }
    }

    #[test]
    fn references_point_at_existing_rows() {
        let data = small();
        let people: HashSet<_> = data.population.iter().map(|p| &p.id_card).collect();
        let entities: HashSet<_> = data.legal_person.iter().map(|l| &l.uscc).collect();
        for l in &data.license {
            assert!(people.contains(&l.holder_id_card), "{}", l.holder_id_card);
        }
        for b in &data.bank_account {
            assert!(people.contains(&b.holder_id_card), "{}", b.holder_id_card);
        }
        for lp in &data.legal_person {
            assert!(people.contains(&lp.legal_rep_id_card));
            let rep = data
                .population
                .iter()
                .find(|p| p.id_card == lp.legal_rep_id_card);
            assert_eq!(rep.map(|p| &p.name), Some(&lp.legal_rep_name));
        }
        for c in &data.credit_record {
            assert!(entities.contains(&c.uscc), "{}", c.uscc);
        }
    }

    #[test]
    fn dates_are_real_and_after_the_holders_birth() {
        let data = small();
        let births: std::collections::HashMap<_, _> = data
            .population
            .iter()
            .map(|p| (&p.id_card, p.birth_date))
            .collect();
        for l in &data.license {
            let d = l.issue_date;
            assert!(date_valid(d.year, d.month, d.day) && d <= DATA_END, "{d}");
            let birth = births[&l.holder_id_card];
            assert!(d >= anniversary(birth, 18).min(DATA_END), "{d} for {birth}");
        }
        for d in data
            .credit_record
            .iter()
            .map(|c| c.record_date)
            .chain(data.open_dataset.iter().map(|o| o.publish_date))
        {
            assert!(date_valid(d.year, d.month, d.day) && d <= DATA_END, "{d}");
        }
    }

    #[test]
    fn tables_without_referenced_rows_still_get_valid_identifiers() {
        let counts = Counts {
            population: 0,
            legal_person: 0,
            ..Counts::scaled(0.01)
        };
        let data = generate(5, &counts);
        for l in &data.license {
            assert!(id_card_valid(l.holder_id_card.as_bytes()));
        }
        for c in &data.credit_record {
            assert!(uscc_valid(c.uscc.as_bytes()));
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let counts = Counts::scaled(0.01);
        let a = generate(2024, &counts);
        let b = generate(2024, &counts);
        let c = generate(2025, &counts);
        assert_eq!(a, b);
        assert_eq!(a.checksum(), b.checksum());
        assert_ne!(a.checksum(), c.checksum());
        for table in super::super::Table::ALL {
            assert_eq!(a.csv(table), b.csv(table), "{table}");
            assert_ne!(a.csv(table), c.csv(table), "{table}");
        }
        // A table does not depend on the counts of tables it does not reference.
        let more_open = Counts {
            open_dataset: 50,
            ..counts
        };
        assert_eq!(generate(2024, &more_open).population, a.population);
    }
}
