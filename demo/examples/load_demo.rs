//! Generates DEMO.md's data set and loads it into `publicdata` of the local PostgreSQL and
//! MariaDB, printing the time each took (until `tianmu demo` does this):
//!
//! ```text
//! cargo run --release -p tianmu-demo --example load_demo [SEED]
//! ```

use std::time::Instant;

use demo::data::{Counts, Target, generate, load};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 1,
    };
    let started = Instant::now();
    let dataset = generate(seed, &Counts::default());
    println!(
        "generated {} rows (seed {seed}) in {:?}",
        dataset.counts.total(),
        started.elapsed()
    );
    let report = load(&Target::default(), &dataset)?;
    for server in &report.servers {
        let rows: u64 = server.rows.iter().map(|(_, n)| n).sum();
        println!(
            "{} {}: {rows} rows in {:?}",
            server.server, server.addr, server.elapsed
        );
    }
    println!(
        "loaded `{}` (checksum {}) in {:?}",
        report.database, report.checksum, report.elapsed
    );
    Ok(())
}
