//! `butterfly login` and `butterfly logout`: signing the CLI in to a server with the
//! OAuth 2.0 device authorization grant (RFC 8628), and keeping the tokens.
//!
//! ```text
//! butterfly login --server https://butterfly.example.com
//! #  To sign in, open https://butterfly.example.com/device?user_code=WDJB-MJHT
//! #  (or open https://butterfly.example.com/device and enter WDJB-MJHT)
//! butterfly members list          # acts as you: your role, your team
//! butterfly logout                # revokes both tokens on the server
//! ```
//!
//! The access token lasts an hour; before it runs out, the next command trades the
//! refresh token for a new pair (the server rotates it). Tokens are kept per server in
//! the OS keyring where there is one (the macOS Keychain, the Windows Credential
//! Manager), otherwise in `credentials.json` under the user's config directory
//! (`$XDG_CONFIG_HOME/butterfly`, else `~/.config/butterfly`), readable by the user
//! only (0600). Linux has no keyring the CLI can count on: the Secret Service needs a
//! D-Bus session and an unlocked desktop keyring, which servers and CI runners lack.
//!
//! An explicit `--api-key` (or `BUTTERFLY_API_KEY`) always wins, for automation.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{ApiClient, CliError};

/// The CLI's OAuth client id (a public client: no secret).
pub const CLIENT_ID: &str = "butterfly-cli";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Refresh this long before the access token's expiry, so a command that starts just
/// before it does not fail halfway.
const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(60);
/// RFC 8628 section 3.5: each `slow_down` adds five seconds.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// One server's sign-in, as kept on this machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLogin {
    /// The access token (`bfs_cli_...`).
    pub access_token: String,
    /// The refresh token (`bfs_clr_...`).
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

/// The server URL as a key: no trailing slash.
fn server_key(server: &str) -> String {
    server.trim().trim_end_matches('/').to_owned()
}

/// Where tokens are kept.
mod storage {
    use super::*;

    /// `credentials.json` under the user's config directory.
    pub fn file() -> Result<PathBuf, CliError> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                #[cfg(windows)]
                let home = std::env::var_os("APPDATA").map(PathBuf::from);
                #[cfg(not(windows))]
                let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config"));
                home
            })
            .ok_or_else(|| {
                CliError::Failed(
                    "no config directory: set XDG_CONFIG_HOME or HOME to keep the sign-in".into(),
                )
            })?;
        Ok(base.join("butterfly").join("credentials.json"))
    }

    fn read_file() -> Result<BTreeMap<String, StoredLogin>, CliError> {
        let path = file()?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Failed(format!(
                    "{} is damaged ({e}): delete it and run `butterfly login` again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(CliError::ReadFile { path, source }),
        }
    }

    /// Write the file readable by the user only: a new file is created 0600 beside it
    /// and renamed over it, so no other user ever sees the tokens, even briefly.
    fn write_file(all: &BTreeMap<String, StoredLogin>) -> Result<(), CliError> {
        let path = file()?;
        let failed =
            |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let json = serde_json::to_vec_pretty(all)
            .map_err(|e| CliError::Failed(format!("cannot encode the sign-in: {e}")))?;
        let written = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(&json).and_then(|()| f.sync_all()));
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(e));
        }
        Ok(())
    }

    #[cfg(any(target_os = "macos", target_os = "windows"))]
    mod keyring_store {
        use super::*;

        const SERVICE: &str = "butterfly-cli";

        pub fn load(server: &str) -> Option<Option<StoredLogin>> {
            let entry = keyring::Entry::new(SERVICE, server).ok()?;
            match entry.get_password() {
                Ok(json) => Some(serde_json::from_str(&json).ok()),
                Err(keyring::Error::NoEntry) => Some(None),
                Err(_) => None,
            }
        }

        pub fn save(server: &str, login: &StoredLogin) -> bool {
            let Ok(json) = serde_json::to_string(login) else {
                return false;
            };
            keyring::Entry::new(SERVICE, server)
                .and_then(|e| e.set_password(&json))
                .is_ok()
        }

        pub fn delete(server: &str) -> bool {
            keyring::Entry::new(SERVICE, server)
                .and_then(|e| e.delete_credential())
                .is_ok()
        }
    }

    /// Where this machine keeps logins, for messages.
    pub fn describe() -> String {
        #[cfg(any(target_os = "macos", target_os = "windows"))]
        {
            "the OS keyring".to_owned()
        }
        #[cfg(not(any(target_os = "macos", target_os = "windows")))]
        {
            file().map_or_else(
                |_| "the credentials file".to_owned(),
                |p| p.display().to_string(),
            )
        }
    }

    /// The sign-in kept for `server`, if any.
    pub fn load(server: &str) -> Result<Option<StoredLogin>, CliError> {
        #[cfg(any(target_os = "macos", target_os = "windows"))]
        if let Some(found) = keyring_store::load(server) {
            return Ok(found);
        }
        Ok(read_file()?.remove(server))
    }

    /// Keep `login` for `server`: in the keyring if it takes it, else in the file.
    pub fn save(server: &str, login: &StoredLogin) -> Result<(), CliError> {
        #[cfg(any(target_os = "macos", target_os = "windows"))]
        if keyring_store::save(server, login) {
            return Ok(());
        }
        let mut all = read_file()?;
        all.insert(server.to_owned(), login.clone());
        write_file(&all)
    }

    /// Forget `server`'s sign-in, wherever it is kept.
    pub fn delete(server: &str) -> Result<(), CliError> {
        #[cfg(any(target_os = "macos", target_os = "windows"))]
        keyring_store::delete(server);
        let mut all = read_file()?;
        if all.remove(server).is_some() {
            write_file(&all)?;
        }
        Ok(())
    }
}

