//! The `[console]` section of `tianmu.toml`.

use std::time::Duration;

use rules::file::Problems;
use serde::Deserialize;

/// Interface language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Language {
    /// 中文
    #[default]
    Zh,
    /// English
    En,
}

/// `[console]`: the SOC terminal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleRaw {
    /// `zh` or `en`.
    #[serde(default)]
    pub language: Language,
    /// How often data is reloaded from ClickHouse.
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    /// Reviewers' mode: everything visible, no actions.
    #[serde(default)]
    pub read_only: bool,
}

impl Default for ConsoleRaw {
    fn default() -> Self {
        ConsoleRaw {
            language: Language::default(),
            refresh: default_refresh(),
            read_only: false,
        }
    }
}

fn default_refresh() -> Duration {
    Duration::from_secs(2)
}

/// Validated `[console]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig {
    pub language: Language,
    pub refresh: Duration,
    pub read_only: bool,
}

impl ConsoleRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> ConsoleConfig {
        if self.refresh < Duration::from_millis(200) {
            p.add(format!("{key}.refresh"), "expected at least 200ms");
        }
        ConsoleConfig {
            language: self.language,
            refresh: self.refresh,
            read_only: self.read_only,
        }
    }
}
