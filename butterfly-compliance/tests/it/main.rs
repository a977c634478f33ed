//! Integration tests: fixture orgs evaluated end to end, every report format.

mod fixtures;
mod formats;
mod support;
