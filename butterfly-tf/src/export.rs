//! Reading a snapshot and writing the Terraform files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{ProviderKind, Resource, ResourceKind, Snapshot, SnapshotId};
use futures::TryStreamExt as _;
use hcl::expr::{Traversal, Variable};
use hcl::{Block, Body, Expression, Identifier, ObjectKey};

use crate::model::{Area, Target, TfResource, Val};
use crate::naming::unique_identifiers;
use crate::okta::{self, Mapped};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The snapshot could not be read.
    #[error("cannot read the snapshot: {0}")]
    Source(#[from] SourceError),
    /// The snapshot is not of an Okta org.
    #[error("Terraform export covers Okta snapshots; this one is of {0}")]
    UnsupportedProvider(String),
    /// A kind was asked for that the export does not cover.
    #[error("kind `{0}` is not covered by the Terraform export")]
    UnknownKind(String),
    /// HCL could not be written (an identifier the formatter refused).
    #[error("cannot format HCL: {0}")]
    Format(#[source] hcl::Error),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What to export.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Leave out users and what only makes sense with them (group memberships, app user
    /// assignments, admin roles on users): the `users.tf` file is not written, and other
    /// files refer to users by their Okta id.
    pub skip_users: bool,
    /// Export only these snapshot kinds (`group`, `policy.PASSWORD`...); all covered
    /// kinds when empty.
    pub kinds: BTreeSet<String>,
}

impl ExportOptions {
    /// Every covered kind, users included.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leave users out (see [`ExportOptions::skip_users`]).
    #[must_use]
    pub fn skip_users(mut self, skip: bool) -> Self {
        self.skip_users = skip;
        self
    }

    /// Export only `kind` (may be called several times).
    #[must_use]
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kinds.insert(kind.into());
        self
    }
}

/// The snapshot kinds the export reads, in the order it reads them (references need
/// their targets first only for labels; the order keeps output stable).
pub const COVERED_KINDS: &[&str] = &[
    "user_type",
    "user_schema",
    "user",
    "group",
    "group_rule",
    "group_membership",
    "group_role_assignment",
    "app",
    "app_user_assignment",
    "app_group_assignment",
    "authorization_server",
    "auth_server_scope",
    "auth_server_claim",
    "auth_server_policy",
    "auth_server_policy_rule",
    "policy.OKTA_SIGN_ON",
    "policy_rule.OKTA_SIGN_ON",
    "policy.PASSWORD",
    "policy_rule.PASSWORD",
    "policy.MFA_ENROLL",
    "policy_rule.MFA_ENROLL",
    "policy.PROFILE_ENROLLMENT",
    "policy_rule.PROFILE_ENROLLMENT",
    "network_zone",
    "trusted_origin",
    "idp",
    "event_hook",
    "inline_hook",
    "brand",
    "user_role_assignment",
];

/// Kinds that only make sense with users, left out by [`ExportOptions::skip_users`].
const USER_KINDS: &[&str] = &[
    "user",
    "group_membership",
    "app_user_assignment",
    "user_role_assignment",
];

/// What an export produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Export {
    /// File name to HCL text, ready to write.
    pub files: BTreeMap<String, String>,
    /// What was exported and what was not.
    pub report: ExportReport,
}

/// Counts and reasons, for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportReport {
    /// Resources written, per Terraform resource type.
    pub resources: BTreeMap<String, usize>,
    /// `import` blocks written.
    pub imports: usize,
    /// Sensitive input variables declared for secrets.
    pub secret_variables: Vec<String>,
    /// Per snapshot kind and reason, how many resources were not exported.
    pub skipped: BTreeMap<String, BTreeMap<String, usize>>,
    /// References to objects that are not in the export, written as Okta ids.
    pub unresolved_references: usize,
    /// Kinds in the snapshot the export does not cover.
    pub uncovered_kinds: Vec<String>,
}

impl Export {
    /// Write every file into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> Result<(), ExportError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| ExportError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for (name, text) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io(&path))?;
        }
        Ok(())
    }
}

