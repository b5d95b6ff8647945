//! PostgreSQL framing and message decoding (both directions) on arbitrary bytes: every length is bounded,
//! nothing panics, frames never claim more than the buffer holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::wire::postgres::backend;
use sensor::wire::postgres::{next_frame, next_startup_frame, parse_frontend, parse_startup};

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(f)) = next_startup_frame(data, MAX) {
        assert!(f.len <= data.len());
        let _ = parse_startup(f.body(data));
    }
    let mut rest = data;
    while let Ok(Some(f)) = next_frame(rest, MAX) {
        assert!(f.len <= rest.len() && f.len >= 5);
        if let Some(tag) = f.tag {
            let body = f.body(rest);
            // The same bytes read as a client message and as a server message.
            let _ = parse_frontend(tag, body);
            let _ = backend::bind_result_formats(body);
            let _ = backend::row_description(body);
            if let Ok(values) = backend::data_row(body) {
                let row = backend::encode_data_row(values.iter().copied());
                assert_eq!(backend::data_row(&row[5..]).ok(), Some(values));
            }
            let _ = backend::notice(body);
            let _ = backend::backend_key(body);
            if let Ok(tag) = backend::command_complete(body) {
                let _ = backend::command_rows(tag);
            }
        }
        rest = &rest[f.len..];
    }
});
