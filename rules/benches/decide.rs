//! Decision latency per statement on the demo policy: parse + analyze + decide (uncached),
//! through the decision cache (the same text again), and through its template (the same
//! statement with inline values that change every time, as the simple query protocol
//! sends them). Targets: cached ≤ 2 µs, uncached ≤ 50 µs, template well below uncached.
//!
//!     cargo bench -p tianmu-rules --bench decide

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use rules::policy::{Policy, Request};
use rules::sql::Dialect;

const STATEMENTS: &[(&str, &str)] = &[
    (
        "key-lookup",
        "SELECT name, phone FROM population WHERE id_card = $1",
    ),
    (
        "masked-lookup",
        "SELECT id, name, id_card, phone, address FROM population WHERE id = $1",
    ),
    (
        "join",
        "SELECT l.name, c.record_type, c.record_date FROM legal_person l JOIN credit_record c ON c.uscc = l.uscc WHERE l.uscc = $1",
    ),
    (
        "aggregate",
        "SELECT district_code, count(*) FROM population GROUP BY district_code ORDER BY 2 DESC",
    ),
    (
        "union",
        "SELECT uscc, name FROM legal_person WHERE uscc = $1 UNION ALL SELECT uscc, record_type FROM credit_record WHERE uscc = $1",
    ),
    (
        "cte",
        "WITH recent AS (SELECT uscc, max(record_date) AS d FROM credit_record GROUP BY uscc) SELECT l.name, r.d FROM legal_person l JOIN recent r ON r.uscc = l.uscc LIMIT 100",
    ),
    ("update", "UPDATE population SET phone = $1 WHERE id = $2"),
    (
        "injection",
        "SELECT name FROM population WHERE id = 1 OR 1=1",
    ),
];

fn policy() -> Policy {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo");
    match Policy::load(
        &dir.join("catalog.toml"),
        &dir.join("accounts.toml"),
        &dir.join("policy.toml"),
        None,
    ) {
        Ok(p) => p,
        Err(e) => panic!("the demo policy loads:\n{e}"),
    }
}

fn bench(c: &mut Criterion) {
    let p = policy();
    let req = Request {
        account: "analyst_li",
        client: "10.1.2.3".parse().expect("an address"),
        database: "publicdata",
        dialect: Dialect::Postgres,
        time: "2026-11-23T02:00:00Z".parse().expect("a time"),
    };
    let mut g = c.benchmark_group("decide/uncached");
    for (name, sql) in STATEMENTS {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let a = p.analyze(black_box(sql), Dialect::Postgres, "publicdata", None);
                black_box(p.decide(&req, &a))
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("decide/cached");
    for (name, sql) in STATEMENTS {
        p.evaluate(&req, sql);
        g.bench_function(*name, |b| {
            b.iter(|| black_box(p.evaluate(&req, black_box(sql))))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("decide/template");
    for (name, shape) in INLINE {
        let texts: Vec<String> = (0..4096)
            .map(|i| shape.replace("{}", &i.to_string()))
            .collect();
        p.evaluate(&req, &texts[0]);
        let mut i = 0;
        g.bench_function(*name, |b| {
            b.iter(|| {
                i = (i + 1) % texts.len();
                black_box(p.evaluate(&req, black_box(&texts[i])))
            })
        });
    }
    g.finish();
}

/// Statements with inline values: `{}` becomes a different number each time.
const INLINE: &[(&str, &str)] = &[
    (
        "key-lookup",
        "SELECT name, phone FROM population WHERE id_card = '33010219900101{}'",
    ),
    (
        "masked-lookup",
        "SELECT id, name, id_card, phone, address FROM population WHERE id = {}",
    ),
    (
        "join",
        "SELECT l.name, c.record_type, c.record_date FROM legal_person l JOIN credit_record c ON c.uscc = l.uscc WHERE l.uscc = '91330100{}'",
    ),
];

criterion_group!(benches, bench);
criterion_main!(benches);