/// Export one snapshot of `source` as Terraform files. See the [crate docs](crate).
pub async fn export(
    source: &dyn SnapshotSource,
    snapshot: SnapshotId,
    options: &ExportOptions,
) -> Result<Export, ExportError> {
    let manifest = source.manifest(snapshot).await?;
    if manifest.provider != ProviderKind::Okta {
        return Err(ExportError::UnsupportedProvider(
            manifest.provider.as_str().to_owned(),
        ));
    }
    if let Some(unknown) = options
        .kinds
        .iter()
        .find(|k| !COVERED_KINDS.contains(&k.as_str()))
    {
        return Err(ExportError::UnknownKind(unknown.clone()));
    }
    let wanted = |kind: &str| {
        (options.kinds.is_empty() || options.kinds.contains(kind))
            && !(options.skip_users && USER_KINDS.contains(&kind))
    };

    let mut state = State::default();
    for kind in COVERED_KINDS.iter().copied().filter(|k| wanted(k)) {
        let kind_id = ResourceKind::new(kind);
        let mut stream = source.kind_resources(&manifest, &kind_id);
        while let Some(resource) = stream.try_next().await? {
            state.read(kind, &resource);
        }
    }
    state.report.uncovered_kinds = manifest
        .kinds
        .keys()
        .map(ResourceKind::as_str)
        .filter(|k| !COVERED_KINDS.contains(k))
        .map(str::to_owned)
        .collect();
    state.finish(&manifest)
}

/// Everything read so far.
#[derive(Debug, Default)]
struct State {
    resources: Vec<TfResource>,
    report: ExportReport,
    user_types: okta::UserTypes,
    /// Groups Terraform does not manage (Everyone, app groups): no memberships for them.
    unmanaged_groups: BTreeSet<String>,
    group_names: BTreeMap<String, String>,
    user_logins: BTreeMap<String, String>,
    memberships: BTreeMap<String, Vec<String>>,
    admin_roles: BTreeMap<String, BTreeSet<String>>,
}

