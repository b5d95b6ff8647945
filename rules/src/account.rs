//! Accounts: the database users and API app keys the platform knows, with what the policy
//! needs to know of each — role, department, environment, clearance, where it may connect
//! from, when it works, which tables it may read and write, and how much one statement may
//! return.
//!
//! ```toml
//! [[account]]
//! name = "app_portal"
//! kind = "database"                  # database | app-key
//! role = "application"
//! department = "citizen services"
//! environment = "prod"               # prod | dev | test | vendor
//! clearance = 3                      # highest level it may see unmasked, 1-4
//! networks = ["10.1.0.0/16"]         # where it may connect from; omitted: anywhere
//! office-hours = "08:00-20:00"       # omitted: any time
//! read = ["publicdata.population"]   # tables it may read; omitted: every table
//! write = []                         # tables it may write; omitted: every table
//! row-limit = 200                    # rows one statement may return; omitted: no limit
//! byte-limit = "10 MiB"
//! learning = { publicdata = "protecting" }   # learning mode per database
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use chrono::NaiveTime;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::catalog::TablePattern;
use crate::file::{self, FileError, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    /// A database user, as the firewall sees it in the connection's start-up.
    Database,
    /// An API app key, as the sensor sees it in `X-App-Key`.
    AppKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Environment {
    Prod,
    Dev,
    Test,
    Vendor,
}

/// What the firewall does with statement fingerprints for one (account, database).
///
/// - `off`: fingerprints play no part.
/// - `recording`: every fingerprint the account sends is added to its known set; nothing is
///   alerted or blocked for being new.
/// - `detecting`: a fingerprint outside the known set raises an alert; the statement is
///   decided by the rest of the policy as if learning were off. Nothing is added.
/// - `protecting`: a fingerprint outside the known set is blocked (and alerted). Nothing
///   is added.
///
/// Only `recording` learns: a statement seen while detecting or protecting never becomes
/// known by being repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Learning {
    #[default]
    Off,
    Recording,
    Detecting,
    Protecting,
}

impl fmt::Display for Learning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Learning::Off => "off",
            Learning::Recording => "recording",
            Learning::Detecting => "detecting",
            Learning::Protecting => "protecting",
        })
    }
}

/// A daily time window; `20:00-08:00` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hours {
    pub from: NaiveTime,
    pub to: NaiveTime,
}

impl Hours {
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from <= self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

impl std::str::FromStr for Hours {
    type Err = String;
    fn from_str(s: &str) -> Result<Hours, String> {
        let bad =
            || format!("`{s}` is not a time window; expected `HH:MM-HH:MM`, e.g. `08:00-20:00`");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        let (from, to) = (t(a)?, t(b)?);
        if from == to {
            return Err(format!("`{s}` is an empty time window"));
        }
        Ok(Hours { from, to })
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hours, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.from.format("%H:%M"),
            self.to.format("%H:%M")
        )
    }
}

/// A validated account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub name: String,
    pub kind: AccountKind,
    pub role: String,
    pub department: String,
    pub environment: Environment,
    pub clearance: u8,
    /// Empty: anywhere.
    pub networks: Vec<IpNet>,
    pub office_hours: Option<Hours>,
    /// `None`: every table.
    pub read: Option<Vec<TablePattern>>,
    pub write: Option<Vec<TablePattern>>,
    pub row_limit: Option<u64>,
    pub byte_limit: Option<u64>,
    /// Per database, lower case; databases not listed are `off`.
    pub learning: BTreeMap<String, Learning>,
}

impl Account {
    pub fn learning(&self, database: &str) -> Learning {
        self.learning
            .get(&database.to_lowercase())
            .copied()
            .unwrap_or_default()
    }

    pub fn from_network(&self, addr: IpAddr) -> bool {
        self.networks.is_empty() || self.networks.iter().any(|n| n.contains(&addr))
    }
}

