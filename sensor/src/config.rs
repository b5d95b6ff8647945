//! The `[sensor]` section of `tianmu.toml`.

use std::time::Duration;

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
    /// Most out-of-order bytes held for one direction of one flow; past it the hole in
    /// front of them is given up on (counted as a gap).
    #[serde(default = "default_flow_buffer")]
    pub flow_buffer: ByteSize,
    /// A flow without a packet for this long is forgotten (counted).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for SensorRaw {
    fn default() -> Self {
        SensorRaw {
            interfaces: default_interfaces(),
            ports: default_ports(),
            max_flows: default_max_flows(),
            reassembly_memory: default_reassembly(),
            flow_buffer: default_flow_buffer(),
            idle_timeout: default_idle_timeout(),
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
fn default_flow_buffer() -> ByteSize {
    ByteSize::mib(4)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(600)
}

/// Validated `[sensor]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorConfig {
    pub interfaces: Vec<String>,
    pub ports: Vec<u16>,
    pub max_flows: usize,
    pub reassembly_memory: u64,
    pub flow_buffer: u64,
    pub idle_timeout: Duration,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorRaw::default().validate("sensor", &mut Problems::default())
    }
}

impl SensorConfig {
    /// The flow table's limits.
    pub fn flow_limits(&self) -> crate::flow::FlowLimits {
        crate::flow::FlowLimits {
            ports: self.ports.clone(),
            max_flows: self.max_flows,
            reassembly_memory: self.reassembly_memory,
            flow_buffer: self.flow_buffer,
            idle_timeout_us: u64::try_from(self.idle_timeout.as_micros()).unwrap_or(u64::MAX),
        }
    }
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
        if self.idle_timeout.is_zero() {
            p.add(format!("{key}.idle-timeout"), "must be longer than 0s");
        }
        SensorConfig {
            interfaces: self.interfaces,
            ports: self.ports,
            max_flows: self.max_flows,
            reassembly_memory: self.reassembly_memory.as_u64(),
            flow_buffer: self.flow_buffer.as_u64(),
            idle_timeout: self.idle_timeout,
        }
    }
}