impl State {
    fn skip(&mut self, kind: &str, reason: &str) {
        *self
            .report
            .skipped
            .entry(kind.to_owned())
            .or_default()
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    fn read(&mut self, kind: &str, r: &Resource) {
        use crate::model::Get as _;
        let mapped: Mapped = match kind {
            "user_type" => {
                if let Some(name) = r.attributes.str_at("/name") {
                    let default = r.attributes.b("/default") == Some(Val::Bool(true));
                    let id = r.attributes.str_at("/id").unwrap_or_else(|| r.id.clone());
                    self.user_types.by_name.insert(name, (id, default));
                }
                okta::user_type(r)
            }
            "user_schema" => okta::user_schema(r, &self.user_types),
            "user" => {
                if let Some(login) = r.attributes.str_at("/profile/login") {
                    self.user_logins.insert(r.id.clone(), login);
                }
                okta::user(r)
            }
            "group" => {
                if let Some(name) = r.attributes.str_at("/profile/name") {
                    self.group_names.insert(r.id.clone(), name);
                }
                if !okta::group_is_managed(&r.attributes) {
                    self.unmanaged_groups.insert(r.id.clone());
                }
                okta::group(r)
            }
            "group_rule" => okta::group_rule(r),
            "group_membership" => {
                let ids = okta::parent_ids(r, &["groupId"]).and_then(|g| g.into_iter().next());
                match (ids, r.attributes.str_at("/userId")) {
                    (Some(group), _) if self.unmanaged_groups.contains(&group) => {
                        Err("members of built-in and app groups are implied")
                    }
                    (Some(group), Some(user)) => {
                        self.memberships.entry(group).or_default().push(user);
                        Ok(Vec::new())
                    }
                    _ => Err("the backup does not record the group or the user"),
                }
            }
            "group_role_assignment" => okta::group_role(r),
            "app" => okta::app(r),
            "app_user_assignment" => okta::app_user(r),
            "app_group_assignment" => okta::app_group(r),
            "authorization_server" => okta::auth_server(r),
            "auth_server_scope" => okta::auth_server_scope(r),
            "auth_server_claim" => okta::auth_server_claim(r),
            "auth_server_policy" => okta::auth_server_policy(r),
            "auth_server_policy_rule" => okta::auth_server_policy_rule(r),
            "network_zone" => okta::network_zone(r),
            "trusted_origin" => okta::trusted_origin(r),
            "idp" => okta::idp(r),
            "event_hook" => okta::event_hook(r),
            "inline_hook" => okta::inline_hook(r),
            "brand" => okta::brand(r),
            "user_role_assignment" => {
                let user = okta::parent_ids(r, &["userId"]).and_then(|u| u.into_iter().next());
                match (user, r.attributes.str_at("/type")) {
                    (_, Some(t)) if t == "CUSTOM" => {
                        Err("custom roles need resource sets, which are not exported")
                    }
                    (Some(user), Some(role)) => {
                        self.admin_roles.entry(user).or_default().insert(role);
                        Ok(Vec::new())
                    }
                    _ => Err("the backup does not record which user holds the role"),
                }
            }
            other => match other.split_once('.') {
                Some(("policy", ty)) => okta::policy(ty, r),
                Some(("policy_rule", ty)) => okta::policy_rule(ty, r),
                _ => Err("kind not covered"),
            },
        };
        match mapped {
            Ok(resources) => self.resources.extend(resources),
            Err(reason) => self.skip(kind, reason),
        }
    }

    fn finish(mut self, manifest: &Snapshot) -> Result<Export, ExportError> {
        let memberships = std::mem::take(&mut self.memberships);
        self.resources.extend(okta::group_memberships(memberships));
        let roles = std::mem::take(&mut self.admin_roles);
        self.resources.extend(okta::user_admin_roles(roles));

        // Labels of resources named after others (assignments after their app and
        // user). Users and groups left out of the export still lend their names.
        let mut labels: BTreeMap<(Target, String), String> = BTreeMap::new();
        for (id, login) in &self.user_logins {
            labels.insert((Target::User, id.clone()), login.clone());
        }
        for (id, name) in &self.group_names {
            labels.insert((Target::Group, id.clone()), name.clone());
        }
        for r in &self.resources {
            for target in &r.targets {
                labels.insert(target.clone(), r.label.clone());
            }
        }
        for r in &mut self.resources {
            if r.label_refs.is_empty() {
                continue;
            }
            let mut parts: Vec<String> = r
                .label_refs
                .iter()
                .map(|t| labels.get(t).cloned().unwrap_or_else(|| t.1.clone()))
                .collect();
            if !r.label.is_empty() {
                parts.push(r.label.clone());
            }
            r.label = parts.join(" ");
        }

        // Names per resource type, from labels, unique, independent of read order.
        let mut by_type: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.resources.iter().enumerate() {
            by_type.entry(r.ty).or_default().push(i);
        }
        let mut names: Vec<String> = vec![String::new(); self.resources.len()];
        for indices in by_type.values() {
            let assigned = unique_identifiers(indices.iter().map(|&i| {
                (
                    self.resources[i].label.as_str(),
                    self.resources[i].key.as_str(),
                )
            }));
            for &i in indices {
                names[i] = assigned
                    .get(&self.resources[i].key)
                    .cloned()
                    .unwrap_or_default();
            }
        }
        let mut targets: BTreeMap<(Target, &str), (&'static str, &str)> = BTreeMap::new();
        for (r, name) in self.resources.iter().zip(&names) {
            for (target, id) in &r.targets {
                targets.insert((*target, id.as_str()), (r.ty, name.as_str()));
            }
        }

        let mut writer = Writer {
            targets: &targets,
            unresolved: 0,
            variables: BTreeMap::new(),
        };
        let mut order: Vec<usize> = (0..self.resources.len()).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&self.resources[a], &self.resources[b]);
            (ra.area, type_rank(ra.ty), &names[a]).cmp(&(rb.area, type_rank(rb.ty), &names[b]))
        });
        let mut areas: BTreeMap<Area, Vec<Block>> = BTreeMap::new();
        for i in order {
            let r = &self.resources[i];
            let name = &names[i];
            let blocks = areas.entry(r.area).or_default();
            blocks.push(import_block(r.ty, name, &r.key));
            blocks.push(writer.resource_block(r, name));
            *self.report.resources.entry(r.ty.to_owned()).or_default() += 1;
            self.report.imports += 1;
        }
        self.report.unresolved_references = writer.unresolved;
        self.report.secret_variables = writer.variables.keys().cloned().collect();

        let mut files = BTreeMap::new();
        for (area, blocks) in areas {
            let body = Body::builder().add_blocks(blocks).build();
            files.insert(area.file_name().to_owned(), format(&body)?);
        }
        let (org_name, base_url) = org_parts(&manifest.org);
        files.insert("providers.tf".to_owned(), format(&providers_body())?);
        files.insert(
            "variables.tf".to_owned(),
            format(&variables_body(&writer.variables))?,
        );
        files.insert(
            "terraform.tfvars.example".to_owned(),
            format(&tfvars_body(&org_name, &base_url, &writer.variables))?,
        );
        Ok(Export {
            files,
            report: self.report,
        })
    }
}

