//! MySQL/MariaDB framing and every message decoder on arbitrary bytes, under capabilities
//! chosen by the input: nothing panics, frames never claim more than the buffer holds,
//! and whatever decodes re-encodes to bytes that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::wire::mysql::command::{Command, parse_command};
use sensor::wire::mysql::handshake::{
    AuthReply, Capabilities as C, ClientHandshake, parse_auth_reply, parse_client_handshake,
    parse_handshake,
};
use sensor::wire::mysql::packet::{Sequence, encode_packets, next_packet, next_payload};
use sensor::wire::mysql::result::{
    binary_row, encode_binary_row, encode_text_row, is_end, parse_column_count,
    parse_column_definition, parse_end, parse_eof, parse_err, parse_ok, parse_prepare_ok,
    parse_query_response, text_row,
};
use sensor::wire::mysql::value::{ColumnType, FieldType};

const MAX: usize = 1 << 20;

/// The flags that change how packets are laid out; the input's first two bytes pick them.
const LAYOUT: [C; 16] = [
    C::MYSQL,
    C::CONNECT_WITH_DB,
    C::TRANSACTIONS,
    C::PROTOCOL_41,
    C::SSL,
    C::SECURE_CONNECTION,
    C::PLUGIN_AUTH,
    C::CONNECT_ATTRS,
    C::PLUGIN_AUTH_LENENC_CLIENT_DATA,
    C::SESSION_TRACK,
    C::DEPRECATE_EOF,
    C::OPTIONAL_RESULTSET_METADATA,
    C::ZSTD_COMPRESSION_ALGORITHM,
    C::QUERY_ATTRIBUTES,
    C::MARIADB_EXTENDED_METADATA,
    C::MARIADB_CACHE_METADATA,
];

fn decode_all(payload: &[u8], caps: C, types: &[FieldType]) {
    if let Ok(h) = parse_handshake(payload) {
        assert_eq!(parse_handshake(&h.encode()).as_ref(), Ok(&h));
    }
    if let Ok(ClientHandshake::Response(r)) = parse_client_handshake(payload)
        && let Ok(bytes) = r.encode()
    {
        assert_eq!(
            parse_client_handshake(&bytes),
            Ok(ClientHandshake::Response(r))
        );
    }
    if let Ok(AuthReply::Switch(s)) = parse_auth_reply(payload, caps) {
        assert_eq!(
            parse_auth_reply(&s.encode(), caps),
            Ok(AuthReply::Switch(s))
        );
    }
    if let Ok(cmd) = parse_command(payload, caps)
        && let Command::StmtExecute(ex) = cmd
    {
        let count = u16::from(payload.last().copied().unwrap_or(0) % 8);
        let _ = ex.params(count, types, caps);
        let _ = ex.params(types.len() as u16, types, caps);
    }
    let _ = parse_query_response(payload, caps);
    if let Ok(ok) = parse_ok(payload, caps) {
        assert_eq!(parse_ok(&ok.encode(caps), caps).as_ref(), Ok(&ok));
    }
    if let Ok(err) = parse_err(payload, caps) {
        assert_eq!(parse_err(&err.encode(caps), caps).as_ref(), Ok(&err));
    }
    if let Ok(eof) = parse_eof(payload, caps) {
        assert_eq!(parse_eof(&eof.encode(caps), caps), Ok(eof));
    }
    if is_end(payload, caps) {
        let _ = parse_end(payload, caps);
    }
    if let Ok(c) = parse_column_count(payload, caps) {
        assert_eq!(parse_column_count(&c.encode(caps), caps), Ok(c));
    }
    if let Ok(p) = parse_prepare_ok(payload, caps) {
        assert_eq!(parse_prepare_ok(&p.encode(caps), caps), Ok(p));
    }
    if let Ok(d) = parse_column_definition(payload, caps) {
        assert_eq!(
            parse_column_definition(&d.encode(caps), caps).as_ref(),
            Ok(&d)
        );
    }
    let columns = usize::from(payload.first().copied().unwrap_or(0) % 8);
    if let Ok(values) = text_row(payload, columns) {
        let row = encode_text_row(values.iter().copied());
        assert_eq!(text_row(&row, columns).as_ref(), Ok(&values));
    }
    if let Ok(values) = binary_row(payload, types) {
        // Compared as bytes: a NaN float is not equal to itself.
        let row = encode_binary_row(types, &values).expect("decoded values re-encode");
        let again = binary_row(&row, types).expect("re-encoded row decodes");
        assert_eq!(encode_binary_row(types, &again).as_ref(), Ok(&row));
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, data @ ..] = data else {
        return;
    };
    let bits = u16::from_le_bytes([*a, *b]);
    let caps = LAYOUT
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(C::empty(), |acc, (_, &c)| acc | c);
    // Column types for binary rows and parameters: the input's last bytes.
    let types: Vec<FieldType> = data
        .iter()
        .rev()
        .take(6)
        .map(|&t| FieldType::new(ColumnType(t), t & 1 == 1))
        .collect();

    decode_all(data, caps, &types);
    let mut seq = Sequence::default();
    let mut rest = data;
    while let Ok(Some(p)) = next_packet(rest, MAX) {
        assert!(p.len <= rest.len() && p.len >= 4);
        rest = &rest[p.len..];
    }
    let mut rest = data;
    while let Ok(Some(p)) = next_payload(rest, MAX) {
        assert!(p.len <= rest.len() && p.data.len() + 4 <= p.len);
        let _ = seq.check_payload(&p);
        decode_all(&p.data, caps, &types);
        let mut wire = Vec::new();
        encode_packets(p.seq, &p.data, &mut wire);
        let back = next_payload(&wire, MAX)
            .expect("own packets")
            .expect("complete");
        assert_eq!(back.data, p.data);
        rest = &rest[p.len..];
    }
});
