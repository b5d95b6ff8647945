//! Names: how the identifiers of a statement become the normalized, resolved names that
//! policy rules and the data catalog match against, and the [`Schema`] trait through which
//! the catalog tells the analysis which columns a table has.
//!
//! Normalization follows the servers:
//! - PostgreSQL folds unquoted identifiers to lower case (ASCII only, like the server);
//!   quoted identifiers keep their case, so `"Population"` is another table than
//!   `population`, while `"population"` is the same.
//! - MySQL compares table and column names case-insensitively here (the platform runs with
//!   `lower_case_table_names` semantics): every identifier, quoted with backticks or not, is
//!   folded to lower case.
//!
//! Resolution is explicit and uses the session's [`Context`]: an unqualified table name
//! gets the context's default schema (PostgreSQL: the first schema of `search_path`, usually
//! `public`; MySQL: the current database), so `population` and `public.population` (PG) or
//! `population` and `publicdata.population` (MySQL) resolve to the same [`ObjectName`].
//! Two PostgreSQL specifics: a three-part name `db.schema.table` drops the database part (the
//! server rejects cross-database references anyway), and an unqualified name starting with
//! `pg_` resolves to `pg_catalog`, which the server searches before `search_path`.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Dialect;

/// A normalized, resolved table (or view) name: what policy rules and the catalog match
/// against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectName {
    /// PostgreSQL: the schema; MySQL: the database. `None` when the statement did not
    /// qualify the name and the context has no default.
    pub schema: Option<String>,
    /// The table name.
    pub name: String,
}

