//! Wire codecs, one per protocol, shared by the passive sensor (both directions of a
//! captured connection) and the inline firewall (which reads, decides, forwards or answers).
//! Sans-IO: bytes in, frames and messages out; bounded; never panic on input.

pub mod mysql;
pub mod postgres;
