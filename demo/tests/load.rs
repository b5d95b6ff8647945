//! The loader against the real PostgreSQL 15 and MariaDB 10.11 of DEMO.md (127.0.0.1:5432
//! and :3306, administrator logins without password), each test in a database of its own.

mod common;

use std::collections::HashMap;

use common::{TestDb, lines, maria_admin, mariadb, pg_admin, psql};
use demo::data::{Counts, Dataset, Server, Table, Target, generate, is_loaded};
use rules::detect::{bank_card_valid, id_card_valid, mobile_valid, uscc_valid};

fn small(seed: u64) -> Dataset {
    generate(seed, &Counts::scaled(0.02))
}

fn pg_counts(db: &str) -> HashMap<String, u64> {
    let sql: Vec<_> = Table::ALL
        .iter()
        .map(|t| format!("SELECT '{t}', count(*) FROM {t}"))
        .collect();
    lines(&pg_admin(db, &sql.join(" UNION ALL ")))
        .iter()
        .map(|l| {
            let (t, n) = l.split_once('|').expect("table|count");
            (t.to_owned(), n.parse().expect("a count"))
        })
        .collect()
}

fn maria_counts(db: &str) -> HashMap<String, u64> {
    let sql: Vec<_> = Table::ALL
        .iter()
        .map(|t| format!("SELECT '{t}', count(*) FROM {t}"))
        .collect();
    lines(&maria_admin(db, &sql.join(" UNION ALL ")))
        .iter()
        .map(|l| {
            let (t, n) = l.split_once('\t').expect("table\\tcount");
            (t.to_owned(), n.parse().expect("a count"))
        })
        .collect()
}

/// Every row of every table, as each server prints it, sorted: the loaded data itself.
fn pg_dump(db: &str) -> Vec<String> {
    let mut all = Vec::new();
    for t in Table::ALL {
        let out = pg_admin(
            db,
            &format!("COPY (SELECT * FROM {t}) TO STDOUT WITH (FORMAT csv)"),
        );
        let mut rows = lines(&out);
        rows.sort();
        all.push(format!("{t}"));
        all.extend(rows);
    }
    all
}

fn maria_dump(db: &str) -> Vec<String> {
    let mut all = Vec::new();
    for t in Table::ALL {
        let mut rows = lines(&maria_admin(db, &format!("SELECT * FROM {t}")));
        rows.sort();
        all.push(format!("{t}"));
        all.extend(rows);
    }
    all
}

