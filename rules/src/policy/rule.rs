//! The policy file: settings and the ordered rules, as the operator writes them.
//!
//! ```toml
//! utc-offset = "+08:00"          # the clock office hours and rule hours are read on
//! unknown-account = "block"      # a login the accounts file does not list: block | alert
//!
//! [[rule]]
//! name = "no-unbounded-write"
//! description = "UPDATE and DELETE need a WHERE"
//! commands = ["update", "delete"]
//! shapes = ["no-where"]
//! action = "block"
//! reason = "UPDATE/DELETE without WHERE is not allowed"
//! alert = "high"
//! ```
//!
//! A rule matches a statement when every condition it states holds (a list holds when any
//! of its entries does); a rule without conditions matches everything. Conditions:
//! `accounts`, `except-accounts`, `roles`, `environments`, `kinds`, `commands`, `shapes`,
//! `objects` (catalog-style names, `*` for a whole part), `min-level`, `functions`,
//! `exports`, `hours`, `sources`. Actions: `allow`, `block` (with `reason`), `mask`
//! (`mask = { "db.table.column" = "keep 3 4" }`, or the catalog's masks for every
//! column above the account's clearance when omitted), `limit` (`rows`, `bytes`). Any rule
//! may add `alert = "<severity>"`, and `alert-rows = N` (alert when the result passes N
//! rows).

use std::collections::BTreeMap;

use chrono::FixedOffset;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::account::{Accounts, Environment, Hours};
use crate::catalog::{Level, MAX_LEVEL, TablePattern};
use crate::decision::{Action, Severity};
use crate::file::Problems;
use crate::mask::Mask;
use crate::sql::{Command, Endpoint, Flag, StatementKind};

/// A shape condition: a [`Flag`] of the analysis (`no-where`, `tautology`, …), or
/// `unparsed`: the parser could not read the statement (the token-level fallback did, or
/// nothing could).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Shape {
    Flag(Flag),
    #[serde(serialize_with = "unparsed_str")]
    Unparsed,
}

