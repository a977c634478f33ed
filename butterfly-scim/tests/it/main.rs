//! Integration tests: `ScimService` over `MemoryStore`, driven through `http` requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bulk;
mod concurrency;
mod entra;
mod errors;
mod isolation;
mod okta;
mod props;
#[cfg(feature = "axum")]
mod router;
mod store_errors;
mod support;
mod wire;
