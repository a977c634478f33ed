//! Microsoft Entra ID through Microsoft Graph v1.0.
//!
//! [`kinds`] is the catalogue every Entra part reads: which resource kinds a backup
//! covers, the Graph path that lists each, the application permission it needs, how it
//! nests, how it pages, what a request costs against Graph's identity-and-access
//! throttling budget, and where it goes in a restore. The Graph client, the provider and
//! (feature `simulator`) the Graph simulator are built on it, so a kind added there is
//! fetched, simulated and documented at once.

#[cfg(feature = "fetcher")]
pub mod backup;
#[cfg(feature = "fetcher")]
pub mod fetcher;
pub mod kinds;
#[cfg(feature = "fetcher")]
pub mod provider;
#[cfg(feature = "fetcher")]
pub mod restore;
#[cfg(feature = "simulator")]
pub mod simulator;
