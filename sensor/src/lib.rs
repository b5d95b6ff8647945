//! Understanding traffic the appliance does not sit in the path of: capture → decode →
//! flow/reassembly → wire/<protocol> → event. The wire codecs live here once and are shared
//! with the inline firewall. So far: the configuration, capture files, packet decoding, TCP
//! reassembly and the PostgreSQL message framing; `tianmu sensor` says the capture is not
//! built yet.

pub mod capture;
pub mod config;
pub mod counters;
pub mod decode;
pub mod reassembly;
pub mod wire;
