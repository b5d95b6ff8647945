//! MySQL / MariaDB client/server protocol (4.1+, with MariaDB's extensions).
//!
//! ```text
//!  client                                        server
//!    ◄──────────────────────────── HandshakeV10 (seq 0): version, scramble, capabilities
//!    ── SSLRequest (32 bytes, seq 1) ──────────►  then TLS; the answer follows inside it
//!    ── HandshakeResponse41: user, proof, db ──►
//!    ◄──── AuthSwitchRequest (0xFE) / AuthMoreData (0x01) … ◄──► client auth data …
//!    ◄──── OK (0x00) or ERR (0xFF)               command phase begins
//!    ── command (seq 0: COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, …) ──►
//!    ◄──── OK | ERR | LOCAL INFILE request (0xFB) | result set (below)
//! ```
//!
//! Every command starts a new exchange at sequence id 0, and each packet either way
//! takes the next id ([`Sequence`]); `COM_QUIT`, `COM_STMT_CLOSE` and
//! `COM_STMT_SEND_LONG_DATA` get no answer.
//!
//! A result set (answer to `COM_QUERY`, `COM_STMT_EXECUTE`, `COM_STMT_FETCH`) flows:
//!
//! ```text
//!  column count (lenenc int; [metadata-follows byte with optional metadata / MariaDB cache])
//!  N × ColumnDefinition41                       (skipped when metadata does not follow)
//!  EOF                                          (omitted with DEPRECATE_EOF)
//!  rows: text (COM_QUERY) or binary (COM_STMT_EXECUTE, COM_STMT_FETCH)
//!  end: EOF, or with DEPRECATE_EOF an OK with header 0xFE — or ERR if the statement
//!       failed midway; its status has MORE_RESULTS_EXISTS when another result set follows
//!       (multi-statements, procedures), which starts again at the column count.
//! ```
//!
//! Tell a row from the end with [`result::is_end`] (ERR is `0xFF`, never a row). With a
//! cursor (`COM_STMT_EXECUTE` with a cursor flag), the first end follows the column
//! definitions (an OK with `0xFE` even with `DEPRECATE_EOF`) and carries
//! `CURSOR_EXISTS`; rows then come only by `COM_STMT_FETCH`, each answer rows + end,
//! until an end with `LAST_ROW_SENT`. `COM_STMT_PREPARE` is answered by
//! `COM_STMT_PREPARE_OK`, then the parameter definitions and the column definitions,
//! each group closed by an EOF unless `DEPRECATE_EOF`.
//!
//! [`packet`] frames and reassembles packets and reads the primitive encodings;
//! [`handshake`] the connection phase; [`command`] the client's commands; [`result`] the
//! server's answers; [`value`] the binary protocol's values. Not covered: the compressed
//! protocol (a proxy clears `COMPRESS`), replication (`COM_BINLOG_DUMP`), MariaDB's
//! `COM_STMT_BULK_EXECUTE` and `COM_MULTI` (both surface as [`Command::Other`]).

pub mod command;
pub mod handshake;
pub mod packet;
pub mod result;
pub mod value;

pub use command::{Command, ExecuteParams, Param, Query, StmtExecute, parse_command};
pub use handshake::{
    Attributes, AuthReply, AuthSwitch, Capabilities, ClientHandshake, Handshake, HandshakeResponse,
    SslRequest, parse_auth_reply, parse_client_handshake, parse_handshake,
};
pub use packet::{
    Limits, Packet, Payload, Reader, Sequence, WireError, encode_packets, next_packet, next_payload,
};
pub use result::{
    ColumnCount, ColumnDefinition, End, EofPacket, ErrPacket, OkPacket, QueryResponse, Status,
    StmtPrepareOk,
};
pub use value::{ColumnType, FieldType, Value};
