//! The policy: the catalog, the accounts and the ordered rules, and the one question every
//! firewall listener asks of them — what to do with this statement from this session.
//!
//! ```text
//!  statement text ──analyze (sql, with the catalog's columns)──► Analysis
//!                                                                  │
//!  session (account, client, database, time) ──────────────────► decide ──► Decision
//!                                                                  │
//!     built-in checks, in this order, each named in `explain`:     │
//!       account            a login the accounts file does not list │
//!       account.networks   client address outside the account's networks
//!       account.hours      outside office hours (alert only)
//!       account.read / account.write   a table outside the account's grants
//!       clearance          columns above the account's clearance: plain outputs are
//!                          masked, derived outputs blocked, pattern/range predicates on
//!                          them blocked (inference); an unparsed statement touching a
//!                          table above clearance is blocked
//!       account.limits     the account's row and byte limits
//!       learning           unknown fingerprints in detecting / protecting mode
//!     then every rule of the policy file, in file order
//! ```
//!
//! Every check and rule that matches contributes; the strongest action wins — block, then
//! mask, then limit, then allow — and mask and limit combine (a masked result is still cut
//! off at the limit). The deciding rule is the first one, in the order above, with the
//! winning action. Alerts are the highest severity any match raised. Nothing here can turn a
//! block into an allow: rules only ever add.

mod cache;
pub mod containment;
mod decide;
pub mod explain;
pub mod learn;
pub mod reload;
pub mod rule;

use std::net::IpAddr;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::account::{Accounts, Learning};
use crate::catalog::{Catalog, Level, Table, TableName};
use crate::decision::{Action, Severity};
use crate::file::{self, FileError};
use crate::mask::Mask;
use crate::sql::{self, Analysis, Context, Dialect, ObjectName, Schema};

pub use cache::{CacheStats, Evaluated};
pub use learn::{LearnError, Learned};
pub use rule::{Rule, RuleFile, Shape, UnknownAccount};

/// Why a policy could not be loaded: every file's problems, each located.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyError(pub Vec<FileError>);

/// The loaded policy. Immutable once built: a changed file builds a new one (hot reload
/// swaps the whole value).
#[derive(Debug)]
pub struct Policy {
    pub catalog: Catalog,
    pub accounts: Accounts,
    pub rules: RuleFile,
    /// Shared with the policies that replace this one on reload.
    pub learned: std::sync::Arc<Learned>,
    cache: cache::DecisionCache,
}

/// What a statement touches: catalog-style names with their classification levels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Touched {
    pub objects: Vec<(String, Level)>,
    pub columns: Vec<(String, Level)>,
}

/// The session a statement arrives on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The login (database user) or app key.
    pub account: &'a str,
    pub client: IpAddr,
    /// The session's database (PostgreSQL start-up `database`, MySQL current database).
    pub database: &'a str,
    pub dialect: Dialect,
    pub time: DateTime<Utc>,
}

/// A mask to apply to one output column of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputMask {
    /// Position in the result (0-based).
    pub index: usize,
    /// The column name the client sees.
    pub output: String,
    /// The catalogued column it shows.
    pub column: String,
    pub mask: Mask,
    pub rule: String,
}

/// The most a result may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub rule: String,
    /// Raised when the result reaches the limit (bulk exfiltration).
    pub alert: Severity,
}

/// An alert the firewall raises when a result passes `rows` rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowAlert {
    pub rows: u64,
    pub severity: Severity,
    pub rule: String,
}

/// What learning mode said about the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LearningCheck {
    pub mode: Learning,
    /// Whether the fingerprint was already known for this (account, database).
    pub known: bool,
    /// Whether the caller should record the fingerprint (recording mode, not yet known).
    pub record: bool,
}

/// One check or rule that matched, for `explain` and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub rule: String,
    pub action: Action,
    pub severity: Severity,
    /// Why it matched, in words.
    pub why: String,
}

/// The policy's answer for one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// The deciding rule; empty when nothing matched (allowed by default).
    pub rule: String,
    /// For a block: what the client is told.
    pub reason: String,
    pub masks: Vec<OutputMask>,
    pub limit: Option<Limit>,
    /// Alert raised by the statement itself (`None`: no alert).
    pub severity: Severity,
    /// Alert when the result passes this many rows.
    pub alert_rows: Option<RowAlert>,
    pub learning: LearningCheck,
    /// The highest classification level the statement touches.
    pub level: Level,
    pub matched: Vec<Match>,
}

