//! Policy loading on arbitrary files: each of the three files in turn is the fuzzed one,
//! the others the demo's. Every outcome is a policy or located errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rules::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let fuzzed = String::from_utf8_lossy(rest);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).expect("demo policy file");
    let mut files = [read("catalog.toml"), read("accounts.toml"), read("policy.toml")];
    files[usize::from(which % 3)] = fuzzed.into_owned();
    if let Err(e) = Policy::parse(&files[0], &files[1], &files[2]) {
        let _ = e.to_string();
    }
});
