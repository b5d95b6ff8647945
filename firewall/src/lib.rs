//! Acting on traffic inline: listener → session/<protocol> → decide (asks `rules`) →
//! mask/limit → audit (events into the analyzer's spool). So far: the configuration of the
//! listeners; `tianmu firewall` says the proxy is not built yet.

pub mod config;
