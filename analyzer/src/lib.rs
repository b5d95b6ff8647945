//! From events to alerts: event model → spool → ship → ClickHouse schema → detect →
//! alert → contain → drill → report. The spool and shipper are the durable pipeline every
//! producer (firewall, sensor, analyzer, drills) writes through; [`cycle`] runs the
//! [`detect`]ors over what was ingested and raises [`alert`]s through that same pipeline.

pub mod alert;
pub mod config;
pub mod cycle;
pub mod detect;
pub mod drill;
pub mod event;
pub mod lifecycle;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod schema;
pub mod ship;
pub mod spool;
pub mod synthetic;
