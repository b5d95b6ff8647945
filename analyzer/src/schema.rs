//! The ClickHouse side of the event model: one table per event [`Kind`], the rows the
//! shipper inserts, versioned idempotent migrations applied at start-up, and retention by
//! dropping old daily partitions.
//!
//! Tables are `ReplacingMergeTree`s partitioned by day (`toYYYYMMDD(time)`) whose sorting
//! key ends with the event id: the shipper removes duplicates before it inserts (see
//! [`crate::ship`]), and the engine removes any that still slip through when parts merge.
//! Everything here runs on the ClickHouse 18.16 that Debian ships as well as on current
//! releases: no TTL clause, no `LowCardinality`, no `DateTime64`, no `IF NOT EXISTS` on
//! columns. Retention is therefore an explicit `DROP PARTITION`, not a TTL.

use clickhouse::Client;
use serde::Serialize;
use uuid::Uuid;

use crate::event::{Body, Event, Kind};

/// A table of events.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub kind: Kind,
    pub name: &'static str,
    /// Columns after the common ones, as `name Type`.
    pub columns: &'static [&'static str],
    pub order_by: &'static str,
}

/// Columns every event table starts with; `ingested` (set by the server) ends each table.
const COMMON: &[&str] = &[
    "id UUID",
    "producer String",
    "schema UInt16",
    "time DateTime",
    "usec UInt32",
];

const SEVERITY: &str = "Enum8('none' = 0, 'low' = 1, 'medium' = 2, 'high' = 3, 'critical' = 4)";

pub const TABLES: [Table; 6] = [
    Table {
        kind: Kind::Statement,
        name: "statements",
        columns: &[
            "observer Enum8('firewall' = 1, 'sensor' = 2)",
            "protocol Enum8('postgres' = 1, 'mysql' = 2)",
            "account String",
            "client String",
            "server String",
            "application String",
            "database String",
            "normalized String",
            "fingerprint UInt64",
            "kind Enum8('read' = 1, 'write' = 2, 'ddl' = 3, 'admin' = 4, 'export' = 5, 'session' = 6, 'unparsed' = 7)",
            "objects Array(String)",
            "object_levels Array(UInt8)",
            "columns Array(String)",
            "column_levels Array(UInt8)",
            "max_level UInt8",
            "action Enum8('allow' = 1, 'block' = 2, 'mask' = 3, 'limit' = 4)",
            "rule String",
            "severity SEVERITY",
            "rows UInt64",
            "bytes UInt64",
            "duration_us UInt64",
            "error_code String",
        ],
        order_by: "toStartOfHour(time), account, time, id",
    },
    Table {
        kind: Kind::ApiCall,
        name: "api_calls",
        columns: &[
            "app_key String",
            "client String",
            "server String",
            "method String",
            "path_template String",
            "status UInt16",
            "records UInt64",
            "bytes UInt64",
            "sensitive_kinds Array(String)",
            "sensitive_counts Array(UInt32)",
            "duration_us UInt64",
        ],
        order_by: "toStartOfHour(time), app_key, time, id",
    },
    Table {
        kind: Kind::Health,
        name: "health",
        columns: &[
            "component String",
            "status Enum8('ok' = 1, 'degraded' = 2, 'down' = 3)",
            "counter_names Array(String)",
            "counter_values Array(UInt64)",
            "message String",
        ],
        order_by: "producer, time, id",
    },
    Table {
        kind: Kind::Alert,
        name: "alerts",
        columns: &[
            "alert_id UUID",
            "detector String",
            "entity String",
            "severity SEVERITY",
            "title String",
            "window_start DateTime",
            "window_end DateTime",
            "evidence Array(UUID)",
            "drill_id UUID",
        ],
        order_by: "time, alert_id, id",
    },
    Table {
        kind: Kind::Transition,
        name: "alert_transitions",
        columns: &[
            "alert_id UUID",
            "state Enum8('new' = 1, 'acknowledged' = 2, 'assigned' = 3, 'in_progress' = 4, 'pending' = 5, 'contained' = 6, 'resolved' = 7, 'closed' = 8, 'merged' = 9, 'escalated' = 10, 'reopened' = 11, 'signed_off' = 12, 'noted' = 13, 'lifted' = 14)",
            "actor String",
            "note String",
            "resolution Enum8('none' = 0, 'tp_impact' = 1, 'tp_no_impact' = 2, 'false_positive' = 3, 'legitimate' = 4, 'unknown' = 5)",
        ],
        order_by: "alert_id, time, id",
    },
    Table {
        kind: Kind::Drill,
        name: "drills",
        columns: &[
            "drill_id UUID",
            "scenario String",
            "phase Enum8('started' = 1, 'injected' = 2, 'detected' = 3, 'acknowledged' = 4, 'contained' = 5, 'closed' = 6, 'aborted' = 7)",
            "alert_id UUID",
            "detail String",
        ],
        order_by: "drill_id, time, id",
    },
];

