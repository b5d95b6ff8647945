//! Statement analysis latency on the demo platform's typical statements, uncached, against
//! a bare sqlparser parse of the same text in the same run.
//!
//! - `analyze/<case>`: [`rules::sql::analyze`]: tokenization, comment flags, fingerprint,
//!   parse, scopes, lineage, predicates and flags, with the demo schema;
//! - `sqlparser-parse/<case>`: `Parser::parse_sql` alone, the floor any analysis built on
//!   sqlparser pays.
//!
//! After the criterion groups, an interleaved timing loop prints, per case,
//! `analyze X µs, parse Y µs, ratio Z` (medians), then the worst case against the target:
//! analysis at most 50 µs per typical statement, leaving room for the policy decision.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rules::sql::{Context, Dialect, MapSchema, ObjectName, analyze};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

const TARGET_MICROS: f64 = 50.0;

struct Case {
    name: &'static str,
    dialect: Dialect,
    sql: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "key-lookup",
        dialect: Dialect::Postgres,
        sql: "SELECT name, phone FROM population WHERE id_card = $1",
    },
    Case {
        name: "key-lookup-mysql",
        dialect: Dialect::MySql,
        sql: "SELECT `name`, phone FROM population WHERE id_card = ?",
    },
    Case {
        name: "join",
        dialect: Dialect::Postgres,
        sql: "SELECT l.name, l.legal_rep_name, c.record_type, c.detail, c.record_date \
              FROM legal_person l JOIN credit_record c ON c.uscc = l.uscc \
              WHERE l.uscc = $1 ORDER BY c.record_date DESC LIMIT 50",
    },
    Case {
        name: "aggregate",
        dialect: Dialect::Postgres,
        sql: "SELECT district_code, gender, count(*) AS n, min(birth_date) FROM population \
              WHERE birth_date >= $1 GROUP BY district_code, gender HAVING count(*) > 10 \
              ORDER BY n DESC",
    },
    Case {
        name: "union",
        dialect: Dialect::Postgres,
        sql: "SELECT uscc, name FROM legal_person WHERE name LIKE $1 \
              UNION SELECT uscc, record_type FROM credit_record WHERE record_date > $2 LIMIT 100",
    },
    Case {
        name: "cte",
        dialect: Dialect::Postgres,
        sql: "WITH recent AS (SELECT uscc, max(record_date) AS last FROM credit_record \
              WHERE record_type = $1 GROUP BY uscc) \
              SELECT l.name, r.last FROM legal_person l JOIN recent r ON r.uscc = l.uscc LIMIT 200",
    },
    Case {
        name: "update",
        dialect: Dialect::Postgres,
        sql: "UPDATE population SET phone = $1, address = $2 WHERE id_card = $3",
    },
    Case {
        name: "injection",
        dialect: Dialect::MySql,
        sql: "SELECT name, phone FROM population WHERE id_card = '' OR 1=1 \
              UNION SELECT user, authentication_string FROM mysql.user -- ",
    },
];

fn demo_schema() -> MapSchema {
    let tables: &[(&str, &[&str])] = &[
        (
            "population",
            &[
                "id",
                "name",
                "id_card",
                "phone",
                "address",
                "birth_date",
                "gender",
                "district_code",
            ],
        ),
        (
            "legal_person",
            &[
                "uscc",
                "name",
                "legal_rep_name",
                "legal_rep_id_card",
                "registered_capital",
                "address",
            ],
        ),
        (
            "credit_record",
            &["id", "uscc", "record_type", "detail", "record_date"],
        ),
    ];
    let mut schema = MapSchema::new();
    for db in ["public", "publicdata"] {
        for (table, columns) in tables {
            schema.insert(ObjectName::new(Some(db), table), columns);
        }
    }
    schema
}

fn context(dialect: Dialect) -> Context<'static> {
    match dialect {
        Dialect::Postgres => Context::postgres(Some("public")),
        Dialect::MySql => Context::mysql(Some("publicdata")),
    }
}

fn parse_only(case: &Case) -> usize {
    let parsed = match case.dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, black_box(case.sql)),
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, black_box(case.sql)),
    };
    parsed.map(|s| s.len()).unwrap_or(0)
}

fn analyze_once(case: &Case, schema: &MapSchema) -> usize {
    let a = analyze(black_box(case.sql), &context(case.dialect), schema);
    a.statements.len()
}

fn median_micros(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    let schema = demo_schema();
    for case in CASES {
        let a = analyze(case.sql, &context(case.dialect), &schema);
        assert!(a.is_parsed(), "{}: {:?}", case.name, a.parse);
        eprintln!(
            "{}: {} output columns, flags {:?}, fingerprint {:016x}",
            case.name,
            a.statements[0].outputs.len(),
            a.flags,
            a.fingerprint
        );
    }

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = c.benchmark_group("analyze");
    for case in CASES {
        group.bench_function(case.name, |b| b.iter(|| analyze_once(case, &schema)));
    }
    group.finish();
    let mut group = c.benchmark_group("sqlparser-parse");
    for case in CASES {
        group.bench_function(case.name, |b| b.iter(|| parse_only(case)));
    }
    group.finish();
    c.final_summary();

    // Interleaved rounds, so both sides see the same machine load; medians are reported.
    let rounds = 2001;
    let mut worst = 0.0f64;
    for case in CASES {
        let (mut full, mut parse) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
        for _ in 0..rounds {
            let t = Instant::now();
            black_box(analyze_once(case, &schema));
            full.push(t.elapsed());
            let t = Instant::now();
            black_box(parse_only(case));
            parse.push(t.elapsed());
        }
        let (full, parse) = (median_micros(&mut full), median_micros(&mut parse));
        worst = worst.max(full);
        eprintln!(
            "{:<18} analyze {full:6.1} µs, parse {parse:6.1} µs, ratio {:.2}",
            case.name,
            full / parse
        );
    }
    eprintln!(
        "worst case {worst:.1} µs; target: analyze <= {TARGET_MICROS} µs per typical statement"
    );
}
