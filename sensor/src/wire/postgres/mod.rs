//! PostgreSQL protocol 3.0.
//!
//! ```text
//!  client                                   server
//!    ── SSLRequest ──────────────────────────►   'S' / 'N' (one byte)
//!    ── StartupMessage (user, database, …) ──►
//!    ◄──────────── Authentication…, ParameterStatus…, BackendKeyData, ReadyForQuery
//!    ── Query 'Q' ───────────────────────────►   (simple: one or more statements)
//!    ◄──── RowDescription, DataRow…, CommandComplete …, ReadyForQuery
//!    ── Parse 'P', Bind 'B', Describe 'D', Execute 'E' … Sync 'S' ──►   (extended)
//!    ◄──── ParseComplete, BindComplete, RowDescription, DataRow…, CommandComplete, ReadyForQuery
//! ```
//!
//! [`parser`] splits a byte stream into frames without copying, decodes the client messages
//! the policy reads, and encodes what the firewall answers with; [`backend`] decodes the
//! server messages that carry results, completions, errors and the cancel key.

pub mod backend;
pub mod parser;

pub use parser::{
    Frame, Frontend, Limits, Startup, WireError, next_frame, next_startup_frame, parse_frontend,
    parse_startup,
};
