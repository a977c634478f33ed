//! Attribute definitions: the schemas the service supports (RFC 7643 sections 2, 4, 7
//! and 8.7).
//!
//! Everything the service knows about an attribute lives here, once: its type, whether it
//! is multi-valued, required, case-exact, its mutability, when it is returned, and its
//! sub-attributes. The `/Schemas` endpoint renders these tables, the normaliser reads
//! them to give incoming JSON its canonical spelling, the PATCH engine resolves paths
//! against them, and [`SchemaRules`] hands them to the filter evaluator.
//!
//! Supported schemas:
//!
//! - `urn:ietf:params:scim:schemas:core:2.0:User` (RFC 7643 section 4.1), including
//!   `roles` and `entitlements`;
//! - `urn:ietf:params:scim:schemas:core:2.0:Group` (section 4.2);
//! - `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` (section 4.3);
//! - `urn:ietf:params:scim:schemas:extension:butterfly:2.0:User`, carrying
//!   `butterflyRole`, whose value must be one of its canonical values.

use serde_json::{Map, Value, json};

use crate::filter::{AttrPath, AttributeRules, AttributeType};
use crate::schemas;
use crate::store::ResourceType;

/// When an attribute may be written (RFC 7643 section 7, `mutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mutability {
    /// Set by the service provider only; client values are ignored (or refused in PATCH).
    ReadOnly,
    /// Freely written.
    ReadWrite,
    /// Written once, on creation (or when unset); never changed afterwards.
    Immutable,
    /// Written but never returned.
    WriteOnly,
}

impl Mutability {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute is returned (RFC 7643 section 7, `returned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Returned {
    /// Always, whatever `attributes` / `excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded, or unless `attributes` names others.
    Default,
    /// Only when `attributes` names it.
    Request,
}

impl Returned {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// How unique a value must be (RFC 7643 section 7, `uniqueness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Uniqueness {
    /// No rule.
    None,
    /// Unique within the service provider (here: within the team).
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

fn type_name(ty: AttributeType) -> &'static str {
    match ty {
        AttributeType::Boolean => "boolean",
        AttributeType::Decimal => "decimal",
        AttributeType::Integer => "integer",
        AttributeType::DateTime => "dateTime",
        AttributeType::Binary => "binary",
        AttributeType::Reference => "reference",
        AttributeType::Complex => "complex",
        // `String` and anything added to the non-exhaustive enum later.
        _ => "string",
    }
}

/// One attribute definition (RFC 7643 section 7).
// The booleans are RFC 7643's own characteristics, one field each, as `/Schemas` shows them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    /// The canonical name.
    pub name: &'static str,
    /// The data type.
    pub ty: AttributeType,
    /// Whether the attribute holds an array of values.
    pub multi_valued: bool,
    /// Human-readable description, as `/Schemas` shows it.
    pub description: &'static str,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    pub case_exact: bool,
    /// When it may be written.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// How unique it must be.
    pub uniqueness: Uniqueness,
    /// Suggested (or, with [`Attribute::strict_values`], the only) values.
    pub canonical_values: &'static [&'static str],
    /// Whether a value outside `canonical_values` is refused. RFC 7643 lets canonical
    /// values be suggestions; `butterflyRole` is a role name, so a typo must fail loudly.
    pub strict_values: bool,
    /// For references, what they may point at.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [Attribute],
}

impl Attribute {
    const fn new(name: &'static str, ty: AttributeType, description: &'static str) -> Self {
        Attribute {
            name,
            ty,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            strict_values: false,
            reference_types: &[],
            sub_attributes: &[],
        }
    }

    const fn string(name: &'static str, description: &'static str) -> Self {
        Attribute::new(name, AttributeType::String, description)
    }

    const fn boolean(name: &'static str, description: &'static str) -> Self {
        Attribute::new(name, AttributeType::Boolean, description)
    }

    const fn reference(
        name: &'static str,
        types: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        let mut a = Attribute::new(name, AttributeType::Reference, description);
        a.reference_types = types;
        a.case_exact = true;
        a
    }

