//! Okta as a [`Provider`]: the [catalogue](super::kinds) and the [fetcher](super::fetcher).

use async_trait::async_trait;
use butterfly_core::ProviderKind;
use tokio::sync::mpsc;

use super::fetcher::{FetchError, FetchEvent, FetchReport, OktaFetcher};
use super::kinds;
use crate::provider::{KindSpec, Provider};

/// An Okta org as a [`Provider`]: every kind of the catalogue, read by an [`OktaFetcher`].
#[derive(Debug)]
pub struct OktaProvider {
    fetcher: OktaFetcher,
}

impl OktaProvider {
    /// The org `fetcher` signs in to.
    pub fn new(fetcher: OktaFetcher) -> Self {
        OktaProvider { fetcher }
    }

    /// The fetcher, for what only Okta has ([`OktaFetcher::check_connection`]).
    pub fn fetcher(&self) -> &OktaFetcher {
        &self.fetcher
    }
}

#[async_trait]
impl Provider for OktaProvider {
    fn provider_kind(&self) -> ProviderKind {
        ProviderKind::Okta
    }

    fn org(&self) -> &str {
        self.fetcher.org_url()
    }

    /// The catalogue in restore order, each kind with its read scopes.
    fn kinds(&self) -> Vec<KindSpec> {
        kinds::restore_order()
            .into_iter()
            .map(|spec| {
                let covered = KindSpec::new(spec.kind(), spec.read_scopes.iter().copied());
                match spec.parent {
                    Some(parent) => covered.under(butterfly_core::ResourceKind::new(parent.kind)),
                    None => covered,
                }
            })
            .collect()
    }

    async fn fetch(&self, events: mpsc::Sender<FetchEvent>) -> Result<FetchReport, FetchError> {
        self.fetcher.run(events).await
    }
}
