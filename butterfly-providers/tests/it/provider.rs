//! Okta as a `dyn Provider`: what it covers and what each kind needs.

use butterfly_core::{ProviderKind, ResourceKind};
use butterfly_providers::okta::OktaProvider;
use butterfly_providers::okta::fetcher::{FetchOptions, OktaCredentials, OktaFetcher, PrivateKey};
use butterfly_providers::okta::kinds;
use butterfly_providers::provider::Provider;

fn okta_provider() -> Box<dyn Provider> {
    let credentials = OktaCredentials {
        org_url: "https://example.okta.com/".parse().unwrap(),
        client_id: "0oa1".parse().unwrap(),
        key_id: None,
        private_key: PrivateKey::from_pem(&super::simulator::client_key().private_pem).unwrap(),
    };
    Box::new(OktaProvider::new(
        OktaFetcher::new(credentials, FetchOptions::default()).unwrap(),
    ))
}

#[test]
fn okta_covers_the_catalogue_each_kind_with_its_scopes() {
    let provider = okta_provider();
    assert_eq!(provider.provider_kind(), ProviderKind::Okta);
    assert_eq!(provider.org(), "https://example.okta.com");

    let covered = provider.kinds();
    assert_eq!(covered.len(), kinds::all().count());
    for (covered, spec) in covered.iter().zip(kinds::restore_order()) {
        assert_eq!(covered.kind, ResourceKind::new(spec.name));
        let scopes: Vec<&str> = covered.scopes.iter().map(String::as_str).collect();
        assert_eq!(scopes, spec.read_scopes, "{}", spec.name);
        assert!(!covered.scopes.is_empty(), "{} needs no scope?", spec.name);
        assert_eq!(
            covered.parent,
            spec.parent.map(|p| ResourceKind::new(p.kind)),
            "{}",
            spec.name
        );
    }
}

#[test]
fn okta_kinds_come_after_what_they_depend_on() {
    let covered = okta_provider().kinds();
    let position = |name: &str| {
        covered
            .iter()
            .position(|k| k.kind.as_str() == name)
            .unwrap_or_else(|| panic!("{name} is not covered"))
    };
    for (index, kind) in covered.iter().enumerate() {
        let spec = kinds::by_name(kind.kind.as_str()).unwrap();
        if let Some(parent) = &kind.parent {
            assert!(
                position(parent.as_str()) < index,
                "{} before its parent",
                kind.kind
            );
        }
        for dependency in spec.depends_on {
            assert!(
                position(dependency) < index,
                "{} before {dependency}",
                kind.kind
            );
        }
    }
}
