//! Where each resource lives in the exported tree.
//!
//! `<provider>/<org>/<kind>/<stable-name>.json`, where every segment is filesystem safe
//! on Linux, macOS and Windows (no `/ \ : * ? " < > |`, no leading dot, no case-only
//! clashes from the slug part):
//!
//! - **provider**: the provider's wire name (`okta`, `entra_id`...).
//! - **org**: the org URL's host (`acme.okta.com`), or for an org that is not a URL, the
//!   org text itself; lowercase, every run of other characters than `a-z 0-9 . -`
//!   replaced by `-`.
//! - **kind**: the kind's name (`user`, `policy_rule.OKTA_SIGN_ON`) with every character
//!   other than `A-Z a-z 0-9 . _ -` replaced by `_`.
//! - **stable-name**: `<slug>.<id>`, where the slug is the display name (the name the
//!   diff shows: a user's login, a group's name, an app's label) lowercased, runs of
//!   other characters than `a-z 0-9` turned into one `-`, trimmed, and cut to 48
//!   characters (empty slugs are left out: the name is then the id alone); and the id is
//!   the resource's own id when it is 1 to 64 characters of `A-Z a-z 0-9 _ -` not
//!   starting with `_`, or otherwise `_` followed by the first 16 hex digits of the
//!   SHA-256 of the id.
//!
//! The slug holds no `.` and neither does the id part, so the file name splits back
//! unambiguously at its first `.`: two resources of a kind never share a file name, and
//! a resource keeps the same id part however it is renamed. A rename changes only the
//! slug, so Git sees the same content under a new name: a rename.

use std::fmt::Write as _;

use butterfly_core::{Digest, ProviderKind, ResourceKind};

/// The longest slug kept in a file name, in bytes (ASCII only).
const SLUG_MAX: usize = 48;
/// The longest id kept as it is.
const ID_MAX: usize = 64;

/// The directory of a provider's org: `<provider>/<org>`, as two segments.
pub fn org_segments(provider: ProviderKind, org: &str) -> [String; 2] {
    [provider.as_str().to_owned(), org_segment(org)]
}

/// The org's directory name. See the [module docs](self).
pub fn org_segment(org: &str) -> String {
    let host = url_host(org).unwrap_or(org);
    let mut out = String::with_capacity(host.len());
    let mut pending_dash = false;
    for c in host.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    let trimmed = out.trim_start_matches(['.', '-']);
    if trimmed.is_empty() {
        // An org with no usable character still needs a directory of its own.
        format!("org-{}", &Digest::of_bytes(org.as_bytes()).to_hex()[..16])
    } else {
        trimmed.to_owned()
    }
}

fn url_host(org: &str) -> Option<&str> {
    let rest = org.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then_some(host)
}

/// A kind's directory name. See the [module docs](self).
pub fn kind_segment(kind: &ResourceKind) -> String {
    let mut out: String = kind
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// The display name as a slug: lowercase ASCII letters and digits, joined by single
/// dashes, at most 48 characters; empty when the name has none.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(SLUG_MAX));
    let mut pending_dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                if out.len() + 1 >= SLUG_MAX {
                    break;
                }
                out.push('-');
            }
            pending_dash = false;
            if out.len() >= SLUG_MAX {
                break;
            }
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    out
}

/// The id part of a file name: the id itself when it is safe, else a hash of it.
pub fn id_part(id: &str) -> String {
    let safe = !id.is_empty()
        && id.len() <= ID_MAX
        && !id.starts_with('_')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if safe {
        id.to_owned()
    } else {
        let mut out = String::with_capacity(17);
        out.push('_');
        for b in &Digest::of_bytes(id.as_bytes()).as_bytes()[..8] {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

/// The file name of a resource: `<slug>.<id>.json`, or `<id>.json` without a slug.
pub fn file_name(display_name: Option<&str>, id: &str) -> String {
    let slug = display_name.map(slug).unwrap_or_default();
    let id = id_part(id);
    if slug.is_empty() {
        format!("{id}.json")
    } else {
        format!("{slug}.{id}.json")
    }
}

/// The id part of a file name this module made, so a renamed file can be matched with
/// its old name.
pub fn id_part_of_file(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".json")?;
    Some(match stem.split_once('.') {
        Some((_, id)) => id,
        None => stem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_readable() {
        assert_eq!(
            file_name(Some("Ann.Smith@Example.com"), "00u1abc"),
            "ann-smith-example-com.00u1abc.json"
        );
        assert_eq!(
            file_name(Some("  Engineering — Platform  "), "00g1"),
            "engineering-platform.00g1.json"
        );
        assert_eq!(file_name(Some("!!!"), "00g1"), "00g1.json");
        assert_eq!(file_name(None, "00g1"), "00g1.json");
        assert_eq!(id_part_of_file("engineering.00g1.json"), Some("00g1"));
        assert_eq!(id_part_of_file("00g1.json"), Some("00g1"));
    }

    #[test]
    fn unsafe_ids_are_hashed() {
        let part = id_part("a/b");
        assert!(part.starts_with('_') && part.len() == 17, "{part}");
        assert_eq!(part, id_part("a/b"));
        assert_ne!(part, id_part("a/c"));
        assert!(id_part("_x").starts_with('_') && id_part("_x").len() == 17);
        assert!(id_part(&"x".repeat(65)).starts_with('_'));
        assert_eq!(id_part(&"x".repeat(64)), "x".repeat(64));
    }

    #[test]
    fn org_and_kind_segments_are_safe() {
        assert_eq!(org_segment("https://Acme.okta.com/"), "acme.okta.com");
        assert_eq!(org_segment("http://127.0.0.1:8080"), "127.0.0.1-8080");
        assert_eq!(org_segment("https://user@acme.okta.com"), "acme.okta.com");
        assert_eq!(org_segment("acme tenant"), "acme-tenant");
        assert!(org_segment("//").starts_with("org-"));
        assert!(org_segment("../..").starts_with("org-"));
        assert_eq!(
            kind_segment(&ResourceKind::new("policy_rule.OKTA_SIGN_ON")),
            "policy_rule.OKTA_SIGN_ON"
        );
        assert_eq!(kind_segment(&ResourceKind::new("a/b")), "a_b");
        assert_eq!(kind_segment(&ResourceKind::new("..")), "_..");
    }

    proptest! {
        #[test]
        fn file_names_are_safe_and_unique_per_id(
            name_a in any::<String>(), name_b in any::<String>(),
            id_a in any::<String>(), id_b in any::<String>(),
        ) {
            let a = file_name(Some(&name_a), &id_a);
            let b = file_name(Some(&name_b), &id_b);
            for f in [&a, &b] {
                prop_assert!(f.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)));
                prop_assert!(!f.starts_with('.'));
                prop_assert!(f.len() <= SLUG_MAX + 1 + ID_MAX + 5);
            }
            let part = id_part(&id_a);
            prop_assert_eq!(id_part_of_file(&a), Some(part.as_str()));
            if id_a != id_b {
                prop_assert_ne!(a, b);
            }
        }
    }
}
