//! PostgreSQL framing and message decoding on arbitrary bytes: every length is bounded,
//! nothing panics, frames never claim more than the buffer holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
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
            let _ = parse_frontend(tag, f.body(rest));
        }
        rest = &rest[f.len..];
    }
});
