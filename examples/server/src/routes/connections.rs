//! `/api/v1/connections`: the team's backup connections (an Okta org reached by a
//! service app with `private_key_jwt`). The private key is sealed under the team's key
//! on the way in and never returned.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::ProviderKind;
use butterfly_core::api::ConnectionBody;
use butterfly_core::store::{
    AuditOutcome, BackupConnection, BackupSchedule, ConnectionStore, ScheduleStore,
};
use butterfly_providers::entra::fetcher::{
    ClientCertificate, ClientSecret, DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL, EndpointUrl,
    TenantId,
};
use butterfly_providers::okta::fetcher::{ClientId, FetchError, OrgUrl, PrivateKey};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{audit, label, no_content_or_not_found, parse_id};
use crate::app::AppState;
use crate::backups::{BackupJobError, PRIVATE_KEY_PURPOSE, entra_fetcher_for, fetcher_for};
use crate::error::ApiError;
use crate::rbac::Caller;
use crate::secret::SecretText;

/// The longest a connection test may take before it counts as failed.
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `POST /connections` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// A name unique in the team.
    pub name: String,
    /// The provider: `okta` (the default) or `entra_id`.
    #[serde(default = "okta")]
    pub provider: ProviderKind,
    /// Okta: the org's URL (`https://example.okta.com`).
    #[serde(default)]
    pub org_url: Option<String>,
    /// The service app's (app registration's) client id.
    pub client_id: String,
    /// Okta: the key id registered with the app, if it has several.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Okta: the app's private key; Entra ID: the certificate's private key. PEM (PKCS#8
    /// or PKCS#1 RSA). `Debug` is redacted.
    #[serde(default)]
    pub private_key: Option<SecretText>,
    /// Entra ID: the tenant id (GUID or domain).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Entra ID: the app's client secret (or `certificate` and `private_key`).
    #[serde(default)]
    pub client_secret: Option<SecretText>,
    /// Entra ID: the app's certificate, PEM.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Entra ID: Microsoft Graph's URL (default `https://graph.microsoft.com`).
    #[serde(default)]
    pub graph_url: Option<String>,
    /// Entra ID: the identity platform's URL (default `https://login.microsoftonline.com`).
    #[serde(default)]
    pub authority_url: Option<String>,
    /// Scopes to request instead of every scope a backup reads.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The share of each rate-limit bucket a backup may use, in (0, 1]; default 0.5.
    #[serde(default)]
    pub rate_limit_share: Option<f64>,
}

fn okta() -> ProviderKind {
    ProviderKind::Okta
}

/// The stored percentage for a requested `rate_limit_share` (default 0.5): refused
/// outside (0, 1], else 1 to 100 after rounding up.
fn rate_limit_percent(share: Option<f64>) -> Result<u8, ApiError> {
    let share = share.unwrap_or(0.5);
    if !(share > 0.0 && share <= 1.0) {
        return Err(ApiError::BadRequest(
            "rate_limit_share must be in (0, 1]".into(),
        ));
    }
    // In (0, 1], so the product rounds up to 1..=100.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((share * 100.0).ceil().clamp(1.0, 100.0) as u8)
}

/// Refuse a field that belongs to the other provider: an Okta connection with a
/// `client_secret`, or an Entra one with an `org_url`, is a mistake in the request, and
/// silently dropping the field would hide it (a secret the caller believes is stored).
fn refuse_foreign_fields(body: &CreateConnection) -> Result<(), ApiError> {
    let present: &[(&str, bool)] = match body.provider {
        ProviderKind::Okta => &[
            ("tenant_id", body.tenant_id.is_some()),
            ("client_secret", body.client_secret.is_some()),
            ("certificate", body.certificate.is_some()),
            ("graph_url", body.graph_url.is_some()),
            ("authority_url", body.authority_url.is_some()),
        ],
        ProviderKind::EntraId => &[
            ("org_url", body.org_url.is_some()),
            ("key_id", body.key_id.is_some()),
        ],
        _ => &[],
    };
    match present.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(ApiError::BadRequest(format!(
            "`{field}` is not a field of {} connections",
            body.provider
        ))),
        None => Ok(()),
    }
}

