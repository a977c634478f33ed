//! The seam every identity provider implements: [`Provider`].
//!
//! A backup runner, the CLI and the server hold a provider as `dyn Provider` and never
//! reach into its insides: it says which provider it is, which resource kinds it covers
//! and what each needs to be read ([`KindSpec`]), and it fetches all of them as a stream of
//! [`FetchEvent`]s that the caller writes wherever it likes (a
//! [`SnapshotSink`](butterfly_core::SnapshotSink), a test's vector).
//!
//! Okta implements it with [`OktaProvider`](crate::okta::OktaProvider). Entra ID, Auth0,
//! PingOne and the others will implement it beside their own simulators.
//!
//! Restore will add a plan/apply pair here (compare a snapshot with the live org, then
//! carry out the plan); they are not declared yet, so no provider carries stubs for them.
//!
//! ```no_run
//! use butterfly_providers::provider::Provider;
//!
//! # async fn run(provider: &dyn Provider) -> Result<(), butterfly_providers::okta::fetcher::FetchError> {
//! for kind in provider.kinds() {
//!     println!("{}: needs {}", kind.kind, kind.scopes.join(", "));
//! }
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! let (report, ()) = tokio::join!(provider.fetch(tx), async {
//!     while let Some(event) = rx.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! println!("{} requests", report?.requests);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use async_trait::async_trait;
use butterfly_core::{ProviderKind, ResourceKind};
use tokio::sync::mpsc;

use crate::okta::fetcher::{FetchError, FetchEvent, FetchReport};

/// One resource kind a provider covers, and what reading it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindSpec {
    /// The kind, as snapshots name it.
    pub kind: ResourceKind,
    /// The scopes (OAuth) or permissions the provider's credentials need to read it: all
    /// of them. Without one, a backup skips the kind and says so.
    pub scopes: Vec<String>,
    /// The kind it is listed under (a group's members under the group), if any.
    pub parent: Option<ResourceKind>,
}

impl KindSpec {
    /// A kind that needs `scopes`, at the top level.
    pub fn new(kind: ResourceKind, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        KindSpec {
            kind,
            scopes: scopes.into_iter().map(Into::into).collect(),
            parent: None,
        }
    }

    /// The same kind, listed under `parent`.
    #[must_use]
    pub fn under(mut self, parent: ResourceKind) -> Self {
        self.parent = Some(parent);
        self
    }
}

/// An identity provider Butterfly can back up. See the [module docs](self).
///
/// Object safe (`async_trait`), so runners hold `Box<dyn Provider>` or `&dyn Provider`.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// Which provider this is (recorded in each snapshot's manifest).
    fn provider_kind(&self) -> ProviderKind;

    /// The org (tenant) it reads, as snapshots name it: Okta's org URL, for example.
    fn org(&self) -> &str;

    /// Every kind it covers, with what each needs, in dependency order: a kind comes after
    /// the kinds it is listed under or refers to, so a restore can follow this order.
    fn kinds(&self) -> Vec<KindSpec>;

    /// Fetch every kind, sending resources and progress to `events`; returns the counters
    /// once every kind is finished, skipped or failed. A kind it cannot read is an event
    /// ([`FetchEvent::KindSkipped`], [`FetchEvent::KindFailed`]), not an error: an error
    /// means the fetch as a whole could not go on (sign-in refused, `events` closed).
    async fn fetch(&self, events: mpsc::Sender<FetchEvent>) -> Result<FetchReport, FetchError>;
}
