//! [`ScimService`]: the SCIM protocol (RFC 7644) over a [`ScimStore`], taking and
//! returning plain `http` types.
//!
//! The service knows nothing of sockets, frameworks or authentication: the embedding
//! application authenticates the client, decides which team it speaks for, and hands the
//! request over with the URL under which the SCIM endpoints are mounted. The request's
//! path must be relative to that mount point (`/Users/2819c223`, not
//! `/scim/v2/Users/2819c223`).
//!
//! Endpoint families, one module each:
//!
//! - `resources`: `/Users`, `/Groups` and their members (RFC 7644 sections 3.3, 3.4.1,
//!   3.5 and 3.6): create, read, replace, PATCH, delete, with ETags (section 3.14);
//! - `query`: listing and searching (sections 3.4.2 and 3.4.3), with the `attributes`
//!   and `excludedAttributes` projection of section 3.4.2.5 in `projection`;
//! - `discovery`: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (section 4);
//! - `bulk`: `/Bulk` (section 3.7).
//!
//! `/Me` (section 3.11) answers 501: a SCIM token speaks for a team, not for a user.
//!
//! Every error is a SCIM error body (section 3.12) with `Content-Type:
//! application/scim+json`; client mistakes are 4xx, never 500, and nothing panics.

mod bulk;
mod discovery;
mod projection;
mod query;
mod resources;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, LOCATION};
use http::{Method, Request, Response, StatusCode};
use serde_json::Value;

use butterfly_core::TeamId;

use crate::normalize::invalid_syntax;
use crate::store::{ResourceType, ScimStore, ScimStoreError};
use crate::{ScimError, ScimType};

pub(crate) use projection::Projection;

/// The media type of every SCIM body (RFC 7644 section 8.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// Limits and defaults of a [`ScimService`]. Start from [`ScimConfig::default`] and
/// change what you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScimConfig {
    /// The largest request body accepted, except for `/Bulk`; larger ones get 413.
    /// Default 1 MiB.
    pub max_body_bytes: usize,
    /// The most results one page may hold (`filter.maxResults` in
    /// `/ServiceProviderConfig`); a larger `count` is lowered to it. Default 1000.
    pub max_results: usize,
    /// The page size when the client sends no `count`. Default 100.
    pub default_count: usize,
    /// The most operations one `/Bulk` request may carry (`bulk.maxOperations`).
    /// Default 1000.
    pub bulk_max_operations: usize,
    /// The largest `/Bulk` body accepted (`bulk.maxPayloadSize`). Default 1 MiB.
    pub bulk_max_payload_bytes: usize,
    /// How often a PUT or PATCH re-reads and re-applies after losing a race with another
    /// writer, before answering 503. Default 5.
    pub write_attempts: usize,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            max_body_bytes: 1024 * 1024,
            max_results: 1000,
            default_count: 100,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 1024 * 1024,
            write_attempts: 5,
        }
    }
}

impl ScimConfig {
    /// The largest body any endpoint accepts: what an adapter should be ready to read.
    pub fn max_request_bytes(&self) -> usize {
        self.max_body_bytes.max(self.bulk_max_payload_bytes)
    }
}

/// A SCIM 2.0 service provider over a [`ScimStore`].
///
/// ```
/// use butterfly_core::TeamId;
/// use butterfly_scim::{MemoryStore, ScimService};
/// use bytes::Bytes;
///
/// let service = ScimService::new(MemoryStore::new());
/// let team = TeamId::new_random();
/// let request = http::Request::get("/Users?filter=userName%20eq%20%22bjensen%22")
///     .body(Bytes::new())?;
/// let response = futures::executor::block_on(service.handle(team, "https://example.com/scim/v2", request));
/// assert_eq!(response.status(), 200);
/// let body: serde_json::Value = serde_json::from_slice(response.body())?;
/// assert_eq!(body["totalResults"], 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ScimService<S> {
    store: S,
    config: ScimConfig,
}

/// What a handler produces, before it becomes an `http::Response`.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Value>,
    etag: Option<String>,
    location: Option<String>,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            etag: None,
            location: None,
        }
    }

    fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: None,
            etag: None,
            location: None,
        }
    }

    fn with_etag(mut self, etag: String) -> Reply {
        self.etag = Some(etag);
        self
    }

    fn with_location(mut self, location: String) -> Reply {
        self.location = Some(location);
        self
    }

    fn error(error: &ScimError) -> Reply {
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Reply::json(status, error.to_json())
    }

    fn into_response(self) -> Response<Bytes> {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(body) = self.body {
            // Serialising a `Value` cannot fail: its keys are strings and its numbers finite.
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
            *response.body_mut() = Bytes::from(bytes);
        }
        let headers = response.headers_mut();
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            headers.insert(ETAG, etag);
        }
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(LOCATION, location);
        }
        response
    }
}

/// Build the SCIM error response for an error raised outside the service (an adapter's
/// 401, say), so that every answer a client sees has the same shape.
pub fn error_response(error: &ScimError) -> Response<Bytes> {
    Reply::error(error).into_response()
}

