//! The sensitive-data detectors on arbitrary bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rules::detect::Detectors;

fuzz_target!(|data: &[u8]| {
    static D: OnceLock<Detectors> = OnceLock::new();
    let d = D.get_or_init(|| Detectors::new().expect("detectors compile"));
    let mut scratch = d.scratch().expect("scratch");
    let found = d.findings(&mut scratch, data, 64).expect("scan");
    for f in found.spans() {
        assert!(f.span.end <= data.len() && f.kind.validate(&data[f.span.clone()]));
    }
});
