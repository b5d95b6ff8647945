//! Statement analysis and the demo policy's decision on arbitrary text, both dialects:
//! never a panic, never a stack overflow.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rules::policy::{Policy, Request};
use rules::sql::Dialect;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).expect("demo policy file");
        Policy::parse(&read("catalog.toml"), &read("accounts.toml"), &read("policy.toml")).expect("demo policy")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = policy();
    for dialect in [Dialect::Postgres, Dialect::MySql] {
        let a = p.analyze(&text, dialect, "publicdata", None);
        let req = Request {
            account: "app_portal",
            client: [127, 0, 0, 1].into(),
            database: "publicdata",
            dialect,
            time: chrono::DateTime::UNIX_EPOCH,
        };
        let _ = p.decide(&req, &a);
    }
});
