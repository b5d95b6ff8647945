//! The demo platform's data (DEMO.md, "Data"): six tables of synthetic but valid public
//! data, generated deterministically from a seed ([`generate()`]) and loaded into the
//! `publicdata` database of PostgreSQL and MariaDB with their command-line clients
//! ([`load()`]).
//!
//! ```text
//!  seed, Counts ──► generate ──► Dataset ──► load ──► psql    ──► PostgreSQL publicdata
//!  (names, places)   (typed rows,             (schema, └► mariadb ──► MariaDB publicdata
//!                     checksum)                accounts, grants)
//! ```
//!
//! The schema lives once, in [`Table::columns`]: the loader derives both servers' DDL from it
//! and it carries exactly the table and column names of `deploy/demo/catalog.toml`.

mod generate;
mod load;
pub mod names;
pub mod places;

use std::fmt;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

pub use generate::generate;
pub use load::{
    Account, Endpoint, LoadError, LoadReport, Server, ServerReport, Target, drop_database,
    is_loaded, load,
};

/// Row counts per table. [`Counts::default`] is DEMO.md's data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Rows of `population` (人口综合库).
    pub population: usize,
    /// Rows of `legal_person` (法人库).
    pub legal_person: usize,
    /// Rows of `credit_record` (信用信息库).
    pub credit_record: usize,
    /// Rows of `license` (电子证照).
    pub license: usize,
    /// Rows of `bank_account` (金融).
    pub bank_account: usize,
    /// Rows of `open_dataset` (开放目录).
    pub open_dataset: usize,
}

impl Counts {
    /// DEMO.md's row counts.
    pub const DEMO: Counts = Counts {
        population: 100_000,
        legal_person: 20_000,
        credit_record: 50_000,
        license: 30_000,
        bank_account: 10_000,
        open_dataset: 1_000,
    };

    /// DEMO.md's counts times `factor` (rounded; at least one row per table when the factor
    /// is positive), e.g. `Counts::scaled(0.02)` for a 2 % data set in tests.
    pub fn scaled(factor: f64) -> Counts {
        let scale = |n: usize| {
            if factor.is_finite() && factor > 0.0 {
                // Row counts stay far below 2^52, so the float round trip is exact enough.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let rows = (n as f64 * factor).round() as usize;
                rows.max(1)
            } else {
                0
            }
        };
        let d = Counts::DEMO;
        Counts {
            population: scale(d.population),
            legal_person: scale(d.legal_person),
            credit_record: scale(d.credit_record),
            license: scale(d.license),
            bank_account: scale(d.bank_account),
            open_dataset: scale(d.open_dataset),
        }
    }

    /// The row count of `table`.
    pub fn get(&self, table: Table) -> usize {
        match table {
            Table::Population => self.population,
            Table::LegalPerson => self.legal_person,
            Table::CreditRecord => self.credit_record,
            Table::License => self.license,
            Table::BankAccount => self.bank_account,
            Table::OpenDataset => self.open_dataset,
        }
    }

    /// Rows of all tables together.
    pub fn total(&self) -> usize {
        Table::ALL.iter().map(|&t| self.get(t)).sum()
    }
}

impl Default for Counts {
    fn default() -> Self {
        Counts::DEMO
    }
}

/// `population=100000,legal_person=20000,…`, the form stored in `demo_meta`.
impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, table) in Table::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}={}", table.name(), self.get(*table))?;
        }
        Ok(())
    }
}

/// The tables of the demo database, in load order (referenced tables first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `population` (人口综合库): residents.
    Population,
    /// `legal_person` (法人库): enterprises and other registered entities.
    LegalPerson,
    /// `credit_record` (信用信息库): credit events of legal persons.
    CreditRecord,
    /// `license` (电子证照): electronic licences held by residents.
    License,
    /// `bank_account` (金融): bank cards held by residents.
    BankAccount,
    /// `open_dataset` (开放目录): the open-data catalogue.
    OpenDataset,
}

/// The SQL type of a column, rendered per server by the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// The surrogate key: `bigint` primary key that also numbers inserted rows
    /// (PostgreSQL identity, MariaDB `AUTO_INCREMENT`).
    Id,
    /// A natural primary key of at most this many characters.
    Key(u16),
    /// A string of at most this many characters.
    Varchar(u16),
    /// An unbounded string.
    Text,
    /// A calendar date.
    Date,
    /// An amount of yuan with two decimals (`numeric(18,2)`).
    Money,
}

