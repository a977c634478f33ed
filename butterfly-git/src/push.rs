//! Pushing the export branch to a remote: HTTPS with a token, SSH with a deploy key, or
//! any transport that needs no credentials (a local path, `file://`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use git2::{CertificateCheckStatus, Cred, CredentialType, PushOptions, RemoteCallbacks};

use crate::export::branch_ref;

/// A credential that must not be logged: its `Debug` is redacted.
#[derive(Clone)]
pub struct GitSecret(String);

impl GitSecret {
    /// Wrap a token, a private key or a passphrase.
    pub fn new(secret: impl Into<String>) -> Self {
        GitSecret(secret.into())
    }

    /// The secret itself.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GitSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitSecret([redacted])")
    }
}

/// How to authenticate to the remote.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum GitCredentials {
    /// None: a local path or `file://` URL, or a remote open to anyone.
    #[default]
    None,
    /// HTTPS with a token as the password (a GitHub or Gitea personal access token, a
    /// GitLab or Bitbucket access token, an Azure DevOps PAT).
    Token {
        /// The user name sent with it. GitHub ignores it; GitLab wants `oauth2` for an
        /// OAuth token; Bitbucket wants `x-token-auth`.
        username: String,
        /// The token.
        token: GitSecret,
    },
    /// SSH with a deploy key, in OpenSSH or PEM form.
    SshKey {
        /// The SSH user when the URL names none (`git` on every hosted forge).
        username: String,
        /// The private key's text.
        private_key: GitSecret,
        /// Its passphrase, if it has one.
        passphrase: Option<GitSecret>,
    },
}

impl GitCredentials {
    /// A token for HTTPS, sent as `x-access-token:<token>`.
    pub fn token(token: impl Into<String>) -> Self {
        GitCredentials::Token {
            username: "x-access-token".to_owned(),
            token: GitSecret::new(token),
        }
    }

    /// A deploy key for SSH, for user `git` unless the URL names one.
    pub fn ssh_key(private_key: impl Into<String>) -> Self {
        GitCredentials::SshKey {
            username: "git".to_owned(),
            private_key: GitSecret::new(private_key),
            passphrase: None,
        }
    }
}

/// The SSH server key to accept, when it is not in `~/.ssh/known_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKey {
    /// The key's blob, as in a `known_hosts` or `.pub` line (`ssh-ed25519 AAAA...`).
    PublicKey(Vec<u8>),
    /// The key's SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
    Sha256Fingerprint(String),
}

impl HostKey {
    /// Parse `ssh-ed25519 AAAA... [comment]` or `SHA256:...`.
    pub fn parse(text: &str) -> Result<Self, PushError> {
        let text = text.trim();
        if let Some(fingerprint) = text.strip_prefix("SHA256:") {
            return Ok(HostKey::Sha256Fingerprint(
                fingerprint.trim_end_matches('=').to_owned(),
            ));
        }
        let mut fields = text.split_whitespace();
        let (Some(_algorithm), Some(blob)) = (fields.next(), fields.next()) else {
            return Err(PushError::InvalidHostKey);
        };
        base64::engine::general_purpose::STANDARD
            .decode(blob)
            .map(HostKey::PublicKey)
            .map_err(|_| PushError::InvalidHostKey)
    }

    fn matches(&self, hostkey: &git2::cert::CertHostkey<'_>) -> bool {
        match self {
            HostKey::PublicKey(blob) => hostkey.hostkey() == Some(blob.as_slice()),
            HostKey::Sha256Fingerprint(expected) => hostkey.hash_sha256().is_some_and(|hash| {
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash) == *expected
            }),
        }
    }
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The local repository could not be opened.
    #[error("cannot open the export repository: {0}")]
    Open(#[source] git2::Error),
    /// The branch name is not valid.
    #[error(transparent)]
    Branch(#[from] crate::ExportError),
    /// The transport failed: unreachable, authentication refused, host key unknown.
    #[error("cannot push to {url}: {source}")]
    Transport {
        /// The remote (without credentials: tokens never go in URLs here).
        url: String,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// The remote refused the update (not a fast-forward, a protected branch...).
    #[error("{url} refused {refname}: {reason}")]
    Rejected {
        /// The remote.
        url: String,
        /// The reference.
        refname: String,
        /// The remote's reason.
        reason: String,
    },
    /// The host key given is neither `<type> <base64> [comment]` nor `SHA256:<base64>`.
    #[error(
        "the SSH host key must be `ssh-ed25519 AAAA...` (a known_hosts or .pub line) or `SHA256:...`"
    )]
    InvalidHostKey,
}

/// Where and how to push.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushTarget {
    /// The remote URL: `https://...`, `ssh://user@host:port/path`, `user@host:path`, a
    /// local path or `file://...`.
    pub url: String,
    /// The branch to push (to the same name). Default `main`.
    pub branch: String,
    /// How to authenticate.
    pub credentials: GitCredentials,
    /// The SSH host key to accept; otherwise `~/.ssh/known_hosts` decides.
    pub host_key: Option<HostKey>,
}

