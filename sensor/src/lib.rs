//! Understanding traffic the appliance does not sit in the path of:
//!
//! ```text
//!  capture (pcap files, live ring) ─► decode (Ethernet/VLAN/SLL, IPv4/6, TCP)
//!    ─► flow (table, directions, timeouts) ─► reassembly (in-order bytes, gaps)
//!    ─► follow/<protocol> (statements and answers) ─► event (analysed, one event model)
//! ```
//!
//! The wire codecs ([`wire`]) live here once and are shared with the inline firewall.
//! [`run::Sensor`] drives the stages; [`live::Live`] runs one per capture worker; every cap
//! and every problem has a counter ([`counters::Counters`]).

pub mod capture;
pub mod config;
pub mod counters;
pub mod decode;
pub mod event;
pub mod flow;
pub mod follow;
pub mod live;
pub mod reassembly;
pub mod run;
pub mod wire;
