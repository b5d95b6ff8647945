//! The data catalog (分类分级 — classification and grading): databases, schemas, tables and
//! columns with a category, a classification level 1–4, the sharing attribute (共享属性) and
//! the opening attribute (开放属性), and how each sensitive column is masked. The policy reads
//! levels from here; objects the catalog does not list get its `default-level`.
//!
//! ```toml
//! default-level = 2
//!
//! [[table]]
//! name = "publicdata.population"      # database.table, or database.schema.table
//! title = "人口综合库"
//! category = "population"
//! sharing = "restricted"              # unconditional | restricted | not-shared
//! opening = "forbidden"               # unconditional | restricted | forbidden
//! columns = [
//!     { name = "id", level = 1 },
//!     { name = "id_card", level = 4, mask = "keep 6 4" },
//! ]
//! ```
//!
//! Names are compared as the servers compare unquoted identifiers: without regard to case.
//! A PostgreSQL table named `database.table` lives in schema `public`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::file::{self, FileError, Problems};
use crate::mask::Mask;

/// A classification level, 1 (public) to 4 (most sensitive).
pub type Level = u8;
pub const MAX_LEVEL: Level = 4;

/// 共享属性: whether a table may be shared with other departments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sharing {
    Unconditional,
    Restricted,
    NotShared,
}

/// 开放属性: whether a table may be opened to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Opening {
    Unconditional,
    Restricted,
    Forbidden,
}

/// Where a table lives: the database, the schema (PostgreSQL; `None` for MySQL, whose
/// databases are its schemas) and the table's name, all lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TableName {
    pub database: String,
    pub schema: Option<String>,
    pub table: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{}.{s}.{}", self.database, self.table),
            None => write!(f, "{}.{}", self.database, self.table),
        }
    }
}

/// A table pattern: `database.table` or `database.schema.table`, where a part may be `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TablePattern {
    pub database: String,
    pub schema: Option<String>,
    pub table: String,
}

impl TablePattern {
    pub fn parse(text: &str) -> Option<TablePattern> {
        let parts: Vec<String> = text.split('.').map(str::to_lowercase).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        match parts.as_slice() {
            [d, t] => Some(TablePattern {
                database: d.clone(),
                schema: None,
                table: t.clone(),
            }),
            [d, s, t] => Some(TablePattern {
                database: d.clone(),
                schema: Some(s.clone()),
                table: t.clone(),
            }),
            _ => None,
        }
    }

    /// Whether `name` matches. A pattern without a schema matches MySQL names and
    /// PostgreSQL names in schema `public`.
    pub fn matches(&self, name: &TableName) -> bool {
        let part = |p: &str, v: &str| p == "*" || p == v;
        let schema = match (&self.schema, &name.schema) {
            (Some(p), Some(s)) => part(p, s),
            (Some(p), None) => p == "*",
            (None, Some(s)) => s == "public",
            (None, None) => true,
        };
        schema && part(&self.database, &name.database) && part(&self.table, &name.table)
    }
}

impl std::fmt::Display for TablePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{}.{s}.{}", self.database, self.table),
            None => write!(f, "{}.{}", self.database, self.table),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    pub level: Level,
    pub category: Option<String>,
    /// How the column is masked for accounts below its level; the catalog's `default-mask`
    /// when the entry names none.
    pub mask: Mask,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub name: TableName,
    pub title: String,
    pub category: String,
    pub sharing: Sharing,
    pub opening: Opening,
    /// The table's own level: the highest of its columns', or more if the entry says so.
    pub level: Level,
    /// In the table's column order (used to expand `SELECT *`).
    pub columns: Vec<Column>,
    /// The columns' names, in order, as the SQL analysis asks for them.
    #[serde(skip)]
    pub column_names: Vec<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// The validated catalog.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    pub default_level: Level,
    pub default_mask: Mask,
    tables: Vec<Table>,
    #[serde(skip)]
    index: HashMap<TableName, usize>,
}

