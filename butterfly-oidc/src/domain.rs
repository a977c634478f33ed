//! Email-domain routing: the part of a sign-in email after `@` picks the connection.

use std::collections::BTreeMap;
use std::fmt;

use crate::Error;

/// A DNS domain as used in email addresses, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailDomain(String);

impl EmailDomain {
    /// Parse and normalise a domain: ASCII letters, digits and hyphens in dot-separated
    /// labels of 1 to 63 characters, at least two labels, at most 253 characters.
    /// A trailing dot is dropped; case is folded.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let lowered = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let labels: Vec<&str> = lowered.split('.').collect();
        if lowered.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| valid_label(l)) {
            return Err(Error::InvalidDomain(text.to_owned()));
        }
        Ok(EmailDomain(lowered))
    }

    /// The domain of an email address (`local@domain`).
    pub fn of_email(email: &str) -> Result<Self, Error> {
        let (local, domain) = email
            .trim()
            .rsplit_once('@')
            .ok_or_else(|| Error::InvalidEmail(email.to_owned()))?;
        if local.is_empty() || local.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(Error::InvalidEmail(email.to_owned()));
        }
        EmailDomain::parse(domain).map_err(|_| Error::InvalidEmail(email.to_owned()))
    }

    /// The normalised domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Maps email domains to connections (`T` is whatever identifies one: a team id, a
/// connection record). Lookups are exact: `sub.example.com` does not match
/// `example.com`, because a subdomain may belong to someone else.
#[derive(Debug, Clone)]
pub struct DomainRouter<T> {
    routes: BTreeMap<EmailDomain, T>,
}

impl<T> Default for DomainRouter<T> {
    fn default() -> Self {
        DomainRouter {
            routes: BTreeMap::new(),
        }
    }
}

impl<T> DomainRouter<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Route `domain` to `target`, returning the previous target if any.
    pub fn insert(&mut self, domain: EmailDomain, target: T) -> Option<T> {
        self.routes.insert(domain, target)
    }

    /// The target for a domain.
    pub fn route(&self, domain: &EmailDomain) -> Option<&T> {
        self.routes.get(domain)
    }

    /// The target for an email address; an error only if the email is malformed.
    pub fn route_email(&self, email: &str) -> Result<Option<&T>, Error> {
        Ok(self.route(&EmailDomain::of_email(email)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_validated() {
        assert_eq!(
            EmailDomain::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        for bad in [
            "",
            "com",
            "-a.com",
            "a-.com",
            "a..com",
            "exa mple.com",
            "ex_ample.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(EmailDomain::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_route_by_exact_domain() {
        let mut r = DomainRouter::new();
        r.insert(EmailDomain::parse("example.com").unwrap(), 1);
        assert_eq!(r.route_email("a@Example.com").unwrap(), Some(&1));
        assert_eq!(r.route_email("a@sub.example.com").unwrap(), None);
        for bad in [
            "a@b@example.com",
            "@example.com",
            "example.com",
            "a b@example.com",
            "a@",
        ] {
            assert!(
                matches!(r.route_email(bad), Err(Error::InvalidEmail(_))),
                "{bad:?}"
            );
        }
    }
}