/// A connection as the API shows it, with its schedule: never the key.
pub(crate) fn describe_scheduled(
    connection: &BackupConnection,
    schedule: Option<&BackupSchedule>,
) -> ConnectionBody {
    let mut body = describe(connection);
    if let Some(schedule) = schedule {
        body.schedule = super::schedules::description(schedule);
        body.next_run_at = schedule
            .next_run_at
            .filter(|_| !schedule.paused)
            .map(|t| t.timestamp());
    }
    body
}

/// A connection as the API shows it: never the key.
pub(crate) fn describe(connection: &BackupConnection) -> ConnectionBody {
    let mut body = ConnectionBody::new(connection.id, &connection.name, &connection.provider);
    body.org_url.clone_from(&connection.org_url);
    body.client_id.clone_from(&connection.client_id);
    body.key_id.clone_from(&connection.key_id);
    body.private_key_set = !connection.private_key_sealed.is_empty();
    body.scopes.clone_from(&connection.scopes);
    body.rate_limit_share = f64::from(connection.rate_limit_percent) / 100.0;
    body.created_at = connection.created_at.timestamp();
    body.last_test.clone_from(&connection.last_test);
    body
}

/// Create a connection.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateConnection>, JsonRejection>,
) -> Result<(StatusCode, Json<ConnectionBody>), ApiError> {
    let Json(body) = body?;
    let name = label(&body.name)?;
    refuse_foreign_fields(&body)?;
    match body.provider {
        ProviderKind::Okta => {}
        ProviderKind::EntraId => {
            let name = name.to_owned();
            return create_entra(state, caller, &name, body).await;
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "provider `{other}` is not supported (supported: {}, {})",
                ProviderKind::Okta,
                ProviderKind::EntraId
            )));
        }
    }
    let (Some(org_url), Some(private_key)) = (&body.org_url, &body.private_key) else {
        return Err(ApiError::BadRequest(
            "an okta connection needs org_url and private_key".into(),
        ));
    };
    // Checked as the fetcher will need them: https (http on loopback only), a bare
    // origin, a one-word client id.
    let org_url =
        OrgUrl::parse(org_url).map_err(|e| ApiError::BadRequest(format!("org_url: {e}")))?;
    // A name that resolves to a private address is refused at connect time, by the
    // fetcher's resolver; literals and `localhost` are refused here, before storing.
    if !state.allow_private_org_urls {
        org_url
            .check_public()
            .map_err(|e| ApiError::BadRequest(format!("org_url: {e}")))?;
    }
    let client_id = ClientId::new(body.client_id.trim())
        .map_err(|e| ApiError::BadRequest(format!("client_id: {e}")))?;
    // Refuse a key that would only fail at the first backup.
    PrivateKey::from_pem(private_key.secret())
        .map_err(|e| ApiError::BadRequest(format!("private_key: {e}")))?;
    let rate_limit_percent = rate_limit_percent(body.rate_limit_share)?;
    if let Some(scopes) = &body.scopes
        && (scopes.is_empty() || scopes.iter().any(|s| s.trim().is_empty()))
    {
        return Err(ApiError::BadRequest(
            "scopes, when given, must be a non-empty list of scope names".into(),
        ));
    }
    let sealed = state
        .objects
        .seal_secret(
            caller.team_id,
            PRIVATE_KEY_PURPOSE,
            private_key.secret().as_bytes(),
        )
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let connection = state
        .store
        .create_connection(BackupConnection {
            id: Uuid::new_v4(),
            team_id: caller.team_id,
            name: name.to_owned(),
            provider: body.provider.to_string(),
            org_url: org_url.as_str().to_owned(),
            client_id: client_id.as_str().to_owned(),
            key_id: body.key_id.filter(|k| !k.trim().is_empty()),
            private_key_sealed: sealed,
            scopes: body.scopes,
            rate_limit_percent,
            created_at: Utc::now(),
            last_test: None,
        })
        .await?;
    let shown = describe(&connection);
    audit::record(
        &state,
        Some(caller.team_id),
        "connection.created",
        Some(format!("connection:{}", connection.id)),
        AuditOutcome::Success,
        json!({"name": connection.name, "org_url": connection.org_url, "client_id": connection.client_id}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// Create an Entra ID connection: the tenant id is the connection's org (snapshots name
/// the tenant by it); the credential (a client secret, or a certificate and its key) and
/// the Graph and authority URLs are sealed together under the team's key.
async fn create_entra(
    state: AppState,
    caller: Caller,
    name: &str,
    body: CreateConnection,
) -> Result<(StatusCode, Json<ConnectionBody>), ApiError> {
    let bad =
        |field: &str, e: &dyn std::fmt::Display| ApiError::BadRequest(format!("{field}: {e}"));
    let tenant_id = TenantId::new(body.tenant_id.clone().unwrap_or_default())
        .map_err(|e| bad("tenant_id", &e))?;
    let client_id = ClientId::new(body.client_id.trim()).map_err(|e| bad("client_id", &e))?;
    let graph_url = EndpointUrl::parse(body.graph_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL))
        .map_err(|e| bad("graph_url", &e))?;
    let authority_url = EndpointUrl::parse(
        body.authority_url
            .as_deref()
            .unwrap_or(DEFAULT_AUTHORITY_URL),
    )
    .map_err(|e| bad("authority_url", &e))?;
    if !state.allow_private_org_urls {
        graph_url.check_public().map_err(|e| bad("graph_url", &e))?;
        authority_url
            .check_public()
            .map_err(|e| bad("authority_url", &e))?;
    }
    let mut sealed_body = json!({
        "graph_url": graph_url.as_str(),
        "authority_url": authority_url.as_str(),
    });
    match (&body.client_secret, &body.certificate, &body.private_key) {
        (Some(secret), None, None) => {
            ClientSecret::new(secret.secret()).map_err(|e| bad("client_secret", &e))?;
            sealed_body["client_secret"] = json!(secret.secret());
        }
        (None, Some(certificate), Some(key)) => {
            // Refuse a certificate or key that would only fail at the first backup.
            ClientCertificate::from_pem(certificate, key.secret())
                .map_err(|e| bad("certificate", &e))?;
            sealed_body["certificate"] = json!(certificate);
            sealed_body["private_key"] = json!(key.secret());
        }
        _ => {
            return Err(ApiError::BadRequest(
                "an entra_id connection needs client_secret, or certificate and private_key".into(),
            ));
        }
    }
    let rate_limit_percent = rate_limit_percent(body.rate_limit_share)?;
    let sealed = state
        .objects
        .seal_secret(
            caller.team_id,
            PRIVATE_KEY_PURPOSE,
            sealed_body.to_string().as_bytes(),
        )
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let connection = state
        .store
        .create_connection(BackupConnection {
            id: Uuid::new_v4(),
            team_id: caller.team_id,
            name: name.to_owned(),
            provider: ProviderKind::EntraId.to_string(),
            org_url: tenant_id.as_str().to_owned(),
            client_id: client_id.as_str().to_owned(),
            key_id: None,
            private_key_sealed: sealed,
            scopes: None,
            rate_limit_percent,
            created_at: Utc::now(),
            last_test: None,
        })
        .await?;
    audit::record(
        &state,
        Some(caller.team_id),
        "connection.created",
        Some(format!("connection:{}", connection.id)),
        AuditOutcome::Success,
        json!({"name": connection.name, "provider": connection.provider, "tenant_id": connection.org_url, "client_id": connection.client_id}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(describe(&connection))))
}

/// List connections.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ConnectionBody>>, ApiError> {
    let connections = state.store.list_connections(caller.team_id).await?;
    let schedules = state.store.list_schedules(caller.team_id).await?;
    Ok(Json(
        connections
            .iter()
            .map(|c| {
                let schedule = schedules.iter().find(|s| s.connection_id == c.id);
                describe_scheduled(c, schedule)
            })
            .collect(),
    ))
}