/// The table events of `kind` go to.
pub fn table(kind: Kind) -> &'static Table {
    // TABLES holds one entry per Kind, in Kind::ALL order (checked by a test).
    &TABLES[Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
}

/// Where the DDL is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// One server.
    Single,
    /// A cluster: replicated local tables plus a `Distributed` table of the plain name,
    /// sharded by event id so that duplicates meet on the same replica set.
    Cluster(&'a str),
}

impl Table {
    fn column_list(&self) -> String {
        COMMON
            .iter()
            .chain(self.columns)
            .map(|c| format!("    {}", c.replace("SEVERITY", SEVERITY)))
            .chain(std::iter::once(
                "    ingested DateTime DEFAULT now()".to_owned(),
            ))
            .collect::<Vec<_>>()
            .join(",\n")
    }

    /// `CREATE TABLE` statements for this table in `database`.
    pub fn ddl(&self, database: &str, target: Target<'_>) -> Vec<String> {
        let (name, columns) = (self.name, self.column_list());
        let tail = format!(
            "PARTITION BY toYYYYMMDD(time)\nORDER BY ({})\nSETTINGS index_granularity = 8192",
            self.order_by
        );
        match target {
            Target::Single => vec![format!(
                "CREATE TABLE IF NOT EXISTS {database}.{name}\n(\n{columns}\n)\nENGINE = ReplacingMergeTree\n{tail}"
            )],
            Target::Cluster(cluster) => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {database}.{name}_local ON CLUSTER {cluster}\n(\n{columns}\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{database}/{name}', '{{replica}}')\n{tail}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {database}.{name} ON CLUSTER {cluster} AS {database}.{name}_local\nENGINE = Distributed({cluster}, {database}, {name}_local, cityHash64(id))"
                ),
            ],
        }
    }
}

/// One step of the schema's history. Statements must be idempotent (`IF NOT EXISTS`), so
/// that a migration interrupted halfway is simply applied again.
pub struct Migration {
    pub version: u32,
    pub description: &'static str,
    pub statements: fn(&str, Target<'_>) -> Vec<String>,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "event tables: statements, api_calls, health, alerts, alert_transitions, drills",
        statements: |db, target| TABLES.iter().flat_map(|t| t.ddl(db, target)).collect(),
    },
    Migration {
        version: 2,
        description: "alert_transitions.state: noted, lifted",
        statements: |db, target| modify_column(db, target, Kind::Transition, "state"),
    },
];