impl Policy {
    /// Loads and cross-checks the three files; reports every problem of every file.
    /// `learned` is the fingerprints file (`None`: in memory only).
    pub fn load(
        catalog: &Path,
        accounts: &Path,
        rules: &Path,
        learned: Option<&Path>,
    ) -> Result<Policy, PolicyError> {
        let mut errors = Vec::new();
        let catalog = Catalog::load(catalog).map_err(|e| errors.push(e)).ok();
        let accounts = Accounts::load(accounts).map_err(|e| errors.push(e)).ok();
        let rules = match &accounts {
            Some(a) => file::load(rules, |raw, p| rule::validate(raw, a, p))
                .map_err(|e| errors.push(e))
                .ok(),
            None => None,
        };
        let learned = match learned.map(Learned::open).transpose() {
            Ok(l) => std::sync::Arc::new(l.unwrap_or_default()),
            Err(e) => {
                errors.push(FileError::Invalid {
                    path: learned.map(Path::to_owned).unwrap_or_default(),
                    problems: vec![file::Located {
                        line: None,
                        key: String::new(),
                        message: e.to_string(),
                    }],
                });
                std::sync::Arc::new(Learned::default())
            }
        };
        match (catalog, accounts, rules) {
            (Some(catalog), Some(accounts), Some(rules)) if errors.is_empty() => {
                Ok(Policy::new(catalog, accounts, rules, learned))
            }
            _ => Err(PolicyError(errors)),
        }
    }

    /// Builds a policy from texts already in memory (tests, fuzzing); paths name them in
    /// messages.
    pub fn parse(catalog: &str, accounts: &str, rules: &str) -> Result<Policy, PolicyError> {
        let catalog =
            Catalog::parse(Path::new("catalog.toml"), catalog).map_err(|e| PolicyError(vec![e]))?;
        let accounts = Accounts::parse(Path::new("accounts.toml"), accounts)
            .map_err(|e| PolicyError(vec![e]))?;
        let rules = file::parse(Path::new("policy.toml"), rules, |raw, p| {
            rule::validate(raw, &accounts, p)
        })
        .map_err(|e| PolicyError(vec![e]))?;
        Ok(Policy::new(
            catalog,
            accounts,
            rules,
            std::sync::Arc::new(Learned::in_memory()),
        ))
    }

    fn new(
        catalog: Catalog,
        accounts: Accounts,
        rules: RuleFile,
        learned: std::sync::Arc<Learned>,
    ) -> Policy {
        let uses_clients = accounts.iter().any(|a| !a.networks.is_empty())
            || rules.rules.iter().any(|r| !r.when.sources.is_empty());
        let uses_clock = accounts.iter().any(|a| a.office_hours.is_some())
            || rules.rules.iter().any(|r| r.when.hours.is_some());
        Policy {
            catalog,
            accounts,
            rules,
            learned,
            cache: cache::DecisionCache::new(uses_clients, uses_clock, cache::DEFAULT_CAPACITY),
        }
    }

    /// Analysis and decision for `text` on the session `req`, through the decision cache:
    /// what the firewall calls for every statement.
    pub fn evaluate(&self, req: &Request<'_>, text: &str) -> std::sync::Arc<Evaluated> {
        self.cache.evaluate(self, req, text)
    }

    pub fn cache_stats(&self) -> &CacheStats {
        &self.cache.stats
    }

    /// The objects and columns a statement touches, catalog-style names with their levels,
    /// as audit events record them.
    pub fn touched(&self, req: &Request<'_>, analysis: &Analysis) -> Touched {
        let mut t = Touched::default();
        for o in analysis.objects() {
            let name = Self::table_name(req.dialect, req.database, &o.name).to_string();
            let level = self
                .table(req.dialect, req.database, &o.name)
                .map_or(self.catalog.default_level, |t| t.level);
            if !t.objects.iter().any(|(n, _)| *n == name) {
                t.objects.push((name, level));
            }
        }
        for s in &analysis.statements {
            for c in &s.columns {
                let (name, level) = decide::describe(self, req, &c.column);
                if !t.columns.iter().any(|(n, _)| *n == name) {
                    t.columns.push((name, level));
                }
            }
        }
        t
    }