/// Within a file, parents before children, so the file reads top-down.
fn type_rank(ty: &str) -> usize {
    const ORDER: &[&str] = &[
        "okta_user_type",
        "okta_user_schema_property",
        "okta_user",
        "okta_group",
        "okta_group_rule",
        "okta_group_role",
        "okta_group_memberships",
        "okta_user_admin_roles",
        "okta_app_oauth",
        "okta_app_saml",
        "okta_app_bookmark",
        "okta_app_basic_auth",
        "okta_app_swa",
        "okta_app_user",
        "okta_app_group_assignment",
        "okta_auth_server",
        "okta_auth_server_scope",
        "okta_auth_server_claim",
        "okta_auth_server_policy",
        "okta_auth_server_policy_rule",
        "okta_policy_signon",
        "okta_policy_rule_signon",
        "okta_policy_password",
        "okta_policy_rule_password",
        "okta_policy_mfa",
        "okta_policy_rule_mfa",
        "okta_policy_profile_enrollment",
        "okta_policy_rule_profile_enrollment",
    ];
    ORDER.iter().position(|t| *t == ty).unwrap_or(ORDER.len())
}

fn format(body: &Body) -> Result<String, ExportError> {
    hcl::format::to_string(body).map_err(ExportError::Format)
}

/// `okta_group.engineering.id`-style traversals.
fn traversal(root: &str, attrs: &[&str]) -> Expression {
    let mut builder = Traversal::builder(Variable::unchecked(root));
    for a in attrs {
        builder = builder.attr(Identifier::unchecked(*a));
    }
    Expression::from(builder.build())
}

fn import_block(ty: &str, name: &str, id: &str) -> Block {
    Block::builder("import")
        .add_attribute(("to", traversal(ty, &[name])))
        .add_attribute(("id", Expression::String(id.to_owned())))
        .build()
}

/// A secret variable: its description and whether it may stay unset.
type SecretVar = (&'static str, bool);

struct Writer<'a> {
    targets: &'a BTreeMap<(Target, &'a str), (&'static str, &'a str)>,
    unresolved: usize,
    variables: BTreeMap<String, SecretVar>,
}

impl Writer<'_> {
    fn resource_block(&mut self, r: &TfResource, name: &str) -> Block {
        let mut block = Block::builder("resource").add_label(r.ty).add_label(name);
        for (key, val) in &r.attrs {
            block = block.add_attribute((*key, self.expr(val, name)));
        }
        for (key, attrs) in &r.blocks {
            let mut nested = Block::builder(*key);
            for (k, v) in attrs {
                nested = nested.add_attribute((*k, self.expr(v, name)));
            }
            block = block.add_block(nested.build());
        }
        block.build()
    }

    fn expr(&mut self, val: &Val, owner: &str) -> Expression {
        match val {
            Val::Str(s) => literal(s),
            Val::Num(n) => json_number(n),
            Val::Bool(b) => Expression::Bool(*b),
            Val::List(items) => {
                Expression::Array(items.iter().map(|v| self.expr(v, owner)).collect())
            }
            Val::Map(entries) => {
                let mut object = hcl::Object::new();
                for (k, v) in entries {
                    let key = match Identifier::new(k.as_str()) {
                        Ok(ident) => ObjectKey::Identifier(ident),
                        Err(_) => ObjectKey::Expression(Expression::String(k.clone())),
                    };
                    object.insert(key, self.expr(v, owner));
                }
                Expression::Object(object)
            }
            Val::Ref { target, id } => {
                if let Some((ty, name)) = self.targets.get(&(*target, id.as_str())) {
                    traversal(ty, &[name, target.attribute()])
                } else {
                    self.unresolved += 1;
                    Expression::String(id.clone())
                }
            }
            Val::Secret {
                prefix,
                description,
                optional,
            } => {
                let var = format!("{prefix}_{owner}");
                self.variables
                    .insert(var.clone(), (*description, *optional));
                traversal("var", &[&var])
            }
        }
    }
}

/// A string value as an HCL literal that Terraform never interpolates.
///
/// Without `${` or `%{` in it, hcl-rs writes it (quotes, backslashes and control
/// characters escaped). With them we escape it ourselves: hcl-rs 0.20's marker escaping
/// skips a marker that directly follows a `$` or `%` (`%${x}` stays `%${x}` and would be
/// interpolated), which the `any_string_round_trips` proptest found.
fn literal(s: &str) -> Expression {
    if !has_marker(s) {
        return Expression::String(s.to_owned());
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Expression::from(hcl::TemplateExpr::QuotedString(out))
}

fn has_marker(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| matches!(w, b"${" | b"%{"))
}