/// `ALTER … MODIFY COLUMN` bringing `column` of `kind`'s table to its type in [`TABLES`]
/// (adding values to an Enum only rewrites metadata).
fn modify_column(database: &str, target: Target<'_>, kind: Kind, column: &str) -> Vec<String> {
    let t = table(kind);
    let Some(def) = t
        .columns
        .iter()
        .find(|c| c.split_whitespace().next() == Some(column))
    else {
        return Vec::new();
    };
    let name = t.name;
    match target {
        Target::Single => vec![format!("ALTER TABLE {database}.{name} MODIFY COLUMN {def}")],
        Target::Cluster(cluster) => vec![
            format!("ALTER TABLE {database}.{name}_local ON CLUSTER {cluster} MODIFY COLUMN {def}"),
            format!("ALTER TABLE {database}.{name} ON CLUSTER {cluster} MODIFY COLUMN {def}"),
        ],
    }
}

/// Everything needed to create the schema from nothing, in order; `deploy/clickhouse/`
/// holds this rendered for a single node and for a cluster.
pub fn full_ddl(database: &str, target: Target<'_>) -> Vec<String> {
    let on_cluster = match target {
        Target::Single => String::new(),
        Target::Cluster(c) => format!(" ON CLUSTER {c}"),
    };
    let mut out = vec![
        format!("CREATE DATABASE IF NOT EXISTS {database}{on_cluster}"),
        migrations_table(database, target),
    ];
    for m in MIGRATIONS {
        out.extend((m.statements)(database, target));
    }
    out
}

fn migrations_table(database: &str, target: Target<'_>) -> String {
    let on_cluster = match target {
        Target::Single => String::new(),
        Target::Cluster(c) => format!(" ON CLUSTER {c}"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {database}.schema_migrations{on_cluster}\n(\n    version UInt32,\n    description String,\n    applied DateTime DEFAULT now()\n)\nENGINE = MergeTree\nORDER BY version"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("ClickHouse at {url}: {source}")]
    ClickHouse {
        url: String,
        source: clickhouse::error::Error,
    },
    #[error(
        "ClickHouse database `{database}` has schema version {found}, newer than this binary's {known}; upgrade tianmu"
    )]
    TooNew {
        database: String,
        found: u32,
        known: u32,
    },
}

/// Creates the database and applies the migrations it does not have yet; returns the
/// versions applied now.
pub async fn migrate(server: &Client, url: &str, database: &str) -> Result<Vec<u32>, SchemaError> {
    let ch = |source| SchemaError::ClickHouse {
        url: url.to_owned(),
        source,
    };
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
        .execute()
        .await
        .map_err(ch)?;
    server
        .query(&migrations_table(database, Target::Single))
        .execute()
        .await
        .map_err(ch)?;
    let current: u32 = server
        .query(&format!(
            "SELECT toUInt32(max(version)) FROM {database}.schema_migrations"
        ))
        .fetch_one()
        .await
        .map_err(ch)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > known {
        return Err(SchemaError::TooNew {
            database: database.to_owned(),
            found: current,
            known,
        });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        for sql in (m.statements)(database, Target::Single) {
            server.query(&sql).execute().await.map_err(ch)?;
        }
        server
            .query(&format!(
                "INSERT INTO {database}.schema_migrations (version, description) VALUES (?, ?)"
            ))
            .bind(m.version)
            .bind(m.description)
            .execute()
            .await
            .map_err(ch)?;
        tracing::info!(
            database,
            version = m.version,
            description = m.description,
            "Applied ClickHouse migration."
        );
        applied.push(m.version);
    }
    Ok(applied)
}

/// Drops the daily partitions of every event table older than `days`; returns how many
/// were dropped.
pub async fn apply_retention(
    server: &Client,
    database: &str,
    days: u32,
    today: chrono::NaiveDate,
) -> Result<usize, clickhouse::error::Error> {
    if days == 0 {
        return Ok(0);
    }
    let oldest_kept = today - chrono::Days::new(u64::from(days));
    let oldest_kept: u32 = oldest_kept
        .format("%Y%m%d")
        .to_string()
        .parse()
        .unwrap_or(0);
    let mut dropped = 0;
    for t in &TABLES {
        let partitions: Vec<String> = server
            .query(
                "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active",
            )
            .bind(database)
            .bind(t.name)
            .fetch_all()
            .await?;
        for p in partitions {
            if p.parse::<u32>().is_ok_and(|day| day < oldest_kept) {
                server
                    .query(&format!(
                        "ALTER TABLE {database}.{} DROP PARTITION {p}",
                        t.name
                    ))
                    .execute()
                    .await?;
                tracing::info!(table = t.name, partition = %p, "Dropped partition past retention.");
                dropped += 1;
            }
        }
    }
    Ok(dropped)
}