/// The validated accounts file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Accounts {
    accounts: Vec<Account>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Accounts {
    pub fn load(path: &Path) -> Result<Accounts, FileError> {
        file::load(path, validate)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Accounts, FileError> {
        file::parse(path, text, validate)
    }

    /// The account `name` (database user names and app keys compare exactly).
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.index.get(name).map(|&i| &self.accounts[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    /// Adds an account (from another accounts file); a name already present is kept.
    pub fn push(&mut self, account: Account) {
        if !self.index.contains_key(&account.name) {
            self.index.insert(account.name.clone(), self.accounts.len());
            self.accounts.push(account);
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    #[serde(default)]
    account: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAccount {
    name: String,
    kind: AccountKind,
    role: String,
    #[serde(default)]
    department: String,
    environment: Environment,
    clearance: u8,
    #[serde(default)]
    networks: Vec<String>,
    office_hours: Option<Hours>,
    read: Option<Vec<String>>,
    write: Option<Vec<String>>,
    row_limit: Option<u64>,
    byte_limit: Option<bytesize::ByteSize>,
    #[serde(default)]
    learning: BTreeMap<String, Learning>,
}

fn validate(raw: Raw, p: &mut Problems) -> Accounts {
    let mut out = Accounts::default();
    for (i, a) in raw.account.into_iter().enumerate() {
        let key = format!("account[{i}]");
        if a.name.is_empty() {
            p.add(format!("{key}.name"), "an account needs a name");
        } else if out.index.contains_key(&a.name) {
            p.add(
                format!("{key}.name"),
                format!("account `{}` is listed twice", a.name),
            );
        }
        if a.role.trim().is_empty() {
            p.add(format!("{key}.role"), "an account needs a role");
        }
        if !(1..=crate::catalog::MAX_LEVEL).contains(&a.clearance) {
            p.add(
                format!("{key}.clearance"),
                format!("clearance {} is out of range; expected 1 to 4", a.clearance),
            );
        }
        let mut networks = Vec::new();
        for (j, n) in a.networks.iter().enumerate() {
            // A bare address is a network of one.
            let parsed = n
                .parse::<IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => networks.push(net),
                Err(_) => p.add(
                    format!("{key}.networks[{j}]"),
                    format!(
                        "`{n}` is not a network; expected an address or CIDR, e.g. `10.1.0.0/16`"
                    ),
                ),
            }
        }
        if a.row_limit == Some(0) {
            p.add(
                format!("{key}.row-limit"),
                "a row limit of 0 refuses every result; omit it for no limit",
            );
        }
        let tables = |list: Option<Vec<String>>, field: &str, p: &mut Problems| {
            list.map(|l| {
                l.iter()
                    .enumerate()
                    .filter_map(|(j, t)| {
                        let pat = TablePattern::parse(t);
                        if pat.is_none() {
                            p.add(
                                format!("{key}.{field}[{j}]"),
                                format!("`{t}` is not `database.table` or `database.schema.table` (`*` for any)"),
                            );
                        }
                        pat
                    })
                    .collect()
            })
        };
        let read = tables(a.read, "read", p);
        let write = tables(a.write, "write", p);
        out.index.insert(a.name.clone(), out.accounts.len());
        out.accounts.push(Account {
            name: a.name,
            kind: a.kind,
            role: a.role,
            department: a.department,
            environment: a.environment,
            clearance: a.clearance,
            networks,
            office_hours: a.office_hours,
            read,
            write,
            row_limit: a.row_limit,
            byte_limit: a.byte_limit.map(|b| b.as_u64()),
            learning: a
                .learning
                .into_iter()
                .map(|(db, l)| (db.to_lowercase(), l))
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Accounts, String> {
        Accounts::parse(Path::new("accounts.toml"), text).map_err(|e| e.to_string())
    }

    const PORTAL: &str = "[[account]]\nname = 'app_portal'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 3\n";

    #[test]
    fn an_account_with_everything() {
        let text = format!(
            "{PORTAL}networks = ['10.1.0.0/16', '127.0.0.1']\noffice-hours = '20:00-08:00'\nread = ['PublicData.population']\nrow-limit = 200\nbyte-limit = '10 MiB'\nlearning = {{ publicdata = 'protecting' }}\n"
        );
        let a = parse(&text).expect("valid");
        let p = a.get("app_portal").expect("present");
        assert!(p.from_network("10.1.2.3".parse().expect("ip")));
        assert!(p.from_network("127.0.0.1".parse().expect("ip")));
        assert!(!p.from_network("10.2.0.1".parse().expect("ip")));
        let h = p.office_hours.expect("hours");
        assert!(h.contains(NaiveTime::from_hms_opt(3, 0, 0).expect("time")));
        assert!(!h.contains(NaiveTime::from_hms_opt(12, 0, 0).expect("time")));
        let read = p.read.as_deref().expect("a read list");
        assert_eq!(
            read.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["publicdata.population"]
        );
        assert_eq!(p.byte_limit, Some(10 * 1024 * 1024));
        assert_eq!(p.learning("PUBLICDATA"), Learning::Protecting);
        assert_eq!(p.learning("other"), Learning::Off);
    }

    #[test]
    fn mistakes_are_located() {
        let cases: &[(String, &str)] = &[
            (
                PORTAL.replace("clearance = 3", "clearance = 7"),
                "accounts.toml:6: account[0].clearance: clearance 7 is out of range; expected 1 to 4",
            ),
            (
                format!("{PORTAL}networks = ['10.1.0.0/33']\n"),
                "accounts.toml:7: account[0].networks[0]: `10.1.0.0/33` is not a network; expected an address or CIDR, e.g. `10.1.0.0/16`",
            ),
            (
                format!("{PORTAL}office-hours = '8-20'\n"),
                "accounts.toml:7: account[0].office-hours: `8-20` is not a time window; expected `HH:MM-HH:MM`, e.g. `08:00-20:00`",
            ),
            (
                PORTAL.replace("'prod'", "'staging'"),
                "accounts.toml:5: account[0].environment: unknown variant `staging`, expected one of `prod`, `dev`, `test`, `vendor`",
            ),
            (
                format!("{PORTAL}learning = {{ publicdata = 'learning' }}\n"),
                "accounts.toml:7: account[0].learning.publicdata: unknown variant `learning`, expected one of `off`, `recording`, `detecting`, `protecting`",
            ),
            (
                format!("{PORTAL}{PORTAL}"),
                "accounts.toml:8: account[1].name: account `app_portal` is listed twice",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).expect_err(text), *want);
        }
    }
}