/// A column of a demo table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column name, as in the demo catalog.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether lookups by this column are common enough for a secondary index.
    pub indexed: bool,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        indexed: false,
    }
}

const fn indexed(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        indexed: true,
    }
}

use ColumnType::{Date as D, Id, Key, Money, Text, Varchar as V};

const POPULATION: &[Column] = &[
    col("id", Id),
    col("name", V(32)),
    indexed("id_card", V(18)),
    indexed("phone", V(11)),
    col("address", V(128)),
    col("birth_date", D),
    col("gender", V(2)),
    col("district_code", V(6)),
];
const LEGAL_PERSON: &[Column] = &[
    col("uscc", Key(18)),
    col("name", V(128)),
    col("legal_rep_name", V(32)),
    indexed("legal_rep_id_card", V(18)),
    col("registered_capital", Money),
    col("address", V(128)),
];
const CREDIT_RECORD: &[Column] = &[
    col("id", Id),
    indexed("uscc", V(18)),
    col("record_type", V(32)),
    col("detail", Text),
    col("record_date", D),
];
const LICENSE: &[Column] = &[
    col("id", Id),
    indexed("holder_id_card", V(18)),
    col("license_type", V(32)),
    col("license_no", V(64)),
    col("issue_date", D),
];
const BANK_ACCOUNT: &[Column] = &[
    col("id", Id),
    indexed("holder_id_card", V(18)),
    col("card_no", V(19)),
    col("bank", V(32)),
];
const OPEN_DATASET: &[Column] = &[
    col("id", Id),
    col("title", V(128)),
    col("category", V(32)),
    col("publisher", V(64)),
    col("publish_date", D),
    col("url", V(255)),
];

impl Table {
    /// All tables, in load order.
    pub const ALL: [Table; 6] = [
        Table::Population,
        Table::LegalPerson,
        Table::CreditRecord,
        Table::License,
        Table::BankAccount,
        Table::OpenDataset,
    ];

    /// The table name (without database), as in the demo catalog.
    pub fn name(self) -> &'static str {
        match self {
            Table::Population => "population",
            Table::LegalPerson => "legal_person",
            Table::CreditRecord => "credit_record",
            Table::License => "license",
            Table::BankAccount => "bank_account",
            Table::OpenDataset => "open_dataset",
        }
    }

    /// The table named `name`, if it is a demo table.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The columns, primary key first, in the order rows list their values.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Population => POPULATION,
            Table::LegalPerson => LEGAL_PERSON,
            Table::CreditRecord => CREDIT_RECORD,
            Table::License => LICENSE,
            Table::BankAccount => BANK_ACCOUNT,
            Table::OpenDataset => OPEN_DATASET,
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A calendar date of the Gregorian calendar (always valid when made by the generator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year, e.g. 1987.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

/// ISO 8601, `1987-03-09`: what both servers read and print for `date`.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Date {
    /// `YYYYMMDD`, as in ID card numbers.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// Gender as the population register writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    /// 男: odd ID card sequence numbers.
    Male,
    /// 女: even ID card sequence numbers.
    Female,
}

impl Gender {
    /// `男` or `女`, the value of the `gender` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

/// A row of `population`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Surrogate key, 1-based.
    pub id: i64,
    /// Full name, e.g. `王建国`.
    pub name: String,
    /// 18-character resident ID card number with a valid check character.
    pub id_card: String,
    /// 11-digit mobile number with an allocated prefix.
    pub phone: String,
    /// Residential address, `浙江省杭州市西湖区…室`.
    pub address: String,
    /// Birth date, the same as in the ID card number.
    pub birth_date: Date,
    /// Gender, matching the parity of the ID card's sequence number.
    pub gender: Gender,
    /// GB/T 2260 code of the district of `address`.
    pub district_code: &'static str,
}

/// A row of `legal_person`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalPerson {
    /// Unified social credit code with a valid check character (primary key).
    pub uscc: String,
    /// Registered name.
    pub name: String,
    /// Name of the legal representative, a resident of `population` when there is one.
    pub legal_rep_name: String,
    /// The legal representative's ID card number.
    pub legal_rep_id_card: String,
    /// Registered capital in whole yuan (the column is `numeric(18,2)`).
    pub registered_capital: u64,
    /// Registered address.
    pub address: String,
}