    /// Analyzes `text` as sent on a session of `dialect` whose database is `database` (and,
    /// for PostgreSQL, whose `search_path` starts with `schema`, usually `public`).
    pub fn analyze(
        &self,
        text: &str,
        dialect: Dialect,
        database: &str,
        schema: Option<&str>,
    ) -> Analysis {
        let view = CatalogView {
            catalog: &self.catalog,
            dialect,
            database,
        };
        let ctx = match dialect {
            Dialect::Postgres => Context::postgres(Some(schema.unwrap_or("public"))),
            Dialect::MySql => Context::mysql(Some(database)),
        };
        sql::analyze(text, &ctx, &view)
    }

    /// The decision for an analyzed statement.
    pub fn decide(&self, req: &Request<'_>, analysis: &Analysis) -> Decision {
        decide::decide(self, req, analysis)
    }

    /// The catalog name of an object seen on a session.
    pub fn table_name(dialect: Dialect, database: &str, object: &ObjectName) -> TableName {
        match dialect {
            Dialect::Postgres => TableName {
                database: database.to_lowercase(),
                schema: Some(object.schema.clone().unwrap_or_else(|| "public".into())),
                table: object.name.to_lowercase(),
            },
            Dialect::MySql => TableName {
                database: object
                    .schema
                    .clone()
                    .unwrap_or_else(|| database.to_lowercase()),
                schema: None,
                table: object.name.to_lowercase(),
            },
        }
    }

    /// The catalog entry of an object seen on a session.
    pub fn table(&self, dialect: Dialect, database: &str, object: &ObjectName) -> Option<&Table> {
        let n = Self::table_name(dialect, database, object);
        self.catalog
            .table(&n.database, n.schema.as_deref(), &n.table)
    }
}

/// The catalog as the analysis sees it on one session.
struct CatalogView<'a> {
    catalog: &'a Catalog,
    dialect: Dialect,
    database: &'a str,
}

impl Schema for CatalogView<'_> {
    fn columns(&self, table: &ObjectName) -> Option<&[String]> {
        let n = Policy::table_name(self.dialect, self.database, table);
        self.catalog
            .table(&n.database, n.schema.as_deref(), &n.table)
            .map(|t| t.column_names.as_slice())
    }
}

/// Which of the three files a text is, told apart by its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Catalog,
    Accounts,
    Rules,
}

impl FileKind {
    pub fn of(text: &str) -> FileKind {
        let keys: Vec<String> = text
            .parse::<toml::Table>()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        if keys.iter().any(|k| k == "table" || k == "default-level") {
            FileKind::Catalog
        } else if keys.iter().any(|k| k == "account") {
            FileKind::Accounts
        } else {
            FileKind::Rules
        }
    }
}

/// `tianmu rules check FILE...`: validates each file; policy files are checked against the
/// accounts files given with them. Returns a line per valid file, or every problem.
pub fn check_files(paths: &[&Path]) -> Result<Vec<String>, String> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let mut kinds = Vec::new();
    for &path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => kinds.push((path, FileKind::of(&text))),
            Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
        }
    }
    let mut accounts = Accounts::default();
    let mut have_accounts = false;
    for &(path, kind) in &kinds {
        match kind {
            FileKind::Catalog => match Catalog::load(path) {
                Ok(c) => ok.push(format!(
                    "{}: catalog, {} tables, default level {}",
                    path.display(),
                    c.tables().len(),
                    c.default_level
                )),
                Err(e) => errors.push(e.to_string()),
            },
            FileKind::Accounts => match Accounts::load(path) {
                Ok(a) => {
                    ok.push(format!(
                        "{}: accounts, {}",
                        path.display(),
                        a.iter().count()
                    ));
                    for acc in a.iter() {
                        accounts.push(acc.clone());
                    }
                    have_accounts = true;
                }
                Err(e) => errors.push(e.to_string()),
            },
            FileKind::Rules => {}
        }
    }
    for &(path, kind) in &kinds {
        if kind != FileKind::Rules {
            continue;
        }
        if !have_accounts {
            errors.push(format!(
                "{}: policy rules name accounts and roles; give the accounts file too (tianmu rules check accounts.toml {})",
                path.display(),
                path.display()
            ));
            continue;
        }
        match file::load(path, |raw, p| rule::validate(raw, &accounts, p)) {
            Ok(r) => ok.push(format!(
                "{}: policy, {} rules",
                path.display(),
                r.rules.len()
            )),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors.join("\n"))
    }
}
