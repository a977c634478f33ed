//! Export identity snapshots as Terraform HCL for the `okta/okta` provider.
//!
//! This crate will turn a snapshot into `.tf` files (written with `hcl-rs`), secrets
//! into input variables, and ids into `import` blocks, so an org can be brought under
//! Terraform without re-creating anything. Today it holds the naming rule every
//! exported resource needs: a stable, valid Terraform identifier from a display name.
//!
//! # Example
//!
//! ```
//! use butterfly_tf::terraform_identifier;
//!
//! assert_eq!(terraform_identifier("Engineering Team (EU)"), "engineering_team_eu");
//! assert_eq!(terraform_identifier("2FA Policy"), "_2fa_policy");
//! assert_eq!(terraform_identifier("!!!"), "unnamed");
//! ```
#![deny(missing_docs)]

/// Errors from the Terraform exporter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two resources of one type would get the same Terraform address.
    #[error("duplicate Terraform address `{0}`")]
    DuplicateAddress(String),
}

/// A Terraform identifier for a display name.
///
/// Terraform names start with a letter or underscore and contain letters, digits,
/// underscores and hyphens. We lowercase, turn every run of other characters into one
/// underscore, trim underscores at the ends, prefix `_` when the name would start with
/// a digit, and use `unnamed` when nothing is left. The result depends on the name
/// alone, so repeated exports of the same org produce the same addresses.
pub fn terraform_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_sep = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_sep && !out.is_empty() {
                out.push('_');
            }
            pending_sep = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_sep = true;
        }
    }
    if out.is_empty() {
        return "unnamed".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid_and_stable() {
        for (name, id) in [
            ("Everyone", "everyone"),
            ("  Sales -- West  ", "sales_west"),
            ("Zoë's group", "zo_s_group"),
            ("123", "_123"),
            ("", "unnamed"),
        ] {
            assert_eq!(terraform_identifier(name), id, "{name:?}");
        }
    }
}
