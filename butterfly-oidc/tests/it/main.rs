//! butterfly-oidc's integration tests, in one binary (one link instead of six).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod axum_route;
mod discovery_cache;
mod id_token;
mod jwks_cache;
mod logout_token;
mod provider;
mod support;