/// A row of `credit_record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRecord {
    /// Surrogate key, 1-based.
    pub id: i64,
    /// USCC of a `legal_person` row.
    pub uscc: String,
    /// Kind of record, e.g. `行政处罚`.
    pub record_type: &'static str,
    /// What happened, in a sentence.
    pub detail: String,
    /// When it was recorded.
    pub record_date: Date,
}

/// A row of `license`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Surrogate key, 1-based.
    pub id: i64,
    /// ID card number of a `population` row.
    pub holder_id_card: String,
    /// Kind of licence, e.g. `机动车驾驶证`.
    pub license_type: &'static str,
    /// Licence number in the format of its kind.
    pub license_no: String,
    /// Date of issue.
    pub issue_date: Date,
}

/// A row of `bank_account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    /// Surrogate key, 1-based.
    pub id: i64,
    /// ID card number of a `population` row.
    pub holder_id_card: String,
    /// UnionPay card number (62…, 16 or 19 digits) with a valid Luhn digit.
    pub card_no: String,
    /// Issuing bank.
    pub bank: &'static str,
}

/// A row of `open_dataset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDataset {
    /// Surrogate key, 1-based.
    pub id: i64,
    /// Title, e.g. `杭州市公共自行车站点信息`.
    pub title: String,
    /// Open-data category, e.g. `交通出行`.
    pub category: &'static str,
    /// Publishing department.
    pub publisher: String,
    /// Date of publication.
    pub publish_date: Date,
    /// Address of the data set's page.
    pub url: String,
}

/// One value of a row, typed so that each server gets the right literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// An integer.
    Int(i64),
    /// A string.
    Str(&'a str),
    /// A date.
    Date(Date),
    /// Whole yuan, written with two decimals.
    Yuan(u64),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
            Value::Date(d) => write!(f, "{d}"),
            Value::Yuan(y) => write!(f, "{y}.00"),
        }
    }
}

/// A generated data set: the rows of every table plus the seed and counts that made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// The generator's seed.
    pub seed: u64,
    /// The requested row counts (the tables have exactly these many rows).
    pub counts: Counts,
    /// `population` rows.
    pub population: Vec<Person>,
    /// `legal_person` rows.
    pub legal_person: Vec<LegalPerson>,
    /// `credit_record` rows.
    pub credit_record: Vec<CreditRecord>,
    /// `license` rows.
    pub license: Vec<License>,
    /// `bank_account` rows.
    pub bank_account: Vec<BankAccount>,
    /// `open_dataset` rows.
    pub open_dataset: Vec<OpenDataset>,
}

impl Dataset {
    /// The rows of `table` as values in [`Table::columns`] order.
    pub fn rows(&self, table: Table) -> Box<dyn Iterator<Item = Vec<Value<'_>>> + '_> {
        use Value::{Date as Dt, Int, Str, Yuan};
        match table {
            Table::Population => Box::new(self.population.iter().map(|r| {
                vec![
                    Int(r.id),
                    Str(&r.name),
                    Str(&r.id_card),
                    Str(&r.phone),
                    Str(&r.address),
                    Dt(r.birth_date),
                    Str(r.gender.as_str()),
                    Str(r.district_code),
                ]
            })),
            Table::LegalPerson => Box::new(self.legal_person.iter().map(|r| {
                vec![
                    Str(&r.uscc),
                    Str(&r.name),
                    Str(&r.legal_rep_name),
                    Str(&r.legal_rep_id_card),
                    Yuan(r.registered_capital),
                    Str(&r.address),
                ]
            })),
            Table::CreditRecord => Box::new(self.credit_record.iter().map(|r| {
                vec![
                    Int(r.id),
                    Str(&r.uscc),
                    Str(r.record_type),
                    Str(&r.detail),
                    Dt(r.record_date),
                ]
            })),
            Table::License => Box::new(self.license.iter().map(|r| {
                vec![
                    Int(r.id),
                    Str(&r.holder_id_card),
                    Str(r.license_type),
                    Str(&r.license_no),
                    Dt(r.issue_date),
                ]
            })),
            Table::BankAccount => Box::new(self.bank_account.iter().map(|r| {
                vec![
                    Int(r.id),
                    Str(&r.holder_id_card),
                    Str(&r.card_no),
                    Str(r.bank),
                ]
            })),
            Table::OpenDataset => Box::new(self.open_dataset.iter().map(|r| {
                vec![
                    Int(r.id),
                    Str(&r.title),
                    Str(r.category),
                    Str(&r.publisher),
                    Dt(r.publish_date),
                    Str(&r.url),
                ]
            })),
        }
    }

