//! One module per command: its arguments and the code that runs it.

pub mod alert;
pub mod analyzer;
pub mod console;
pub mod demo;
pub mod drill;
pub mod firewall;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod sensor;
pub mod traffic;