/// Map a store failure to what the client sees. `what` names the resource for a 404.
pub(crate) fn store_error(error: ScimStoreError, what: &str) -> ScimError {
    match error {
        ScimStoreError::NotFound => ScimError::new(404, format!("{what} not found")),
        ScimStoreError::Uniqueness(detail) => {
            ScimError::new(409, detail).with_type(ScimType::Uniqueness)
        }
        ScimStoreError::VersionMismatch => ScimError::new(
            412,
            "the resource has changed since the version given in If-Match",
        ),
        ScimStoreError::Rejected {
            status,
            scim_type,
            detail,
        } => {
            let error = ScimError::new(status, detail);
            match scim_type {
                Some(t) => error.with_type(t),
                None => error,
            }
        }
        ScimStoreError::Backend(source) => {
            tracing::error!(error = %source, "SCIM store backend failed");
            internal_error()
        }
    }
}

fn internal_error() -> ScimError {
    ScimError::new(
        500,
        "internal error; the service provider has logged the cause",
    )
}

/// A request as the handlers see it.
pub(crate) struct Call<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

impl<S: ScimStore> ScimService<S> {
    /// A service over `store` with the default [`ScimConfig`].
    pub fn new(store: S) -> Self {
        ScimService::with_config(store, ScimConfig::default())
    }

    /// A service over `store` with the given limits.
    pub fn with_config(store: S, config: ScimConfig) -> Self {
        ScimService { store, config }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The limits in force.
    pub fn config(&self) -> &ScimConfig {
        &self.config
    }

    /// The attributes a POST of User `body` would hand the store's
    /// [`create`](ScimStore::create): validated against the schema, with canonical
    /// attribute names and defaults, or the error the POST would answer.
    ///
    /// For importers that write many Users through their own store path (one
    /// transaction per batch) and must store exactly what the service would. Groups are
    /// not offered: their `members` are resolved against the store per request.
    pub fn user_attributes_for_create(&self, body: &Value) -> Result<Value, ScimError> {
        resources::new_attributes(ResourceType::User, body).map(Value::Object)
    }

    /// Handle one SCIM request for `team`.
    ///
    /// `base_url` is the absolute URL the SCIM endpoints are mounted at, as clients should
    /// see it (`https://example.com/scim/v2`); it prefixes `meta.location`, `Location`
    /// and `$ref`. The request's path is relative to it. The body must be complete; an
    /// adapter should read at most [`ScimConfig::max_request_bytes`] + 1 bytes and may
    /// pass them on, the service answers 413 itself.
    pub async fn handle(
        &self,
        team: TeamId,
        base_url: &str,
        request: Request<Bytes>,
    ) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let call = Call {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
        };
        let base = base_url.trim_end_matches('/');
        let reply = match self.route(team, base, &call).await {
            Ok(reply) => reply,
            Err(error) => Reply::error(&error),
        };
        reply.into_response()
    }

    pub(crate) async fn route(
        &self,
        team: TeamId,
        base: &str,
        call: &Call<'_>,
    ) -> Result<Reply, ScimError> {
        let segments: Vec<String> = call
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ScimError::new(400, "the path is not valid UTF-8 once percent-decoded")
                    .with_type(ScimType::InvalidValue)
            })?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let is_bulk = segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("Bulk"));
        let limit = if is_bulk {
            self.config.bulk_max_payload_bytes
        } else {
            self.config.max_body_bytes
        };
        if call.body.len() > limit {
            return Err(payload_too_large(limit));
        }
        check_content_type(call)?;
        let method = call.method;
        let first = segments.first().copied().unwrap_or_default();
        if first.eq_ignore_ascii_case("Me") {
            return Err(ScimError::new(
                501,
                "/Me is not supported: a SCIM token authenticates a team, not a user",
            ));
        }
        if let Some(reply) = self.route_discovery(base, method, call, &segments)? {
            return Ok(reply);
        }
        match (segments.as_slice(), method) {
            ([bulk], &Method::POST) if bulk.eq_ignore_ascii_case("Bulk") => {
                let body = parse_json(call.body)?;
                self.bulk(team, base, &body).await
            }
            ([search], &Method::POST) if *search == ".search" => {
                let body = parse_json(call.body)?;
                self.search(team, base, None, &body).await
            }
            ([endpoint], _) if ResourceType::from_endpoint(endpoint).is_some() => {
                let resource_type = resource_type_of(endpoint)?;
                match *method {
                    Method::GET => self.list(team, base, resource_type, call.query).await,
                    Method::POST => {
                        let body = parse_json(call.body)?;
                        let projection = Projection::from_query(call.query)?;
                        self.create(team, base, resource_type, &body, &projection)
                            .await
                    }
                    _ => Err(method_not_allowed(method)),
                }
            }
            ([endpoint, search], &Method::POST)
                if *search == ".search" && ResourceType::from_endpoint(endpoint).is_some() =>
            {
                let resource_type = resource_type_of(endpoint)?;
                let body = parse_json(call.body)?;
                self.search(team, base, Some(resource_type), &body).await
            }
            ([endpoint, id], _) if ResourceType::from_endpoint(endpoint).is_some() => {
                let resource_type = resource_type_of(endpoint)?;
                let if_match = conditional_header(call.headers, "if-match")?;
                let projection = Projection::from_query(call.query)?;
                match *method {
                    Method::GET => {
                        let if_none_match = conditional_header(call.headers, "if-none-match")?;
                        self.read(team, base, resource_type, id, if_none_match, &projection)
                            .await
                    }
                    Method::PUT => {
                        let body = parse_json(call.body)?;
                        self.replace(team, base, resource_type, id, &body, if_match, &projection)
                            .await
                    }
                    Method::PATCH => {
                        let body = parse_json(call.body)?;
                        let minimal = prefers_minimal(call.headers) && projection.is_empty();
                        self.patch(
                            team,
                            base,
                            resource_type,
                            id,
                            &body,
                            if_match,
                            &projection,
                            minimal,
                        )
                        .await
                    }
                    Method::DELETE => self.remove(team, resource_type, id, if_match).await,
                    _ => Err(method_not_allowed(method)),
                }
            }
            _ => Err(ScimError::new(
                404,
                format!("no SCIM endpoint at `{}`", call.path),
            )),
        }
    }
}

