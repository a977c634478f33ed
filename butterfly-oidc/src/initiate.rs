//! Third-party initiated login (OpenID Connect Core 1.0 section 4): the provider (an
//! Okta dashboard tile, say) sends the browser to our initiate-login URI with `iss`,
//! optionally `login_hint` and `target_link_uri`, and we start a normal SP-initiated
//! login with it.
//!
//! Anyone can craft that request, so: `iss` must be a provider we have configured, and
//! `target_link_uri` (where the user lands after login) must be on our own origin;
//! otherwise the endpoint is an open redirect that phishing pages can borrow our domain
//! through.

use std::collections::BTreeSet;

use url::Url;

use crate::client::AuthorizeOptions;
use crate::config::Issuer;

/// Longest `target_link_uri` accepted.
const MAX_TARGET_LEN: usize = 2048;
/// Longest `login_hint` accepted.
const MAX_HINT_LEN: usize = 320;

/// Why a third-party initiated login request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitiateLoginError {
    /// There is no `iss` parameter.
    #[error("the request has no iss")]
    MissingIssuer,
    /// `iss` is not a provider we have configured.
    #[error("`{0}` is not a configured issuer")]
    UnknownIssuer(String),
    /// A parameter appears more than once.
    #[error("the request repeats the `{0}` parameter")]
    Duplicate(&'static str),
    /// `login_hint` is too long or contains control characters.
    #[error("the login_hint is not acceptable")]
    InvalidLoginHint,
    /// `target_link_uri` is not a same-origin URL we are willing to redirect to.
    #[error("the target_link_uri is not acceptable: {0}")]
    InvalidTarget(&'static str),
}

/// What a third-party initiated login may ask for: which issuers, which origin.
#[derive(Debug, Clone)]
pub struct InitiateLoginPolicy {
    base_url: Url,
    issuers: BTreeSet<String>,
}

impl InitiateLoginPolicy {
    /// Targets must be on `base_url`'s origin (scheme, host and port); relative targets
    /// are resolved against it. No issuer is allowed until added.
    pub fn new(base_url: Url) -> Self {
        InitiateLoginPolicy {
            base_url,
            issuers: BTreeSet::new(),
        }
    }

    /// Accept logins initiated by `issuer`.
    #[must_use]
    pub fn allow_issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.insert(String::from(issuer));
        self
    }

    /// `target` as a URL on our origin, or why not. Use it for any post-login redirect
    /// taken from a request, not only `target_link_uri`.
    pub fn check_target(&self, target: &str) -> Result<Url, InitiateLoginError> {
        let invalid = InitiateLoginError::InvalidTarget;
        if target.len() > MAX_TARGET_LEN {
            return Err(invalid("too long"));
        }
        // Browsers and URL parsers read `\` as `/` and drop tabs and newlines, so
        // `/\evil.example` or `/\t/evil.example` would become `//evil.example`. Refuse
        // them before parsing rather than trust the parser to agree with every browser.
        if target
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        {
            return Err(invalid("backslash, whitespace or control character"));
        }
        let url = if target.starts_with("//") {
            return Err(invalid("scheme-relative URL"));
        } else if target.starts_with('/') {
            self.base_url
                .join(target)
                .map_err(|_| invalid("not a valid path"))?
        } else {
            Url::parse(target).map_err(|_| invalid("not an absolute URL or absolute path"))?
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("user information in the URL"));
        }
        if url.origin() != self.base_url.origin() || !url.origin().is_tuple() {
            return Err(invalid("another origin"));
        }
        Ok(url)
    }
}

/// A validated third-party initiated login request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitiateLogin {
    /// The provider to log in with.
    pub issuer: Issuer,
    /// The user the provider says is signing in, to pass on as `login_hint`.
    pub login_hint: Option<String>,
    /// Where to send the user after login: same-origin, resolved.
    pub target_link_uri: Option<Url>,
}

impl InitiateLogin {
    /// Validate the three parameters of section 4 against `policy`.
    pub fn parse(
        iss: &str,
        login_hint: Option<&str>,
        target_link_uri: Option<&str>,
        policy: &InitiateLoginPolicy,
    ) -> Result<Self, InitiateLoginError> {
        if iss.is_empty() {
            return Err(InitiateLoginError::MissingIssuer);
        }
        // Exact comparison against configured issuers, which are valid by construction.
        if !policy.issuers.contains(iss) {
            return Err(InitiateLoginError::UnknownIssuer(iss.to_owned()));
        }
        let issuer =
            Issuer::new(iss).map_err(|_| InitiateLoginError::UnknownIssuer(iss.to_owned()))?;
        let login_hint = match login_hint {
            None | Some("") => None,
            Some(h) if h.len() > MAX_HINT_LEN || h.chars().any(char::is_control) => {
                return Err(InitiateLoginError::InvalidLoginHint);
            }
            Some(h) => Some(h.to_owned()),
        };
        let target_link_uri = match target_link_uri {
            None | Some("") => None,
            Some(t) => Some(policy.check_target(t)?),
        };
        Ok(InitiateLogin {
            issuer,
            login_hint,
            target_link_uri,
        })
    }

