//! SCIM error responses (RFC 7644 section 3.12).

use serde_json::{Value, json};
use thiserror::Error;

use crate::schemas;

/// The `scimType` values RFC 7644 defines for 400 and 409 responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScimType {
    /// The filter syntax was invalid or the operator is unsupported.
    InvalidFilter,
    /// Too many results; the client should narrow the filter.
    TooMany,
    /// A value was not unique where it must be (409).
    Uniqueness,
    /// An attempt to change an immutable or read-only attribute.
    Mutability,
    /// The request body was not valid SCIM.
    InvalidSyntax,
    /// A PATCH `path` was invalid.
    InvalidPath,
    /// A PATCH `path` matched nothing where something was required.
    NoTarget,
    /// A value had the wrong type or form.
    InvalidValue,
    /// The protocol version is unsupported.
    InvalidVers,
    /// The request would reveal sensitive data.
    Sensitive,
}

impl ScimType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

/// An error a SCIM client will see: an HTTP status, an optional `scimType` and a detail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("SCIM {status}{}: {detail}", scim_type.map(|t| format!(" ({})", t.as_str())).unwrap_or_default())]
pub struct ScimError {
    status: u16,
    scim_type: Option<ScimType>,
    detail: String,
}

impl ScimError {
    /// An error with an HTTP status and a human-readable detail.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// Attach a `scimType`.
    #[must_use]
    pub fn with_type(mut self, scim_type: ScimType) -> Self {
        self.scim_type = Some(scim_type);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `scimType`, if any.
    pub fn scim_type(&self) -> Option<ScimType> {
        self.scim_type
    }

    /// The detail text.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The response body. `status` is a string, as RFC 7644 section 3.12 shows it.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [schemas::ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_matches_rfc_7644_shape() {
        let e = ScimError::new(409, "userName `bjensen` is taken").with_type(ScimType::Uniqueness);
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName `bjensen` is taken",
            })
        );
        assert_eq!(
            e.to_string(),
            "SCIM 409 (uniqueness): userName `bjensen` is taken"
        );
        let plain = ScimError::new(401, "missing bearer token");
        assert!(plain.to_json().get("scimType").is_none());
    }
}