/// A successful token answer (RFC 6749 section 5.1).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
}

/// An OAuth error answer (RFC 6749 section 5.2).
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn endpoint(server: &str, path: &str) -> Result<reqwest::Url, CliError> {
    let url = reqwest::Url::parse(&format!("{}/{path}", server_key(server)))
        .map_err(|_| CliError::BadServerUrl(server.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::BadServerUrl(server.to_owned()));
    }
    Ok(url)
}

/// POST a form; the answer's JSON, or an OAuth error.
async fn post_form(
    server: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Result<Result<Value, OAuthError>, CliError> {
    let url = endpoint(server, path)?;
    let response = http()
        .post(url.clone())
        .form(form)
        .send()
        .await
        .map_err(|source| CliError::Transport {
            url: url.to_string(),
            source,
        })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|source| CliError::Transport {
            url: url.to_string(),
            source,
        })?;
    let not_butterfly = || CliError::WrongServer {
        server: server_key(server),
        detail: format!("{path} answered {status}"),
    };
    // RFC 7009's revocation answer is a 200 with no body.
    if status.is_success() && text.is_empty() {
        return Ok(Ok(Value::Null));
    }
    let value: Value = serde_json::from_str(&text).map_err(|_| not_butterfly())?;
    if status.is_success() {
        return Ok(Ok(value));
    }
    match serde_json::from_value::<OAuthError>(value) {
        Ok(error) => Ok(Err(error)),
        Err(_) => Err(not_butterfly()),
    }
}

fn stored_from(answer: TokenAnswer) -> StoredLogin {
    StoredLogin {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        expires_at: Utc::now() + TimeDelta::seconds(answer.expires_in),
    }
}

/// `butterfly login`.
pub async fn login(server: &str) -> Result<(), CliError> {
    let server = server_key(server);
    let device = post_form(
        &server,
        "oauth/device_authorization",
        &[("client_id", CLIENT_ID)],
    )
    .await?
    .map_err(|e| {
        CliError::Failed(format!(
            "the server refused to start a sign-in: {}",
            describe(&e)
        ))
    })?;
    let device: DeviceAnswer =
        serde_json::from_value(device).map_err(|_| CliError::WrongServer {
            server: server.clone(),
            detail: "its device authorization answer is not RFC 8628's".into(),
        })?;
    // On stderr: stdout stays for results, and the person sees this even when stdout is
    // piped somewhere.
    eprintln!("To sign in, open this page in a browser and approve:");
    eprintln!();
    eprintln!(
        "    {}",
        device
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&device.verification_uri)
    );
    eprintln!();
    eprintln!(
        "or open {} and enter the code: {}",
        device.verification_uri, device.user_code
    );
    eprintln!("user_code: {}", device.user_code);
    eprintln!(
        "Waiting for approval (the code expires in {} minutes)...",
        device.expires_in.div_ceil(60)
    );
    let mut interval = Duration::from_secs(device.interval.unwrap_or(5).max(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(device.expires_in);
    loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() > deadline {
            return Err(CliError::Failed(
                "the code expired before it was approved: run `butterfly login` again".into(),
            ));
        }
        let answer = post_form(
            &server,
            "oauth/token",
            &[
                ("grant_type", DEVICE_CODE_GRANT),
                ("device_code", &device.device_code),
                ("client_id", CLIENT_ID),
            ],
        )
        .await?;
        match answer {
            Ok(tokens) => {
                let tokens: TokenAnswer =
                    serde_json::from_value(tokens).map_err(|_| CliError::WrongServer {
                        server: server.clone(),
                        detail: "its token answer is not RFC 6749's".into(),
                    })?;
                storage::save(&server, &stored_from(tokens))?;
                break;
            }
            Err(e) if e.error == "authorization_pending" => {}
            Err(e) if e.error == "slow_down" => interval += SLOW_DOWN_STEP,
            Err(e) if e.error == "access_denied" => {
                return Err(CliError::Failed(
                    "the sign-in was denied in the browser".into(),
                ));
            }
            Err(e) if e.error == "expired_token" => {
                return Err(CliError::Failed(
                    "the code expired before it was approved: run `butterfly login` again".into(),
                ));
            }
            Err(e) => {
                return Err(CliError::Failed(format!(
                    "sign-in failed: {}",
                    describe(&e)
                )));
            }
        }
    }
    let client = client(&server, None).await?;
    let me = client.get("me").await?;
    println!(
        "Signed in to {server} as {} ({}). Tokens kept in {}.",
        me.pointer("/member/email")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        me.pointer("/role").and_then(Value::as_str).unwrap_or("?"),
        storage::describe()
    );
    Ok(())
}