pub(crate) async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<BackupConnection, ApiError> {
    state
        .store
        .connection(caller.team_id, parse_id(id)?)
        .await?
        .ok_or(ApiError::NotFound("connection"))
}

/// One connection.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionBody>, ApiError> {
    let connection = find(&state, &caller, &id).await?;
    let schedule = state.store.schedule(caller.team_id, connection.id).await?;
    Ok(Json(describe_scheduled(&connection, schedule.as_ref())))
}

/// Delete a connection. Its snapshots stay.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let found = state.store.delete_connection(caller.team_id, id).await?;
    if found {
        audit::record(
            &state,
            Some(caller.team_id),
            "connection.deleted",
            Some(format!("connection:{id}")),
            AuditOutcome::Success,
            json!({}),
        )
        .await;
    }
    no_content_or_not_found(found, "connection")
}

/// Sign in to the org (or tenant) and read one page of users; keep and return the
/// outcome. A failed test is a `200` with `"ok": false` and the reason: the test ran.
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let connection = find(&state, &caller, &id).await?;
    let mut outcome = if connection.provider == ProviderKind::EntraId.to_string() {
        test_entra(&state, &connection).await?
    } else {
        test_okta(&state, &connection).await?
    };
    outcome["tested_at"] = json!(Utc::now().timestamp());
    state
        .store
        .record_connection_test(caller.team_id, connection.id, outcome.clone())
        .await?;
    Ok(Json(outcome))
}

