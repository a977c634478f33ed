//! Serving the org: auth, rate limits, faults, routing, scopes and pages.
//!
//! Every request outside `/__sim` goes through one pipeline, in Okta's order: faults
//! (they model the infrastructure, so they strike before anything else), the token
//! endpoint or bearer authentication, the rate-limit bucket, the method, the route, the
//! scope, and finally the page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::clock::http_date;
use super::faults::FaultAction;
use super::limits::Decision;
use super::org::{Listing, Org, select};
use super::write::{self, Outcome};
use super::{State, syslog};
use crate::okta::RateLimitBucket;
use crate::okta::error::{OktaErrorBody, OktaErrorCause, codes};
use crate::okta::kinds::{self, KindSpec, ListShape, Pagination};
use crate::okta::pagination::link_header_value;

/// The catalogue's list paths, split into segments once.
#[derive(Debug)]
pub(crate) struct Routes {
    templates: Vec<(&'static KindSpec, Vec<Option<&'static str>>)>,
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            templates: kinds::all()
                .map(|k| {
                    let segments = k
                        .list_path
                        .split('/')
                        .skip(1)
                        .map(|s| (!s.starts_with('{')).then_some(s))
                        .collect();
                    (k, segments)
                })
                .collect(),
        }
    }

    /// The kinds whose list path matches `path`, most literal segments first.
    pub(crate) fn matching(&self, path: &str) -> Vec<&'static KindSpec> {
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let mut found: Vec<(usize, &'static KindSpec)> = self
            .templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| match t {
                        Some(literal) => literal == s,
                        None => !s.is_empty(),
                    })
            })
            .map(|(k, t)| (t.iter().flatten().count(), *k))
            .collect();
        let best = found.iter().map(|(n, _)| *n).max().unwrap_or(0);
        found.retain(|(n, _)| *n == best);
        found.into_iter().map(|(_, k)| k).collect()
    }
}

/// The route label a request is counted under: the list template, the template plus
/// `/{id}` for an object, that plus `/lifecycle/{action}` for a lifecycle operation, or
/// the raw path.
pub(crate) fn route_label(state: &State, path: &str) -> String {
    if path == "/oauth2/v1/token" {
        return path.to_owned();
    }
    if let Some((object, action)) = path.rsplit_once("/lifecycle/")
        && !action.contains('/')
    {
        let label = route_label(state, object);
        if label != object {
            return format!("{label}/lifecycle/{action}");
        }
    }
    if let Some(k) = state.routes.matching(path).first() {
        return k.list_path.to_owned();
    }
    if let Some((parent, _)) = path.rsplit_once('/')
        && let Some(k) = state.routes.matching(parent).first()
    {
        return format!("{}/{{id}}", k.list_path);
    }
    path.to_owned()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(status: StatusCode, body: &Value) -> Self {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    fn raw(status: StatusCode, body: String) -> Self {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body),
        }
    }

    fn okta_error(state: &State, status: StatusCode, code: &str, summary: &str) -> Self {
        let id = next_request_id(state);
        let body = OktaErrorBody::new(code, summary, id);
        // Serialized from the struct, so the members keep Okta's order.
        Reply::raw(status, serde_json::to_string(&body).unwrap_or_default())
    }

    fn okta_error_with_causes(
        state: &State,
        status: StatusCode,
        code: &str,
        summary: &str,
        causes: Vec<String>,
    ) -> Self {
        let id = next_request_id(state);
        let mut body = OktaErrorBody::new(code, summary, id);
        body.error_causes = causes
            .into_iter()
            .map(|error_summary| OktaErrorCause { error_summary })
            .collect();
        Reply::raw(status, serde_json::to_string(&body).unwrap_or_default())
    }

    fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }
}