fn describe(e: &OAuthError) -> String {
    match &e.error_description {
        Some(d) => format!("{} ({})", d, e.error),
        None => e.error.clone(),
    }
}

/// `butterfly logout`: revoke the sign-in on the server (either token revokes both),
/// then forget it here.
pub async fn logout(server: &str) -> Result<(), CliError> {
    let server = server_key(server);
    let Some(stored) = storage::load(&server)? else {
        println!("Not signed in to {server}.");
        return Ok(());
    };
    let revoked = post_form(
        &server,
        "oauth/revoke",
        &[
            ("token", &stored.refresh_token),
            ("token_type_hint", "refresh_token"),
            ("client_id", CLIENT_ID),
        ],
    )
    .await;
    // Forget the tokens whatever the server said: a person who logs out expects them
    // gone from this machine. Say so if the server could not be told.
    storage::delete(&server)?;
    match revoked {
        Ok(_) => {
            println!("Signed out of {server}: both tokens are revoked.");
            Ok(())
        }
        Err(e) => Err(CliError::Failed(format!(
            "the tokens are deleted here, but the server could not revoke them ({e}); \
             an admin can end the sign-in by suspending and re-activating the member"
        ))),
    }
}

/// A client for `server`: with `api_key` if given, else with this machine's sign-in,
/// refreshed first if it is about to expire.
pub async fn client(server: &str, api_key: Option<&str>) -> Result<ApiClient, CliError> {
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        return ApiClient::new(server, Some(key));
    }
    let key = server_key(server);
    let Some(mut stored) = storage::load(&key)? else {
        return Err(CliError::NotSignedIn { server: key });
    };
    if stored.expires_at - REFRESH_MARGIN <= Utc::now() {
        let answer = post_form(
            &key,
            "oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &stored.refresh_token),
                ("client_id", CLIENT_ID),
            ],
        )
        .await?;
        match answer {
            Ok(tokens) => {
                let tokens: TokenAnswer =
                    serde_json::from_value(tokens).map_err(|_| CliError::WrongServer {
                        server: key.clone(),
                        detail: "its token answer is not RFC 6749's".into(),
                    })?;
                stored = stored_from(tokens);
                storage::save(&key, &stored)?;
            }
            Err(e) if e.error == "invalid_grant" => {
                storage::delete(&key)?;
                return Err(CliError::LoginExpired { server: key });
            }
            Err(e) => {
                return Err(CliError::Failed(format!(
                    "cannot renew the sign-in: {}",
                    describe(&e)
                )));
            }
        }
    }
    ApiClient::new(&key, Some(&stored.access_token)).map(ApiClient::signed_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_keyed_without_a_trailing_slash() {
        assert_eq!(server_key("http://h:1/"), "http://h:1");
        assert_eq!(server_key(" http://h:1 "), "http://h:1");
    }

    #[test]
    fn endpoints_refuse_what_is_not_http() {
        assert!(endpoint("ftp://h", "oauth/token").is_err());
        assert!(endpoint("not a url", "oauth/token").is_err());
        assert_eq!(
            endpoint("http://h:1/", "oauth/token").unwrap().as_str(),
            "http://h:1/oauth/token"
        );
    }
}
