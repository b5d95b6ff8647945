//! MySQL / MariaDB client/server protocol (4.1+, with MariaDB's extensions).
//!
//! [`packet`] frames and reassembles packets and reads the primitive encodings;
//! [`handshake`] the connection phase; [`result`] the server's answers; [`value`] the
//! binary protocol's values.

pub mod handshake;
pub mod packet;
pub mod result;
pub mod value;

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
