//! The `[demo]` section of `tianmu.toml`: what `tianmu demo` brings up besides the
//! appliance itself.

use std::net::SocketAddr;

use rules::file::Problems;
use serde::Deserialize;

/// `[demo]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DemoRaw {
    /// Where the sharing API listens.
    #[serde(default = "default_api")]
    pub api: SocketAddr,
    /// Seed of the demo data set.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Normal traffic, actions per second; 0 for none.
    #[serde(default = "default_rate")]
    pub traffic_rate: f64,
}

fn default_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8088))
}

fn default_seed() -> u64 {
    1
}

fn default_rate() -> f64 {
    5.0
}

impl Default for DemoRaw {
    fn default() -> Self {
        DemoRaw {
            api: default_api(),
            seed: default_seed(),
            traffic_rate: default_rate(),
        }
    }
}

/// Validated `[demo]`.
pub type DemoConfig = DemoRaw;

impl DemoRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> DemoConfig {
        if !(0.0..=10_000.0).contains(&self.traffic_rate) {
            p.add(
                format!("{key}.traffic-rate"),
                format!(
                    "{} is not a rate of 0 to 10000 actions per second",
                    self.traffic_rate
                ),
            );
        }
        self
    }
}