    const fn complex(
        name: &'static str,
        subs: &'static [Attribute],
        description: &'static str,
    ) -> Self {
        let mut a = Attribute::new(name, AttributeType::Complex, description);
        a.sub_attributes = subs;
        a
    }

    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }

    const fn values(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    const fn strict(mut self) -> Self {
        self.strict_values = true;
        self
    }

    /// A sub-attribute by name, ignoring ASCII case.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        find(self.sub_attributes, name)
    }

    /// Whether this is a complex attribute.
    pub fn is_complex(&self) -> bool {
        self.ty == AttributeType::Complex
    }

    /// The `/Schemas` representation (RFC 7643 section 7).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("type".into(), json!(type_name(self.ty)));
        out.insert("multiValued".into(), json!(self.multi_valued));
        out.insert("description".into(), json!(self.description));
        out.insert("required".into(), json!(self.required));
        if matches!(
            self.ty,
            AttributeType::String | AttributeType::Reference | AttributeType::Binary
        ) {
            out.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            out.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            out.insert("referenceTypes".into(), json!(self.reference_types));
        }
        out.insert("mutability".into(), json!(self.mutability.as_str()));
        out.insert("returned".into(), json!(self.returned.as_str()));
        if self.ty != AttributeType::Complex && self.ty != AttributeType::Boolean {
            out.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if !self.sub_attributes.is_empty() {
            out.insert(
                "subAttributes".into(),
                Value::Array(self.sub_attributes.iter().map(Attribute::to_json).collect()),
            );
        }
        Value::Object(out)
    }
}

/// A schema: an id (URN), a name and its attributes (RFC 7643 section 7).
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The URN.
    pub id: &'static str,
    /// A short name.
    pub name: &'static str,
    /// What it describes.
    pub description: &'static str,
    /// Its attributes (the common attributes `id`, `externalId` and `meta` are not listed,
    /// as in RFC 7643 section 8.7).
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// An attribute by name, ignoring ASCII case.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        find(self.attributes, name)
    }

    /// The `/Schemas/{id}` representation, with `meta.location` under `base_url`.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [schemas::SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            },
        })
    }
}

fn find(list: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    list.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

const READ_ONLY: Mutability = Mutability::ReadOnly;
const IMMUTABLE: Mutability = Mutability::Immutable;

/// `value`, `display`, `type` and `primary`: the usual sub-attributes of a multi-valued
/// attribute (RFC 7643 section 2.4).
const fn plural_subs() -> [Attribute; 4] {
    [
        Attribute::string("value", "The attribute's significant value."),
        Attribute::string(
            "display",
            "A human-readable name, primarily used for display.",
        ),
        Attribute::string("type", "A label indicating the attribute's function."),
        Attribute::boolean(
            "primary",
            "Whether this is the preferred value; at most one value may be primary.",
        ),
    ]
}

const EMAIL_SUBS: &[Attribute] = &{
    let mut subs = plural_subs();
    subs[2] = subs[2].values(&["work", "home", "other"]);
    subs
};

const PHONE_SUBS: &[Attribute] = &{
    let mut subs = plural_subs();
    subs[2] = subs[2].values(&["work", "home", "mobile", "fax", "pager", "other"]);
    subs
};

const IM_SUBS: &[Attribute] = &{
    let mut subs = plural_subs();
    subs[2] = subs[2].values(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]);
    subs
};

const PHOTO_SUBS: &[Attribute] = &{
    let mut subs = plural_subs();
    subs[0] = Attribute::reference("value", &["external"], "The URL of a photo of the user.");
    subs[2] = subs[2].values(&["photo", "thumbnail"]);
    subs
};

const PLAIN_SUBS: &[Attribute] = &plural_subs();

const ROLE_SUBS: &[Attribute] = &{
    let mut subs = plural_subs();
    subs[0] = subs[0].values(&[
        "super_admin",
        "admin",
        "backup_operator",
        "auditor",
        "read_only",
    ]);
    subs
};

const CERTIFICATE_SUBS: &[Attribute] = &{
    let mut subs = plural_subs();
    subs[0] = Attribute::new(
        "value",
        AttributeType::Binary,
        "A DER-encoded X.509 certificate, base64.",
    )
    .case_exact();
    subs
};

