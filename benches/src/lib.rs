//! Benchmarks and load-test drivers for the Butterfly crates.
//!
//! Benchmarks print numbers; they never assert timings. Run them with
//! `cargo run --release -p butterfly-benches --bin <name>`; see the workspace README for
//! the figures measured so far.
#![deny(missing_docs)]

pub mod scim_load;
