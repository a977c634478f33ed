//! Service provider configuration endpoints (RFC 7644 section 4): what this provider
//! supports, described exactly.
//!
//! - `GET /ServiceProviderConfig` (RFC 7643 section 5): PATCH, bulk (with its limits),
//!   filtering (with `maxResults`), sorting and ETags are supported; password changes are
//!   not (passwords are never stored); authentication is an OAuth bearer token.
//! - `GET /ResourceTypes`, `/ResourceTypes/{name}` (RFC 7643 section 6): User and Group.
//! - `GET /Schemas`, `/Schemas/{urn}` (RFC 7643 section 7): core User and Group, the
//!   enterprise User extension and Butterfly's User extension.
//!
//! A `filter` on these endpoints is refused with 403, as section 4 asks.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Call, Reply, ScimService, method_not_allowed};
use crate::schema::{self, ResourceSchema};
use crate::store::{ResourceType, ScimStore};
use crate::{ScimError, schemas};

fn list_response(resources: Vec<Value>) -> Value {
    let count = resources.len();
    json!({
        "schemas": [schemas::LIST_RESPONSE],
        "totalResults": count,
        "itemsPerPage": count,
        "startIndex": 1,
        "Resources": Value::Array(resources),
    })
}

impl<S: ScimStore> ScimService<S> {
    /// The `/ServiceProviderConfig` document.
    pub fn service_provider_config(&self, base_url: &str) -> Value {
        let base = base_url.trim_end_matches('/');
        let config = &self.config;
        json!({
            "schemas": [schemas::SERVICE_PROVIDER_CONFIG],
            "documentationUri": "https://docs.rs/butterfly-scim",
            "patch": {"supported": true},
            "bulk": {
                "supported": true,
                "maxOperations": config.bulk_max_operations,
                "maxPayloadSize": config.bulk_max_payload_bytes,
            },
            "filter": {"supported": true, "maxResults": config.max_results},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A bearer token issued to the team for SCIM provisioning, sent in the Authorization header.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        })
    }

    /// Answer a discovery request, or `None` if the path is not a discovery endpoint.
    pub(crate) fn route_discovery(
        &self,
        base: &str,
        method: &Method,
        call: &Call<'_>,
        segments: &[&str],
    ) -> Result<Option<Reply>, ScimError> {
        let Some(first) = segments.first() else {
            return Ok(None);
        };
        let endpoint = ["ServiceProviderConfig", "ResourceTypes", "Schemas"]
            .into_iter()
            .find(|e| e.eq_ignore_ascii_case(first));
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        if method != Method::GET {
            return Err(method_not_allowed(method));
        }
        let filtered = url::form_urlencoded::parse(call.query.unwrap_or_default().as_bytes())
            .any(|(k, _)| k.eq_ignore_ascii_case("filter"));
        if filtered {
            return Err(ScimError::new(
                403,
                "filtering is not supported on discovery endpoints",
            ));
        }
        let body = match (endpoint, segments.get(1..).unwrap_or_default()) {
            ("ServiceProviderConfig", []) => self.service_provider_config(base),
            ("ResourceTypes", []) => list_response(
                ResourceType::ALL
                    .iter()
                    .map(|t| ResourceSchema::of(*t).resource_type_json(base))
                    .collect(),
            ),
            ("ResourceTypes", [name]) => ResourceType::from_name(name)
                .map(|t| ResourceSchema::of(t).resource_type_json(base))
                .ok_or_else(|| ScimError::new(404, format!("no resource type `{name}`")))?,
            ("Schemas", []) => list_response(schema::ALL.iter().map(|s| s.to_json(base)).collect()),
            ("Schemas", [urn]) => schema::ALL
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(urn))
                .map(|s| s.to_json(base))
                .ok_or_else(|| ScimError::new(404, format!("no schema `{urn}`")))?,
            _ => {
                return Err(ScimError::new(
                    404,
                    format!("no SCIM endpoint at `{}`", call.path),
                ));
            }
        };
        Ok(Some(Reply::json(StatusCode::OK, body)))
    }
}