const NAME_SUBS: &[Attribute] = &[
    Attribute::string("formatted", "The full name, formatted for display."),
    Attribute::string(
        "familyName",
        "The family name (last name in most Western languages).",
    ),
    Attribute::string(
        "givenName",
        "The given name (first name in most Western languages).",
    ),
    Attribute::string("middleName", "The middle name(s)."),
    Attribute::string("honorificPrefix", "The honorific prefix(es), e.g. `Ms.`."),
    Attribute::string("honorificSuffix", "The honorific suffix(es), e.g. `III`."),
];

const ADDRESS_SUBS: &[Attribute] = &[
    Attribute::string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    Attribute::string("streetAddress", "The full street address."),
    Attribute::string("locality", "The city or locality."),
    Attribute::string("region", "The state or region."),
    Attribute::string("postalCode", "The zip code or postal code."),
    Attribute::string("country", "The country, as an ISO 3166-1 alpha-2 code."),
    Attribute::string("type", "A label indicating the address's function.")
        .values(&["work", "home", "other"]),
    Attribute::boolean("primary", "Whether this is the preferred mailing address."),
];

const USER_GROUP_SUBS: &[Attribute] = &[
    Attribute::string("value", "The id of the group.").mutability(READ_ONLY),
    Attribute::reference("$ref", &["Group"], "The URI of the group.").mutability(READ_ONLY),
    Attribute::string("display", "The group's displayName.").mutability(READ_ONLY),
    Attribute::string(
        "type",
        "How the user is a member: `direct` (this service only computes direct membership).",
    )
    .values(&["direct", "indirect"])
    .mutability(READ_ONLY),
];

const USER_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "userName",
        "Unique identifier for the user, used to sign in; unique within the team, compared without regard to case.",
    )
    .required()
    .unique(),
    Attribute::complex("name", NAME_SUBS, "The components of the user's real name."),
    Attribute::string("displayName", "The name of the user, suitable for display."),
    Attribute::string("nickName", "The casual way to address the user."),
    Attribute::reference("profileUrl", &["external"], "A URI to the user's online profile."),
    Attribute::string("title", "The user's title, such as `Vice President`."),
    Attribute::string("userType", "The relationship between the organization and the user."),
    Attribute::string("preferredLanguage", "The user's preferred written or spoken language."),
    Attribute::string("locale", "The user's default location, e.g. `en-US`."),
    Attribute::string("timezone", "The user's time zone, in IANA Time Zone database format."),
    Attribute::boolean(
        "active",
        "Whether the user may sign in. Defaults to true; clients deactivate users by setting it to false.",
    ),
    Attribute::string(
        "password",
        "Accepted for compatibility and discarded: this service never stores passwords.",
    )
    .mutability(Mutability::WriteOnly)
    .returned(Returned::Never),
    Attribute::complex("emails", EMAIL_SUBS, "Email addresses for the user.").multi(),
    Attribute::complex("phoneNumbers", PHONE_SUBS, "Phone numbers for the user.").multi(),
    Attribute::complex("ims", IM_SUBS, "Instant messaging addresses for the user.").multi(),
    Attribute::complex("photos", PHOTO_SUBS, "URLs of photos of the user.").multi(),
    Attribute::complex("addresses", ADDRESS_SUBS, "Physical mailing addresses for the user.").multi(),
    Attribute::complex(
        "groups",
        USER_GROUP_SUBS,
        "The groups the user belongs to, computed from group memberships; change them through the Group resource.",
    )
    .multi()
    .mutability(READ_ONLY),
    Attribute::complex("entitlements", PLAIN_SUBS, "Entitlements the user has.").multi(),
    Attribute::complex(
        "roles",
        ROLE_SUBS,
        "Roles of the user; the canonical values are Butterfly's role names.",
    )
    .multi(),
    Attribute::complex("x509Certificates", CERTIFICATE_SUBS, "X.509 certificates of the user.").multi(),
];

const MEMBER_SUBS: &[Attribute] = &[
    Attribute::string("value", "The id of a User or Group of the same team.")
        .case_exact()
        .mutability(IMMUTABLE),
    Attribute::reference("$ref", &["User", "Group"], "The URI of the member.")
        .mutability(IMMUTABLE),
    Attribute::string("display", "A human-readable name for the member."),
    Attribute::string("type", "The kind of member; filled in by the service.")
        .values(&["User", "Group"])
        .mutability(IMMUTABLE),
];