fn secs(e: &Event) -> u32 {
    u32::try_from(e.time.timestamp()).unwrap_or(0)
}

fn usec(e: &Event) -> u32 {
    e.time.timestamp_subsec_micros()
}

fn pairs<T: Copy>(v: &[(String, T)]) -> (Vec<&str>, Vec<T>) {
    v.iter().map(|(k, n)| (k.as_str(), *n)).unzip()
}

/// Rows as inserted (RowBinary, column names from the field names).
pub mod rows {
    use super::*;

    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct StatementRow<'a> {
        #[serde(with = "clickhouse::serde::uuid")]
        pub id: Uuid,
        pub producer: &'a str,
        pub schema: u16,
        pub time: u32,
        pub usec: u32,
        pub observer: i8,
        pub protocol: i8,
        pub account: &'a str,
        pub client: &'a str,
        pub server: &'a str,
        pub application: &'a str,
        pub database: &'a str,
        pub normalized: &'a str,
        pub fingerprint: u64,
        pub kind: i8,
        pub objects: Vec<&'a str>,
        pub object_levels: Vec<u8>,
        pub columns: Vec<&'a str>,
        pub column_levels: Vec<u8>,
        pub max_level: u8,
        pub action: i8,
        pub rule: &'a str,
        pub severity: i8,
        pub rows: u64,
        pub bytes: u64,
        pub duration_us: u64,
        pub error_code: &'a str,
    }

    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct ApiCallRow<'a> {
        #[serde(with = "clickhouse::serde::uuid")]
        pub id: Uuid,
        pub producer: &'a str,
        pub schema: u16,
        pub time: u32,
        pub usec: u32,
        pub app_key: &'a str,
        pub client: &'a str,
        pub server: &'a str,
        pub method: &'a str,
        pub path_template: &'a str,
        pub status: u16,
        pub records: u64,
        pub bytes: u64,
        pub sensitive_kinds: Vec<&'a str>,
        pub sensitive_counts: Vec<u32>,
        pub duration_us: u64,
    }

    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct HealthRow<'a> {
        #[serde(with = "clickhouse::serde::uuid")]
        pub id: Uuid,
        pub producer: &'a str,
        pub schema: u16,
        pub time: u32,
        pub usec: u32,
        pub component: &'a str,
        pub status: i8,
        pub counter_names: Vec<&'a str>,
        pub counter_values: Vec<u64>,
        pub message: &'a str,
    }

    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct AlertRow<'a> {
        #[serde(with = "clickhouse::serde::uuid")]
        pub id: Uuid,
        pub producer: &'a str,
        pub schema: u16,
        pub time: u32,
        pub usec: u32,
        #[serde(with = "clickhouse::serde::uuid")]
        pub alert_id: Uuid,
        pub detector: &'a str,
        pub entity: &'a str,
        pub severity: i8,
        pub title: &'a str,
        pub window_start: u32,
        pub window_end: u32,
        #[serde(with = "clickhouse::serde::uuid_vec")]
        pub evidence: Vec<Uuid>,
        #[serde(with = "clickhouse::serde::uuid")]
        pub drill_id: Uuid,
    }

    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct TransitionRow<'a> {
        #[serde(with = "clickhouse::serde::uuid")]
        pub id: Uuid,
        pub producer: &'a str,
        pub schema: u16,
        pub time: u32,
        pub usec: u32,
        #[serde(with = "clickhouse::serde::uuid")]
        pub alert_id: Uuid,
        pub state: i8,
        pub actor: &'a str,
        pub note: &'a str,
        pub resolution: i8,
    }

    #[derive(Debug, clickhouse::Row, Serialize)]
    pub struct DrillRow<'a> {
        #[serde(with = "clickhouse::serde::uuid")]
        pub id: Uuid,
        pub producer: &'a str,
        pub schema: u16,
        pub time: u32,
        pub usec: u32,
        #[serde(with = "clickhouse::serde::uuid")]
        pub drill_id: Uuid,
        pub scenario: &'a str,
        pub phase: i8,
        #[serde(with = "clickhouse::serde::uuid")]
        pub alert_id: Uuid,
        pub detail: &'a str,
    }
}

