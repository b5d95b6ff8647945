//! The demo platform of ../shared/DEMO.md, a public-data platform in miniature: the data
//! generator and loader, the sharing API and the traffic simulator that Tianmu's quick start,
//! end-to-end tests and drills run against.
