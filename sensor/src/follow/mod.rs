//! Protocol followers: the reassembled bytes of both directions of a connection in,
//! [`Exchange`]s (one statement and its answer) out. Sans-IO and passive: a follower never
//! answers, never waits, and survives what a proxy would reject (a connection picked up in
//! the middle, holes in either direction, garbage), counting it instead.
//!
//! So far PostgreSQL ([`postgres`]); MySQL and HTTP followers come next, with the same
//! shape.

pub mod postgres;

/// Who is talking, as the connection's start-up told it (empty when it was not seen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub account: String,
    pub database: String,
    pub application: String,
}

/// One statement as seen on the wire, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The statement text (empty when it is not known: a portal bound before the capture
    /// started, say).
    pub text: String,
    /// When the client's message began to arrive, microseconds since the epoch.
    pub started_us: u64,
    /// When the server's answer ended.
    pub ended_us: u64,
    /// Rows returned (DataRow or server CopyData messages), or the count of the
    /// completion tag when it has one (`INSERT 0 5`, `COPY 5`).
    pub rows: u64,
    /// Bytes of the result messages (DataRow, CopyData both ways), headers included.
    pub bytes: u64,
    /// Columns of the result (RowDescription), 0 when it had none.
    pub fields: u16,
    /// The last completion tag (`SELECT 5`), empty when none came.
    pub tag: String,
    /// SQLSTATE of the error that ended it, empty on success.
    pub error_code: String,
    /// The answer did not come (the flow ended or broke first).
    pub unanswered: bool,
}
