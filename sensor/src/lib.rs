//! Understanding traffic the appliance does not sit in the path of: capture → decode →
//! flow/reassembly → wire/<protocol> → event. The wire codecs live here once and are shared
//! with the inline firewall. So far: the configuration and the PostgreSQL message framing;
//! `tianmu sensor` says the capture is not built yet.

pub mod config;
pub mod wire;
