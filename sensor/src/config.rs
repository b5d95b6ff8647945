//! The `[sensor]` section of `tianmu.toml`.

use bytesize::ByteSize;
use rules::file::Problems;
use serde::Deserialize;

/// `[sensor]`: passive capture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SensorRaw {
    /// Interfaces to capture on.
    #[serde(default = "default_interfaces")]
    pub interfaces: Vec<String>,
    /// TCP ports whose traffic is parsed (database and API servers).
    #[serde(default = "default_ports")]
    pub ports: Vec<u16>,
    /// Most TCP flows tracked at once; beyond it new flows are not followed (counted).
    #[serde(default = "default_max_flows")]
    pub max_flows: usize,
    /// Most bytes held for TCP reassembly over all flows (counted when hit).
    #[serde(default = "default_reassembly")]
    pub reassembly_memory: ByteSize,
}

impl Default for SensorRaw {
    fn default() -> Self {
        SensorRaw {
            interfaces: default_interfaces(),
            ports: default_ports(),
            max_flows: default_max_flows(),
            reassembly_memory: default_reassembly(),
        }
    }
}

fn default_interfaces() -> Vec<String> {
    vec!["lo".into()]
}
fn default_ports() -> Vec<u16> {
    vec![5432, 3306, 8080]
}
fn default_max_flows() -> usize {
    65_536
}
fn default_reassembly() -> ByteSize {
    ByteSize::mib(256)
}

/// Validated `[sensor]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorConfig {
    pub interfaces: Vec<String>,
    pub ports: Vec<u16>,
    pub max_flows: usize,
    pub reassembly_memory: u64,
}

impl SensorRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> SensorConfig {
        for (i, name) in self.interfaces.iter().enumerate() {
            // Linux interface names: 1-15 bytes, no '/' or whitespace.
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\t']) {
                p.add(
                    format!("{key}.interfaces[{i}]"),
                    format!("`{name}` is not an interface name"),
                );
            }
        }
        if let Some(i) = self.ports.iter().position(|&port| port == 0) {
            p.add(format!("{key}.ports[{i}]"), "port 0 is not a port");
        }
        if self.max_flows == 0 {
            p.add(format!("{key}.max-flows"), "must be at least 1");
        }
        SensorConfig {
            interfaces: self.interfaces,
            ports: self.ports,
            max_flows: self.max_flows,
            reassembly_memory: self.reassembly_memory.as_u64(),
        }
    }
}
