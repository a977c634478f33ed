//! A small client for the server's JSON API.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Errors the CLI reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// No API key was given.
    #[error(
        "no API key: run `butterfly login --server URL` to sign in, or (for automation) pass --api-key or set BUTTERFLY_API_KEY"
    )]
    MissingApiKey,
    /// No API key, and this machine is not signed in to the server.
    #[error(
        "not signed in to {server}: run `butterfly login --server {server}`, or (for automation) pass --api-key or set BUTTERFLY_API_KEY"
    )]
    NotSignedIn {
        /// The server.
        server: String,
    },
    /// The stored sign-in expired or was revoked (logout elsewhere, SSO logout,
    /// suspension).
    #[error(
        "your sign-in to {server} expired or was revoked: run `butterfly login --server {server}` again"
    )]
    LoginExpired {
        /// The server.
        server: String,
    },
    /// The server answered, but not as a Butterfly server does.
    #[error(
        "{server} does not look like a Butterfly server ({detail}): check --server or BUTTERFLY_SERVER"
    )]
    WrongServer {
        /// The server.
        server: String,
        /// What it answered.
        detail: String,
    },
    /// The server URL is not a URL.
    #[error("invalid server URL `{0}`")]
    BadServerUrl(String),
    /// A local file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A local file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached or answered garbage.
    #[error(
        "cannot reach {url}: {source} (is the server running, and are --server or BUTTERFLY_SERVER right?)"
    )]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The command ran and reports a failure (a failed test, a failed backup).
    #[error("{0}")]
    Failed(String),
    /// The server answered with an error.
    #[error("server answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The error message from the body.
        message: String,
    },
}

/// Talks to `/api/v1` with a bearer API key.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
    api_key: String,
    /// The key is this machine's `butterfly login` access token: a 401 means the
    /// sign-in ended, and the message says how to sign in again.
    signed_in: bool,
}

impl ApiClient {
    /// A client for `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str, api_key: Option<&str>) -> Result<Self, CliError> {
        let api_key = api_key
            .filter(|k| !k.is_empty())
            .ok_or(CliError::MissingApiKey)?;
        let base = reqwest::Url::parse(&format!("{}/api/v1/", server.trim_end_matches('/')))
            .map_err(|_| CliError::BadServerUrl(server.to_owned()))?;
        Ok(ApiClient {
            http: reqwest::Client::new(),
            base,
            api_key: api_key.to_owned(),
            signed_in: false,
        })
    }

    /// Mark the key as a `butterfly login` access token.
    #[must_use]
    pub fn signed_in(mut self) -> Self {
        self.signed_in = true;
        self
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::DELETE, path, None).await
    }

    /// `GET path`, its body streamed into `sink` as it arrives (a download); `name` is
    /// what a write error names. Returns the bytes written.
    pub async fn download(
        &self,
        path: &str,
        sink: &mut dyn std::io::Write,
        name: &std::path::Path,
    ) -> Result<u64, CliError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| CliError::BadServerUrl(format!("{}{path}", self.base)))?;
        let transport = |source| CliError::Transport {
            url: url.to_string(),
            source,
        };
        let mut response = self
            .http
            .get(url.clone())
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.map_err(transport)?;
            return Err(self.error(status, &text));
        }
        let write_error = |source| CliError::WriteFile {
            path: name.to_owned(),
            source,
        };
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            sink.write_all(&chunk).map_err(write_error)?;
            written += chunk.len() as u64;
        }
        sink.flush().map_err(write_error)?;
        Ok(written)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| CliError::BadServerUrl(format!("{}{path}", self.base)))?;
        let transport = |source| CliError::Transport {
            url: url.to_string(),
            source,
        };
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.api_key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if status.is_success() {
            return Ok(if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            });
        }
        Err(self.error(status, &text))
    }

    /// The error a non-success answer means.
    fn error(&self, status: StatusCode, text: &str) -> CliError {
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        };
        if status == StatusCode::UNAUTHORIZED && self.signed_in {
            let mut server = self.base.clone();
            server.set_path("");
            return CliError::LoginExpired {
                server: server.as_str().trim_end_matches('/').to_owned(),
            };
        }
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(|| value.to_string(), str::to_owned);
        CliError::Api { status, message }
    }
}