const GROUP_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "displayName",
        "A human-readable name for the group; unique within the team, compared without regard to case.",
    )
    .required()
    .unique(),
    Attribute::complex("members", MEMBER_SUBS, "The members of the group.").multi(),
];

const MANAGER_SUBS: &[Attribute] = &[
    Attribute::string("value", "The id of the manager's User resource."),
    Attribute::reference("$ref", &["User"], "The URI of the manager's User resource."),
    Attribute::string("displayName", "The manager's displayName.").mutability(READ_ONLY),
];

const ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "employeeNumber",
        "A string identifier, typically numeric or alphanumeric, assigned to a person.",
    ),
    Attribute::string("costCenter", "The name of a cost center."),
    Attribute::string("organization", "The name of an organization."),
    Attribute::string("division", "The name of a division."),
    Attribute::string("department", "The name of a department."),
    Attribute::complex("manager", MANAGER_SUBS, "The user's manager."),
];

const BUTTERFLY_ATTRIBUTES: &[Attribute] = &[Attribute::string(
    "butterflyRole",
    "The user's role in the Butterfly team. Must be one of the canonical values.",
)
.values(&[
    "super_admin",
    "admin",
    "backup_operator",
    "auditor",
    "read_only",
])
.strict()];

/// The core User schema (RFC 7643 section 4.1).
pub static USER: Schema = Schema {
    id: schemas::USER,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

/// The core Group schema (RFC 7643 section 4.2).
pub static GROUP: Schema = Schema {
    id: schemas::GROUP,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

/// The enterprise User extension (RFC 7643 section 4.3).
pub static ENTERPRISE_USER: Schema = Schema {
    id: schemas::ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// Butterfly's User extension: the user's role in the team.
pub static BUTTERFLY_USER: Schema = Schema {
    id: schemas::BUTTERFLY_USER,
    name: "ButterflyUser",
    description: "Butterfly team membership",
    attributes: BUTTERFLY_ATTRIBUTES,
};

/// Every supported schema, in `/Schemas` order.
pub static ALL: [&Schema; 4] = [&USER, &GROUP, &ENTERPRISE_USER, &BUTTERFLY_USER];

const META_SUBS: &[Attribute] = &[
    Attribute::string("resourceType", "The resource type.")
        .case_exact()
        .mutability(READ_ONLY),
    Attribute::new(
        "created",
        AttributeType::DateTime,
        "When the resource was created.",
    )
    .mutability(READ_ONLY),
    Attribute::new(
        "lastModified",
        AttributeType::DateTime,
        "When the resource last changed.",
    )
    .mutability(READ_ONLY),
    Attribute::reference("location", &["uri"], "The URI of the resource.").mutability(READ_ONLY),
    Attribute::string("version", "The resource's version, as a weak ETag.")
        .case_exact()
        .mutability(READ_ONLY),
];

/// The common attributes every resource has (RFC 7643 section 3.1). `schemas` is
/// handled apart: it describes the representation rather than the resource.
pub static COMMON_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "id",
        "The service provider's unique identifier for the resource.",
    )
    .case_exact()
    .mutability(READ_ONLY)
    .returned(Returned::Always)
    .unique(),
    Attribute::string(
        "externalId",
        "The provisioning client's identifier for the resource.",
    )
    .case_exact(),
    Attribute::complex("meta", META_SUBS, "Resource metadata.").mutability(READ_ONLY),
];

/// A common attribute by name, ignoring ASCII case.
pub fn common_attribute(name: &str) -> Option<&'static Attribute> {
    find(COMMON_ATTRIBUTES, name)
}

/// The schemas of one resource type: its core schema and its declared extensions.
#[derive(Debug, Clone, Copy)]
pub struct ResourceSchema {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The core schema.
    pub core: &'static Schema,
    /// Declared extensions. None is required.
    pub extensions: &'static [&'static Schema],
}

static USER_RESOURCE: ResourceSchema = ResourceSchema {
    resource_type: ResourceType::User,
    core: &USER,
    extensions: &[&ENTERPRISE_USER, &BUTTERFLY_USER],
};

static GROUP_RESOURCE: ResourceSchema = ResourceSchema {
    resource_type: ResourceType::Group,
    core: &GROUP,
    extensions: &[],
};