    /// The number of rows of `table`.
    pub fn len(&self, table: Table) -> usize {
        match table {
            Table::Population => self.population.len(),
            Table::LegalPerson => self.legal_person.len(),
            Table::CreditRecord => self.credit_record.len(),
            Table::License => self.license.len(),
            Table::BankAccount => self.bank_account.len(),
            Table::OpenDataset => self.open_dataset.len(),
        }
    }

    /// Whether every table is empty.
    pub fn is_empty(&self) -> bool {
        Table::ALL.iter().all(|&t| self.len(t) == 0)
    }

    /// Writes `table` as CSV (RFC 4180, no header, `\n` line ends), the form PostgreSQL's
    /// `COPY … WITH (FORMAT csv)` reads and writes: a field is quoted only when it holds a
    /// comma, quote or line break, or is empty (an unquoted empty field would be NULL).
    pub fn write_csv(&self, table: Table, out: &mut dyn Write) -> io::Result<()> {
        for row in self.rows(table) {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_csv_field(out, *value)?;
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// `table` as CSV bytes; see [`Dataset::write_csv`].
    pub fn csv(&self, table: Table) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.write_csv(table, &mut out);
        out
    }

    /// SHA-256 (lower-case hex) of every table's name and CSV, in load order: equal checksums
    /// mean equal data sets.
    pub fn checksum(&self) -> String {
        let mut hasher = Sha256::new();
        for table in Table::ALL {
            hasher.update(table.name().as_bytes());
            hasher.update(b"\n");
            hasher.update(self.csv(table));
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn write_csv_field(out: &mut dyn Write, value: Value<'_>) -> io::Result<()> {
    match value {
        Value::Str(s) if s.is_empty() || s.contains([',', '"', '\n', '\r']) => {
            write!(out, "\"{}\"", s.replace('"', "\"\""))
        }
        v => write!(out, "{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(Counts::default().total(), 211_000);
        let small = Counts::scaled(0.02);
        assert_eq!(small.population, 2_000);
        assert_eq!(small.open_dataset, 20);
        assert_eq!(Counts::scaled(0.000_01).open_dataset, 1);
        assert_eq!(Counts::scaled(0.0).total(), 0);
        assert_eq!(Counts::scaled(f64::NAN).total(), 0);
        assert_eq!(
            Counts::scaled(0.001).to_string(),
            "population=100,legal_person=20,credit_record=50,license=30,bank_account=10,\
             open_dataset=1"
        );
    }

    #[test]
    fn tables_match_the_demo_catalog() {
        // The policy's catalog is the one description of the demo tables.
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo/catalog.toml");
        let catalog = rules::catalog::Catalog::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(catalog.tables().len(), Table::ALL.len());
        for table in Table::ALL {
            let entry = catalog
                .table("publicdata", None, table.name())
                .unwrap_or_else(|| panic!("{} is not in the demo catalog", table.name()));
            assert_eq!(Table::from_name(table.name()), Some(table));
            let actual: Vec<_> = table.columns().iter().map(|c| c.name).collect();
            assert_eq!(actual, entry.column_names, "{}", table.name());
        }
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut out = Vec::new();
        for (value, csv) in [
            (Value::Str("浙江省"), "浙江省"),
            (Value::Str("a,b"), "\"a,b\""),
            (Value::Str("say \"hi\""), "\"say \"\"hi\"\"\""),
            (Value::Str(""), "\"\""),
            (Value::Int(-3), "-3"),
            (Value::Yuan(500_000), "500000.00"),
            (
                Value::Date(Date {
                    year: 1987,
                    month: 3,
                    day: 9,
                }),
                "1987-03-09",
            ),
        ] {
            out.clear();
            write_csv_field(&mut out, value).expect("writing to a Vec");
            assert_eq!(String::from_utf8_lossy(&out), csv);
        }
    }
}
