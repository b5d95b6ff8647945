//! Statement analysis: what a SQL statement does, which objects and columns it touches and
//! how it is shaped, for the PostgreSQL and MySQL dialects.
//!
//! The firewall calls [`analyze`] on every statement and hands the [`Analysis`] to the
//! policy, which decides allow / block / mask / limit; events store its kind, normalized
//! text and fingerprint. The way through the modules:
//!
//! ```text
//!  text ─► lexical (MySQL /*! */ as code, tokens, comment flags, nesting bound)
//!            ├─► fingerprint (normalized text + 64-bit hash, from tokens)
//!            ├─► sqlparser ─► statement (kind, command, objects) ─► lineage (scopes,
//!            │                 columns, outputs, predicates) ◄─► shape (constants,
//!            │                 tautologies, dangerous functions)
//!            └─► fallback (token-level hints when the parser cannot read it)
//! ```
//!
//! Names are resolved with the session's [`Context`] and the catalog's [`Schema`]; see
//! [`name`] for the rules.

mod analysis;
mod analyze;
mod fallback;
mod fingerprint;
mod lexical;
mod lineage;
pub mod name;
pub mod script;
mod shape;
mod statement;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use analysis::{
    Access, Analysis, Clause, Clauses, ColumnUse, Command, CursorUse, Derivation, Endpoint, Flag,
    Flags, ObjectUse, OutputColumn, Parse, Predicate, PredicateKind, Source, StatementAnalysis,
};
pub use analyze::{MAX_OPERATOR_DEPTH, RECURSION_LIMIT, analyze};
pub use fingerprint::fnv1a64;
pub use lexical::template_key;
pub use name::{ColumnRef, Context, MapSchema, NoSchema, ObjectName, Schema};

/// What a statement does, as far as policy is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum StatementKind {
    Read = 1,
    Write = 2,
    Ddl = 3,
    Admin = 4,
    /// Moves data out of the database: `COPY … TO`, `SELECT … INTO OUTFILE`.
    Export = 5,
    /// `BEGIN`, `COMMIT`, `SET`, and the like.
    Session = 6,
    /// The parser could not read it.
    Unparsed = 7,
}

/// The SQL dialect of the server behind the firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}
