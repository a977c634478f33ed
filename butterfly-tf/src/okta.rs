//! Okta resource bodies (the Management API's JSON, as a backup stores them) to
//! `okta/okta` provider resources.
//!
//! Each function reads one kind. What the provider cannot manage (system objects,
//! built-in groups, assignments implied by a group) is skipped with a reason, and a
//! resource missing a field the provider requires is skipped rather than written with
//! a made-up value.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::Resource;
use serde_json::Value;

use crate::model::{Area, Get, Target, TfResource, Val, json_string, refs};

/// Why a resource was not exported.
pub(crate) type Skip = &'static str;

/// The outcome of mapping one resource.
pub(crate) type Mapped = Result<Vec<TfResource>, Skip>;

/// Okta's own and its parents' ids for a nested resource. The backup names a nested
/// resource `{parent id}/{own id}` when the parent is part of its identity; otherwise
/// the parent may be in the body (`policyId`, `authServerId`...).
pub(crate) fn parent_ids(resource: &Resource, fields: &[&str]) -> Option<Vec<String>> {
    let segments: Vec<&str> = resource.id.split('/').collect();
    if segments.len() > fields.len() {
        let parents = &segments[segments.len() - 1 - fields.len()..segments.len() - 1];
        return Some(parents.iter().map(|s| (*s).to_owned()).collect());
    }
    fields
        .iter()
        .map(|f| resource.attributes.str_at(&format!("/{f}")))
        .collect()
}

/// The ids of a resource's parents, one per field of `fields`, or the skip reason
/// `missing` when the backup does not record them.
fn parents<const N: usize>(
    resource: &Resource,
    fields: [&str; N],
    missing: Skip,
) -> Result<[String; N], Skip> {
    parent_ids(resource, &fields)
        .and_then(|ids| ids.try_into().ok())
        .ok_or(missing)
}

/// Set `profile` to the resource's profile as JSON, when it has a non-empty one.
fn set_profile(t: &mut TfResource, v: &Value) {
    if let Some(profile) = v
        .at("/profile")
        .filter(|p| p.as_object().is_some_and(|o| !o.is_empty()))
    {
        t.set("profile", json_string(profile));
    }
}

