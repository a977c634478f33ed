//! Serving Graph: the token endpoint, authentication, throttling, faults, routing,
//! permissions, pages and delta queries.
//!
//! Every request outside `/_sim` goes through one pipeline: faults first (they model the
//! infrastructure), then the token endpoint or bearer authentication, the resource-unit
//! budget, the route, the application permission, and the page.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::State;
use super::limits::Admission;
use super::oauth::TokenRefusal;
use super::tenant::{ChangeWhat, Tenant, odata_type_of};
use crate::entra::kinds::{self, EntraKind, IdRule, Shape};
use crate::okta::simulator::faults::FaultAction;

/// The properties `GET /users` returns without `$select`, as Graph does.
pub const USER_DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// The default page size when `$top` is not given.
const DEFAULT_PAGE: usize = 100;

pub(crate) struct Reply {
    pub status: StatusCode,
    /// A list rather than a `HeaderMap`: replies travel in `Result`s, and stay small.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: StatusCode, body: &Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    pub fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.retain(|(n, _)| *n != name);
            self.headers.push((name, v));
        }
        self
    }
}

/// Graph's error body.
pub(crate) fn graph_error(state: &State, status: StatusCode, code: &str, message: &str) -> Reply {
    let id = request_id(state);
    Reply::json(
        status,
        &json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": super::generate::ts(state.clock.now()),
                    "request-id": id,
                    "client-request-id": id,
                },
            }
        }),
    )
}

fn request_id(state: &State) -> String {
    let n = state.request_counter.fetch_add(1, Ordering::Relaxed);
    format!("5e7a0000-0000-4000-8000-{n:012x}")
}

