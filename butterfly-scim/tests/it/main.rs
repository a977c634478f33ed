//! Integration tests: `ScimService` over `MemoryStore`, driven through `http` requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bulk;
mod entra;
mod errors;
mod isolation;
mod okta;
mod props;
mod support;
mod wire;