/// The data set's rows as `psql` (CSV) and `mariadb --batch` (tab-separated) print them.
fn expected_dumps(dataset: &Dataset) -> (Vec<String>, Vec<String>) {
    let (mut pg, mut maria) = (Vec::new(), Vec::new());
    for t in Table::ALL {
        let csv = dataset.csv(t);
        let mut rows = lines(&String::from_utf8_lossy(&csv));
        rows.sort();
        pg.push(format!("{t}"));
        pg.extend(rows);
        let mut rows: Vec<_> = dataset
            .rows(t)
            .map(|r| {
                r.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect();
        rows.sort();
        maria.push(format!("{t}"));
        maria.extend(rows);
    }
    (pg, maria)
}

#[test]
fn loads_every_table_with_its_row_count_into_both_servers() {
    let db = TestDb::new("counts");
    let dataset = small(1);
    let report = db.load(&dataset);
    assert_eq!(report.servers.len(), 2);
    assert_eq!(report.checksum, dataset.checksum());
    for server in &report.servers {
        for (table, rows) in &server.rows {
            assert_eq!(
                *rows,
                dataset.len(*table) as u64,
                "{} {table}",
                server.server
            );
        }
    }
    for (server, counts) in [
        (Server::Postgres, pg_counts(db.name())),
        (Server::MariaDb, maria_counts(db.name())),
    ] {
        for t in Table::ALL {
            let expected = Counts::scaled(0.02).get(t) as u64;
            assert_eq!(counts.get(t.name()), Some(&expected), "{server} {t}");
        }
    }
    // Byte for byte what the generator made, in both servers.
    let (pg, maria) = expected_dumps(&dataset);
    assert!(
        pg_dump(db.name()) == pg,
        "PostgreSQL holds other rows than generated"
    );
    assert!(
        maria_dump(db.name()) == maria,
        "MariaDB holds other rows than generated"
    );
}

#[test]
fn loaded_identifiers_pass_the_detect_validators() {
    let db = TestDb::new("valid");
    let dataset = small(2);
    db.load(&dataset);
    type Validator = fn(&[u8]) -> bool;
    let columns: &[(&str, &str, Validator)] = &[
        ("population", "id_card", id_card_valid),
        ("population", "phone", mobile_valid),
        ("legal_person", "legal_rep_id_card", id_card_valid),
        ("license", "holder_id_card", id_card_valid),
        ("bank_account", "holder_id_card", id_card_valid),
        ("legal_person", "uscc", uscc_valid),
        ("credit_record", "uscc", uscc_valid),
        ("bank_account", "card_no", bank_card_valid),
    ];
    for (table, column, valid) in columns {
        let sql = format!("SELECT {column} FROM {table}");
        for (server, out) in [
            ("PostgreSQL", pg_admin(db.name(), &sql)),
            ("MariaDB", maria_admin(db.name(), &sql)),
        ] {
            let values = lines(&out);
            let expected = dataset.len(Table::from_name(table).expect("a demo table"));
            assert_eq!(values.len(), expected, "{server} {table}.{column}");
            for v in &values {
                assert!(
                    valid(v.as_bytes()),
                    "{server} {table}.{column}: invalid {v}"
                );
            }
        }
    }
    // Holders are residents: the join loses no licence and no bank account.
    for (table, column) in [
        ("license", "holder_id_card"),
        ("bank_account", "holder_id_card"),
        ("legal_person", "legal_rep_id_card"),
    ] {
        let sql = format!(
            "SELECT count(*) FROM {table} t WHERE NOT EXISTS \
             (SELECT 1 FROM population p WHERE p.id_card = t.{column})"
        );
        assert_eq!(pg_admin(db.name(), &sql).trim(), "0", "PostgreSQL {table}");
        assert_eq!(maria_admin(db.name(), &sql).trim(), "0", "MariaDB {table}");
    }
}

#[test]
fn reloading_the_same_seed_restores_the_same_data() {
    let db = TestDb::new("reload");
    let dataset = small(3);
    let first = db.load(&dataset);
    let (pg_before, maria_before) = (pg_dump(db.name()), maria_dump(db.name()));
    assert!(is_loaded(&db.target, &dataset).expect("demo_meta readable"));
    assert!(!is_loaded(&db.target, &small(4)).expect("demo_meta readable"));
    let absent = Target::with_database(format!("{}_absent", db.name()));
    assert!(!is_loaded(&absent, &dataset).expect("a missing database is not an error"));

    // The portal writes between the loads, as in the demo.
    let write = "UPDATE population SET name = '改名' WHERE id = 1; \
                 DELETE FROM license WHERE id = 2; \
                 INSERT INTO population (name, id_card, phone, address, birth_date, gender, \
                 district_code) VALUES ('新人', '11010519491231002X', '13800000000', '浙江省', \
                 '1949-12-31', '男', '330106')";
    psql(db.name(), "app_portal", Some("app_portal"), write).expect("app_portal writes in PG");
    mariadb(db.name(), "app_portal", Some("app_portal"), write).expect("app_portal writes");
    assert_ne!(pg_dump(db.name()), pg_before);
    assert_ne!(maria_dump(db.name()), maria_before);

    let second = db.load(&dataset);
    assert_eq!(first.checksum, second.checksum);
    for (a, b) in first.servers.iter().zip(&second.servers) {
        assert_eq!(a.rows, b.rows, "{}", a.server);
    }
    assert!(
        pg_dump(db.name()) == pg_before,
        "PostgreSQL data differs after a reload"
    );
    assert!(
        maria_dump(db.name()) == maria_before,
        "MariaDB data differs after a reload"
    );
    // Identity and AUTO_INCREMENT continue after the loaded ids.
    let next = "INSERT INTO open_dataset (title, category, publisher, publish_date, url) \
                VALUES ('t', 'c', 'p', '2024-01-01', 'u')";
    pg_admin(db.name(), next);
    maria_admin(db.name(), next);
    let max = (dataset.len(Table::OpenDataset) + 1).to_string();
    let sql = "SELECT max(id) FROM open_dataset";
    assert_eq!(pg_admin(db.name(), sql).trim(), max);
    assert_eq!(maria_admin(db.name(), sql).trim(), max);
}

#[test]
fn demo_accounts_log_in_over_tcp_and_see_only_their_tables() {
    let db = TestDb::new("accounts");
    db.load(&small(5));
    let names = [
        "app_portal",
        "share_api",
        "analyst_li",
        "vendor_dev",
        "dba_admin",
    ];
    let list = names.map(|n| format!("'{n}'")).join(", ");
    let pg_roles = pg_admin(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolcanlogin AND rolname IN ({list})"),
    );
    assert_eq!(pg_roles.trim(), "5", "PostgreSQL roles");
    let maria_users = maria_admin(
        "mysql",
        &format!(
            "SELECT count(DISTINCT user) FROM mysql.user WHERE user IN ({list}) AND host = '%'"
        ),
    );
    assert_eq!(maria_users.trim(), "5", "MariaDB users");

    let db = db.name();
    let portal = Some("app_portal");
    let count = "SELECT count(*) FROM population";
    assert_eq!(
        psql(db, "app_portal", portal, count)
            .expect("app_portal reads population in PG")
            .trim(),
        "2000"
    );
    assert_eq!(
        mariadb(db, "app_portal", portal, count)
            .expect("app_portal reads population")
            .trim(),
        "2000"
    );
    let bank = "SELECT * FROM bank_account LIMIT 1";
    let pg_err =
        psql(db, "app_portal", portal, bank).expect_err("bank_account is not the portal's");
    assert!(
        pg_err.contains("permission denied for table bank_account"),
        "{pg_err}"
    );
    let maria_err = mariadb(db, "app_portal", portal, bank).expect_err("bank_account denied");
    assert!(maria_err.contains("SELECT command denied"), "{maria_err}");

    // A wrong password is refused by MariaDB (DEMO.md's PostgreSQL trusts local TCP logins).
    assert!(mariadb(db, "app_portal", Some("wrong"), count).is_err());
    // The others, spot-checked: the vendor sees the open catalogue only; the DBA everything;
    // the analyst may read but not write.
    for (user, sql, allowed) in [
        ("vendor_dev", "SELECT count(*) FROM open_dataset", true),
        ("vendor_dev", "SELECT count(*) FROM population", false),
        ("share_api", "SELECT count(*) FROM credit_record", true),
        ("share_api", "SELECT count(*) FROM license", false),
        ("analyst_li", "SELECT count(*) FROM legal_person", true),
        (
            "analyst_li",
            "UPDATE population SET name = name WHERE id = 1",
            false,
        ),
        ("dba_admin", "SELECT count(*) FROM bank_account", true),
    ] {
        let pg = psql(db, user, Some(user), sql);
        let maria = mariadb(db, user, Some(user), sql);
        assert_eq!(pg.is_ok(), allowed, "PostgreSQL {user}: {sql}: {pg:?}");
        assert_eq!(maria.is_ok(), allowed, "MariaDB {user}: {sql}: {maria:?}");
    }
}

#[test]
fn an_unreachable_server_is_named_with_how_to_start_it() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let dataset = generate(6, &Counts::scaled(0.001));
    for server in [Server::Postgres, Server::MariaDb] {
        let mut target = Target::with_database("publicdata_unreachable");
        match server {
            Server::Postgres => {
                target.mariadb = None;
                target.postgres.as_mut().expect("default endpoint").port = port;
            }
            Server::MariaDb => {
                target.postgres = None;
                target.mariadb.as_mut().expect("default endpoint").port = port;
            }
        }
        let err = demo::data::load(&target, &dataset).expect_err("nothing listens there");
        let text = err.to_string();
        assert!(
            matches!(err, demo::data::LoadError::Unreachable { .. }),
            "{server}: {text}"
        );
        assert!(
            text.contains(&format!("{server} at 127.0.0.1:{port}")),
            "{text}"
        );
        assert!(text.contains("start it with"), "{text}");
    }
}