use rows::*;

/// A time read back from a table: its `time` (whole seconds) and `usec` columns.
pub fn read_time(secs: u32, usec: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(i64::from(secs), usec.min(999_999) * 1000).unwrap_or_default()
}

/// A `SEVERITY` column read back as its Int8 code.
pub fn read_severity(code: i8) -> crate::event::Severity {
    use crate::event::Severity;
    match code {
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        4 => Severity::Critical,
        _ => Severity::None,
    }
}

fn ts(t: &chrono::DateTime<chrono::Utc>) -> u32 {
    u32::try_from(t.timestamp()).unwrap_or(0)
}

/// Writes `events` (all of one kind) into an open insert for that kind's table.
pub async fn insert(
    client: &Client,
    kind: Kind,
    events: &[&Event],
) -> Result<(), clickhouse::error::Error> {
    let name = table(kind).name;
    macro_rules! write_all {
        ($row:ident, $body:ident, |$e:ident, $b:ident| $make:expr) => {{
            let mut ins = client.insert::<$row<'_>>(name).await?;
            for $e in events {
                if let Body::$body($b) = &$e.body {
                    ins.write(&$make).await?;
                }
            }
            ins.end().await
        }};
    }
    match kind {
        Kind::Statement => write_all!(StatementRow, Statement, |e, s| {
            let (objects, object_levels): (Vec<_>, Vec<_>) =
                s.objects.iter().map(|o| (o.name.as_str(), o.level)).unzip();
            let (columns, column_levels): (Vec<_>, Vec<_>) =
                s.columns.iter().map(|c| (c.name.as_str(), c.level)).unzip();
            // The highest level read, as the policy judges a statement: its columns' when
            // known, else its tables' (`count(*)`, an unparsed statement). A table holding
            // a level-4 column is not a level-4 read of its level-2 columns.
            let max_level = column_levels
                .iter()
                .copied()
                .max()
                .filter(|l| *l > 0)
                .or_else(|| object_levels.iter().copied().max())
                .unwrap_or(0);
            StatementRow {
                id: e.id,
                producer: &e.producer,
                schema: e.schema,
                time: secs(e),
                usec: usec(e),
                observer: s.observer as i8,
                protocol: s.protocol as i8,
                account: &s.account,
                client: &s.client,
                server: &s.server,
                application: &s.application,
                database: &s.database,
                normalized: &s.normalized,
                fingerprint: s.fingerprint,
                kind: s.kind as i8,
                objects,
                object_levels,
                columns,
                column_levels,
                max_level,
                action: s.action as i8,
                rule: &s.rule,
                severity: s.severity as i8,
                rows: s.rows,
                bytes: s.bytes,
                duration_us: s.duration_us,
                error_code: &s.error_code,
            }
        }),
        Kind::ApiCall => write_all!(ApiCallRow, ApiCall, |e, a| {
            let (sensitive_kinds, sensitive_counts) = pairs(&a.sensitive);
            ApiCallRow {
                id: e.id,
                producer: &e.producer,
                schema: e.schema,
                time: secs(e),
                usec: usec(e),
                app_key: &a.app_key,
                client: &a.client,
                server: &a.server,
                method: &a.method,
                path_template: &a.path_template,
                status: a.status,
                records: a.records,
                bytes: a.bytes,
                sensitive_kinds,
                sensitive_counts,
                duration_us: a.duration_us,
            }
        }),
        Kind::Health => write_all!(HealthRow, Health, |e, h| {
            let (counter_names, counter_values) = pairs(&h.counters);
            HealthRow {
                id: e.id,
                producer: &e.producer,
                schema: e.schema,
                time: secs(e),
                usec: usec(e),
                component: &h.component,
                status: h.status as i8,
                counter_names,
                counter_values,
                message: &h.message,
            }
        }),
        Kind::Alert => write_all!(AlertRow, Alert, |e, a| AlertRow {
            id: e.id,
            producer: &e.producer,
            schema: e.schema,
            time: secs(e),
            usec: usec(e),
            alert_id: a.alert_id,
            detector: &a.detector,
            entity: &a.entity,
            severity: a.severity as i8,
            title: &a.title,
            window_start: ts(&a.window_start),
            window_end: ts(&a.window_end),
            evidence: a.evidence.clone(),
            drill_id: a.drill_id.unwrap_or(Uuid::nil()),
        }),
        Kind::Transition => write_all!(TransitionRow, Transition, |e, t| TransitionRow {
            id: e.id,
            producer: &e.producer,
            schema: e.schema,
            time: secs(e),
            usec: usec(e),
            alert_id: t.alert_id,
            state: t.state as i8,
            actor: &t.actor,
            note: &t.note,
            resolution: t.resolution as i8,
        }),
        Kind::Drill => write_all!(DrillRow, Drill, |e, d| DrillRow {
            id: e.id,
            producer: &e.producer,
            schema: e.schema,
            time: secs(e),
            usec: usec(e),
            drill_id: d.drill_id,
            scenario: &d.scenario,
            phase: d.phase as i8,
            alert_id: d.alert_id.unwrap_or(Uuid::nil()),
            detail: &d.detail,
        }),
    }
}