impl ObjectName {
    /// A name from already normalized parts.
    pub fn new(schema: Option<&str>, name: &str) -> Self {
        Self {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// Whether the name is one of the server's system catalogs (`pg_catalog`,
    /// `information_schema`, `mysql`, `performance_schema`, `sys`).
    pub fn is_system(&self, dialect: Dialect) -> bool {
        let Some(schema) = self.schema.as_deref() else {
            return dialect == Dialect::Postgres && self.name.starts_with("pg_");
        };
        match dialect {
            Dialect::Postgres => {
                matches!(schema, "pg_catalog" | "information_schema" | "pg_toast")
            }
            Dialect::MySql => matches!(
                schema,
                "mysql" | "information_schema" | "performance_schema" | "sys"
            ),
        }
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A column as the analysis resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ColumnRef {
    /// The table the column belongs to, when resolution found exactly one.
    pub table: Option<ObjectName>,
    /// The normalized column name; [`ColumnRef::ALL`] (`*`) stands for every column of
    /// `table` when the schema does not know them (`SELECT *` without a catalog entry, or a
    /// whole-row reference such as PostgreSQL's `SELECT p FROM population p`).
    pub name: String,
    /// When `table` is `None`: the tables in scope that may hold the column (empty when
    /// there were none, e.g. a name that is no column at all).
    pub candidates: Vec<ObjectName>,
}

impl ColumnRef {
    /// The column name that stands for all columns of a table.
    pub const ALL: &'static str = "*";

    /// A column resolved to its table.
    pub fn new(table: ObjectName, name: &str) -> Self {
        Self {
            table: Some(table),
            name: name.to_owned(),
            candidates: Vec::new(),
        }
    }

    /// Whether this stands for every column of its table.
    pub fn is_all(&self) -> bool {
        self.name == Self::ALL
    }

    /// Whether this column may belong to `table`: it was resolved to it, or it is
    /// unresolved and `table` is one of the candidates.
    pub fn may_belong_to(&self, table: &ObjectName) -> bool {
        match &self.table {
            Some(t) => t == table,
            None => self.candidates.contains(table),
        }
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.table {
            Some(t) => write!(f, "{t}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What the catalog tells the analysis about tables. Implemented by the data catalog.
pub trait Schema {
    /// Columns of a table, normalized like identifiers (see the module doc) and in table
    /// order, for `*` expansion and to tell which table an unqualified column belongs to;
    /// `None` when the table is unknown.
    fn columns(&self, table: &ObjectName) -> Option<&[String]>;
}

/// A schema that knows no table: `*` stays unexpanded and columns resolve only by
/// qualification or when a single table is in scope.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSchema;

impl Schema for NoSchema {
    fn columns(&self, _table: &ObjectName) -> Option<&[String]> {
        None
    }
}

/// A schema held in a map: for tests, benches and tools without a catalog.
#[derive(Debug, Clone, Default)]
pub struct MapSchema {
    tables: HashMap<ObjectName, Vec<String>>,
}

impl MapSchema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a table with its normalized column names, in table order.
    pub fn insert(&mut self, table: ObjectName, columns: &[&str]) {
        self.tables
            .insert(table, columns.iter().map(|c| (*c).to_owned()).collect());
    }

    /// Builder form of [`MapSchema::insert`].
    pub fn with(mut self, table: ObjectName, columns: &[&str]) -> Self {
        self.insert(table, columns);
        self
    }
}

impl Schema for MapSchema {
    fn columns(&self, table: &ObjectName) -> Option<&[String]> {
        self.tables.get(table).map(Vec::as_slice)
    }
}

/// The session state the analysis resolves names with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    /// The server's SQL dialect.
    pub dialect: Dialect,
    /// PostgreSQL: the first schema of `search_path` (usually `public`); MySQL: the current
    /// database (`USE`). Already normalized. `None` leaves unqualified names unqualified.
    pub default_schema: Option<&'a str>,
}

impl<'a> Context<'a> {
    /// A PostgreSQL session whose `search_path` starts with `schema`.
    pub fn postgres(schema: Option<&'a str>) -> Self {
        Self {
            dialect: Dialect::Postgres,
            default_schema: schema,
        }
    }

    /// A MySQL session whose current database is `database`.
    pub fn mysql(database: Option<&'a str>) -> Self {
        Self {
            dialect: Dialect::MySql,
            default_schema: database,
        }
    }

    /// Folds one identifier the way the dialect does.
    pub fn fold(&self, value: &str, quoted: bool) -> String {
        match self.dialect {
            Dialect::Postgres if quoted => value.to_owned(),
            Dialect::Postgres => value.to_ascii_lowercase(),
            Dialect::MySql => value.to_lowercase(),
        }
    }

    /// Resolves a table name from its folded parts (`[name]`, `[schema, name]` or
    /// `[catalog, schema, name]`; extra leading parts are ignored).
    pub fn resolve_parts(&self, mut parts: Vec<String>) -> ObjectName {
        let name = parts.pop().unwrap_or_default();
        let schema = match parts.pop() {
            Some(schema) => Some(schema),
            None if self.dialect == Dialect::Postgres && name.starts_with("pg_") => {
                Some("pg_catalog".to_owned())
            }
            None => self.default_schema.map(str::to_owned),
        };
        ObjectName { schema, name }
    }

    /// Resolves a table name written as text, e.g. in a policy rule: `population`,
    /// `public.population`, `"Mixed".t`, `` `db`.`t` ``. Quotes keep case as in SQL.
    pub fn table(&self, text: &str) -> ObjectName {
        let parts = split_name(text)
            .into_iter()
            .map(|(part, quoted)| self.fold(&part, quoted))
            .collect();
        self.resolve_parts(parts)
    }

    pub(crate) fn fold_ident(&self, ident: &sqlparser::ast::Ident) -> String {
        self.fold(&ident.value, ident.quote_style.is_some())
    }

    pub(crate) fn resolve_object(&self, name: &sqlparser::ast::ObjectName) -> ObjectName {
        let parts = name
            .0
            .iter()
            .map(|part| match part {
                sqlparser::ast::ObjectNamePart::Identifier(ident) => self.fold_ident(ident),
                sqlparser::ast::ObjectNamePart::Function(f) => self.fold_ident(&f.name),
            })
            .collect();
        self.resolve_parts(parts)
    }
}

/// Splits `a."B".c` into its parts with a quoted marker; doubled quotes inside quotes
/// stand for one.
fn split_name(text: &str) -> Vec<(String, bool)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' => {
                quoted = true;
                while let Some(d) = chars.next() {
                    if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            current.push(c);
                        } else {
                            break;
                        }
                    } else {
                        current.push(d);
                    }
                }
            }
            '.' => parts.push((std::mem::take(&mut current), std::mem::take(&mut quoted))),
            c => current.push(c),
        }
    }
    parts.push((current, quoted));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textual_names_resolve_like_sql() {
        let pg = Context::postgres(Some("public"));
        let my = Context::mysql(Some("publicdata"));
        let cases: &[(&Context, &str, Option<&str>, &str)] = &[
            (&pg, "population", Some("public"), "population"),
            (&pg, "Population", Some("public"), "population"),
            (&pg, "\"Population\"", Some("public"), "Population"),
            (&pg, "public.population", Some("public"), "population"),
            (
                &pg,
                "publicdata.public.population",
                Some("public"),
                "population",
            ),
            (&pg, "pg_class", Some("pg_catalog"), "pg_class"),
            (&pg, "\"a\"\"b\".t", Some("a\"b"), "t"),
            (&my, "population", Some("publicdata"), "population"),
            (
                &my,
                "`PublicData`.`Population`",
                Some("publicdata"),
                "population",
            ),
            (&my, "pg_class", Some("publicdata"), "pg_class"),
        ];
        for (cx, text, schema, name) in cases {
            assert_eq!(
                cx.table(text),
                ObjectName::new(*schema, name),
                "{text} in {:?}",
                cx.dialect
            );
        }
    }

    #[test]
    fn system_catalogs() {
        let cases = [
            (Dialect::Postgres, Some("pg_catalog"), "pg_class", true),
            (
                Dialect::Postgres,
                Some("information_schema"),
                "tables",
                true,
            ),
            (Dialect::Postgres, Some("public"), "population", false),
            (Dialect::Postgres, Some("mysql"), "user", false),
            (Dialect::MySql, Some("mysql"), "user", true),
            (Dialect::MySql, Some("performance_schema"), "threads", true),
            (Dialect::MySql, Some("publicdata"), "pg_class", false),
        ];
        for (dialect, schema, name, system) in cases {
            assert_eq!(
                ObjectName::new(schema, name).is_system(dialect),
                system,
                "{schema:?}.{name}"
            );
        }
    }
}
