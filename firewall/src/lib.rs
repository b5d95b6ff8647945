//! Acting on traffic inline: listener → session per protocol (`postgres`, `mysql`) → decide
//! (asks `rules`) → mask/limit → audit (events into the analyzer's spool or stdout). `run`
//! starts every listener of the configuration.

pub mod audit;
pub mod config;
pub mod decide;
pub mod listener;
pub mod metrics;
pub mod mysql;
pub mod postgres;
pub mod run;
pub mod tls;