fn own_id(resource: &Resource) -> String {
    resource.attributes.str_at("/id").unwrap_or_else(|| {
        resource
            .id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

fn label(v: &Value, pointers: &[&str], fallback: &str) -> String {
    pointers
        .iter()
        .find_map(|p| v.str_at(p))
        .unwrap_or_else(|| fallback.to_owned())
}

/// `Some` of a required value, or the skip reason.
fn required<T>(value: Option<T>) -> Result<T, Skip> {
    value.ok_or("a field the provider requires is missing")
}

// ---------------------------------------------------------------------------------------
// Users and groups
// ---------------------------------------------------------------------------------------

/// Okta's standard profile attributes and the provider's names for them.
const USER_PROFILE: &[(&str, &str)] = &[
    ("city", "city"),
    ("costCenter", "cost_center"),
    ("countryCode", "country_code"),
    ("department", "department"),
    ("displayName", "display_name"),
    ("division", "division"),
    ("employeeNumber", "employee_number"),
    ("honorificPrefix", "honorific_prefix"),
    ("honorificSuffix", "honorific_suffix"),
    ("locale", "locale"),
    ("manager", "manager"),
    ("managerId", "manager_id"),
    ("middleName", "middle_name"),
    ("mobilePhone", "mobile_phone"),
    ("nickName", "nick_name"),
    ("organization", "organization"),
    ("postalAddress", "postal_address"),
    ("preferredLanguage", "preferred_language"),
    ("primaryPhone", "primary_phone"),
    ("profileUrl", "profile_url"),
    ("secondEmail", "second_email"),
    ("state", "state"),
    ("streetAddress", "street_address"),
    ("timezone", "timezone"),
    ("title", "title"),
    ("userType", "user_type"),
    ("zipCode", "zip_code"),
];

const USER_REQUIRED: &[(&str, &str)] = &[
    ("login", "login"),
    ("email", "email"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
];

pub(crate) fn user(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let login = required(v.str_at("/profile/login"))?;
    let mut t = TfResource::new("okta_user", Area::Users, &id, &login).target(Target::User, &id);
    for (okta, tf) in USER_REQUIRED {
        t.set(tf, required(v.s(&format!("/profile/{okta}")))?);
    }
    for (okta, tf) in USER_PROFILE {
        t.opt(tf, v.s(&format!("/profile/{okta}")));
    }
    let known: BTreeSet<&str> = USER_PROFILE
        .iter()
        .chain(USER_REQUIRED)
        .map(|(okta, _)| *okta)
        .collect();
    if let Some(profile) = v.at("/profile").and_then(Value::as_object) {
        let custom: serde_json::Map<String, Value> = profile
            .iter()
            .filter(|(k, val)| !known.contains(k.as_str()) && !val.is_null())
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect();
        if !custom.is_empty() {
            t.set(
                "custom_profile_attributes",
                json_string(&Value::Object(custom)),
            );
        }
    }
    // The provider manages four statuses; the others are transient states of an
    // active user, which it reports as ACTIVE (and keeps the real one in raw_status).
    let status = match v.str_at("/status").as_deref() {
        Some("STAGED") => "STAGED",
        Some("SUSPENDED") => "SUSPENDED",
        Some("DEPROVISIONED") => "DEPROVISIONED",
        _ => "ACTIVE",
    };
    t.set("status", Val::Str(status.to_owned()));
    Ok(vec![t])
}

/// Groups Terraform can manage: Okta groups. `Everyone` (`BUILT_IN`) and groups an app
/// imports (`APP_GROUP`) belong to Okta or the app.
pub(crate) fn group_is_managed(v: &Value) -> bool {
    v.str_at("/type").is_none_or(|t| t == "OKTA_GROUP")
}

pub(crate) fn group(r: &Resource) -> Mapped {
    let v = &r.attributes;
    if !group_is_managed(v) {
        return Err("built-in and app groups are managed by Okta or their app");
    }
    let id = own_id(r);
    let name = required(v.str_at("/profile/name"))?;
    let mut t = TfResource::new("okta_group", Area::Groups, &id, &name).target(Target::Group, &id);
    t.set("name", Val::Str(name));
    t.opt("description", v.s("/profile/description"));
    if let Some(profile) = v.at("/profile").and_then(Value::as_object) {
        let custom: serde_json::Map<String, Value> = profile
            .iter()
            .filter(|(k, val)| !matches!(k.as_str(), "name" | "description") && !val.is_null())
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect();
        if !custom.is_empty() {
            t.set(
                "custom_profile_attributes",
                json_string(&Value::Object(custom)),
            );
        }
    }
    Ok(vec![t])
}

pub(crate) fn group_rule(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_group_rule", Area::Groups, &id, &name);
    t.set("name", Val::Str(name));
    t.opt("expression_type", v.s("/conditions/expression/type"));
    t.set(
        "expression_value",
        required(v.s("/conditions/expression/value"))?,
    );
    t.set(
        "group_assignments",
        required(v.refs("/actions/assignUserToGroups/groupIds", Target::Group))?,
    );
    t.opt(
        "users_excluded",
        v.refs("/conditions/people/users/exclude", Target::User),
    );
    // An INVALID rule (its expression names a removed attribute) cannot be activated.
    let status = match v.str_at("/status").as_deref() {
        Some("ACTIVE") => "ACTIVE",
        _ => "INACTIVE",
    };
    t.set("status", Val::Str(status.to_owned()));
    Ok(vec![t])
}

/// One `okta_group_memberships` per group, listing its users.
pub(crate) fn group_memberships(members: BTreeMap<String, Vec<String>>) -> Vec<TfResource> {
    members
        .into_iter()
        .map(|(group, users)| {
            let mut t = TfResource::new("okta_group_memberships", Area::Users, &group, "")
                .named_after(Target::Group, &group);
            t.set(
                "group_id",
                Val::Ref {
                    target: Target::Group,
                    id: group.clone(),
                },
            );
            t.set(
                "users",
                refs(users, Target::User).unwrap_or(Val::List(Vec::new())),
            );
            t
        })
        .collect()
}

/// One `okta_user_admin_roles` per user, with the standard roles it holds.
pub(crate) fn user_admin_roles(roles: BTreeMap<String, BTreeSet<String>>) -> Vec<TfResource> {
    roles
        .into_iter()
        .map(|(user, roles)| {
            let mut t = TfResource::new("okta_user_admin_roles", Area::Users, &user, "")
                .named_after(Target::User, &user);
            t.set(
                "user_id",
                Val::Ref {
                    target: Target::User,
                    id: user.clone(),
                },
            );
            t.set(
                "admin_roles",
                Val::List(roles.into_iter().map(Val::Str).collect()),
            );
            t
        })
        .collect()
}

pub(crate) fn group_role(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let role_type = required(v.str_at("/type"))?;
    if role_type == "CUSTOM" {
        return Err("custom roles need resource sets, which are not exported");
    }
    let [group] = parents(
        r,
        ["groupId"],
        "the backup does not record which group holds the role",
    )?;
    let id = own_id(r);
    let mut t = TfResource::new(
        "okta_group_role",
        Area::Groups,
        format!("{group}/{id}"),
        &role_type,
    )
    .named_after(Target::Group, &group);
    t.set(
        "group_id",
        Val::Ref {
            target: Target::Group,
            id: group,
        },
    );
    t.set("role_type", Val::Str(role_type));
    Ok(vec![t])
}

// ---------------------------------------------------------------------------------------
// Apps and assignments
// ---------------------------------------------------------------------------------------

fn app_common(t: &mut TfResource, v: &Value) {
    t.set("label", Val::Str(label(v, &["/label"], "")));
    t.opt("status", v.s("/status"));
    t.opt("hide_ios", v.b("/visibility/hide/iOS"));
    t.opt("hide_web", v.b("/visibility/hide/web"));
    t.opt("auto_submit_toolbar", v.b("/visibility/autoSubmitToolbar"));
}

fn user_name_template(t: &mut TfResource, v: &Value) {
    t.opt(
        "user_name_template",
        v.s("/credentials/userNameTemplate/template"),
    );
    t.opt(
        "user_name_template_type",
        v.s("/credentials/userNameTemplate/type"),
    );
}

pub(crate) fn app(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let app_label = required(v.str_at("/label"))?;
    let name = v.str_at("/name").unwrap_or_default();
    let new = |ty| TfResource::new(ty, Area::Apps, &id, &app_label).target(Target::App, &id);
    let t = match v.str_at("/signOnMode").as_deref() {
        Some("OPENID_CONNECT") => {
            let mut t = new("okta_app_oauth");
            if let Some(client_id) = v.str_at("/credentials/oauthClient/client_id") {
                t = t.target(Target::OAuthClient, client_id);
            }
            app_common(&mut t, v);
            t.set(
                "type",
                required(v.s("/settings/oauthClient/application_type"))?,
            );
            t.opt("client_id", v.s("/credentials/oauthClient/client_id"));
            let auth_method = v.str_at("/credentials/oauthClient/token_endpoint_auth_method");
            t.opt(
                "token_endpoint_auth_method",
                auth_method.clone().map(Val::Str),
            );
            t.opt(
                "pkce_required",
                v.b("/credentials/oauthClient/pkce_required"),
            );
            t.opt(
                "auto_key_rotation",
                v.b("/credentials/oauthClient/autoKeyRotation"),
            );
            t.opt(
                "redirect_uris",
                v.list("/settings/oauthClient/redirect_uris"),
            );
            t.opt(
                "post_logout_redirect_uris",
                v.list("/settings/oauthClient/post_logout_redirect_uris"),
            );
            t.opt(
                "response_types",
                v.list("/settings/oauthClient/response_types"),
            );
            t.opt("grant_types", v.list("/settings/oauthClient/grant_types"));
            t.opt(
                "consent_method",
                v.s("/settings/oauthClient/consent_method"),
            );
            t.opt("issuer_mode", v.s("/settings/oauthClient/issuer_mode"));
            t.opt("login_uri", v.s("/settings/oauthClient/initiate_login_uri"));
            t.opt("client_uri", v.s("/settings/oauthClient/client_uri"));
            t.opt("logo_uri", v.s("/settings/oauthClient/logo_uri"));
            t.opt("policy_uri", v.s("/settings/oauthClient/policy_uri"));
            t.opt("tos_uri", v.s("/settings/oauthClient/tos_uri"));
            t.opt(
                "wildcard_redirect",
                v.s("/settings/oauthClient/wildcard_redirect"),
            );
            user_name_template(&mut t, v);
            if auth_method
                .as_deref()
                .is_some_and(|m| m.starts_with("client_secret"))
            {
                t.set(
                    "client_basic_secret",
                    Val::Secret {
                        prefix: "client_secret",
                        description: "Client secret of this OAuth app (leave unset to keep Okta's)",
                        optional: true,
                    },
                );
            }
            t
        }
        Some("SAML_2_0" | "SAML_1_1") => {
            let mut t = new("okta_app_saml");
            app_common(&mut t, v);
            if v.at("/settings/signOn/ssoAcsUrl").is_some() {
                t.opt("sso_url", v.s("/settings/signOn/ssoAcsUrl"));
                t.opt("recipient", v.s("/settings/signOn/recipient"));
                t.opt("destination", v.s("/settings/signOn/destination"));
                t.opt("audience", v.s("/settings/signOn/audience"));
                t.opt("idp_issuer", v.s("/settings/signOn/idpIssuer"));
                t.opt(
                    "subject_name_id_template",
                    v.s("/settings/signOn/subjectNameIdTemplate"),
                );
                t.opt(
                    "subject_name_id_format",
                    v.s("/settings/signOn/subjectNameIdFormat"),
                );
                t.opt("response_signed", v.b("/settings/signOn/responseSigned"));
                t.opt("assertion_signed", v.b("/settings/signOn/assertionSigned"));
                t.opt(
                    "signature_algorithm",
                    v.s("/settings/signOn/signatureAlgorithm"),
                );
                t.opt("digest_algorithm", v.s("/settings/signOn/digestAlgorithm"));
                t.opt("honor_force_authn", v.b("/settings/signOn/honorForceAuthn"));
                t.opt(
                    "authn_context_class_ref",
                    v.s("/settings/signOn/authnContextClassRef"),
                );
                t.opt(
                    "default_relay_state",
                    v.s("/settings/signOn/defaultRelayState"),
                );
                if let Some(statements) = v
                    .at("/settings/signOn/attributeStatements")
                    .and_then(Value::as_array)
                {
                    for s in statements {
                        let Some(name) = s.s("/name") else { continue };
                        let mut attrs = vec![("name", name)];
                        if let Some(ns) = s.s("/namespace") {
                            attrs.push(("namespace", ns));
                        }
                        if let Some(ty) = s.s("/type") {
                            attrs.push(("type", ty));
                        }
                        if let Some(values) = s.list("/values") {
                            attrs.push(("values", values));
                        }
                        if let Some(ft) = s.s("/filterType") {
                            attrs.push(("filter_type", ft));
                        }
                        if let Some(fv) = s.s("/filterValue") {
                            attrs.push(("filter_value", fv));
                        }
                        t.block("attribute_statements", attrs);
                    }
                }
            } else {
                t.set(
                    "preconfigured_app",
                    Val::Str(required(Some(name).filter(|n| !n.is_empty()))?),
                );
            }
            user_name_template(&mut t, v);
            t
        }
        Some("BOOKMARK") => {
            let mut t = new("okta_app_bookmark");
            app_common(&mut t, v);
            t.set("url", required(v.s("/settings/app/url"))?);
            t
        }
        Some("BASIC_AUTH") => {
            let mut t = new("okta_app_basic_auth");
            app_common(&mut t, v);
            t.set("url", required(v.s("/settings/app/url"))?);
            t.set("auth_url", required(v.s("/settings/app/authURL"))?);
            t
        }
        Some("BROWSER_PLUGIN") if name != "template_swa3field" => {
            let mut t = new("okta_app_swa");
            app_common(&mut t, v);
            if name == "template_swa" || name.is_empty() {
                t.opt("url", v.s("/settings/app/url"));
                t.opt("url_regex", v.s("/settings/app/loginUrlRegex"));
                t.opt("button_field", v.s("/settings/app/buttonField"));
                t.opt("password_field", v.s("/settings/app/passwordField"));
                t.opt("username_field", v.s("/settings/app/usernameField"));
            } else {
                t.set("preconfigured_app", Val::Str(name));
            }
            user_name_template(&mut t, v);
            t
        }
        _ => return Err("sign-on mode not covered (auto-login, three-field SWA, WS-Fed...)"),
    };
    Ok(vec![t])
}

pub(crate) fn app_user(r: &Resource) -> Mapped {
    let v = &r.attributes;
    if v.str_at("/scope").as_deref() == Some("GROUP") {
        return Err("assigned through a group: the group assignment covers it");
    }
    let [app] = parents(r, ["appId"], "the backup does not record the app")?;
    let user = own_id(r);
    let label = v
        .str_at("/credentials/userName")
        .unwrap_or_else(|| user.clone());
    let mut t = TfResource::new("okta_app_user", Area::Users, format!("{app}/{user}"), label)
        .named_after(Target::App, &app);
    t.set(
        "app_id",
        Val::Ref {
            target: Target::App,
            id: app,
        },
    );
    t.set(
        "user_id",
        Val::Ref {
            target: Target::User,
            id: user,
        },
    );
    t.opt("username", v.s("/credentials/userName"));
    set_profile(&mut t, v);
    Ok(vec![t])
}

pub(crate) fn app_group(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let [app] = parents(r, ["appId"], "the backup does not record the app")?;
    let group = own_id(r);
    let mut t = TfResource::new(
        "okta_app_group_assignment",
        Area::Apps,
        format!("{app}/{group}"),
        "",
    )
    .named_after(Target::App, &app)
    .named_after(Target::Group, &group);
    t.set(
        "app_id",
        Val::Ref {
            target: Target::App,
            id: app,
        },
    );
    t.set(
        "group_id",
        Val::Ref {
            target: Target::Group,
            id: group,
        },
    );
    t.opt("priority", v.n("/priority"));
    set_profile(&mut t, v);
    Ok(vec![t])
}

// ---------------------------------------------------------------------------------------
// Authorization servers
// ---------------------------------------------------------------------------------------

fn auth_server_ref(id: String) -> Val {
    Val::Ref {
        target: Target::AuthServer,
        id,
    }
}

pub(crate) fn auth_server(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_auth_server", Area::AuthorizationServers, &id, &name)
        .target(Target::AuthServer, &id);
    t.set("name", Val::Str(name));
    t.set("audiences", required(v.list("/audiences"))?);
    t.opt("description", v.s("/description"));
    t.opt("issuer_mode", v.s("/issuerMode"));
    t.opt(
        "credentials_rotation_mode",
        v.s("/credentials/signing/rotationMode"),
    );
    t.opt("status", v.s("/status"));
    Ok(vec![t])
}

fn auth_server_parent(r: &Resource) -> Result<String, Skip> {
    let [server] = parents(
        r,
        ["authServerId"],
        "the backup does not record the authorization server",
    )?;
    Ok(server)
}

pub(crate) fn auth_server_scope(r: &Resource) -> Mapped {
    let v = &r.attributes;
    if v.b("/system") == Some(Val::Bool(true)) {
        return Err("system scopes are built in");
    }
    let server = auth_server_parent(r)?;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new(
        "okta_auth_server_scope",
        Area::AuthorizationServers,
        format!("{server}/{id}"),
        &name,
    )
    .named_after(Target::AuthServer, &server);
    t.set("auth_server_id", auth_server_ref(server));
    t.set("name", Val::Str(name));
    t.opt("description", v.s("/description"));
    t.opt("display_name", v.s("/displayName"));
    t.opt("consent", v.s("/consent"));
    t.opt("default", v.b("/default"));
    t.opt("optional", v.b("/optional"));
    t.opt("metadata_publish", v.s("/metadataPublish"));
    Ok(vec![t])
}

pub(crate) fn auth_server_claim(r: &Resource) -> Mapped {
    let v = &r.attributes;
    if v.b("/system") == Some(Val::Bool(true)) {
        return Err("system claims are built in");
    }
    let server = auth_server_parent(r)?;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new(
        "okta_auth_server_claim",
        Area::AuthorizationServers,
        format!("{server}/{id}"),
        &name,
    )
    .named_after(Target::AuthServer, &server);
    t.set("auth_server_id", auth_server_ref(server));
    t.set("name", Val::Str(name));
    t.set("claim_type", required(v.s("/claimType"))?);
    t.set("value", required(v.s("/value"))?);
    t.opt("value_type", v.s("/valueType"));
    t.opt(
        "group_filter_type",
        v.s("/group_filter_type")
            .or_else(|| v.s("/groupFilterType")),
    );
    t.opt("always_include_in_token", v.b("/alwaysIncludeInToken"));
    t.opt("scopes", v.list("/conditions/scopes"));
    t.opt("status", v.s("/status"));
    Ok(vec![t])
}

pub(crate) fn auth_server_policy(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let server = auth_server_parent(r)?;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new(
        "okta_auth_server_policy",
        Area::AuthorizationServers,
        format!("{server}/{id}"),
        &name,
    )
    .named_after(Target::AuthServer, &server)
    .target(Target::AuthServerPolicy, &id);
    t.set("auth_server_id", auth_server_ref(server));
    t.set("name", Val::Str(name.clone()));
    // Okta requires a description; the console fills it with the name.
    t.set("description", v.s("/description").unwrap_or(Val::Str(name)));
    t.set("priority", required(v.n("/priority"))?);
    // ALL_CLIENTS stays a keyword; client ids point at the exported apps.
    let clients: Vec<Val> =
        required(Some(v.strings("/conditions/clients/include")).filter(|c| !c.is_empty()))?
            .into_iter()
            .map(|c| {
                if c == "ALL_CLIENTS" {
                    Val::Str(c)
                } else {
                    Val::Ref {
                        target: Target::OAuthClient,
                        id: c,
                    }
                }
            })
            .collect();
    t.set("client_whitelist", Val::List(clients));
    t.opt("status", v.s("/status"));
    Ok(vec![t])
}

pub(crate) fn auth_server_policy_rule(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let [server, policy] = parents(
        r,
        ["authServerId", "policyId"],
        "the backup does not record the policy and authorization server",
    )?;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new(
        "okta_auth_server_policy_rule",
        Area::AuthorizationServers,
        format!("{server}/{policy}/{id}"),
        &name,
    )
    .named_after(Target::AuthServerPolicy, &policy);
    t.set("auth_server_id", auth_server_ref(server));
    t.set(
        "policy_id",
        Val::Ref {
            target: Target::AuthServerPolicy,
            id: policy,
        },
    );
    t.set("name", Val::Str(name));
    t.set("priority", required(v.n("/priority"))?);
    t.set(
        "grant_type_whitelist",
        required(v.list("/conditions/grantTypes/include"))?,
    );
    t.opt("scope_whitelist", v.list("/conditions/scopes/include"));
    t.opt(
        "group_whitelist",
        v.refs("/conditions/people/groups/include", Target::Group),
    );
    t.opt(
        "user_whitelist",
        v.refs("/conditions/people/users/include", Target::User),
    );
    t.opt(
        "access_token_lifetime_minutes",
        v.n("/actions/token/accessTokenLifetimeMinutes"),
    );
    t.opt(
        "refresh_token_lifetime_minutes",
        v.n("/actions/token/refreshTokenLifetimeMinutes"),
    );
    t.opt(
        "refresh_token_window_minutes",
        v.n("/actions/token/refreshTokenWindowMinutes"),
    );
    if let Some(hook) = v.str_at("/actions/token/inlineHook/id") {
        t.set(
            "inline_hook_id",
            Val::Ref {
                target: Target::InlineHook,
                id: hook,
            },
        );
    }
    t.opt("status", v.s("/status"));
    t.opt("type", v.s("/type"));
    Ok(vec![t])
}

// ---------------------------------------------------------------------------------------
// Policies and rules
// ---------------------------------------------------------------------------------------

/// The provider's resource type for a policy kind's policies and rules.
pub(crate) fn policy_types(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "OKTA_SIGN_ON" => ("okta_policy_signon", "okta_policy_rule_signon"),
        "PASSWORD" => ("okta_policy_password", "okta_policy_rule_password"),
        "MFA_ENROLL" => ("okta_policy_mfa", "okta_policy_rule_mfa"),
        "PROFILE_ENROLLMENT" => (
            "okta_policy_profile_enrollment",
            "okta_policy_rule_profile_enrollment",
        ),
        _ => return None,
    })
}

/// Authenticator keys `okta_policy_mfa` has a map attribute for.
const MFA_FACTORS: &[&str] = &[
    "duo",
    "fido_u2f",
    "fido_webauthn",
    "google_otp",
    "hotp",
    "okta_call",
    "okta_email",
    "okta_otp",
    "okta_password",
    "okta_push",
    "okta_question",
    "okta_sms",
    "okta_verify",
    "onprem_mfa",
    "phone_number",
    "rsa_token",
    "security_question",
    "symantec_vip",
    "webauthn",
    "yubikey_token",
];

pub(crate) fn policy(policy_type: &str, r: &Resource) -> Mapped {
    let v = &r.attributes;
    let (ty, _) = policy_types(policy_type).ok_or("policy type not covered")?;
    if v.b("/system") == Some(Val::Bool(true)) && policy_type != "PROFILE_ENROLLMENT" {
        return Err("default policies are built in (the provider's *_default resources)");
    }
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new(ty, Area::Policies, &id, &name).target(Target::Policy, &id);
    t.set("name", Val::Str(name));
    t.opt("status", v.s("/status"));
    if policy_type == "PROFILE_ENROLLMENT" {
        return Ok(vec![t]);
    }
    t.opt("description", v.s("/description"));
    t.opt("priority", v.n("/priority"));
    t.opt(
        "groups_included",
        v.refs("/conditions/people/groups/include", Target::Group),
    );
    match policy_type {
        "PASSWORD" => password_settings(&mut t, v),
        "MFA_ENROLL" => {
            let oie = v.str_at("/settings/type").as_deref() == Some("AUTHENTICATORS");
            if oie {
                t.set("is_oie", Val::Bool(true));
                for a in v
                    .at("/settings/authenticators")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (Some(key), Some(enroll)) = (a.str_at("/key"), a.str_at("/enroll/self"))
                    else {
                        continue;
                    };
                    if let Some(attr) = MFA_FACTORS.iter().find(|f| **f == key) {
                        t.set(attr, Val::Map(vec![("enroll".into(), Val::Str(enroll))]));
                    }
                }
            } else {
                for attr in MFA_FACTORS {
                    if let Some(enroll) = v.str_at(&format!("/settings/factors/{attr}/enroll/self"))
                    {
                        t.set(attr, Val::Map(vec![("enroll".into(), Val::Str(enroll))]));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(vec![t])
}

fn password_settings(t: &mut TfResource, v: &Value) {
    let p = "/settings/password";
    t.opt("auth_provider", v.s("/conditions/authProvider/provider"));
    for (attr, field) in [
        ("password_min_length", "complexity/minLength"),
        ("password_min_lowercase", "complexity/minLowerCase"),
        ("password_min_uppercase", "complexity/minUpperCase"),
        ("password_min_number", "complexity/minNumber"),
        ("password_min_symbol", "complexity/minSymbol"),
        ("password_max_age_days", "age/maxAgeDays"),
        ("password_expire_warn_days", "age/expireWarnDays"),
        ("password_min_age_minutes", "age/minAgeMinutes"),
        ("password_history_count", "age/historyCount"),
        ("password_max_lockout_attempts", "lockout/maxAttempts"),
        ("password_auto_unlock_minutes", "lockout/autoUnlockMinutes"),
    ] {
        t.opt(attr, v.n(&format!("{p}/{field}")));
    }
    t.opt(
        "password_exclude_username",
        v.b(&format!("{p}/complexity/excludeUsername")),
    );
    let excluded = v.strings(&format!("{p}/complexity/excludeAttributes"));
    if v.at(&format!("{p}/complexity/excludeAttributes")).is_some() {
        t.set(
            "password_exclude_first_name",
            Val::Bool(excluded.iter().any(|a| a == "firstName")),
        );
        t.set(
            "password_exclude_last_name",
            Val::Bool(excluded.iter().any(|a| a == "lastName")),
        );
    }
    t.opt(
        "password_dictionary_lookup",
        v.b(&format!("{p}/complexity/dictionary/common/exclude")),
    );
    t.opt(
        "password_show_lockout_failures",
        v.b(&format!("{p}/lockout/showLockoutFailures")),
    );
    t.opt(
        "password_lockout_notification_channels",
        v.list(&format!("{p}/lockout/userLockoutNotificationChannels")),
    );
    let rec = "/settings/recovery/factors";
    t.opt(
        "question_recovery",
        v.s(&format!("{rec}/recovery_question/status")),
    );
    t.opt(
        "question_min_length",
        v.n(&format!(
            "{rec}/recovery_question/properties/complexity/minLength"
        )),
    );
    t.opt("email_recovery", v.s(&format!("{rec}/okta_email/status")));
    t.opt(
        "recovery_email_token",
        v.n(&format!(
            "{rec}/okta_email/properties/recoveryToken/tokenLifetimeMinutes"
        )),
    );
    t.opt("sms_recovery", v.s(&format!("{rec}/okta_sms/status")));
    t.opt("call_recovery", v.s(&format!("{rec}/okta_call/status")));
}

fn network_conditions(t: &mut TfResource, v: &Value) {
    t.opt("network_connection", v.s("/conditions/network/connection"));
    t.opt(
        "network_includes",
        v.refs("/conditions/network/include", Target::Zone),
    );
    t.opt(
        "network_excludes",
        v.refs("/conditions/network/exclude", Target::Zone),
    );
    t.opt(
        "users_excluded",
        v.refs("/conditions/people/users/exclude", Target::User),
    );
}

pub(crate) fn policy_rule(policy_type: &str, r: &Resource) -> Mapped {
    let v = &r.attributes;
    let (_, ty) = policy_types(policy_type).ok_or("policy type not covered")?;
    let profile_enrollment = policy_type == "PROFILE_ENROLLMENT";
    // The profile-enrollment resource manages the policy's one (system) rule.
    if v.b("/system") == Some(Val::Bool(true)) && !profile_enrollment {
        return Err("default rules are built in");
    }
    let [policy] = parents(r, ["policyId"], "the backup does not record the policy")?;
    let id = own_id(r);
    let name = v.str_at("/name").unwrap_or_else(|| id.clone());
    let mut t = TfResource::new(ty, Area::Policies, format!("{policy}/{id}"), &name);
    t.set(
        "policy_id",
        Val::Ref {
            target: Target::Policy,
            id: policy,
        },
    );
    if profile_enrollment {
        let a = "/actions/profileEnrollment";
        t.set(
            "unknown_user_action",
            required(v.s(&format!("{a}/unknownUserAction")))?,
        );
        t.opt("access", v.s(&format!("{a}/access")));
        t.opt(
            "email_verification",
            v.b(&format!("{a}/activationRequirements/emailVerification")),
        );
        if let Some(group) = v.strings(&format!("{a}/targetGroupIds")).into_iter().next() {
            t.set(
                "target_group_id",
                Val::Ref {
                    target: Target::Group,
                    id: group,
                },
            );
        }
        if let Some(hook) = v.str_at(&format!("{a}/preRegistrationInlineHooks/0/inlineHookId")) {
            t.set(
                "inline_hook_id",
                Val::Ref {
                    target: Target::InlineHook,
                    id: hook,
                },
            );
        }
        t.opt("ui_schema_id", v.s(&format!("{a}/uiSchemaId")));
        t.opt(
            "progressive_profiling_action",
            v.s(&format!("{a}/progressiveProfilingAction")),
        );
        for attr in v
            .at(&format!("{a}/profileAttributes"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(label)) = (attr.s("/name"), attr.s("/label")) else {
                continue;
            };
            let mut block = vec![("name", name), ("label", label)];
            if let Some(req) = attr.b("/required") {
                block.push(("required", req));
            }
            t.block("profile_attributes", block);
        }
        return Ok(vec![t]);
    }
    t.set("name", Val::Str(name));
    t.opt("priority", v.n("/priority"));
    t.opt("status", v.s("/status"));
    network_conditions(&mut t, v);
    match policy_type {
        "OKTA_SIGN_ON" => {
            let a = "/actions/signon";
            t.opt("access", v.s(&format!("{a}/access")));
            t.opt("mfa_required", v.b(&format!("{a}/requireFactor")));
            t.opt("mfa_prompt", v.s(&format!("{a}/factorPromptMode")));
            t.opt(
                "mfa_remember_device",
                v.b(&format!("{a}/rememberDeviceByDefault")),
            );
            t.opt("mfa_lifetime", v.n(&format!("{a}/factorLifetime")));
            t.opt(
                "session_idle",
                v.n(&format!("{a}/session/maxSessionIdleMinutes")),
            );
            t.opt(
                "session_lifetime",
                v.n(&format!("{a}/session/maxSessionLifetimeMinutes")),
            );
            t.opt(
                "session_persistent",
                v.b(&format!("{a}/session/usePersistentCookie")),
            );
            t.opt("authtype", v.s("/conditions/authContext/authType"));
        }
        "PASSWORD" => {
            t.opt("password_change", v.s("/actions/passwordChange/access"));
            t.opt(
                "password_reset",
                v.s("/actions/selfServicePasswordReset/access"),
            );
            t.opt("password_unlock", v.s("/actions/selfServiceUnlock/access"));
        }
        "MFA_ENROLL" => {
            t.opt("enroll", v.s("/actions/enroll/self"));
        }
        _ => {}
    }
    Ok(vec![t])
}

// ---------------------------------------------------------------------------------------
// Network, identity providers, hooks, user types and schema, branding
// ---------------------------------------------------------------------------------------

pub(crate) fn network_zone(r: &Resource) -> Mapped {
    let v = &r.attributes;
    if v.b("/system") == Some(Val::Bool(true)) {
        return Err("system zones are built in");
    }
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t =
        TfResource::new("okta_network_zone", Area::Network, &id, &name).target(Target::Zone, &id);
    t.set("name", Val::Str(name));
    t.set("type", required(v.s("/type"))?);
    t.opt("status", v.s("/status"));
    t.opt("usage", v.s("/usage"));
    let values = |pointer: &str| {
        let items: Vec<Val> = v
            .at(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.s("/value"))
            .collect();
        (!items.is_empty()).then_some(Val::List(items))
    };
    t.opt("gateways", values("/gateways"));
    t.opt("proxies", values("/proxies"));
    t.opt("asns", v.list("/asns"));
    let locations: Vec<Val> = v
        .at("/locations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let country = l.str_at("/country")?;
            Some(Val::Str(match l.str_at("/region") {
                Some(region) => region,
                None => country,
            }))
        })
        .collect();
    if !locations.is_empty() {
        t.set("dynamic_locations", Val::List(locations));
    }
    t.opt("dynamic_proxy_type", v.s("/proxyType"));
    t.opt(
        "ip_service_categories_include",
        v.list("/ipServiceCategories/include"),
    );
    t.opt(
        "ip_service_categories_exclude",
        v.list("/ipServiceCategories/exclude"),
    );
    Ok(vec![t])
}

pub(crate) fn trusted_origin(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_trusted_origin", Area::Network, &id, &name);
    t.set("name", Val::Str(name));
    t.set("origin", required(v.s("/origin"))?);
    let scopes: Vec<Val> = v
        .at("/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.s("/type"))
        .collect();
    t.set("scopes", Val::List(scopes));
    t.opt(
        "active",
        v.str_at("/status").map(|s| Val::Bool(s == "ACTIVE")),
    );
    Ok(vec![t])
}

fn idp_policy(t: &mut TfResource, v: &Value) {
    t.opt("status", v.s("/status"));
    t.opt("issuer_mode", v.s("/issuerMode"));
    let p = "/policy";
    t.opt("max_clock_skew", v.n(&format!("{p}/maxClockSkew")));
    t.opt(
        "provisioning_action",
        v.s(&format!("{p}/provisioning/action")),
    );
    t.opt(
        "deprovisioned_action",
        v.s(&format!("{p}/provisioning/conditions/deprovisioned/action")),
    );
    t.opt(
        "suspended_action",
        v.s(&format!("{p}/provisioning/conditions/suspended/action")),
    );
    t.opt(
        "profile_master",
        v.b(&format!("{p}/provisioning/profileMaster")),
    );
    t.opt(
        "groups_action",
        v.s(&format!("{p}/provisioning/groups/action")),
    );
    t.opt(
        "username_template",
        v.s(&format!("{p}/subject/userNameTemplate/template")),
    );
    t.opt("subject_match_type", v.s(&format!("{p}/subject/matchType")));
    t.opt(
        "subject_match_attribute",
        v.s(&format!("{p}/subject/matchAttribute")),
    );
    t.opt(
        "account_link_action",
        v.s(&format!("{p}/accountLink/action")),
    );
}

pub(crate) fn idp(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let idp_type = required(v.str_at("/type"))?;
    let secret = Val::Secret {
        prefix: "idp_client_secret",
        description: "Client secret of this identity provider (leave unset to keep Okta's)",
        optional: true,
    };
    let e = "/protocol/endpoints";
    let mut t = match idp_type.as_str() {
        "OIDC" => {
            let mut t = TfResource::new("okta_idp_oidc", Area::IdentityProviders, &id, &name);
            t.set("name", Val::Str(name));
            t.set(
                "authorization_url",
                required(v.s(&format!("{e}/authorization/url")))?,
            );
            t.set(
                "authorization_binding",
                required(v.s(&format!("{e}/authorization/binding")))?,
            );
            t.set("token_url", required(v.s(&format!("{e}/token/url")))?);
            t.set(
                "token_binding",
                required(v.s(&format!("{e}/token/binding")))?,
            );
            t.set("jwks_url", required(v.s(&format!("{e}/jwks/url")))?);
            t.set("jwks_binding", required(v.s(&format!("{e}/jwks/binding")))?);
            t.opt("user_info_url", v.s(&format!("{e}/userInfo/url")));
            t.opt("user_info_binding", v.s(&format!("{e}/userInfo/binding")));
            t.set("issuer_url", required(v.s("/protocol/issuer/url"))?);
            t.set(
                "client_id",
                required(v.s("/protocol/credentials/client/client_id"))?,
            );
            t.set("client_secret", secret);
            t.set("scopes", required(v.list("/protocol/scopes"))?);
            t
        }
        "SAML2" => {
            let mut t = TfResource::new("okta_idp_saml", Area::IdentityProviders, &id, &name);
            t.set("name", Val::Str(name));
            t.set("sso_url", required(v.s(&format!("{e}/sso/url")))?);
            t.opt("sso_binding", v.s(&format!("{e}/sso/binding")));
            t.opt("sso_destination", v.s(&format!("{e}/sso/destination")));
            t.set(
                "issuer",
                required(v.s("/protocol/credentials/trust/issuer"))?,
            );
            t.set("kid", required(v.s("/protocol/credentials/trust/kid"))?);
            t.opt(
                "request_signature_algorithm",
                v.s("/protocol/algorithms/request/signature/algorithm"),
            );
            t.opt(
                "request_signature_scope",
                v.s("/protocol/algorithms/request/signature/scope"),
            );
            t.opt(
                "response_signature_algorithm",
                v.s("/protocol/algorithms/response/signature/algorithm"),
            );
            t.opt(
                "response_signature_scope",
                v.s("/protocol/algorithms/response/signature/scope"),
            );
            t.opt("name_format", v.s("/protocol/settings/nameFormat"));
            t
        }
        _ => {
            let mut t = TfResource::new("okta_idp_social", Area::IdentityProviders, &id, &name);
            t.set("name", Val::Str(name));
            t.set("type", Val::Str(idp_type));
            t.set("scopes", required(v.list("/protocol/scopes"))?);
            t.opt("protocol_type", v.s("/protocol/type"));
            t.opt("client_id", v.s("/protocol/credentials/client/client_id"));
            if t.attrs.iter().any(|(_, v)| *v == Val::Str("APPLE".into())) {
                // Apple signs with a private key instead of a client secret.
                t.opt("apple_kid", v.s("/protocol/credentials/signing/kid"));
                t.opt("apple_team_id", v.s("/protocol/credentials/signing/teamId"));
                t.set(
                    "apple_private_key",
                    Val::Secret {
                        prefix: "idp_apple_private_key",
                        description: "Apple's private key for this identity provider (leave unset to keep Okta's)",
                        optional: true,
                    },
                );
            } else {
                t.set("client_secret", secret);
            }
            t
        }
    };
    idp_policy(&mut t, v);
    Ok(vec![t])
}

fn hook_headers(t: &mut TfResource, v: &Value) {
    for h in v
        .at("/channel/config/headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut block = Vec::new();
        if let Some(key) = h.s("/key") {
            block.push(("key", key));
        }
        if let Some(value) = h.s("/value") {
            block.push(("value", value));
        }
        t.block("headers", block);
    }
}

fn hook_auth(t: &mut TfResource, v: &Value) {
    if let Some(key) = v.str_at("/channel/config/authScheme/key") {
        t.set(
            "auth",
            Val::Map(vec![
                (
                    "type".into(),
                    Val::Str(
                        v.str_at("/channel/config/authScheme/type")
                            .unwrap_or_else(|| "HEADER".to_owned()),
                    ),
                ),
                ("key".into(), Val::Str(key)),
                (
                    "value".into(),
                    Val::Secret {
                        prefix: "hook_auth",
                        description: "The secret Okta sends in this hook's authorization header",
                        optional: false,
                    },
                ),
            ]),
        );
    }
}

pub(crate) fn event_hook(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_event_hook", Area::Hooks, &id, &name);
    t.set("name", Val::Str(name));
    t.opt("status", v.s("/status"));
    t.set("events", required(v.list("/events/items"))?);
    t.set(
        "channel",
        Val::Map(vec![
            (
                "type".into(),
                Val::Str(v.str_at("/channel/type").unwrap_or_else(|| "HTTP".into())),
            ),
            ("version".into(), required(v.s("/channel/version"))?),
            ("uri".into(), required(v.s("/channel/config/uri"))?),
        ]),
    );
    hook_auth(&mut t, v);
    hook_headers(&mut t, v);
    Ok(vec![t])
}

pub(crate) fn inline_hook(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_inline_hook", Area::Hooks, &id, &name)
        .target(Target::InlineHook, &id);
    t.set("name", Val::Str(name));
    t.set("type", required(v.s("/type"))?);
    t.set("version", required(v.s("/version"))?);
    t.opt("status", v.s("/status"));
    let mut channel = vec![
        (
            "type".into(),
            Val::Str(v.str_at("/channel/type").unwrap_or_else(|| "HTTP".into())),
        ),
        ("version".into(), required(v.s("/channel/version"))?),
        ("uri".into(), required(v.s("/channel/config/uri"))?),
    ];
    if let Some(method) = v.s("/channel/config/method") {
        channel.push(("method".into(), method));
    }
    t.set("channel", Val::Map(channel));
    hook_auth(&mut t, v);
    hook_headers(&mut t, v);
    Ok(vec![t])
}

pub(crate) fn user_type(r: &Resource) -> Mapped {
    let v = &r.attributes;
    if v.b("/default") == Some(Val::Bool(true)) {
        return Err("the default user type is built in");
    }
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_user_type", Area::UserSchema, &id, &name)
        .target(Target::UserType, &id);
    t.set("name", Val::Str(name.clone()));
    t.set(
        "display_name",
        v.s("/displayName").unwrap_or(Val::Str(name)),
    );
    t.set(
        "description",
        v.s("/description").unwrap_or(Val::Str(String::new())),
    );
    Ok(vec![t])
}

/// User types by name, and which one is the default: a schema names its type only by
/// name once the backup has dropped `_links`.
#[derive(Debug, Default)]
pub(crate) struct UserTypes {
    pub by_name: BTreeMap<String, (String, bool)>,
}

pub(crate) fn user_schema(r: &Resource, types: &UserTypes) -> Mapped {
    let v = &r.attributes;
    let schema_id = v.str_at("/id").unwrap_or_else(|| r.id.clone());
    let type_name = v.str_at("/name");
    let user_type = match type_name.as_deref().and_then(|n| types.by_name.get(n)) {
        Some((_, true)) => None,
        Some((id, false)) => Some(id.clone()),
        None if schema_id.ends_with("/default") || type_name.as_deref() == Some("user") => None,
        None => return Err("the backup does not record which user type the schema belongs to"),
    };
    let mut out = Vec::new();
    let props = v
        .at("/definitions/custom/properties")
        .and_then(Value::as_object);
    for (index, p) in props.into_iter().flatten() {
        let key = match &user_type {
            Some(ty) => format!("{ty}.{index}"),
            None => index.clone(),
        };
        let label = match &type_name {
            Some(name) if user_type.is_some() => format!("{name} {index}"),
            _ => index.clone(),
        };
        let mut t = TfResource::new("okta_user_schema_property", Area::UserSchema, &key, label);
        t.set("index", Val::Str(index.clone()));
        t.set("title", required(p.s("/title"))?);
        t.set("type", required(p.s("/type"))?);
        t.opt("description", p.s("/description"));
        t.opt("required", p.b("/required"));
        t.opt("min_length", p.n("/minLength"));
        t.opt("max_length", p.n("/maxLength"));
        t.opt("pattern", p.s("/pattern"));
        t.opt("unique", p.s("/unique"));
        t.opt("scope", p.s("/scope"));
        t.opt("master", p.s("/master/type"));
        t.opt("external_name", p.s("/externalName"));
        t.opt("external_namespace", p.s("/externalNamespace"));
        t.opt("permissions", p.s("/permissions/0/action"));
        t.opt("array_type", p.s("/items/type"));
        t.opt("enum", p.list("/enum"));
        for o in p
            .at("/oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(c), Some(title)) = (o.at("/const"), o.s("/title")) {
                let c = c.as_str().map_or_else(|| c.to_string(), str::to_owned);
                t.block("one_of", vec![("const", Val::Str(c)), ("title", title)]);
            }
        }
        if let Some(ty) = &user_type {
            t.set(
                "user_type",
                Val::Ref {
                    target: Target::UserType,
                    id: ty.clone(),
                },
            );
        }
        out.push(t);
    }
    Ok(out)
}

pub(crate) fn brand(r: &Resource) -> Mapped {
    let v = &r.attributes;
    let id = own_id(r);
    let name = required(v.str_at("/name"))?;
    let mut t = TfResource::new("okta_brand", Area::Branding, &id, &name);
    t.set("name", Val::Str(name));
    t.opt(
        "agree_to_custom_privacy_policy",
        v.b("/agreeToCustomPrivacyPolicy"),
    );
    t.opt("custom_privacy_policy_url", v.s("/customPrivacyPolicyUrl"));
    t.opt("remove_powered_by_okta", v.b("/removePoweredByOkta"));
    t.opt("locale", v.s("/locale"));
    t.opt(
        "default_app_app_instance_id",
        v.s("/defaultApp/appInstanceId"),
    );
    t.opt("default_app_app_link_name", v.s("/defaultApp/appLinkName"));
    t.opt(
        "default_app_classic_application_uri",
        v.s("/defaultApp/classicApplicationUri"),
    );
    Ok(vec![t])
}

#[cfg(test)]
mod tests {
    use butterfly_core::ResourceKind;
    use serde_json::json;

    use super::*;

    fn res(kind: &str, id: &str, body: Value) -> Resource {
        Resource::new(ResourceKind::new(kind), id, body)
    }

    #[test]
    fn parents_come_from_the_id_or_the_body() {
        let scoped = res(
            "auth_server_policy_rule",
            "aus1/00p1/0pr1",
            json!({"id": "0pr1"}),
        );
        assert_eq!(
            parent_ids(&scoped, &["authServerId", "policyId"]),
            Some(vec!["aus1".to_owned(), "00p1".to_owned()])
        );
        let in_body = res(
            "auth_server_policy_rule",
            "0pr1",
            json!({"id": "0pr1", "authServerId": "aus1", "policyId": "00p1"}),
        );
        assert_eq!(
            parent_ids(&in_body, &["authServerId", "policyId"]),
            Some(vec!["aus1".to_owned(), "00p1".to_owned()])
        );
        let orphan = res(
            "policy_rule.PASSWORD",
            "0pr1",
            json!({"id": "0pr1", "name": "r"}),
        );
        assert_eq!(parent_ids(&orphan, &["policyId"]), None);
        assert_eq!(
            policy_rule("PASSWORD", &orphan).unwrap_err(),
            "the backup does not record the policy"
        );
    }

    #[test]
    fn transient_user_statuses_are_active() {
        for (okta, tf) in [
            ("LOCKED_OUT", "ACTIVE"),
            ("PASSWORD_EXPIRED", "ACTIVE"),
            ("PROVISIONED", "ACTIVE"),
            ("SUSPENDED", "SUSPENDED"),
            ("STAGED", "STAGED"),
            ("DEPROVISIONED", "DEPROVISIONED"),
        ] {
            let user = res(
                "user",
                "00u1",
                json!({"id": "00u1", "status": okta, "profile": {
                    "login": "a@b.c", "email": "a@b.c", "firstName": "A", "lastName": "B"}}),
            );
            let t = &user_mapped(&user)[0];
            let status = t.attrs.iter().find(|(k, _)| *k == "status").map(|(_, v)| v);
            assert_eq!(status, Some(&Val::Str(tf.to_owned())), "{okta}");
        }
    }

    fn user_mapped(r: &Resource) -> Vec<TfResource> {
        user(r).unwrap()
    }

    #[test]
    fn system_objects_and_uncovered_modes_are_skipped_with_a_reason() {
        let zone = res(
            "network_zone",
            "nzo1",
            json!({"id": "nzo1", "name": "LegacyIpZone", "type": "IP", "system": true}),
        );
        assert_eq!(
            network_zone(&zone).unwrap_err(),
            "system zones are built in"
        );
        let everyone = res(
            "group",
            "00g1",
            json!({"id": "00g1", "type": "BUILT_IN", "profile": {"name": "Everyone"}}),
        );
        assert!(group(&everyone).is_err());
        let wsfed = res(
            "app",
            "0oa1",
            json!({"id": "0oa1", "label": "x", "signOnMode": "WS_FEDERATION"}),
        );
        assert!(
            app(&wsfed)
                .unwrap_err()
                .starts_with("sign-on mode not covered")
        );
        let via_group = res(
            "app_user_assignment",
            "0oa1/00u1",
            json!({"id": "00u1", "scope": "GROUP"}),
        );
        assert!(app_user(&via_group).is_err());
    }
}