/// Okta: the scopes the token was granted and one page of users.
async fn test_okta(state: &AppState, connection: &BackupConnection) -> Result<Value, ApiError> {
    let checked = match fetcher_for(state, connection) {
        Ok(fetcher) => tokio::time::timeout(TEST_TIMEOUT, fetcher.check_connection()).await,
        // A stored org URL the server now refuses: a failed test, not a server error.
        Err(BackupJobError::Credentials(e)) => Ok(Err(FetchError::OrgAddress(e))),
        Err(e) => return Err(ApiError::Internal(Box::new(e))),
    };
    Ok(match checked {
        Ok(Ok(check)) => json!({
            "ok": true,
            "granted_scopes": check.granted_scopes,
            "missing_scopes": check.missing_scopes,
            "kinds_without_scope": check.kinds_without_scope,
            "users_readable": check.users_readable,
        }),
        Ok(Err(e)) => json!({"ok": false, "error": e.to_string()}),
        Err(_) => timed_out(),
    })
}

/// Entra ID: a token (secret or certificate), the application permissions its `roles`
/// grant, the kinds a backup would skip without one, and one page of users from Graph.
async fn test_entra(state: &AppState, connection: &BackupConnection) -> Result<Value, ApiError> {
    let checked = match entra_fetcher_for(state, connection) {
        Ok(fetcher) => tokio::time::timeout(TEST_TIMEOUT, fetcher.check_connection())
            .await
            .map(|checked| checked.map_err(|e| e.to_string())),
        // A stored Graph or authority URL the server now refuses, or a stored credential
        // that no longer reads: a failed test, not a server error.
        Err(BackupJobError::Credentials(e)) => Ok(Err(FetchError::OrgAddress(e).to_string())),
        Err(e @ (BackupJobError::Fetch(_) | BackupJobError::EntraCredentials(_))) => {
            Ok(Err(e.to_string()))
        }
        Err(e) => return Err(ApiError::Internal(Box::new(e))),
    };
    Ok(match checked {
        Ok(Ok(check)) => json!({
            "ok": true,
            "granted_permissions": check.granted_permissions,
            "missing_permissions": check.missing_permissions,
            "kinds_without_permission": check.kinds_without_permission,
            "users_readable": check.users_readable,
        }),
        Ok(Err(e)) => json!({"ok": false, "error": e}),
        Err(_) => timed_out(),
    })
}

fn timed_out() -> Value {
    json!({
        "ok": false,
        "error": format!("no answer within {} s", TEST_TIMEOUT.as_secs()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_private_key() {
        let body: CreateConnection = serde_json::from_value(json!({
            "name": "prod",
            "org_url": "https://example.okta.com",
            "client_id": "0oa1",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIsecretbody\n-----END PRIVATE KEY-----",
        }))
        .unwrap();
        assert!(
            body.private_key
                .as_ref()
                .unwrap()
                .secret()
                .contains("MIIsecretbody")
        );
        let shown = format!("{body:?}");
        assert!(shown.contains("0oa1"), "{shown}");
        assert!(!shown.contains("MIIsecretbody"), "{shown}");
    }
}
