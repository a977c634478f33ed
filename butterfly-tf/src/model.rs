//! What the exporter builds before it writes HCL: Terraform resources with typed values,
//! references still as Okta ids, and secrets still unnamed.

use serde_json::Value;

/// A value of a Terraform attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    List(Vec<Val>),
    /// An object (`{ key = value }`), keys in the order given.
    Map(Vec<(String, Val)>),
    /// The `id` of the exported resource that stands for this Okta object; the Okta id
    /// itself when the object is not in the export.
    Ref {
        target: Target,
        id: String,
    },
    /// A sensitive input variable named `{prefix}_{resource name}`. `optional` ones
    /// default to `null`, so an imported resource plans clean without the secret.
    Secret {
        prefix: &'static str,
        description: &'static str,
        optional: bool,
    },
}

/// What a reference points at: Okta ids are unique per kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    User,
    Group,
    App,
    AuthServer,
    AuthServerPolicy,
    Policy,
    Zone,
    InlineHook,
    UserType,
    /// An OAuth app, by its client id (policies list clients, not apps).
    OAuthClient,
}

impl Target {
    /// The attribute of the target resource a reference reads.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Target::OAuthClient => "client_id",
            _ => "id",
        }
    }
}

/// The file a resource goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Area {
    Users,
    UserSchema,
    Groups,
    Apps,
    AuthorizationServers,
    Policies,
    Network,
    IdentityProviders,
    Hooks,
    Branding,
}

impl Area {
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Area::Users => "users.tf",
            Area::UserSchema => "user_schema.tf",
            Area::Groups => "groups.tf",
            Area::Apps => "apps.tf",
            Area::AuthorizationServers => "authorization_servers.tf",
            Area::Policies => "policies.tf",
            Area::Network => "network.tf",
            Area::IdentityProviders => "identity_providers.tf",
            Area::Hooks => "hooks.tf",
            Area::Branding => "branding.tf",
        }
    }
}

/// One Terraform resource and its `import` id.
#[derive(Debug, Clone)]
pub(crate) struct TfResource {
    pub ty: &'static str,
    /// Unique per `ty`: the provider's import id, which also orders names after
    /// collisions.
    pub key: String,
    /// The display name the address comes from.
    pub label: String,
    /// Resources whose labels come first in this one's address (an assignment is named
    /// after its app and its user), as they are read from the org.
    pub label_refs: Vec<(Target, String)>,
    /// The references that resolve to this resource.
    pub targets: Vec<(Target, String)>,
    pub area: Area,
    pub attrs: Vec<(&'static str, Val)>,
    pub blocks: Vec<(&'static str, Vec<(&'static str, Val)>)>,
}

impl TfResource {
    pub(crate) fn new(
        ty: &'static str,
        area: Area,
        key: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        TfResource {
            ty,
            key: key.into(),
            label: label.into(),
            label_refs: Vec::new(),
            targets: Vec::new(),
            area,
            attrs: Vec::new(),
            blocks: Vec::new(),
        }
    }

    pub(crate) fn target(mut self, target: Target, id: impl Into<String>) -> Self {
        self.targets.push((target, id.into()));
        self
    }

    /// Name this resource after `target` first (its label, then this one's own).
    pub(crate) fn named_after(mut self, target: Target, id: impl Into<String>) -> Self {
        self.label_refs.push((target, id.into()));
        self
    }

    pub(crate) fn set(&mut self, name: &'static str, val: Val) {
        self.attrs.push((name, val));
    }

    pub(crate) fn opt(&mut self, name: &'static str, val: Option<Val>) {
        if let Some(v) = val {
            self.attrs.push((name, v));
        }
    }

    pub(crate) fn block(&mut self, name: &'static str, attrs: Vec<(&'static str, Val)>) {
        self.blocks.push((name, attrs));
    }
}

/// Field access on Okta JSON by JSON pointer.
pub(crate) trait Get {
    fn at(&self, pointer: &str) -> Option<&Value>;

    /// A non-empty string.
    fn str_at(&self, pointer: &str) -> Option<String> {
        self.at(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn s(&self, pointer: &str) -> Option<Val> {
        self.str_at(pointer).map(Val::Str)
    }

    fn b(&self, pointer: &str) -> Option<Val> {
        self.at(pointer).and_then(Value::as_bool).map(Val::Bool)
    }

    fn n(&self, pointer: &str) -> Option<Val> {
        match self.at(pointer) {
            Some(Value::Number(n)) => Some(Val::Num(n.clone())),
            _ => None,
        }
    }

    /// Strings in an array (non-strings are left out).
    fn strings(&self, pointer: &str) -> Vec<String> {
        self.at(pointer)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A string list attribute, left out when empty.
    fn list(&self, pointer: &str) -> Option<Val> {
        let items = self.strings(pointer);
        (!items.is_empty()).then(|| Val::List(items.into_iter().map(Val::Str).collect()))
    }

    /// A list of references, left out when empty.
    fn refs(&self, pointer: &str, target: Target) -> Option<Val> {
        refs(self.strings(pointer), target)
    }
}

impl Get for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        self.pointer(pointer).filter(|v| !v.is_null())
    }
}

/// A list of references, `None` when empty.
pub(crate) fn refs(ids: Vec<String>, target: Target) -> Option<Val> {
    (!ids.is_empty())
        .then(|| Val::List(ids.into_iter().map(|id| Val::Ref { target, id }).collect()))
}

/// A JSON document as a string attribute (keys sorted, so output is stable).
pub(crate) fn json_string(value: &Value) -> Val {
    Val::Str(value.to_string())
}