/// The DDL as a file for `clickhouse-client --multiquery`.
pub fn render_file(target: Target<'_>) -> String {
    let mut out = String::from(
        "-- Tianmu's ClickHouse schema, generated by `tianmu pipeline schema`; do not edit.\n-- The daemons apply it themselves at start-up; this file is for review and manual setup.\n\n",
    );
    for sql in full_ddl("tianmu", target) {
        out.push_str(&sql);
        out.push_str(";\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_kind_in_kind_order() {
        for (t, k) in TABLES.iter().zip(Kind::ALL) {
            assert_eq!(t.kind, k);
            assert_eq!(table(k).name, t.name);
        }
    }

    #[test]
    fn ddl_avoids_what_clickhouse_18_lacks() {
        for sql in full_ddl("tianmu", Target::Single)
            .into_iter()
            .chain(full_ddl("tianmu", Target::Cluster("c")))
        {
            for banned in [
                "TTL",
                "LowCardinality",
                "DateTime64",
                "ADD COLUMN IF NOT EXISTS",
            ] {
                assert!(!sql.contains(banned), "{banned} in {sql}");
            }
        }
    }

    /// The checked-in DDL files are what the code applies.
    #[test]
    fn deploy_ddl_files_are_current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/clickhouse/");
        for (file, target) in [
            ("single-node.sql", Target::Single),
            ("cluster.sql", Target::Cluster("tianmu_cluster")),
        ] {
            let want = render_file(target);
            let got = std::fs::read_to_string(format!("{root}{file}")).unwrap_or_default();
            assert!(
                got == want,
                "deploy/clickhouse/{file} is stale; regenerate with `tianmu pipeline schema{}`",
                if file == "cluster.sql" {
                    " --cluster tianmu_cluster"
                } else {
                    ""
                }
            );
        }
    }
}