fn next_request_id(state: &State) -> String {
    let n = state.request_counter.fetch_add(1, Ordering::Relaxed);
    format!("sim{n:017}")
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The fallback handler: everything but `/__sim`.
pub(crate) async fn handle(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let label = route_label(&state, &path);

    let fault = state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .decide(&path);
    if let Some(FaultAction::Slow(ms)) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let bucket = RateLimitBucket::for_request(method.as_str(), &path);

    let reply = match fault {
        Some(FaultAction::RateLimit) => {
            rate_limited(&state, state.limiter.exhausted(bucket, state.clock.now()))
        }
        Some(FaultAction::ServerError(status)) => Reply::okta_error(
            &state,
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            codes::INTERNAL,
            "Internal Server Error",
        ),
        Some(FaultAction::Drop) => {
            record(&state, &method, &label, 200);
            return dropped();
        }
        _ => {
            if method == Method::POST && path == "/oauth2/v1/token" {
                let bytes = axum::body::to_bytes(body, 64 * 1024)
                    .await
                    .unwrap_or_default();
                token(&state, bucket, &bytes)
            } else {
                // Reads ignore the body; writes get up to 1 MiB (Okta objects are small).
                let bytes = if method == Method::GET {
                    Bytes::new()
                } else {
                    axum::body::to_bytes(body, 1 << 20)
                        .await
                        .unwrap_or_default()
                };
                api(
                    &state,
                    &Call {
                        method: &method,
                        path: &path,
                        query: parts.uri.query(),
                        headers: &parts.headers,
                        body: &bytes,
                    },
                    bucket,
                )
            }
        }
    };
    // Carried out above; the client only learns that something failed.
    let reply = match fault {
        Some(FaultAction::AfterWrite(status)) => Reply::okta_error(
            &state,
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            codes::INTERNAL,
            "Internal Server Error",
        ),
        _ => reply,
    };
    record(&state, &method, &label, reply.status.as_u16());

    let mut reply = reply
        .header(header::DATE, &http_date(state.clock.now()))
        .header(
            HeaderName::from_static("x-okta-request-id"),
            &next_request_id(&state),
        );
    if matches!(fault, Some(FaultAction::Truncate)) {
        reply.body = reply.body.slice(..reply.body.len() / 2);
    }
    let mut response = (reply.status, reply.body).into_response();
    response.headers_mut().extend(reply.headers);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn record(state: &State, method: &Method, label: &str, status: u16) {
    state
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .record(method.as_str(), label, status);
}

/// A response whose body breaks off: the client sees the connection close mid-message.
fn dropped() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"[{\"id\":")),
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

fn with_limits(reply: Reply, d: Decision) -> Reply {
    reply
        .header(
            HeaderName::from_static("x-rate-limit-limit"),
            &d.limit.to_string(),
        )
        .header(
            HeaderName::from_static("x-rate-limit-remaining"),
            &d.remaining.to_string(),
        )
        .header(
            HeaderName::from_static("x-rate-limit-reset"),
            &d.reset.to_string(),
        )
}

fn rate_limited(state: &State, d: Decision) -> Reply {
    let reply = Reply::okta_error(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        "API call exceeded rate limit due to too many requests.",
    );
    with_limits(reply, d)
}

