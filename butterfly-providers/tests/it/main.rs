#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests, in one binary: the Okta catalogue against the OpenAPI spec, and the
//! simulator over real HTTP, the fetcher against it on a virtual clock, Okta as a Provider.

mod catalogue;
#[cfg(feature = "simulator")]
mod entra_backup;
#[cfg(feature = "simulator")]
mod entra_restore;
#[cfg(feature = "simulator")]
mod entra_simulator;
#[cfg(feature = "simulator")]
mod fetcher;
#[cfg(feature = "simulator")]
mod incremental;
mod openapi;
#[cfg(feature = "simulator")]
mod org_address;
#[cfg(feature = "simulator")]
mod provider;
#[cfg(feature = "simulator")]
mod response_schemas;
#[cfg(feature = "simulator")]
mod restore;
#[cfg(feature = "simulator")]
mod simulator;
#[cfg(feature = "simulator")]
mod simulator_writes;
