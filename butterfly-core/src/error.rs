use thiserror::Error;

/// Errors raised by the domain model itself (parsing identifiers, roles, digests).
///
/// Storage has its own error type, [`crate::store::StoreError`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A role name is not one of the five roles.
    #[error(
        "unknown role `{0}`: expected one of super_admin, admin, backup_operator, auditor, read_only"
    )]
    UnknownRole(String),
    /// A permission name is not in the permission matrix.
    #[error("unknown permission `{0}`")]
    UnknownPermission(String),
    /// A digest is not 64 lowercase hex characters.
    #[error("invalid digest `{0}`: expected 64 hex characters of a SHA-256")]
    InvalidDigest(String),
    /// An identifier is not in the expected form.
    #[error("invalid {what} `{value}`")]
    InvalidId {
        /// What kind of identifier was expected.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A provider name is not one Butterfly knows.
    #[error(
        "unknown provider `{0}`: expected one of okta, entra_id, auth0, pingone, onepassword, okta_workflows"
    )]
    UnknownProvider(String),
    /// A diff rule table does not parse.
    #[error("invalid diff rules: {0}")]
    InvalidRules(String),
    /// A snapshot manifest does not match its own root digest or counts.
    #[error("snapshot manifest is inconsistent: {0}")]
    InconsistentManifest(String),
}
