//! Pipeline ingest throughput, side by side with the raw `clickhouse` crate.
//!
//!     cargo bench --bench pipeline_ingest            # 200,000 events, 3 rounds
//!     TIANMU_BENCH_EVENTS=1000000 TIANMU_BENCH_ROUNDS=5 cargo bench --bench pipeline_ingest
//!
//! Each round generates the same synthetic events (one seed), then measures, in the same
//! run and against the same ClickHouse (`TIANMU_BENCH_CLICKHOUSE`, default
//! http://127.0.0.1:8123):
//!
//! - **raw**: one `clickhouse` crate insert per table of all the rows, timed until the
//!   server acknowledges them (the rows are then queryable);
//! - **pipeline**: `tianmu pipeline inject` in-process — every event through the spool on
//!   disk (fsync per batch, the default) and the shipper — timed until the last batch is
//!   delivered, i.e. queryable.
//!
//! It prints the medians in events/s and the ratio pipeline/raw (target: at least 0.5).
//! Both sides are checked to have stored exactly all events.

use std::time::{Duration, Instant};

use analyzer::config::{ClickHouseConfig, FsyncPolicy, SpoolConfig};
use analyzer::event::{Event, Kind};
use analyzer::pipeline;
use analyzer::schema;
use analyzer::ship::ClickHouse;
use analyzer::ship::Outcome;
use analyzer::synthetic::Synthetic;
use anyhow::{Context, Result, bail, ensure};
use tokio_util::sync::CancellationToken;

// The allocator of the `tianmu` binary, for both sides.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEED: u64 = 7;
const PRODUCER: &str = "bench";

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; there is nothing to filter here.
    let events: u64 = env_or("TIANMU_BENCH_EVENTS", 200_000)?;
    let rounds: usize = env_or("TIANMU_BENCH_ROUNDS", 3)?;
    let url =
        std::env::var("TIANMU_BENCH_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(&url, events, rounds))
}

async fn run(url: &str, events: u64, rounds: usize) -> Result<()> {
    let raw_ch = ClickHouse::new(&ch_config(url, "tianmu_bench_raw"));
    let pipe_cfg = ch_config(url, "tianmu_bench_pipeline");
    let pipe_ch = ClickHouse::new(&pipe_cfg);
    let version: String = raw_ch
        .server
        .query("SELECT version()")
        .fetch_one()
        .await
        .with_context(|| {
            format!("ClickHouse is not reachable at {url}: start it with `bash deploy/clickhouse.sh start`")
        })?;
    println!(
        "pipeline ingest: {events} events x {rounds} rounds, ClickHouse {version} at {url}, fsync per batch"
    );

    let mut raw_rates = Vec::new();
    let mut pipe_rates = Vec::new();
    for round in 1..=rounds {
        // Raw: the same rows, straight through the crate.
        reset(&raw_ch).await?;
        let batch = generate(events);
        let started = Instant::now();
        for kind in [Kind::Statement, Kind::ApiCall] {
            let rows: Vec<&Event> = batch.iter().filter(|e| e.kind() == kind).collect();
            schema::insert(&raw_ch.db, kind, &rows).await?;
        }
        let raw = started.elapsed();
        check_count(&raw_ch, events).await?;
        drop(batch);

        // Pipeline: spool + shipper, as `tianmu pipeline inject` runs them.
        reset(&pipe_ch).await?;
        let dir = tempfile::tempdir()?;
        let mut spool = SpoolConfig::at(dir.path().join("spool"));
        spool.fsync = FsyncPolicy::Batch;
        let done = pipeline::inject(
            &spool,
            &pipe_cfg,
            PRODUCER,
            events,
            SEED,
            CancellationToken::new(),
            |_| {},
        )
        .await?;
        if done.outcome != Outcome::Drained {
            bail!("pipeline did not drain: {:?}", done.outcome);
        }
        let pipe = done.elapsed;
        check_count(&pipe_ch, events).await?;

        let (r, p) = (rate(events, raw), rate(events, pipe));
        println!(
            "round {round}: raw insert {r:>9.0} events/s ({raw:.2?}), pipeline {p:>9.0} events/s ({pipe:.2?}), ratio {:.2}",
            p / r
        );
        raw_rates.push(r);
        pipe_rates.push(p);
    }
    let (r, p) = (median(&mut raw_rates), median(&mut pipe_rates));
    println!("median: raw insert {r:.0} events/s, pipeline {p:.0} events/s");
    println!("ratio pipeline/raw: {:.2} (target >= 0.50)", p / r);
    for ch in [&raw_ch, &pipe_ch] {
        drop_database(ch).await?;
    }
    Ok(())
}

fn ch_config(url: &str, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: url.to_owned(),
        database: database.to_owned(),
        user: "default".into(),
        password: String::new(),
        timeout: Duration::from_secs(60),
        retention_days: 3650,
    }
}

/// The events inject produces for the same seed.
fn generate(n: u64) -> Vec<Event> {
    let mut g = Synthetic::new(PRODUCER, SEED);
    (0..n).map(|_| g.next_event()).collect()
}

async fn reset(ch: &ClickHouse) -> Result<()> {
    drop_database(ch).await?;
    schema::migrate(&ch.server, &ch.cfg.url, &ch.cfg.database).await?;
    Ok(())
}

async fn drop_database(ch: &ClickHouse) -> Result<()> {
    ch.server
        .query(&format!("DROP DATABASE IF EXISTS {}", ch.cfg.database))
        .execute()
        .await?;
    Ok(())
}

async fn check_count(ch: &ClickHouse, expected: u64) -> Result<()> {
    let n: u64 = ch
        .db
        .query("SELECT (SELECT count() FROM statements) + (SELECT count() FROM api_calls)")
        .fetch_one()
        .await?;
    ensure!(
        n == expected,
        "{}: {n} rows, expected {expected}",
        ch.cfg.database
    );
    Ok(())
}

fn rate(events: u64, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .ok()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}
