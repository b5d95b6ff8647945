//! The SOC's terminal: app state ← background data loader; ui/<screen>; actions → analyzer.
//! So far: the configuration; `tianmu console` says the terminal is not built yet.

pub mod config;
