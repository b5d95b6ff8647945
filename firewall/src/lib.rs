//! Acting on traffic inline: listener → session/<protocol> → decide (asks `rules`) →
//! mask/limit → audit (events into the analyzer's spool). So far: the listeners'
//! configuration, the verdict every protocol session asks for, and the audit event; the
//! protocol sessions come next (`tianmu firewall` says the proxy is not built yet).

pub mod audit;
pub mod config;
pub mod decide;
pub mod listener;
