//! What is allowed: the data catalog (分类分级 — classification and grading), accounts,
//! the ordered policy, SQL statement analysis and the sensitive-data detectors. The firewall
//! asks this crate for a decision on every statement; the sensor and the analyzer use its
//! detectors. It also owns [`file`], the loader every operator-written TOML file goes through.

pub mod account;
pub mod catalog;
pub mod decision;
pub mod detect;
pub mod file;
pub mod mask;
pub mod policy;
pub mod sql;
