//! The demo platform of ../shared/DEMO.md, a public-data platform in miniature: the data
//! generator and loader, the sharing API and the traffic simulator that Tianmu's quick start,
//! end-to-end tests and drills run against.
//!
//! [`data`] makes and loads the data set:
//!
//! ```no_run
//! use demo::data::{Counts, Target, generate, load};
//!
//! // DEMO.md's 211,000 rows, the same for seed 1 on every machine.
//! let dataset = generate(1, &Counts::default());
//! // Database `publicdata` in the local PostgreSQL and MariaDB, with the five accounts.
//! let report = load(&Target::default(), &dataset)?;
//! for server in &report.servers {
//!     println!("{}: {:?} in {:?}", server.server, server.rows, server.elapsed);
//! }
//! # Ok::<(), demo::data::LoadError>(())
//! ```

pub mod api;
pub mod config;
pub mod data;
pub mod traffic;