pub(crate) fn not_found(state: &State, id: &str) -> Reply {
    graph_error(
        state,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(crate) fn bad_request(state: &State, message: &str) -> Reply {
    graph_error(
        state,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        message,
    )
}

pub(crate) fn denied(state: &State) -> Reply {
    graph_error(
        state,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// The route label a request is counted under: a catalogue path, `{path}/{id}`, a delta
/// path, the token endpoint, or the raw path.
pub(crate) fn route_label(method: &Method, path: &str) -> String {
    if path.ends_with("/oauth2/v2.0/token") {
        return "/oauth2/v2.0/token".into();
    }
    let Some(rel) = path.strip_prefix("/v1.0") else {
        return path.to_owned();
    };
    let rel = rel.trim_end_matches('/');
    if let Some(kind) = kinds::all().find(|k| k.delta_path == Some(rel)) {
        return kind.delta_path.unwrap_or_default().to_owned();
    }
    match resolve(rel) {
        Some(Route::Kind(kind, _)) => kind.path.to_owned(),
        Some(Route::Object(kind, _, _)) => format!("{}/{{id}}", kind.path),
        Some(Route::Ref(kind, _, _)) => format!("{}/{{id}}/$ref", kind.path),
        Some(Route::RefAdd(kind, _)) => format!("{}/$ref", kind.path),
        None => {
            let _ = method;
            rel.to_owned()
        }
    }
}

/// What a Graph path names.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// A catalogue path: a listing or singleton (with the parent id, for nested kinds).
    Kind(&'static EntraKind, Option<String>),
    /// One object of a collection: `{path}/{id}` (parent id, id).
    Object(&'static EntraKind, Option<String>, String),
    /// `{path}/$ref`: adding a member or owner (parent id).
    RefAdd(&'static EntraKind, String),
    /// `{path}/{id}/$ref`: removing a member or owner (parent id, member id).
    Ref(&'static EntraKind, String, String),
}

fn match_template(template: &str, segments: &[&str]) -> Option<(usize, Option<String>)> {
    let parts: Vec<&str> = template.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literal = 0;
    let mut param = None;
    for (t, s) in parts.iter().zip(segments) {
        if t.starts_with('{') {
            if s.is_empty() {
                return None;
            }
            param = Some(percent_decode(s));
        } else if t == s {
            literal += 1;
        } else {
            return None;
        }
    }
    Some((literal, param))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| s.to_owned(), |(_, v)| v.into_owned())
}

/// Resolve a path relative to `/v1.0` (no trailing slash).
pub(crate) fn resolve(rel: &str) -> Option<Route> {
    let segments: Vec<&str> = rel.split('/').skip(1).collect();
    let best = |segments: &[&str]| {
        kinds::all()
            .filter_map(|k| match_template(k.path, segments).map(|(n, p)| (n, k, p)))
            .max_by_key(|(n, _, _)| *n)
            .map(|(_, k, p)| (k, p))
    };
    if let Some((kind, parent)) = best(&segments) {
        return Some(Route::Kind(kind, parent));
    }
    let (last, init) = segments.split_last()?;
    if *last == "$ref" {
        if let Some((kind, Some(parent))) = best(init)
            && kind.id == IdRule::Member
        {
            return Some(Route::RefAdd(kind, parent));
        }
        let (member, outer) = init.split_last()?;
        if let Some((kind, Some(parent))) = best(outer)
            && kind.id == IdRule::Member
        {
            return Some(Route::Ref(kind, parent, percent_decode(member)));
        }
        return None;
    }
    if let Some((kind, parent)) = best(init)
        && !matches!(kind.shape, Shape::Singleton)
    {
        return Some(Route::Object(kind, parent, percent_decode(last)));
    }
    None
}

/// Whether the granted roles let a token read `kind`.
pub(crate) fn may_read(kind: &EntraKind, roles: &BTreeSet<String>) -> bool {
    let read = kind.read_permission;
    if roles.contains(read)
        || roles.contains(&read.replace(".Read.", ".ReadWrite."))
        || kind.write_permission.is_some_and(|w| roles.contains(w))
    {
        return true;
    }
    let directory = matches!(
        read,
        "User.Read.All"
            | "Group.Read.All"
            | "GroupMember.Read.All"
            | "Application.Read.All"
            | "AdministrativeUnit.Read.All"
            | "Directory.Read.All"
            | "Organization.Read.All"
            | "Domain.Read.All"
            | "DelegatedPermissionGrant.Read.All"
            | "RoleManagement.Read.Directory"
    );
    if directory
        && (roles.contains("Directory.Read.All") || roles.contains("Directory.ReadWrite.All"))
    {
        return true;
    }
    read == "GroupMember.Read.All"
        && (roles.contains("Group.Read.All") || roles.contains("Group.ReadWrite.All"))
}

/// Whether the granted roles let a token write `kind`.
pub(crate) fn may_write(kind: &EntraKind, roles: &BTreeSet<String>) -> bool {
    let Some(write) = kind.write_permission else {
        return false;
    };
    if roles.contains(write) {
        return true;
    }
    let directory = matches!(
        write,
        "User.ReadWrite.All"
            | "Group.ReadWrite.All"
            | "GroupMember.ReadWrite.All"
            | "Application.ReadWrite.All"
    );
    (directory && roles.contains("Directory.ReadWrite.All"))
        || (write == "GroupMember.ReadWrite.All" && roles.contains("Group.ReadWrite.All"))
}

/// The fallback handler: everything but `/_sim`.
pub(crate) async fn handle(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let label = route_label(&method, &path);

    let fault = state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .decide(&path);
    if let Some(FaultAction::Slow(ms)) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let reply = match fault {
        Some(FaultAction::RateLimit) => throttled(&state, 1),
        Some(FaultAction::ServerError(status)) => graph_error(
            &state,
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "UnknownError",
            "",
        ),
        Some(FaultAction::Drop) => {
            state.record(method.as_str(), &label, 200);
            return dropped();
        }
        _ => {
            let bytes = if method == Method::GET {
                Bytes::new()
            } else {
                axum::body::to_bytes(body, 4 << 20)
                    .await
                    .unwrap_or_default()
            };
            if method == Method::POST
                && let Some(tenant) = token_tenant(&state, &path)
            {
                token(&state, &tenant, &bytes)
            } else if path == "/v1.0" || path.starts_with("/v1.0/") {
                graph(
                    &state,
                    &method,
                    &path,
                    parts.uri.query().unwrap_or_default(),
                    &parts.headers,
                    &bytes,
                )
            } else {
                graph_error(
                    &state,
                    StatusCode::NOT_FOUND,
                    "BadRequest",
                    &format!("Invalid version or path: {path}"),
                )
            }
        }
    };
    // Carried out above; the client only learns that something failed.
    let reply = match fault {
        Some(FaultAction::AfterWrite(status)) => graph_error(
            &state,
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "UnknownError",
            "",
        ),
        _ => reply,
    };
    state.record(method.as_str(), &label, reply.status.as_u16());

    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut reply = reply
        .header(
            header::DATE,
            &crate::okta::simulator::clock::http_date(state.clock.now()),
        )
        .header(HeaderName::from_static("request-id"), &request_id(&state));
    if let Some(id) = client_request_id {
        reply = reply.header(HeaderName::from_static("client-request-id"), &id);
    }
    if matches!(fault, Some(FaultAction::Truncate)) {
        reply.body = reply.body.slice(..reply.body.len() / 2);
    }
    let has_body = !reply.body.is_empty();
    let mut response = (reply.status, reply.body).into_response();
    response.headers_mut().extend(reply.headers);
    if has_body {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"),
        );
    }
    response
}

/// The tenant named by a token endpoint path `{authority path}/{tenant}/oauth2/v2.0/token`.
fn token_tenant(state: &State, path: &str) -> Option<String> {
    let rest = path.strip_prefix(&state.authority_path)?;
    let tenant = rest.strip_prefix('/')?.strip_suffix("/oauth2/v2.0/token")?;
    (!tenant.is_empty() && !tenant.contains('/')).then(|| tenant.to_owned())
}

fn dropped() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"value\":[{\"id\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        )),
    ];
    let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn throttled(state: &State, retry_after: i64) -> Reply {
    graph_error(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests.",
    )
    .header(header::RETRY_AFTER, &retry_after.to_string())
}

fn token(state: &State, tenant: &str, body: &[u8]) -> Reply {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let roles = state.granted();
    match state.authority.token(
        tenant,
        &form,
        &state.token_url(),
        &state.graph_url,
        &roles,
        state.clock.wall_now(),
        state.clock.now(),
    ) {
        Ok(answer) => Reply::json(StatusCode::OK, &answer),
        Err(e) => Reply::json(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            &e.body(state.clock.now(), &request_id(state)),
        ),
    }
    .header(header::CACHE_CONTROL, "no-store, no-cache")
    .header(header::PRAGMA, "no-cache")
}

fn graph(
    state: &State,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let claims = match state.authority.check(token, state.clock.now()) {
        Ok(claims) => claims,
        Err(refusal) => {
            let message = match refusal {
                TokenRefusal::Missing => "Access token is empty.",
                TokenRefusal::Malformed => {
                    "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format."
                }
                TokenRefusal::Expired => "Lifetime validation failed, the token is expired.",
            };
            return graph_error(
                state,
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                message,
            )
            .header(
                header::WWW_AUTHENTICATE,
                &format!(
                    "Bearer realm=\"\", authorization_uri=\"{}/{}/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                    state.authority_url, state.tenant_id
                ),
            );
        }
    };
    let rel = path.strip_prefix("/v1.0").unwrap_or(path);
    let rel = if rel.len() > 1 {
        rel.trim_end_matches('/')
    } else {
        rel
    };
    let write = *method != Method::GET;
    let cost = kinds::request_cost(method.as_str(), rel, raw_query);
    let scope = format!(
        "Tenant_Application/{}/{}/{}",
        if write { "ReadWrite" } else { "Read" },
        state.tenant_id,
        claims.appid
    );
    let used = match state.limiter.admit(cost, write, state.clock.now()) {
        Admission::Allowed(used) => used,
        Admission::Throttled(after, reason) => {
            return throttled(state, after)
                .header(
                    HeaderName::from_static("x-ms-resource-unit"),
                    &cost.to_string(),
                )
                .header(HeaderName::from_static("x-ms-throttle-scope"), &scope)
                .header(HeaderName::from_static("x-ms-throttle-information"), reason);
        }
    };
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let roles: BTreeSet<String> = claims.roles.iter().cloned().collect();
    let reply = if write {
        super::write::handle(state, &claims, &roles, method, rel, &query, body)
    } else {
        read(state, &roles, rel, &query, headers)
    };
    let reply = reply.header(
        HeaderName::from_static("x-ms-resource-unit"),
        &cost.to_string(),
    );
    // Graph warns once an app has used more than 80% of its window's units.
    if used > 800 {
        reply
            .header(
                HeaderName::from_static("x-ms-throttle-limit-percentage"),
                &format!("{:.2}", f64::from(used) / 1000.0),
            )
            .header(HeaderName::from_static("x-ms-throttle-scope"), &scope)
    } else {
        reply
    }
}

/// The parsed query options of a read.
struct Options {
    top: Option<usize>,
    select: Option<Vec<String>>,
    filter: Option<Filter>,
}

fn options(
    state: &State,
    kind: &EntraKind,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<Options, Reply> {
    let max = match kind.shape {
        Shape::Collection { max_top: Some(m) } => Some(m as usize),
        _ => None,
    };
    let mut top = None;
    if let Some(raw) = query.get("$top") {
        let n: usize = raw
            .parse()
            .map_err(|_| bad_request(state, &format!("Invalid page size specified: '{raw}'.")))?;
        if let Some(max) = max
            && (n == 0 || n > max)
        {
            return Err(bad_request(
                state,
                &format!(
                    "Invalid page size specified: '{n}'. Must be between 1 and {max} inclusive."
                ),
            ));
        }
        top = Some(n);
    } else if let Some(prefer) = headers.get("prefer").and_then(|v| v.to_str().ok())
        && let Some(n) = prefer
            .split(',')
            .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
            .find_map(|n| n.parse::<usize>().ok())
    {
        top = Some(max.map_or(n, |m| n.clamp(1, m)));
    }
    let select = query.get("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    });
    let filter = match query.get("$filter") {
        Some(f) => Some(Filter::parse(f).map_err(|m| {
            graph_error(
                state,
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &m,
            )
        })?),
        None => None,
    };
    Ok(Options {
        top,
        select,
        filter,
    })
}

/// Apply `$select` (or Graph's default property set for users) to an object.
pub(crate) fn project(kind: &EntraKind, object: &Value, select: Option<&[String]>) -> Value {
    let keep: Option<Vec<&str>> = match select {
        Some(list) => Some(list.iter().map(String::as_str).collect()),
        None if kind.name == "user" => Some(USER_DEFAULT_PROPERTIES.to_vec()),
        None => None,
    };
    let Some(keep) = keep else {
        return object.clone();
    };
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        if k == "id" || k == "@odata.type" || keep.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// A member as a member listing shows it: its own kind's properties (or `$select`), and
/// its `@odata.type`.
fn render_member(kind: &str, object: &Value, select: Option<&[String]>) -> Value {
    let mut out = match kinds::by_name(kind) {
        Some(k) => project(k, object, select),
        None => object.clone(),
    };
    if let Some(map) = out.as_object_mut() {
        map.insert("@odata.type".into(), json!(odata_type_of(kind)));
    }
    out
}

/// A member listing shows each member with its own kind's default properties.
fn project_member(object: &Value, select: Option<&[String]>) -> Value {
    let kind = match object["@odata.type"].as_str() {
        Some("#microsoft.graph.user") => kinds::by_name("user"),
        Some("#microsoft.graph.group") => kinds::by_name("group"),
        _ => kinds::by_name("service_principal"),
    };
    match kind {
        Some(k) => project(k, object, select),
        None => object.clone(),
    }
}

fn context(state: &State, rel: &str, singleton: bool) -> String {
    let path = rel.trim_start_matches('/');
    if singleton {
        format!("{}/v1.0/$metadata#{path}/$entity", state.graph_url)
    } else {
        format!("{}/v1.0/$metadata#{path}", state.graph_url)
    }
}

fn encode_token(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

fn decode_token<T: for<'de> Deserialize<'de>>(token: &str) -> Option<T> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A link back to `rel` with the query options kept and `extra` appended.
fn link(state: &State, rel: &str, query: &BTreeMap<String, String>, extra: (&str, &str)) -> String {
    let mut parts = Vec::new();
    for key in ["$top", "$select", "$filter"] {
        if let Some(v) = query.get(key) {
            parts.push(format!("{key}={}", enc(v)));
        }
    }
    parts.push(format!("{}={}", extra.0, enc(extra.1)));
    format!("{}/v1.0{rel}?{}", state.graph_url, parts.join("&"))
}

fn read(
    state: &State,
    roles: &BTreeSet<String>,
    rel: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Reply {
    if let Some(kind) = kinds::all().find(|k| k.delta_path == Some(rel)) {
        if !may_read(kind, roles) {
            return denied(state);
        }
        return delta(state, kind, rel, query, headers);
    }
    let Some(route) = resolve(rel) else {
        let segment = rel.rsplit('/').next().unwrap_or_default();
        return bad_request(
            state,
            &format!("Resource not found for the segment '{segment}'."),
        );
    };
    let tenant = state.tenant();
    match route {
        Route::Kind(kind, parent) => {
            if !may_read(kind, roles) {
                return denied(state);
            }
            if let Some(p) = &parent
                && !tenant.parent_exists(kind, p)
            {
                return not_found(state, p);
            }
            if let Shape::Singleton = kind.shape {
                let name = match kind.id {
                    IdRule::Singleton(name) => name,
                    _ => kind.name,
                };
                let object = match &parent {
                    Some(p) => tenant
                        .children
                        .get(kind.name)
                        .and_then(|m| m.get(p))
                        .and_then(|m| m.get(name)),
                    None => tenant.object(kind.name, name),
                };
                let Some(object) = object else {
                    return not_found(state, name);
                };
                let select = query
                    .get("$select")
                    .map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>());
                let mut object = project(kind, object, select.as_deref());
                if let Some(map) = object.as_object_mut() {
                    map.insert("@odata.context".into(), json!(context(state, rel, true)));
                }
                return Reply::json(StatusCode::OK, &object);
            }
            let opts = match options(state, kind, query, headers) {
                Ok(o) => o,
                Err(reply) => return reply,
            };
            let after = match query.get("$skiptoken") {
                Some(t) => match decode_token::<String>(t) {
                    Some(after) => Some(after),
                    None => return bad_request(state, "Invalid skip token."),
                },
                None => None,
            };
            let paged = matches!(kind.shape, Shape::Collection { max_top: Some(_) });
            let top = if paged {
                opts.top.unwrap_or(DEFAULT_PAGE)
            } else {
                usize::MAX
            };
            let keep = |o: &Value| opts.filter.as_ref().is_none_or(|f| f.matches(o));
            let select = opts.select.as_deref();
            let render = |member: Option<&'static str>, o: &Value| match member {
                Some(k) => render_member(k, o, select),
                None => project(kind, o, select),
            };
            let (value, more) = tenant.page(
                kind,
                parent.as_deref(),
                after.as_deref(),
                &keep,
                &render,
                top,
            );
            let last = value
                .last()
                .and_then(|o| o["id"].as_str().or_else(|| o["tenantId"].as_str()))
                .map(str::to_owned);
            let mut body = json!({
                "@odata.context": context(state, rel, false),
                "value": value,
            });
            if more && let Some(last) = last {
                body["@odata.nextLink"] = json!(link(
                    state,
                    rel,
                    query,
                    ("$skiptoken", &encode_token(&last))
                ));
            }
            Reply::json(StatusCode::OK, &body)
        }
        Route::Object(kind, parent, id) => {
            if !may_read(kind, roles) {
                return denied(state);
            }
            let object = match (&parent, kind.id) {
                (Some(p), IdRule::Member) => tenant
                    .relations
                    .get(kind.name)
                    .and_then(|m| m.get(p))
                    .filter(|s| s.contains(&id))
                    .and_then(|_| tenant.directory_object(&id)),
                (Some(p), _) => tenant
                    .children
                    .get(kind.name)
                    .and_then(|m| m.get(p))
                    .and_then(|m| m.get(&id))
                    .cloned(),
                (None, _) => tenant.object(kind.name, &id).cloned(),
            };
            let Some(object) = object else {
                return not_found(state, &id);
            };
            let select = query
                .get("$select")
                .map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>());
            let mut object = if kind.id == IdRule::Member {
                project_member(&object, select.as_deref())
            } else {
                project(kind, &object, select.as_deref())
            };
            let list = rel.rsplit_once('/').map_or(rel, |(l, _)| l);
            if let Some(map) = object.as_object_mut() {
                map.insert("@odata.context".into(), json!(context(state, list, true)));
            }
            Reply::json(StatusCode::OK, &object)
        }
        Route::Ref(..) | Route::RefAdd(..) => graph_error(
            state,
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The specified HTTP method is not allowed for the resource.",
        ),
    }
}

/// Where a delta round stands, inside `$skiptoken` and `$deltatoken`.
#[derive(Debug, Serialize, Deserialize)]
struct DeltaState {
    /// Changes since this sequence number (`None`: a full initial round).
    since: Option<u64>,
    /// The sequence number the round started at: the next round starts here.
    at: u64,
    /// The last id served.
    after: Option<String>,
}

fn delta(
    state: &State,
    kind: &'static EntraKind,
    rel: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Reply {
    let tenant = state.tenant();
    let opts = match options(state, kind, query, headers) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let top = opts.top.unwrap_or(DEFAULT_PAGE);
    let round = if let Some(token) = query.get("$skiptoken") {
        match decode_token::<DeltaState>(token) {
            Some(s) => s,
            None => return bad_request(state, "Badly formed skip token."),
        }
    } else if let Some(token) = query.get("$deltatoken") {
        match decode_token::<u64>(token) {
            Some(since) if since <= tenant.seq => DeltaState {
                since: Some(since),
                at: tenant.seq,
                after: None,
            },
            _ => return bad_request(state, "Badly formed delta token."),
        }
    } else {
        DeltaState {
            since: None,
            at: tenant.seq,
            after: None,
        }
    };
    let select = opts.select.as_deref();
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    match round.since {
        None => {
            let keep = |o: &Value| opts.filter.as_ref().is_none_or(|f| f.matches(o));
            let render = |_: Option<&'static str>, o: &Value| project(kind, o, select);
            let (items, has_more) =
                tenant.page(kind, None, round.after.as_deref(), &keep, &render, top);
            more = has_more;
            for item in items {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                let mut out = item;
                if kind.name == "group" {
                    let members: Vec<Value> = tenant
                        .members_of("group_member", &id)
                        .iter()
                        .map(|m| json!({"@odata.type": tenant.directory.get(m).map_or("#microsoft.graph.directoryObject", |k| odata_type_of(k)), "id": m}))
                        .collect();
                    out["members@delta"] = json!(members);
                }
                last = Some(id);
                value.push(out);
            }
        }
        Some(since) => {
            let changed = changes_since(&tenant, kind.name, since, round.at);
            let lower = round.after.clone();
            let ids = changed
                .iter()
                .filter(|(id, _)| lower.as_ref().is_none_or(|a| *id > a));
            for (id, (removed, members)) in ids {
                if value.len() == top {
                    more = true;
                    break;
                }
                let out = match (tenant.object(kind.name, id), removed) {
                    (Some(object), _) => {
                        let mut out = project(kind, object, select);
                        if kind.name == "group" && !members.is_empty() {
                            out["members@delta"] = json!(members
                                .iter()
                                .map(|(m, added)| {
                                    let t = tenant.directory.get(m).map_or("#microsoft.graph.user", |k| odata_type_of(k));
                                    if *added {
                                        json!({"@odata.type": t, "id": m})
                                    } else {
                                        json!({"@odata.type": t, "id": m, "@removed": {"reason": "deleted"}})
                                    }
                                })
                                .collect::<Vec<_>>());
                        }
                        out
                    }
                    (None, reason) => {
                        json!({"id": id, "@removed": {"reason": reason.unwrap_or("deleted")}})
                    }
                };
                last = Some(id.clone());
                value.push(out);
            }
        }
    }
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#{}", state.graph_url, kind.path.trim_start_matches('/')),
        "value": value,
    });
    if more {
        let next = DeltaState {
            since: round.since,
            at: round.at,
            after: last,
        };
        body["@odata.nextLink"] = json!(link(
            state,
            rel,
            &BTreeMap::new(),
            ("$skiptoken", &encode_token(&next))
        ));
    } else {
        let mut keep = BTreeMap::new();
        if let Some(s) = query.get("$select") {
            keep.insert("$select".to_owned(), s.clone());
        }
        body["@odata.deltaLink"] = json!(link(
            state,
            rel,
            &keep,
            ("$deltatoken", &encode_token(&round.at))
        ));
    }
    Reply::json(StatusCode::OK, &body)
}

type MemberChanges = Vec<(String, bool)>;

/// Per changed id of `kind` between `since` (exclusive) and `at` (inclusive): the removal
/// reason if its last change removed it, and the net member changes (for groups).
fn changes_since(
    tenant: &Tenant,
    kind: &str,
    since: u64,
    at: u64,
) -> BTreeMap<String, (Option<&'static str>, MemberChanges)> {
    let mut out: BTreeMap<String, (Option<&'static str>, BTreeMap<String, bool>)> = BTreeMap::new();
    let start = tenant.changes.partition_point(|c| c.seq <= since);
    for change in tenant.changes[start..].iter().take_while(|c| c.seq <= at) {
        if change.kind != kind {
            continue;
        }
        let entry = out.entry(change.id.clone()).or_default();
        match &change.what {
            ChangeWhat::Upsert => entry.0 = None,
            ChangeWhat::Removed(reason) => entry.0 = Some(reason),
            ChangeWhat::MemberAdded(m) => {
                entry.1.insert(m.clone(), true);
            }
            ChangeWhat::MemberRemoved(m) => {
                entry.1.insert(m.clone(), false);
            }
        }
    }
    out.into_iter()
        .map(|(id, (removed, members))| (id, (removed, members.into_iter().collect())))
        .collect()
}

/// A `$filter`: clauses joined by `and`.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
enum Clause {
    Eq(String, Value, bool),
    StartsWith(String, String),
}

fn lookup<'a>(object: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(object, |v, key| &v[key])
}

fn literal(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if let Some(s) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Ok(json!(s.replace("''", "'")));
    }
    match raw {
        "true" => Ok(json!(true)),
        "false" => Ok(json!(false)),
        "null" => Ok(Value::Null),
        other => other.parse::<i64>().map(|n| json!(n)).or_else(|_| {
            // Unquoted GUIDs are accepted for Edm.Guid properties.
            if other.len() == 36 && other.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                Ok(json!(other))
            } else {
                Err(format!(
                    "Invalid filter clause: unsupported literal {other}."
                ))
            }
        }),
    }
}

impl Filter {
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut clauses = Vec::new();
        for part in split_and(input) {
            let part = part.trim();
            let lower = part.to_ascii_lowercase();
            if lower.starts_with("startswith(") && part.ends_with(')') {
                let inner = &part["startswith(".len()..part.len() - 1];
                let (prop, value) = inner
                    .split_once(',')
                    .ok_or_else(|| format!("Invalid filter clause: {part}"))?;
                let value = literal(value)?;
                let Value::String(value) = value else {
                    return Err(format!("Invalid filter clause: {part}"));
                };
                clauses.push(Clause::StartsWith(prop.trim().to_owned(), value));
                continue;
            }
            let mut words = part.splitn(3, ' ');
            let (Some(prop), Some(op), Some(value)) = (words.next(), words.next(), words.next())
            else {
                return Err(format!("Invalid filter clause: {part}"));
            };
            let negate = match op.to_ascii_lowercase().as_str() {
                "eq" => false,
                "ne" => true,
                _ => {
                    return Err(format!(
                        "Unsupported Query. The operator '{op}' is not supported."
                    ));
                }
            };
            clauses.push(Clause::Eq(prop.to_owned(), literal(value)?, negate));
        }
        if clauses.is_empty() {
            return Err("Invalid filter clause: empty.".into());
        }
        Ok(Filter { clauses })
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.clauses.iter().all(|c| match c {
            Clause::Eq(prop, want, negate) => {
                let have = lookup(object, prop);
                let equal = match (have, want) {
                    (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                    (a, b) => a == b,
                };
                equal != *negate
            }
            Clause::StartsWith(prop, prefix) => lookup(object, prop)
                .as_str()
                .is_some_and(|s| s.to_lowercase().starts_with(&prefix.to_lowercase())),
        })
    }
}

/// Split on ` and ` outside quotes.
fn split_and(input: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && c == ' ' {
            let rest: String = chars[i..].iter().take(5).collect();
            if rest.eq_ignore_ascii_case(" and ") {
                parts.push(std::mem::take(&mut current));
                i += 5;
                continue;
            }
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_eq_and_startswith() {
        let user = json!({"displayName": "Ada Lovelace", "accountEnabled": true, "userType": "Member", "identities": {"issuer": "x"}});
        assert!(
            Filter::parse("startswith(displayName,'ada')")
                .unwrap()
                .matches(&user)
        );
        assert!(
            Filter::parse("userType eq 'member' and accountEnabled eq true")
                .unwrap()
                .matches(&user)
        );
        assert!(!Filter::parse("userType eq 'Guest'").unwrap().matches(&user));
        assert!(Filter::parse("userType ne 'Guest'").unwrap().matches(&user));
        assert!(Filter::parse("displayName eq 'It''s and more'").is_ok());
        assert!(Filter::parse("displayName gt 'a'").is_err());
        assert!(Filter::parse("").is_err());
    }

    proptest::proptest! {
        #[test]
        fn filters_and_paths_never_panic(input in ".{0,60}", path in "(/[a-zA-Z$%{}0-9]{0,8}){0,6}") {
            if let Ok(filter) = Filter::parse(&input) {
                let _ = filter.matches(&json!({"displayName": input}));
            }
            let _ = resolve(&path);
            let _ = route_label(&Method::GET, &format!("/v1.0{path}"));
        }
    }

    #[test]
    fn paths_resolve_to_catalogue_kinds() {
        assert!(matches!(resolve("/users"), Some(Route::Kind(k, None)) if k.name == "user"));
        assert!(
            matches!(resolve("/groups/g1/members"), Some(Route::Kind(k, Some(p))) if k.name == "group_member" && p == "g1")
        );
        assert!(
            matches!(resolve("/users/u1"), Some(Route::Object(k, None, id)) if k.name == "user" && id == "u1")
        );
        assert!(
            matches!(resolve("/groups/g1/members/$ref"), Some(Route::RefAdd(k, p)) if k.name == "group_member" && p == "g1")
        );
        assert!(
            matches!(resolve("/groups/g1/owners/u1/$ref"), Some(Route::Ref(k, p, m)) if k.name == "group_owner" && p == "g1" && m == "u1")
        );
        assert!(
            matches!(resolve("/policies/crossTenantAccessPolicy/default"), Some(Route::Kind(k, None)) if k.name == "cross_tenant_access_default")
        );
        assert!(
            matches!(resolve("/organization/o1/branding"), Some(Route::Kind(k, Some(_))) if k.name == "branding")
        );
        assert!(resolve("/nothing/here/at/all").is_none());
    }
}
