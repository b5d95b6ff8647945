//! The SOC's terminal: app state ← background data loader; ui/<screen>; actions → analyzer.
//! Not built yet: `tianmu console` says so.
