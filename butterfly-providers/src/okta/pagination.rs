//! Link-header pagination.
//!
//! Okta pages lists with a cursor: a page that has a successor carries
//! `Link: <https://org/api/v1/users?after=00u2&limit=200>; rel="next"` (next to a
//! `rel="self"` link). Okta asks clients to follow the `next` URL as an opaque value rather
//! than build cursors themselves, so the fetcher only ever extracts it from here. A few
//! newer APIs (roles, resource sets) put the same link in the body at `_links.next.href`.

use serde_json::Value;

/// The `rel="next"` URL in one or more `Link` header values, if any.
///
/// Accepts each header value separately or joined with commas, tolerates extra
/// parameters and whitespace, and matches the relation case-insensitively.
pub fn next_link<'a>(link_headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
    link_headers
        .into_iter()
        .flat_map(split_links)
        .find_map(|(url, params)| {
            params
                .iter()
                .any(|p| is_next_relation(p))
                .then(|| url.to_owned())
        })
}

/// The `_links.next.href` URL in a response body, if any.
pub fn next_body_link(body: &Value) -> Option<String> {
    body.pointer("/_links/next/href")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Format one `Link` header value the way Okta does.
pub fn link_header_value(url: &str, rel: &str) -> String {
    format!("<{url}>; rel=\"{rel}\"")
}

fn is_next_relation(param: &str) -> bool {
    let Some((name, value)) = param.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("rel")
        && value
            .trim()
            .trim_matches('"')
            .split_ascii_whitespace()
            .any(|rel| rel.eq_ignore_ascii_case("next"))
}

/// Split a header value into `(url, [params])` pairs. URLs are inside `<...>` and may
/// contain commas, so split on the angle brackets rather than on commas first.
fn split_links(value: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after_start = &rest[start + 1..];
        let Some(end) = after_start.find('>') else {
            break;
        };
        let url = &after_start[..end];
        let tail = &after_start[end + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        let params = tail[..params_end]
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        out.push((url, params));
        rest = &tail[params_end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_next_among_self_and_next() {
        let headers = [
            r#"<https://x.okta.com/api/v1/users?limit=2>; rel="self""#,
            r#"<https://x.okta.com/api/v1/users?after=00u2&limit=2>; rel="next""#,
        ];
        assert_eq!(
            next_link(headers).as_deref(),
            Some("https://x.okta.com/api/v1/users?after=00u2&limit=2")
        );
        let joined = r#"<https://x/a?b=1,2>; rel="self", <https://x/a?after=c,d>;rel=next"#;
        assert_eq!(
            next_link([joined]).as_deref(),
            Some("https://x/a?after=c,d")
        );
    }

    #[test]
    fn no_next_on_the_last_page() {
        assert_eq!(next_link([r#"<https://x/a>; rel="self""#]), None);
        assert_eq!(next_link([]), None);
        assert_eq!(next_link(["garbage"]), None);
    }

    #[test]
    fn formats_what_it_parses() {
        let v = link_header_value("https://x/a?after=1", "next");
        assert_eq!(
            next_link([v.as_str()]).as_deref(),
            Some("https://x/a?after=1")
        );
    }

    #[test]
    fn body_links() {
        let body = json!({"roles": [], "_links": {"next": {"href": "https://x/api/v1/iam/roles?after=r1"}}});
        assert_eq!(
            next_body_link(&body).as_deref(),
            Some("https://x/api/v1/iam/roles?after=r1")
        );
        assert_eq!(next_body_link(&json!({"roles": []})), None);
    }
}
