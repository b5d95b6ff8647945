//! MySQL / MariaDB client/server protocol (4.1+, with MariaDB's extensions).
//!
//! [`packet`] frames and reassembles packets and reads the primitive encodings.

pub mod packet;

pub use packet::{
    Limits, Packet, Payload, Reader, Sequence, WireError, encode_packets, next_packet, next_payload,
};