impl ResourceSchema {
    /// The schemas of a resource type.
    pub fn of(resource_type: ResourceType) -> &'static ResourceSchema {
        match resource_type {
            ResourceType::User => &USER_RESOURCE,
            ResourceType::Group => &GROUP_RESOURCE,
        }
    }

    /// A declared extension by URN, ignoring ASCII case.
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` is this type's core schema.
    pub fn is_core(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn)
    }

    /// A top-level attribute of the core schema or a common attribute.
    pub fn core_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.core.attribute(name).or_else(|| common_attribute(name))
    }

    /// The definition an attribute path names, if the schemas know it.
    pub fn resolve(&self, path: &AttrPath) -> Option<&'static Attribute> {
        let attribute = match path.urn.as_deref() {
            None => self.core_attribute(&path.name)?,
            Some(urn) if self.is_core(urn) => self.core_attribute(&path.name)?,
            Some(urn) => self.extension(urn)?.attribute(&path.name)?,
        };
        match path.sub.as_deref() {
            None => Some(attribute),
            Some(sub) => attribute.sub_attribute(sub),
        }
    }

    /// The `/ResourceTypes/{name}` representation (RFC 7643 section 6).
    pub fn resource_type_json(&self, base_url: &str) -> Value {
        let name = self.resource_type.as_str();
        json!({
            "schemas": [schemas::RESOURCE_TYPE],
            "id": name,
            "name": name,
            "endpoint": format!("/{}", self.resource_type.endpoint()),
            "description": match self.resource_type {
                ResourceType::User => "User Account",
                ResourceType::Group => "Group",
            },
            "schema": self.core.id,
            "schemaExtensions": self.extensions.iter().map(|e| json!({
                "schema": e.id,
                "required": false,
            })).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{name}"),
            },
        })
    }
}

/// Filter evaluation rules drawn from these schemas: each attribute's type and
/// case-exactness, for the core schemas, the common attributes and both extensions.
/// Attributes the schemas do not know are case-insensitive strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaRules {
    resource_type: ResourceType,
}

impl SchemaRules {
    /// The rules for one resource type.
    pub fn new(resource_type: ResourceType) -> Self {
        SchemaRules { resource_type }
    }
}

impl AttributeRules for SchemaRules {
    fn attribute_type(&self, path: &AttrPath) -> AttributeType {
        ResourceSchema::of(self.resource_type)
            .resolve(path)
            .map_or(AttributeType::String, |a| a.ty)
    }

    fn case_exact(&self, path: &AttrPath) -> bool {
        ResourceSchema::of(self.resource_type)
            .resolve(path)
            .is_some_and(|a| a.case_exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    #[test]
    fn lookups_ignore_case() {
        let user = ResourceSchema::of(ResourceType::User);
        assert_eq!(user.resolve(&path("USERNAME")).unwrap().name, "userName");
        assert_eq!(
            user.resolve(&path("name.GIVENNAME")).unwrap().name,
            "givenName"
        );
        assert_eq!(user.resolve(&path("meta.version")).unwrap().name, "version");
        let ent = path(&format!(
            "{}:manager.value",
            schemas::ENTERPRISE_USER.to_uppercase()
        ));
        assert_eq!(user.resolve(&ent).unwrap().name, "value");
        assert!(user.resolve(&path("nope")).is_none());
        assert!(
            ResourceSchema::of(ResourceType::Group)
                .resolve(&path("userName"))
                .is_none()
        );
    }

    #[test]
    fn rules_follow_the_tables() {
        let rules = SchemaRules::new(ResourceType::Group);
        assert!(rules.case_exact(&path("members.value")));
        assert!(rules.case_exact(&path("id")));
        assert!(!rules.case_exact(&path("displayName")));
        assert_eq!(
            SchemaRules::new(ResourceType::User).attribute_type(&path("active")),
            AttributeType::Boolean
        );
    }

    #[test]
    fn attribute_json_has_rfc_7643_shape() {
        let role = BUTTERFLY_USER.attribute("butterflyrole").unwrap().to_json();
        assert_eq!(role["type"], "string");
        assert_eq!(role["canonicalValues"][0], "super_admin");
        assert_eq!(role["mutability"], "readWrite");
        let emails = USER.attribute("emails").unwrap().to_json();
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["subAttributes"][2]["canonicalValues"][0], "work");
    }
}