fn token(state: &State, bucket: RateLimitBucket, body: &[u8]) -> Reply {
    let decision = state.limiter.check(bucket, state.clock.now());
    if !decision.allowed {
        return rate_limited(state, decision);
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let reply = match state.auth.token(
        &form,
        &state.token_url(),
        state.clock.wall_now(),
        state.clock.now(),
    ) {
        Ok(answer) => Reply::json(StatusCode::OK, &answer),
        Err(e) => Reply::json(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            &e.body(),
        ),
    };
    with_limits(reply, decision)
        .header(header::CACHE_CONTROL, "no-cache, no-store")
        .header(header::PRAGMA, "no-cache")
}

fn www_authenticate(
    state: &State,
    path: &str,
    scope: &str,
    error: &str,
    description: &str,
) -> String {
    let org = &state.org_url;
    format!(
        "Bearer authorization_uri=\"{org}/oauth2/v1/authorize\", realm=\"{org}\", scope=\"{scope}\", error=\"{error}\", error_description=\"{description}\", resource=\"{path}\""
    )
}

/// One request to the API, as the pipeline hands it on.
struct Call<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

fn api(state: &State, call: &Call<'_>, bucket: RateLimitBucket) -> Reply {
    let Call {
        method,
        path,
        query,
        headers,
        body,
    } = *call;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(scopes) = token.and_then(|t| state.auth.scopes(t, state.clock.now())) else {
        return Reply::okta_error(
            state,
            StatusCode::UNAUTHORIZED,
            codes::INVALID_TOKEN,
            "Invalid token provided",
        )
        .header(
            header::WWW_AUTHENTICATE,
            &www_authenticate(
                state,
                path,
                "",
                "invalid_token",
                "The access token is invalid.",
            ),
        );
    };

    let decision = state.limiter.check(bucket, state.clock.now());
    if !decision.allowed {
        return rate_limited(state, decision);
    }
    let query = parse_query(query);
    if *method != Method::GET {
        let reply = match write::handle(state, &scopes, method, path, &query, body) {
            Outcome::Done(status, Some(body)) => Reply::raw(status, body),
            Outcome::Done(status, None) => Reply {
                status,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            },
            Outcome::Error {
                status,
                code,
                summary,
                causes,
            } => Reply::okta_error_with_causes(state, status, code, &summary, causes),
            Outcome::MissingScope(scope) => forbidden(state, path, scope),
            Outcome::NotFound => not_found(state, path),
            Outcome::NotAllowed => Reply::okta_error(
                state,
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "The endpoint does not support the provided HTTP method",
            ),
        };
        return with_limits(reply, decision);
    }

    if path.trim_end_matches('/') == "/api/v1/logs" {
        return with_limits(system_log(state, &scopes, path, &query), decision);
    }

    // Pages are built under the shared lock: writers wait, readers do not.
    let org = state
        .org
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reply = match resolve(state, &org, path, &query) {
        Resolved::Listing(listing) => {
            if let Some(missing) = listing
                .kind
                .read_scopes
                .iter()
                .find(|s| !scopes.contains(**s))
            {
                forbidden(state, path, missing)
            } else {
                page(state, path, &query, listing)
            }
        }
        Resolved::Object(kind, body) => {
            if let Some(missing) = kind.read_scopes.iter().find(|s| !scopes.contains(**s)) {
                forbidden(state, path, missing)
            } else {
                Reply::raw(StatusCode::OK, body.to_string())
            }
        }
        Resolved::MissingType => Reply::okta_error(
            state,
            StatusCode::BAD_REQUEST,
            "E0000001",
            "Api validation failed: type",
        ),
        Resolved::NotFound => not_found(state, path),
    };
    with_limits(reply, decision)
}

/// `GET /api/v1/logs`: one page of the System Log (see [`super::syslog`]).
fn system_log(
    state: &State,
    scopes: &std::collections::BTreeSet<String>,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Reply {
    if !scopes.contains("okta.logs.read") {
        return forbidden(state, path, "okta.logs.read");
    }
    let page = state
        .org
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .system_log
        .query(state.clock.now(), query);
    match page {
        Ok(page) => {
            let self_url = match parse_self(query) {
                q if q.is_empty() => format!("{}{path}", state.org_url),
                q => format!("{}{path}?{q}", state.org_url),
            };
            let mut reply = Reply::raw(StatusCode::OK, page.body)
                .header(header::LINK, &link_header_value(&self_url, "self"));
            if let Some(after) = page.next_after {
                let mut next: BTreeMap<String, String> = query.clone();
                next.insert("after".into(), after);
                let next = format!("{}{path}?{}", state.org_url, parse_self(&next));
                reply = reply.header(header::LINK, &link_header_value(&next, "next"));
            }
            reply
        }
        Err(syslog::BadQuery(why)) => Reply::okta_error_with_causes(
            state,
            StatusCode::BAD_REQUEST,
            "E0000001",
            "Api validation failed: System Log query",
            vec![why],
        ),
    }
}

fn forbidden(state: &State, path: &str, scope: &str) -> Reply {
    Reply::okta_error(
        state,
        StatusCode::FORBIDDEN,
        codes::ACCESS_DENIED,
        "You do not have permission to perform the requested action",
    )
    .header(
        header::WWW_AUTHENTICATE,
        &www_authenticate(
            state,
            path,
            scope,
            "insufficient_scope",
            "The access token provided does not contain the required scopes.",
        ),
    )
}

fn not_found(state: &State, path: &str) -> Reply {
    Reply::okta_error(
        state,
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        &format!("Not found: Resource not found: {path}"),
    )
}

enum Resolved<'a> {
    Listing(&'a Listing),
    Object(&'static KindSpec, &'a str),
    MissingType,
    NotFound,
}

fn resolve<'a>(
    state: &State,
    org: &'a Org,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Resolved<'a> {
    let candidates = state.routes.matching(path);
    let mut found: Vec<&Listing> = candidates
        .iter()
        .filter_map(|k| org.listings.get(&(path.to_owned(), k.name)))
        .collect();
    if found.len() > 1 {
        // Kinds sharing a path (policies) are told apart by `type`.
        let Some(kind) = query.get("type") else {
            return Resolved::MissingType;
        };
        found.retain(|l| {
            l.kind
                .list_queries
                .iter()
                .any(|q| *q == format!("type={kind}"))
        });
    }
    match found.first() {
        Some(listing) if listing.present => Resolved::Listing(listing),
        Some(_) => Resolved::NotFound,
        None => match org.objects.get(path) {
            Some((kind, body)) => Resolved::Object(kind, body),
            None => match default_user_schema(state, org, path) {
                Some(schema_path) => resolve(state, org, &schema_path, query),
                None => Resolved::NotFound,
            },
        },
    }
}

/// Okta serves the default user type's schema at `/api/v1/meta/schemas/user/default`
/// too (the Schemas API's "Retrieve a user schema" names `default` as a `schemaId`):
/// the path of that schema's listing, found through the default type's `schema` link.
fn default_user_schema(state: &State, org: &Org, path: &str) -> Option<String> {
    if path != "/api/v1/meta/schemas/user/default" {
        return None;
    }
    let types = org
        .listings
        .get(&("/api/v1/meta/types/user".to_owned(), "user_type"))?;
    types.items.iter().find_map(|item| {
        let body: Value = serde_json::from_str(&item.body).ok()?;
        if body.get("default").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let href = body.pointer("/_links/schema/href")?.as_str()?;
        href.strip_prefix(state.org_url.as_str())
            .filter(|p| *p != path)
            .map(str::to_owned)
    })
}

fn encode_cursor(position: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("p{position}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix('p')?
        .parse()
        .ok()
}

fn page(state: &State, path: &str, query: &BTreeMap<String, String>, listing: &Listing) -> Reply {
    let kind = listing.kind;
    let items = select(listing, query);
    if matches!(kind.shape, ListShape::Object) {
        return match items.first() {
            Some(item) => Reply::raw(StatusCode::OK, item.body.to_string()),
            None => not_found(state, path),
        };
    }

    let (start, end, next) = match kind.pagination {
        Pagination::None => (0, items.len(), None),
        pagination => {
            let max = usize::try_from(pagination.max_limit().unwrap_or(200)).unwrap_or(200);
            let limit = if pagination.accepts_limit() {
                query
                    .get("limit")
                    .and_then(|l| l.parse::<i64>().ok())
                    .filter(|l| *l > 0)
                    .map_or(max, |l| usize::try_from(l).unwrap_or(max).min(max))
            } else {
                max
            };
            let start = match query.get("after") {
                Some(cursor) => match decode_cursor(cursor) {
                    Some(p) => p.min(items.len()),
                    None => {
                        return Reply::okta_error(
                            state,
                            StatusCode::BAD_REQUEST,
                            "E0000031",
                            "Invalid search criteria: after",
                        );
                    }
                },
                None => 0,
            };
            let end = (start + limit).min(items.len());
            let next = (end < items.len()).then(|| {
                let mut q: Vec<(String, String)> = query
                    .iter()
                    .filter(|(k, _)| *k != "after" && *k != "limit")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                q.push(("after".to_owned(), encode_cursor(end)));
                if pagination.accepts_limit() {
                    q.push(("limit".to_owned(), limit.to_string()));
                }
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(q)
                    .finish();
                format!("{}{path}?{encoded}", state.org_url)
            });
            (start, end, next)
        }
    };

    let mut array = String::with_capacity(2 + (end - start) * 512);
    array.push('[');
    for (i, item) in items[start..end].iter().enumerate() {
        if i > 0 {
            array.push(',');
        }
        array.push_str(&item.body);
    }
    array.push(']');

    let self_url = match parse_self(query) {
        q if q.is_empty() => format!("{}{path}", state.org_url),
        q => format!("{}{path}?{q}", state.org_url),
    };
    let body = match kind.shape {
        ListShape::Envelope(field) => {
            let mut links = serde_json::json!({ "self": { "href": self_url } });
            if let (Pagination::BodyLink { .. }, Some(next)) = (kind.pagination, &next) {
                links["next"] = serde_json::json!({ "href": next });
            }
            format!(
                "{{{}:{array},\"_links\":{links}}}",
                Value::String(field.to_owned())
            )
        }
        _ => array,
    };
    let mut reply = Reply::raw(StatusCode::OK, body);
    if matches!(kind.pagination, Pagination::LinkHeader { .. }) {
        reply = reply.header(header::LINK, &link_header_value(&self_url, "self"));
        if let Some(next) = next {
            reply = reply.header(header::LINK, &link_header_value(&next, "next"));
        }
    }
    reply
}

fn parse_self(query: &BTreeMap<String, String>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query.iter())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_prefer_literal_segments() {
        let routes = Routes::new();
        let names = |p: &str| {
            routes
                .matching(p)
                .iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("/api/v1/groups/rules"), ["group_rule"]);
        assert_eq!(
            names("/api/v1/meta/schemas/user/linkedObjects"),
            ["linked_object"]
        );
        assert_eq!(names("/api/v1/meta/schemas/user/osc1"), ["user_schema"]);
        assert_eq!(names("/api/v1/groups/00g1/users"), ["group_membership"]);
        assert_eq!(names("/api/v1/policies").len(), 8);
        assert!(names("/api/v1/nothing").is_empty());
    }

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        assert_eq!(decode_cursor(&encode_cursor(1234)), Some(1234));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }
}
