//! The first-party Butterfly server: wiring and configuration over the Butterfly crates.
//!
//! No business logic lives here. [`config`] reads flags and environment, [`app`] opens
//! the stores and builds the router, [`rbac`] enforces the permission matrix on every
//! route, [`routes`] holds thin handlers, and [`admin`] implements the local admin
//! subcommands that work on the data directory directly, and [`sso`] signs team members
//! in with their OpenID provider, [`backups`] runs backups as jobs (on schedules),
//! [`restores`] restores, syncs and undoes, [`cli_login`] signs the CLI in (`butterfly
//! login`, RFC 8628), [`notify`] and [`metrics`] tell people and Prometheus how things
//! go, [`git_export`] commits snapshots to Git, and [`limits`] rate-limits the
//! unauthenticated sign-in endpoints per client; [`request_heads`] answers the request
//! heads hyper refuses in the APIs' own error shapes.

pub mod admin;
pub mod app;
pub mod backups;
pub mod cli_login;
pub mod config;
pub mod error;
pub mod git_export;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod rbac;
pub mod request_heads;
pub mod restores;
pub mod routes;
pub mod scim;
pub mod secret;
pub mod sso;
pub mod status;

pub use app::{AppState, build_router, open_state};
pub use config::{Cli, Command, Config};