fn json_number(n: &serde_json::Number) -> Expression {
    if let Some(i) = n.as_i64() {
        Expression::Number(hcl::Number::from(i))
    } else if let Some(u) = n.as_u64() {
        Expression::Number(hcl::Number::from(u))
    } else {
        n.as_f64()
            .and_then(hcl::Number::from_f64)
            .map_or(Expression::Null, Expression::Number)
    }
}

/// `https://acme.okta.com` to (`acme`, `okta.com`).
fn org_parts(org: &str) -> (String, String) {
    let host = org
        .split("://")
        .last()
        .unwrap_or(org)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    // A simulator or proxy at an address has no Okta org name to offer.
    if host.parse::<std::net::IpAddr>().is_ok() {
        return ("REPLACE_ME".to_owned(), "okta.com".to_owned());
    }
    match host.split_once('.') {
        Some((name, base)) => (name.to_owned(), base.to_owned()),
        None => (host.to_owned(), "okta.com".to_owned()),
    }
}

/// The throttling settings that keep a large plan under Okta's rate limits.
const THROTTLING: &[(&str, &str, &str, i64)] = &[
    (
        "max_api_capacity",
        "okta_max_api_capacity",
        "Percent of each rate-limit bucket the provider may use (1-100)",
        50,
    ),
    (
        "min_wait_seconds",
        "okta_min_wait_seconds",
        "Shortest wait before retrying a rate-limited request",
        30,
    ),
    (
        "max_wait_seconds",
        "okta_max_wait_seconds",
        "Longest wait before retrying a rate-limited request",
        300,
    ),
    (
        "max_retries",
        "okta_max_retries",
        "Retries of a rate-limited or failed request",
        5,
    ),
    (
        "parallelism",
        "okta_parallelism",
        "Concurrent requests the provider sends",
        1,
    ),
];

fn providers_body() -> Body {
    let okta = hcl::Object::from([
        (
            ObjectKey::from(Identifier::unchecked("source")),
            Expression::String("okta/okta".into()),
        ),
        (
            ObjectKey::from(Identifier::unchecked("version")),
            Expression::String(">= 5.0".into()),
        ),
    ]);
    let terraform = Block::builder("terraform")
        // Import blocks need Terraform 1.5.
        .add_attribute(("required_version", ">= 1.5.0"))
        .add_block(
            Block::builder("required_providers")
                .add_attribute(("okta", Expression::Object(okta)))
                .build(),
        )
        .build();
    let mut provider = Block::builder("provider")
        .add_label("okta")
        .add_attribute(("org_name", traversal("var", &["okta_org_name"])))
        .add_attribute(("base_url", traversal("var", &["okta_base_url"])))
        .add_attribute(("backoff", true));
    for (attr, var, _, _) in THROTTLING {
        provider = provider.add_attribute((*attr, traversal("var", &[var])));
    }
    Body::builder()
        .add_block(terraform)
        .add_block(provider.build())
        .build()
}

fn variable(name: &str, ty: &str, description: &str) -> hcl::BlockBuilder {
    Block::builder("variable")
        .add_label(name)
        .add_attribute(("type", traversal(ty, &[])))
        .add_attribute(("description", Expression::String(description.to_owned())))
}

fn variables_body(secrets: &BTreeMap<String, SecretVar>) -> Body {
    let mut body = Body::builder()
        .add_block(
            variable(
                "okta_org_name",
                "string",
                "The org's subdomain (`acme` in acme.okta.com)",
            )
            .build(),
        )
        .add_block(
            variable("okta_base_url", "string", "okta.com, oktapreview.com...")
                .add_attribute(("default", "okta.com"))
                .build(),
        );
    for (_, var, description, default) in THROTTLING {
        body = body.add_block(
            variable(var, "number", description)
                .add_attribute(("default", *default))
                .build(),
        );
    }
    for (name, (description, optional)) in secrets {
        let mut v = variable(name, "string", description).add_attribute(("sensitive", true));
        if *optional {
            v = v.add_attribute(("default", Expression::Null));
        }
        body = body.add_block(v.build());
    }
    body.build()
}

fn tfvars_body(org_name: &str, base_url: &str, secrets: &BTreeMap<String, SecretVar>) -> Body {
    let mut body = Body::builder()
        .add_attribute(("okta_org_name", org_name))
        .add_attribute(("okta_base_url", base_url));
    for name in secrets.keys() {
        body = body.add_attribute((name.as_str(), "REPLACE_ME"));
    }
    body.build()
}