impl Catalog {
    pub fn load(path: &Path) -> Result<Catalog, FileError> {
        file::load(path, validate)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Catalog, FileError> {
        file::parse(path, text, validate)
    }

    /// An empty catalog: every object at `default_level`.
    pub fn empty(default_level: Level) -> Catalog {
        Catalog {
            default_level,
            ..Catalog::default()
        }
    }

    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The table `database[.schema].table`, names compared without regard to case.
    pub fn table(&self, database: &str, schema: Option<&str>, table: &str) -> Option<&Table> {
        let mut key = TableName {
            database: database.to_lowercase(),
            schema: schema.map(str::to_lowercase),
            table: table.to_lowercase(),
        };
        if let Some(&i) = self.index.get(&key) {
            return Some(&self.tables[i]);
        }
        // `database.table` entries are PostgreSQL's schema `public` too.
        if key.schema.as_deref() == Some("public") {
            key.schema = None;
            return self.index.get(&key).map(|&i| &self.tables[i]);
        }
        None
    }

    /// The level of a column, or of the table when `column` is `None`; the default level
    /// for what the catalog does not list.
    pub fn level(&self, table: Option<&Table>, column: Option<&str>) -> Level {
        match (table, column) {
            (Some(t), Some(c)) => t.column(c).map_or(self.default_level, |c| c.level),
            (Some(t), None) => t.level,
            (None, _) => self.default_level,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    /// Level of tables and columns the catalog does not list (1–4).
    default_level: Level,
    /// Mask of catalogued columns that name none.
    #[serde(default)]
    default_mask: Mask,
    #[serde(default)]
    table: Vec<RawTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTable {
    /// `database.table` or `database.schema.table`.
    name: String,
    #[serde(default)]
    title: String,
    category: String,
    sharing: Sharing,
    opening: Opening,
    /// Raises the table's level above its columns' (never lowers it).
    level: Option<Level>,
    columns: Vec<RawColumn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawColumn {
    name: String,
    level: Level,
    category: Option<String>,
    mask: Option<Mask>,
}

fn check_level(p: &mut Problems, key: String, level: Level) -> Level {
    if !(1..=MAX_LEVEL).contains(&level) {
        p.add(
            key,
            format!("level {level} is out of range; expected 1 to {MAX_LEVEL}"),
        );
    }
    level.clamp(1, MAX_LEVEL)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

fn validate(raw: Raw, p: &mut Problems) -> Catalog {
    let default_level = check_level(p, "default-level".into(), raw.default_level);
    let mut catalog = Catalog {
        default_level,
        default_mask: raw.default_mask,
        ..Catalog::default()
    };
    for (i, t) in raw.table.into_iter().enumerate() {
        let key = format!("table[{i}]");
        let parts: Vec<&str> = t.name.split('.').collect();
        let name = match parts.as_slice() {
            [db, table] if is_identifier(db) && is_identifier(table) => TableName {
                database: db.to_lowercase(),
                schema: None,
                table: table.to_lowercase(),
            },
            [db, schema, table] if [db, schema, table].iter().all(|s| is_identifier(s)) => {
                TableName {
                    database: db.to_lowercase(),
                    schema: Some(schema.to_lowercase()),
                    table: table.to_lowercase(),
                }
            }
            _ => {
                p.add(
                    format!("{key}.name"),
                    format!(
                        "`{}` is not `database.table` or `database.schema.table`",
                        t.name
                    ),
                );
                continue;
            }
        };
        if catalog.index.contains_key(&name) {
            p.add(
                format!("{key}.name"),
                format!("table `{name}` is listed twice"),
            );
            continue;
        }
        let mut columns: Vec<Column> = Vec::with_capacity(t.columns.len());
        for (j, c) in t.columns.into_iter().enumerate() {
            let ckey = format!("{key}.columns[{j}]");
            if !is_identifier(&c.name) {
                p.add(
                    format!("{ckey}.name"),
                    format!("`{}` is not a column name", c.name),
                );
            }
            if columns.iter().any(|o| o.name.eq_ignore_ascii_case(&c.name)) {
                p.add(
                    format!("{ckey}.name"),
                    format!("column `{}` is listed twice", c.name),
                );
            }
            columns.push(Column {
                name: c.name.to_lowercase(),
                level: check_level(p, format!("{ckey}.level"), c.level),
                category: c.category,
                mask: c.mask.unwrap_or(catalog.default_mask),
            });
        }
        let from_columns = columns
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(default_level);
        let level = match t.level {
            Some(l) => check_level(p, format!("{key}.level"), l).max(from_columns),
            None => from_columns,
        };
        catalog.index.insert(name.clone(), catalog.tables.len());
        // A PostgreSQL table in schema `public` is also found as `database.table`.
        if name.schema.as_deref() == Some("public") {
            let short = TableName {
                schema: None,
                ..name.clone()
            };
            catalog.index.entry(short).or_insert(catalog.tables.len());
        }
        catalog.tables.push(Table {
            name,
            title: t.title,
            category: t.category,
            sharing: t.sharing,
            opening: t.opening,
            level,
            column_names: columns.iter().map(|c| c.name.clone()).collect(),
            columns,
        });
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
default-level = 2

[[table]]
name = "publicdata.population"
title = "人口综合库"
category = "population"
sharing = "restricted"
opening = "forbidden"
columns = [
    { name = "id", level = 1 },
    { name = "id_card", level = 4, mask = "keep 6 4" },
    { name = "gender", level = 2 },
]

[[table]]
name = "publicdata.public.open_dataset"
category = "open"
sharing = "unconditional"
opening = "unconditional"
level = 1
columns = [{ name = "title", level = 1 }]
"#;

    fn parse(text: &str) -> Result<Catalog, String> {
        Catalog::parse(Path::new("catalog.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn levels_masks_and_lookup() {
        let c = parse(GOOD).expect("valid");
        let t = c
            .table("PublicData", None, "POPULATION")
            .expect("found regardless of case");
        assert_eq!(t.level, 4);
        assert_eq!(c.level(Some(t), Some("id_card")), 4);
        assert_eq!(c.level(Some(t), Some("not_listed")), 2);
        assert_eq!(c.level(None, None), 2);
        assert_eq!(
            t.column("id_card").map(|c| c.mask),
            Some(Mask::Keep {
                prefix: 6,
                suffix: 4
            })
        );
        assert_eq!(t.column("gender").map(|c| c.mask), Some(Mask::Redact));
        assert!(
            c.table("publicdata", Some("public"), "open_dataset")
                .is_some()
        );
        assert!(
            c.table("publicdata", None, "open_dataset").is_some(),
            "public is the default schema"
        );
        assert!(
            c.table("publicdata", Some("other"), "open_dataset")
                .is_none()
        );
    }

    #[test]
    fn mistakes_are_located() {
        let cases: &[(&str, &str)] = &[
            (
                "default-level = 7\n",
                "catalog.toml:1: default-level: level 7 is out of range; expected 1 to 4",
            ),
            (
                "default-level = 2\n[[table]]\nname = 'population'\ncategory = 'p'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = []\n",
                "catalog.toml:3: table[0].name: `population` is not `database.table` or `database.schema.table`",
            ),
            (
                "default-level = 2\n[[table]]\nname = 'd.t'\ncategory = 'p'\nsharing = 'sometimes'\nopening = 'forbidden'\ncolumns = []\n",
                "catalog.toml:5: table[0].sharing: unknown variant `sometimes`, expected one of `unconditional`, `restricted`, `not-shared`",
            ),
            (
                "default-level = 2\n[[table]]\nname = 'd.t'\ncategory = 'p'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [\n  { name = 'a', level = 1 },\n  { name = 'b', level = 9 },\n]\n",
                "catalog.toml:9: table[0].columns[1].level: level 9 is out of range; expected 1 to 4",
            ),
            (
                "default-level = 2\n[[table]]\nname = 'd.t'\ncategory = 'p'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [{ name = 'a', level = 1, mask = 'keep 6' }]\n",
                "catalog.toml:7: table[0].columns[0].mask: `keep 6` is not a mask; expected `keep PREFIX SUFFIX`, `hmac`, `null`, `year` or `redact`",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).expect_err(text), *want);
        }
    }

    #[test]
    fn a_table_listed_twice_is_refused() {
        let twice = format!(
            "{GOOD}\n[[table]]\nname = 'PUBLICDATA.population'\ncategory = 'p'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = []\n"
        );
        let e = parse(&twice).expect_err("duplicate");
        assert!(
            e.contains("table `publicdata.population` is listed twice"),
            "{e}"
        );
    }
}