    /// Validate a query string (GET) or form body (POST); providers may use either.
    pub fn from_query(
        query: &str,
        policy: &InitiateLoginPolicy,
    ) -> Result<Self, InitiateLoginError> {
        let mut iss = None;
        let mut hint = None;
        let mut target = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (slot, label) = match name.as_ref() {
                "iss" => (&mut iss, "iss"),
                "login_hint" => (&mut hint, "login_hint"),
                "target_link_uri" => (&mut target, "target_link_uri"),
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(InitiateLoginError::Duplicate(label));
            }
        }
        let iss = iss.ok_or(InitiateLoginError::MissingIssuer)?;
        Self::parse(&iss, hint.as_deref(), target.as_deref(), policy)
    }

    /// The options to start the login with: the hint, and the target as return URL.
    pub fn authorize_options(&self) -> AuthorizeOptions {
        AuthorizeOptions {
            login_hint: self.login_hint.clone(),
            return_to: self.target_link_uri.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDP: &str = "https://example.okta.com";

    fn policy() -> InitiateLoginPolicy {
        InitiateLoginPolicy::new(Url::parse("https://app.example.com/").unwrap())
            .allow_issuer(Issuer::new(IDP).unwrap())
    }

    #[test]
    fn a_known_issuer_with_a_same_origin_target_is_accepted() {
        let login = InitiateLogin::parse(
            IDP,
            Some("jane@example.com"),
            Some("https://app.example.com/backups?team=1#top"),
            &policy(),
        )
        .unwrap();
        assert_eq!(login.issuer.as_str(), IDP);
        assert_eq!(login.login_hint.as_deref(), Some("jane@example.com"));
        assert_eq!(
            login.target_link_uri.unwrap().as_str(),
            "https://app.example.com/backups?team=1#top"
        );

        let relative = InitiateLogin::parse(IDP, None, Some("/dashboard"), &policy()).unwrap();
        assert_eq!(
            relative.target_link_uri.unwrap().as_str(),
            "https://app.example.com/dashboard"
        );
        let bare = InitiateLogin::from_query(&format!("iss={IDP}"), &policy()).unwrap();
        assert_eq!(bare.target_link_uri, None);
        assert_eq!(bare.authorize_options().login_hint, None);
    }

    #[test]
    fn unknown_issuers_are_refused() {
        for iss in [
            "https://evil.example",
            "https://example.okta.com/",
            "https://EXAMPLE.okta.com",
            "",
        ] {
            assert!(
                InitiateLogin::parse(iss, None, None, &policy()).is_err(),
                "{iss:?}"
            );
        }
        assert!(matches!(
            InitiateLogin::from_query("login_hint=x", &policy()),
            Err(InitiateLoginError::MissingIssuer)
        ));
        assert!(matches!(
            InitiateLogin::from_query(&format!("iss={IDP}&iss={IDP}"), &policy()),
            Err(InitiateLoginError::Duplicate("iss"))
        ));
    }

    #[test]
    fn open_redirects_are_refused() {
        for target in [
            "https://evil.example/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "https://app.example.com.evil.example/",
            "//evil.example/",
            "///evil.example/",
            "/\\evil.example/",
            "\\\\evil.example/",
            "https:\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            " https://evil.example",
            "https://app.example.com@evil.example/",
            "https://user:pass@app.example.com/",
            "https://user@app.example.com/",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "dashboard",
            "evil.example",
            "https:evil.example",
            &format!("/{}", "a".repeat(3000)),
        ] {
            assert!(
                matches!(
                    InitiateLogin::parse(IDP, None, Some(target), &policy()),
                    Err(InitiateLoginError::InvalidTarget(_))
                ),
                "{target:?}"
            );
        }
        for hint in ["a\nb", &"x".repeat(400)] {
            assert!(matches!(
                InitiateLogin::parse(IDP, Some(hint), None, &policy()),
                Err(InitiateLoginError::InvalidLoginHint)
            ));
        }
    }
}
