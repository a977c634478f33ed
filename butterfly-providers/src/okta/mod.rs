//! Okta: the resource catalogue, rate-limit buckets, pagination and error bodies.
//!
//! The pieces here are pure: they take and return plain values, so the fetcher, the
//! simulator and the restore planner share them without sharing any I/O.
//!
//! - [`kinds`]: every resource kind a backup covers, with its endpoint, scope, bucket,
//!   pagination, id rule, secrets and restore rank.
//! - [`RateLimitBucket`]: which per-minute budget a request spends.
//! - [`pagination`]: following `Link: <...>; rel="next"`.
//! - [`secrets`]: stripping secrets and `_links` before storage.
//! - [`OktaErrorBody`]: the error object every Okta API returns.
//! - `fetcher` (feature `fetcher`, on by default): the backup fetcher, the one part here
//!   that does I/O. `crate::backup` (same feature) runs it into a snapshot; [`OktaProvider`]
//!   (same feature) is the fetcher as a [`Provider`](crate::provider::Provider).
//! - `restore` (same feature): restore plans, their execution over HTTP, journals and
//!   undo, and environment sync.

#[cfg(feature = "fetcher")]
pub(crate) mod backup;
pub mod error;
#[cfg(feature = "fetcher")]
pub mod fetcher;
pub mod kinds;
pub mod pagination;
#[cfg(feature = "fetcher")]
mod provider;
mod rate_limit;
#[cfg(feature = "fetcher")]
pub mod restore;
pub mod secrets;
#[cfg(feature = "simulator")]
pub mod simulator;

pub use error::OktaErrorBody;
#[cfg(feature = "fetcher")]
pub use provider::OktaProvider;
pub use rate_limit::RateLimitBucket;
