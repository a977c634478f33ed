//! Integration tests: fixture orgs evaluated end to end, every report format.

// Test helpers outside #[test] functions unwrap too; clippy.toml only exempts the latter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod entra;
mod fixtures;
mod formats;
mod support;