fn resource_type_of(endpoint: &str) -> Result<ResourceType, ScimError> {
    ResourceType::from_endpoint(endpoint)
        .ok_or_else(|| ScimError::new(404, format!("no SCIM endpoint `/{endpoint}`")))
}

fn method_not_allowed(method: &Method) -> ScimError {
    ScimError::new(405, format!("{method} is not supported here"))
}

fn payload_too_large(limit: usize) -> ScimError {
    ScimError::new(
        413,
        format!("the request body exceeds the limit of {limit} bytes"),
    )
}

/// A body-carrying request (POST, PUT, PATCH) whose `Content-Type` says it is not JSON
/// gets 415: `application/scim+json`, or `application/json`, which RFC 7644 section 3.1
/// lets clients use, with any parameters. A request without a `Content-Type` is read as
/// JSON, as clients that omit it mean it to be.
fn check_content_type(call: &Call<'_>) -> Result<(), ScimError> {
    if !matches!(*call.method, Method::POST | Method::PUT | Method::PATCH) {
        return Ok(());
    }
    let Some(value) = call.headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(e)
            if e.eq_ignore_ascii_case(SCIM_CONTENT_TYPE)
                || e.eq_ignore_ascii_case("application/json") =>
        {
            Ok(())
        }
        _ => Err(ScimError::new(
            415,
            format!(
                "the request body must be {SCIM_CONTENT_TYPE} (or application/json), not `{}`",
                String::from_utf8_lossy(value.as_bytes())
            ),
        )
        .with_type(ScimType::InvalidSyntax)),
    }
}

/// Parse a request body as JSON; a body that is not JSON is 400 `invalidSyntax`.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ScimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// An `If-Match` or `If-None-Match` value. One that is not visible ASCII is refused:
/// treating it as absent would turn a conditional write into an unconditional one.
fn conditional_header<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, ScimError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| {
            ScimError::new(
                400,
                format!("the {name} header must be visible ASCII entity tags"),
            )
            .with_type(ScimType::InvalidValue)
        }),
    }
}

/// `Prefer: return=minimal` (RFC 7240): the client wants no body back.
fn prefers_minimal(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"))
        })
    })
}

/// Whether an `If-Match` / `If-None-Match` header value names `etag`: `*`, or one of
/// its entity tags under the weak comparison of RFC 9110 section 8.8.3.2 (the `W/` prefix
/// is ignored).
pub(crate) fn etag_matches(header: &str, etag: &str) -> bool {
    let opaque = |tag: &str| -> String {
        let tag = tag.trim();
        let tag = tag
            .strip_prefix("W/")
            .or_else(|| tag.strip_prefix("w/"))
            .unwrap_or(tag);
        tag.trim_matches('"').to_owned()
    };
    let wanted = opaque(etag);
    header
        .split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == wanted)
}

/// Decode `%XX` escapes in a path segment; invalid escapes are kept as written. `None`
/// when the decoded bytes are not UTF-8 (`%FF`): no id or endpoint is spelled so, and a
/// lossy decoding would make different paths name the same thing.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(decoded) = u8::from_str_radix(hex, 16)
        {
            out.push(decoded);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_weakly() {
        assert!(etag_matches("W/\"3\"", "W/\"3\""));
        assert!(etag_matches("\"3\"", "W/\"3\""));
        assert!(etag_matches("W/\"1\", W/\"3\"", "W/\"3\""));
        assert!(etag_matches("*", "W/\"3\""));
        assert!(!etag_matches("W/\"4\"", "W/\"3\""));
    }

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("urn%3Aa%3Ab").as_deref(), Some("urn:a:b"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn prefer_minimal_is_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!prefers_minimal(&headers));
        headers.insert(
            "prefer",
            HeaderValue::from_static("respond-async, return=minimal"),
        );
        assert!(prefers_minimal(&headers));
    }
}
