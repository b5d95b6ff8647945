//! The words of a decision: what the policy does with a statement and how loud an alert it
//! raises. Events record them unchanged, so the console reads the firewall's own vocabulary.

use serde::{Deserialize, Serialize};

/// The strongest action taken on a statement (block, then mask, then limit, then allow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum Action {
    Allow = 1,
    Block = 2,
    Mask = 3,
    Limit = 4,
}

/// Alert severity; `None` on an event means it raised no alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(i8)]
pub enum Severity {
    None = 0,
    Low = 1,
    Medium = 2,
    High = 3,
    Critical = 4,
}