#[cfg(test)]
mod tests {
    use butterfly_core::SnapshotStatus;
    use butterfly_core::source::InMemorySnapshotSource;
    use futures::executor::block_on;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn literals_with_markers_escape_everything_themselves() {
        let value = "a\"b\\c\u{1}\u{7f}\n%${x}$%{y}";
        let body = Body::builder().add_attribute(("v", literal(value))).build();
        let text = format(&body).unwrap();
        assert_eq!(text, "v = \"a\\\"b\\\\c\\u0001\\u007F\\n%$${x}$%%{y}\"\n");
        let parsed = hcl::parse(&text).unwrap();
        let attr = parsed.attributes().next().unwrap();
        assert_eq!(attr.expr(), &Expression::String(value.to_owned()));
    }

    #[test]
    fn org_urls_split_into_name_and_base() {
        assert_eq!(
            org_parts("https://acme.okta.com"),
            ("acme".to_owned(), "okta.com".to_owned())
        );
        assert_eq!(
            org_parts("https://dev-1.oktapreview.com/"),
            ("dev-1".to_owned(), "oktapreview.com".to_owned())
        );
        assert_eq!(
            org_parts("http://127.0.0.1:8443"),
            ("REPLACE_ME".to_owned(), "okta.com".to_owned())
        );
    }

    #[test]
    fn only_okta_snapshots_are_exported() {
        let mut source = InMemorySnapshotSource::new();
        let snapshot = source.insert(
            ProviderKind::EntraId,
            "contoso",
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [],
        );
        let err = block_on(export(&source, snapshot.id, &ExportOptions::new())).unwrap_err();
        assert!(matches!(err, ExportError::UnsupportedProvider(p) if p == "entra_id"));
    }

    #[test]
    fn a_missing_object_fails_the_export() {
        let mut source = InMemorySnapshotSource::new();
        let group = Resource::new(
            ResourceKind::new("group"),
            "00g1",
            json!({"id": "00g1", "profile": {"name": "Ops"}}),
        );
        let digest = group.digest();
        let snapshot = source.insert(
            ProviderKind::Okta,
            "https://acme.okta.com",
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [group],
        );
        source.remove_object(&digest);
        let err = block_on(export(&source, snapshot.id, &ExportOptions::new())).unwrap_err();
        assert!(matches!(
            err,
            ExportError::Source(SourceError::MissingObject(_))
        ));
    }

    #[test]
    fn a_resource_without_a_required_field_is_skipped_not_invented() {
        let mut source = InMemorySnapshotSource::new();
        let snapshot = source.insert(
            ProviderKind::Okta,
            "https://acme.okta.com",
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [Resource::new(
                ResourceKind::new("user"),
                "00u1",
                json!({"id": "00u1", "profile": {"login": "a@example.com", "email": "a@example.com"}}),
            )],
        );
        let out = block_on(export(&source, snapshot.id, &ExportOptions::new())).unwrap();
        assert!(out.report.resources.is_empty());
        assert_eq!(
            out.report.skipped["user"]["a field the provider requires is missing"],
            1
        );
        assert!(!out.files.contains_key("users.tf"));
    }

    proptest! {
        /// Whatever an org holds (markers, quotes, backslashes, control characters,
        /// any Unicode), the HCL parses back to exactly that value.
        #[test]
        fn any_string_round_trips(
            value in "(\\PC|[$%{}\"\\\n\t\r]|\\$\\{|%\\{|\\$\\$\\{){0,40}",
            name in "\\PC{1,20}",
        ) {
            let mut source = InMemorySnapshotSource::new();
            let snapshot = source.insert(
                ProviderKind::Okta,
                "https://acme.okta.com",
                chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                SnapshotStatus::Complete,
                [Resource::new(
                    ResourceKind::new("group"),
                    "00g1",
                    json!({"id": "00g1", "profile": {"name": name, "description": value}}),
                )],
            );
            let out = block_on(export(&source, snapshot.id, &ExportOptions::new())).unwrap();
            let body = hcl::parse(&out.files["groups.tf"]).unwrap();
            let resource = body.blocks().find(|b| b.identifier() == "resource").unwrap();
            let attr = |key: &str| {
                resource
                    .body()
                    .attributes()
                    .find(|a| a.key() == key)
                    .map(|a| a.expr().clone())
            };
            prop_assert_eq!(attr("name"), Some(Expression::String(name.clone())));
            if !value.is_empty() {
                prop_assert_eq!(attr("description"), Some(Expression::String(value.clone())));
            }
        }
    }
}