impl PushTarget {
    /// Push branch `main` to `url` with no credentials.
    pub fn new(url: impl Into<String>) -> Self {
        PushTarget {
            url: url.into(),
            branch: "main".to_owned(),
            credentials: GitCredentials::None,
            host_key: None,
        }
    }

    /// Push `branch` instead of `main`.
    #[must_use]
    pub fn with_branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = branch.into();
        self
    }

    /// Authenticate with `credentials`.
    #[must_use]
    pub fn with_credentials(mut self, credentials: GitCredentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Accept this SSH host key.
    #[must_use]
    pub fn with_host_key(mut self, host_key: HostKey) -> Self {
        self.host_key = Some(host_key);
        self
    }
}

/// Push the branch of the repository at `git_dir` to `target`, as a fast-forward
/// (never forced: a remote that moved on is reported, not overwritten).
///
/// Blocking: call it from `spawn_blocking` in async code.
pub fn push(git_dir: &Path, target: &PushTarget) -> Result<(), PushError> {
    let repo = git2::Repository::open(git_dir).map_err(PushError::Open)?;
    let refname = branch_ref(&target.branch)?;
    let transport = |source| PushError::Transport {
        url: target.url.clone(),
        source,
    };
    let mut remote = repo.remote_anonymous(&target.url).map_err(transport)?;

    // libgit2 asks again after a refused credential; one try each, then give up, or it
    // would loop forever on a wrong token.
    let tried = Cell::new(false);
    let rejected: RefCell<Option<(String, String)>> = RefCell::new(None);
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(|_url, username_from_url, allowed| {
        credential(&target.credentials, &tried, username_from_url, allowed)
    });
    callbacks.certificate_check(|cert, _host| match (&target.host_key, cert.as_hostkey()) {
        (Some(pinned), Some(hostkey)) => {
            if pinned.matches(hostkey) {
                Ok(CertificateCheckStatus::CertificateOk)
            } else {
                Err(git2::Error::from_str(
                    "the SSH server's host key is not the one given",
                ))
            }
        }
        // HTTPS certificates, and SSH keys with no pin: libgit2's own checks (the system
        // CA store, ~/.ssh/known_hosts) decide.
        _ => Ok(CertificateCheckStatus::CertificatePassthrough),
    });
    callbacks.push_update_reference(|refname, status| {
        if let Some(reason) = status {
            *rejected.borrow_mut() = Some((refname.to_owned(), reason.to_owned()));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let refspec = format!("{refname}:{refname}");
    remote
        .push(&[refspec.as_str()], Some(&mut options))
        .map_err(transport)?;
    drop(options);
    // libgit2 reports a refused reference through the callback, not as an error.
    if let Some((refname, reason)) = rejected.into_inner() {
        return Err(PushError::Rejected {
            url: target.url.clone(),
            refname,
            reason,
        });
    }
    Ok(())
}

fn credential(
    credentials: &GitCredentials,
    tried: &Cell<bool>,
    username_from_url: Option<&str>,
    allowed: CredentialType,
) -> Result<Cred, git2::Error> {
    let username = |default: &str| username_from_url.unwrap_or(default).to_owned();
    match credentials {
        GitCredentials::SshKey { username: user, .. }
            if allowed.contains(CredentialType::USERNAME) =>
        {
            Cred::username(&username(user))
        }
        _ if tried.replace(true) => Err(git2::Error::from_str(
            "the remote refused the credentials given",
        )),
        GitCredentials::Token {
            username: user,
            token,
        } if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
            Cred::userpass_plaintext(&username(user), token.secret())
        }
        GitCredentials::SshKey {
            username: user,
            private_key,
            passphrase,
        } if allowed.contains(CredentialType::SSH_KEY) => Cred::ssh_key_from_memory(
            &username(user),
            None,
            private_key.secret(),
            passphrase.as_ref().map(GitSecret::secret),
        ),
        GitCredentials::None => Err(git2::Error::from_str(
            "the remote asks for credentials: give a token (HTTPS) or a deploy key (SSH)",
        )),
        _ => Err(git2::Error::from_str(
            "the remote asks for another kind of credential: a token is for HTTPS URLs, a deploy key for SSH URLs",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_parse() {
        let key = HostKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 host").unwrap();
        assert!(
            matches!(key, HostKey::PublicKey(ref b) if b.starts_with(b"\0\0\0\x0bssh-ed25519"))
        );
        assert_eq!(
            HostKey::parse("SHA256:abc=").unwrap(),
            HostKey::Sha256Fingerprint("abc".to_owned())
        );
        assert!(matches!(
            HostKey::parse("nonsense"),
            Err(PushError::InvalidHostKey)
        ));
        assert!(matches!(
            HostKey::parse("ssh-ed25519 !!!"),
            Err(PushError::InvalidHostKey)
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let creds = GitCredentials::token("ghp_secret");
        assert!(!format!("{creds:?}").contains("ghp_secret"));
    }
}
