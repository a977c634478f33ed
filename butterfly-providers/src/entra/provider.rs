//! Entra ID as a [`Provider`]: the [catalogue](super::kinds) and the
//! [fetcher](super::fetcher).

use async_trait::async_trait;
use butterfly_core::{ProviderKind, ResourceKind};
use tokio::sync::mpsc;

use super::fetcher::EntraFetcher;
use super::kinds;
use crate::okta::fetcher::{FetchError, FetchEvent, FetchReport};
use crate::provider::{KindSpec, Provider};

/// An Entra ID tenant as a [`Provider`]: every kind of the catalogue, read by an
/// [`EntraFetcher`]. Its org is the tenant id.
#[derive(Debug)]
pub struct EntraProvider {
    fetcher: EntraFetcher,
}

impl EntraProvider {
    /// The tenant `fetcher` signs in to.
    pub fn new(fetcher: EntraFetcher) -> Self {
        EntraProvider { fetcher }
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &EntraFetcher {
        &self.fetcher
    }
}

#[async_trait]
impl Provider for EntraProvider {
    fn provider_kind(&self) -> ProviderKind {
        ProviderKind::EntraId
    }

    fn org(&self) -> &str {
        self.fetcher.tenant_id()
    }

    /// The catalogue, parents before children, each kind with its application permission.
    fn kinds(&self) -> Vec<KindSpec> {
        kinds::all()
            .map(|kind| {
                let spec = KindSpec::new(kind.kind(), [kind.read_permission]);
                match kind.parent {
                    Some(parent) => spec.under(ResourceKind::new(parent.kind)),
                    None => spec,
                }
            })
            .collect()
    }

    async fn fetch(&self, events: mpsc::Sender<FetchEvent>) -> Result<FetchReport, FetchError> {
        self.fetcher.run(events).await
    }
}
