//! Identity provider objects, kept as the provider returned them.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;

/// What a resource is: `user`, `group`, `app`, `policy.sign_on`, ...
///
/// An open set: each provider names its own kinds, and a kind this version does not
/// know still round-trips through storage.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct ResourceKind(String);

impl ResourceKind {
    /// A kind by name.
    pub fn new(name: impl Into<String>) -> Self {
        ResourceKind(name.into())
    }

    /// The kind's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One object of an identity provider's configuration.
///
/// `attributes` holds the whole object as the provider returned it (less secrets and
/// hypermedia links, which the fetcher strips), not a typed model: a field the provider
/// adds next month must survive backup, diff and restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// What the object is.
    pub kind: ResourceKind,
    /// The provider's identifier for it.
    pub id: String,
    /// The object itself.
    pub attributes: Value,
}

impl Resource {
    /// A resource of `kind` with the provider's `id`.
    pub fn new(kind: ResourceKind, id: impl Into<String>, attributes: Value) -> Self {
        Resource {
            kind,
            id: id.into(),
            attributes,
        }
    }

    /// The content address of the attributes' canonical form.
    pub fn digest(&self) -> Digest {
        Digest::of_json(&self.attributes)
    }
}