fn unparsed_str<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("unparsed")
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        let s = String::deserialize(d)?;
        if s == "unparsed" {
            return Ok(Shape::Unparsed);
        }
        serde_json::from_value::<Flag>(serde_json::Value::String(s.clone()))
            .map(Shape::Flag)
            .map_err(|_| {
                let names: Vec<String> = Flag::ALL
                    .iter()
                    .filter_map(|f| serde_json::to_value(f).ok())
                    .filter_map(|v| v.as_str().map(|s| format!("`{s}`")))
                    .chain(["`unparsed`".to_owned()])
                    .collect();
                serde::de::Error::custom(format!(
                    "unknown shape `{s}`, expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// What to do with a login the accounts file does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownAccount {
    #[default]
    Block,
    /// Decide by the rules alone (with no clearance, grants or limits) and alert.
    Alert,
}

/// What a rule looks for; `None`/empty means "any".
#[derive(Debug, Clone, Default, Serialize)]
pub struct Conditions {
    pub accounts: Vec<String>,
    pub except_accounts: Vec<String>,
    pub roles: Vec<String>,
    pub environments: Vec<Environment>,
    pub kinds: Vec<StatementKind>,
    pub commands: Vec<Command>,
    pub shapes: Vec<Shape>,
    pub objects: Vec<TablePattern>,
    pub min_level: Option<Level>,
    pub functions: Vec<String>,
    pub exports: Vec<Endpoint>,
    pub hours: Option<Hours>,
    pub sources: Vec<IpNet>,
}

/// A validated rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub when: Conditions,
    pub action: Action,
    /// Shown to the client when the rule blocks.
    pub reason: String,
    /// For `mask`: explicit masks by `db.table.column` (catalog-style); empty means the
    /// catalog's masks for every column above the account's clearance.
    pub mask: BTreeMap<String, Mask>,
    /// For `limit`.
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    /// Raised when the rule matches; with `alert-rows`, when the result passes that many
    /// rows instead (at least `medium`).
    pub alert: Severity,
    pub alert_rows: Option<u64>,
}

/// The validated policy file.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFile {
    #[serde(serialize_with = "offset_str")]
    pub utc_offset: FixedOffset,
    pub unknown_account: UnknownAccount,
    /// Key of `hmac` masks.
    #[serde(skip)]
    pub mask_key: Vec<u8>,
    pub rules: Vec<Rule>,
}

fn offset_str<S: serde::Serializer>(o: &FixedOffset, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(o)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Raw {
    /// Offset of the local clock from UTC, e.g. `+08:00` (China Standard Time).
    #[serde(default = "default_offset")]
    utc_offset: String,
    #[serde(default)]
    unknown_account: UnknownAccount,
    /// Key for `hmac` masks; read from the environment variable this names, so that the
    /// file can be shared without the key.
    #[serde(default = "default_key_env")]
    mask_key_env: String,
    #[serde(default)]
    rule: Vec<RawRule>,
}

fn default_offset() -> String {
    "+08:00".into()
}

fn default_key_env() -> String {
    "TIANMU_MASK_KEY".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    except_accounts: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    environments: Vec<Environment>,
    #[serde(default)]
    kinds: Vec<StatementKind>,
    #[serde(default)]
    commands: Vec<Command>,
    #[serde(default)]
    shapes: Vec<Shape>,
    #[serde(default)]
    objects: Vec<String>,
    min_level: Option<Level>,
    #[serde(default)]
    functions: Vec<String>,
    #[serde(default)]
    exports: Vec<Endpoint>,
    hours: Option<Hours>,
    #[serde(default)]
    sources: Vec<String>,
    action: Action,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    mask: BTreeMap<String, Mask>,
    rows: Option<u64>,
    bytes: Option<bytesize::ByteSize>,
    #[serde(default = "no_alert")]
    alert: Severity,
    alert_rows: Option<u64>,
}

fn no_alert() -> Severity {
    Severity::None
}

/// Validates the raw file; `accounts` is what account names in rules are checked against.
pub(super) fn validate(raw: Raw, accounts: &Accounts, p: &mut Problems) -> RuleFile {
    let utc_offset = match raw.utc_offset.parse::<FixedOffset>() {
        Ok(o) => o,
        Err(_) => {
            p.add(
                "utc-offset",
                format!(
                    "`{}` is not an offset from UTC; expected e.g. `+08:00`",
                    raw.utc_offset
                ),
            );
            FixedOffset::east_opt(8 * 3600)
                .unwrap_or(FixedOffset::east_opt(0).expect("0 is a valid offset"))
        }
    };
    let mask_key = std::env::var(&raw.mask_key_env)
        .unwrap_or_default()
        .into_bytes();
    let mut rules: Vec<Rule> = Vec::new();
    let roles: Vec<&str> = accounts.iter().map(|a| a.role.as_str()).collect();
    for (i, r) in raw.rule.into_iter().enumerate() {
        let key = format!("rule[{i}]");
        if r.name.trim().is_empty() {
            p.add(format!("{key}.name"), "a rule needs a name");
        } else if rules.iter().any(|o| o.name == r.name) {
            p.add(
                format!("{key}.name"),
                format!("rule `{}` is defined twice", r.name),
            );
        }
        for (field, list) in [
            ("accounts", &r.accounts),
            ("except-accounts", &r.except_accounts),
        ] {
            for (j, a) in list.iter().enumerate() {
                if accounts.get(a).is_none() {
                    p.add(
                        format!("{key}.{field}[{j}]"),
                        format!("account `{a}` is not in the accounts file"),
                    );
                }
            }
        }
        for (j, role) in r.roles.iter().enumerate() {
            if !roles.contains(&role.as_str()) {
                p.add(
                    format!("{key}.roles[{j}]"),
                    format!("no account has role `{role}`"),
                );
            }
        }
        let mut objects = Vec::new();
        for (j, o) in r.objects.iter().enumerate() {
            match TablePattern::parse(o) {
                Some(pat) => objects.push(pat),
                None => p.add(
                    format!("{key}.objects[{j}]"),
                    format!(
                        "`{o}` is not `database.table` or `database.schema.table` (`*` for any)"
                    ),
                ),
            }
        }
        if let Some(l) = r.min_level
            && !(1..=MAX_LEVEL).contains(&l)
        {
            p.add(
                format!("{key}.min-level"),
                format!("level {l} is out of range; expected 1 to {MAX_LEVEL}"),
            );
        }
        let mut sources = Vec::new();
        for (j, s) in r.sources.iter().enumerate() {
            match s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(n) => sources.push(n),
                Err(_) => p.add(
                    format!("{key}.sources[{j}]"),
                    format!("`{s}` is not a network; expected an address or CIDR"),
                ),
            }
        }
        match r.action {
            Action::Block if r.reason.trim().is_empty() => p.add(
                format!("{key}.reason"),
                "a blocking rule needs a `reason`: the client is shown it",
            ),
            Action::Limit if r.rows.is_none() && r.bytes.is_none() => p.add(
                format!("{key}.action"),
                "a `limit` rule needs `rows` or `bytes`",
            ),
            _ => {}
        }
        if r.action != Action::Mask && !r.mask.is_empty() {
            p.add(
                format!("{key}.mask"),
                "`mask` only goes with `action = \"mask\"`",
            );
        }
        for column in r.mask.keys() {
            if column.split('.').count() < 3 || column.split('.').any(str::is_empty) {
                p.add(
                    format!("{key}.mask"),
                    format!("`{column}` is not `database.table.column` or `database.schema.table.column`"),
                );
            }
        }
        if r.action != Action::Limit && (r.rows.is_some() || r.bytes.is_some()) {
            p.add(
                format!("{key}.rows"),
                "`rows` and `bytes` only go with `action = \"limit\"`",
            );
        }
        rules.push(Rule {
            name: r.name,
            description: r.description,
            when: Conditions {
                accounts: r.accounts,
                except_accounts: r.except_accounts,
                roles: r.roles,
                environments: r.environments,
                kinds: r.kinds,
                commands: r.commands,
                shapes: r.shapes,
                objects,
                min_level: r.min_level,
                functions: r.functions.into_iter().map(|f| f.to_lowercase()).collect(),
                exports: r.exports,
                hours: r.hours,
                sources,
            },
            action: r.action,
            reason: r.reason,
            mask: r
                .mask
                .into_iter()
                .map(|(c, m)| (c.to_lowercase(), m))
                .collect(),
            rows: r.rows,
            bytes: r.bytes.map(|b| b.as_u64()),
            alert: r.alert,
            alert_rows: r.alert_rows,
        });
    }
    RuleFile {
        utc_offset,
        unknown_account: raw.unknown_account,
        mask_key,
        rules,
    }
}
