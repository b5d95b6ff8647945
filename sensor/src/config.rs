//! The `[sensor]` section of `tianmu.toml`.

use std::time::Duration;

use bytesize::ByteSize;
use rules::file::Problems;
use serde::Deserialize;

use crate::capture::ring::RingConfig;

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
    /// Live capture: capture threads per interface, each with its own ring and flow table
    /// (the kernel hashes each connection to one of them).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Live capture: bytes per block of a worker's ring (a power of two, at least 4 KiB);
    /// a packet longer than a block is captured cut short (counted).
    #[serde(default = "default_ring_block_size")]
    pub ring_block_size: ByteSize,
    /// Live capture: blocks per ring. A worker's ring holds `ring-block-size` ×
    /// `ring-blocks` bytes; when it is full the kernel drops packets (counted in `drops`).
    #[serde(default = "default_ring_blocks")]
    pub ring_blocks: u32,
    /// Live capture: the frame size the kernel checks the ring's geometry with (a multiple
    /// of 16, at least 80, at most a block); frames of any size share a block.
    #[serde(default = "default_ring_frame_size")]
    pub ring_frame_size: u32,
    /// Live capture with several workers: the first `PACKET_FANOUT` group id (one per
    /// interface, in order). By default derived from the process id.
    #[serde(default)]
    pub fanout_group: Option<u16>,
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
            workers: default_workers(),
            ring_block_size: default_ring_block_size(),
            ring_blocks: default_ring_blocks(),
            ring_frame_size: default_ring_frame_size(),
            fanout_group: None,
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
fn default_workers() -> usize {
    1
}
fn default_ring_block_size() -> ByteSize {
    ByteSize::mib(1)
}
fn default_ring_blocks() -> u32 {
    32
}
fn default_ring_frame_size() -> u32 {
    2048
}

/// Most capture workers per interface.
const MAX_WORKERS: usize = 64;

/// Validated `[sensor]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorConfig {
    pub interfaces: Vec<String>,
    pub ports: Vec<u16>,
    pub max_flows: usize,
    pub reassembly_memory: u64,
    pub flow_buffer: u64,
    pub idle_timeout: Duration,
    /// Capture workers per interface.
    pub workers: usize,
    /// Each worker's ring (`fanout` is set per interface when there are several workers).
    pub ring: RingConfig,
    pub fanout_group: Option<u16>,
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
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            p.add(
                format!("{key}.workers"),
                format!("must be from 1 to {MAX_WORKERS}"),
            );
        }
        let block = self.ring_block_size.as_u64();
        let block_ok = block.is_power_of_two() && (4096..=1 << 30).contains(&block);
        if !block_ok {
            p.add(
                format!("{key}.ring-block-size"),
                format!(
                    "{} is not a power of two from 4 KiB to 1 GiB",
                    self.ring_block_size
                ),
            );
        }
        if self.ring_blocks == 0 {
            p.add(format!("{key}.ring-blocks"), "must be at least 1");
        }
        if self.ring_frame_size < 80
            || !self.ring_frame_size.is_multiple_of(16)
            || (block_ok && u64::from(self.ring_frame_size) > block)
        {
            p.add(
                format!("{key}.ring-frame-size"),
                "must be a multiple of 16, at least 80 and at most ring-block-size",
            );
        }
        if block_ok && block.saturating_mul(u64::from(self.ring_blocks)) > 1 << 34 {
            p.add(
                format!("{key}.ring-blocks"),
                "a ring of more than 16 GiB (ring-block-size × ring-blocks)",
            );
        }
        SensorConfig {
            interfaces: self.interfaces,
            ports: self.ports,
            max_flows: self.max_flows,
            reassembly_memory: self.reassembly_memory.as_u64(),
            flow_buffer: self.flow_buffer.as_u64(),
            idle_timeout: self.idle_timeout,
            workers: self.workers,
            ring: RingConfig {
                block_size: u32::try_from(block).unwrap_or(1 << 20),
                block_count: self.ring_blocks,
                frame_size: self.ring_frame_size,
                ..RingConfig::default()
            },
            fanout_group: self.fanout_group,
        }
    }
}
