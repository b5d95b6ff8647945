//! Statement analysis: what a SQL statement does, which objects and columns it touches and
//! how it is shaped, for the PostgreSQL and MySQL dialects.

use serde::{Deserialize, Serialize};

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
