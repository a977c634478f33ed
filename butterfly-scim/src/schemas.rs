//! Schema and message URNs (RFC 7643 section 8.7, RFC 7644 section 3).

/// The core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Butterfly's User extension, carrying `butterflyRole`.
pub const BUTTERFLY_USER: &str = "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User";
/// Error responses.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// List responses.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// PATCH requests.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `POST /.search` requests.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Bulk requests.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Bulk responses.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// `/ServiceProviderConfig` (RFC 7643 section 5).
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// `/ResourceTypes` entries (RFC 7643 section 6).
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// `/Schemas` entries (RFC 7643 section 7).
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
