//! Okta's per-endpoint rate-limit buckets.
//!
//! Okta counts requests per minute per org, in buckets keyed by endpoint. Which bucket a
//! request lands in decides how fast a backup can go: the fetcher keeps one budget per
//! bucket and fetches independent buckets concurrently, so the slowest bucket bounds the
//! whole backup. The buckets and their default per-minute limits (the Enterprise column)
//! follow Okta's "Management rate limits" table
//! (<https://developer.okta.com/docs/reference/rl-global-mgmt/>):
//!
//! | bucket | endpoints | limit/min |
//! | --- | --- | --- |
//! | `/api/v1/users` | `GET`/`POST /api/v1/users` | 600 |
//! | `/api/v1/users/{id}` | `GET /api/v1/users/{idOrLogin}` | 1000 |
//! | `/api/v1/users/{id}` (writes) | `PUT`/`POST`/`DELETE /api/v1/users/{id}` and `/api/v1/users/{id}/lifecycle/*` | 600 |
//! | `/api/v1/groups` | `/api/v1/groups` except `/api/v1/groups/{id}` (so members, owners, rules) | 600 |
//! | `/api/v1/groups/{id}` | `/api/v1/groups/{id}` only | 600 |
//! | `/api/v1/apps` | `/api/v1/apps` and `/api/v1/apps/{id}/*` (assignments, grants, features) | 100 |
//! | `/api/v1/apps/{id}` | `/api/v1/apps/{id}` only | 600 |
//! | `/api/v1/logs` | System Log | 50 |
//! | `/oauth2/v1/clients` | OAuth 2.0 client configuration | 100 |
//! | `/oauth2/v1` | the org authorization server (the token endpoint) | 1200 |
//! | `/api/v1` | most other API actions | 600 |
//!
//! Okta counts user updates and deletes apart from user reads (reads by id have the
//! higher limit); the other rows count writes with reads: creating users, groups and apps
//! spends the list bucket, updating or deleting one group or app spends its by-id bucket,
//! and writes under an app (assignments) spend `/api/v1/apps`. Lifecycle operations on a
//! user are counted with the user's writes.
//!
//! Authorization servers and policies have no row of their own in that table: they share
//! the "most other API actions" bucket with every other `/api/v1` endpoint.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rate-limit bucket: the set of endpoints that share one per-minute budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RateLimitBucket {
    /// `GET` or `POST /api/v1/users`: listing and creating users.
    UsersList,
    /// `GET /api/v1/users/{idOrLogin}`: one user.
    UserById,
    /// `PUT`, `POST` or `DELETE /api/v1/users/{id}` and the user's lifecycle operations:
    /// changing one user.
    UserWrite,
    /// `/api/v1/groups` except `/api/v1/groups/{id}`: listing groups, members, owners, rules.
    GroupsList,
    /// `/api/v1/groups/{id}`: one group.
    GroupById,
    /// `/api/v1/apps` and `/api/v1/apps/{id}/*`: listing apps and everything under an app.
    AppsList,
    /// `/api/v1/apps/{id}`: one app.
    AppById,
    /// `/api/v1/logs`: the System Log.
    Logs,
    /// `/oauth2/v1/clients`: OAuth 2.0 client configuration.
    OAuth2Clients,
    /// `/oauth2/v1` except clients: the org authorization server, including the token endpoint.
    OrgAuthorizationServer,
    /// Most other API actions under `/api/v1` (and the newer `/attack-protection`,
    /// `/integrations` API roots).
    Other,
}

impl RateLimitBucket {
    /// Every bucket.
    pub const ALL: [RateLimitBucket; 11] = [
        RateLimitBucket::UsersList,
        RateLimitBucket::UserById,
        RateLimitBucket::UserWrite,
        RateLimitBucket::GroupsList,
        RateLimitBucket::GroupById,
        RateLimitBucket::AppsList,
        RateLimitBucket::AppById,
        RateLimitBucket::Logs,
        RateLimitBucket::OAuth2Clients,
        RateLimitBucket::OrgAuthorizationServer,
        RateLimitBucket::Other,
    ];

    /// The bucket's name as Okta's rate-limit dashboard shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitBucket::UsersList => "/api/v1/users",
            RateLimitBucket::UserById => "/api/v1/users/{id}",
            RateLimitBucket::UserWrite => "/api/v1/users/{id} (writes)",
            RateLimitBucket::GroupsList => "/api/v1/groups",
            RateLimitBucket::GroupById => "/api/v1/groups/{id}",
            RateLimitBucket::AppsList => "/api/v1/apps",
            RateLimitBucket::AppById => "/api/v1/apps/{id}",
            RateLimitBucket::Logs => "/api/v1/logs",
            RateLimitBucket::OAuth2Clients => "/oauth2/v1/clients",
            RateLimitBucket::OrgAuthorizationServer => "/oauth2/v1",
            RateLimitBucket::Other => "/api/v1",
        }
    }

    /// Okta's default limit for the bucket, in requests per minute (Enterprise orgs).
    pub fn default_limit_per_minute(self) -> u32 {
        match self {
            RateLimitBucket::UserById => 1000,
            RateLimitBucket::AppsList | RateLimitBucket::OAuth2Clients => 100,
            RateLimitBucket::Logs => 50,
            RateLimitBucket::OrgAuthorizationServer => 1200,
            RateLimitBucket::UsersList
            | RateLimitBucket::UserWrite
            | RateLimitBucket::GroupsList
            | RateLimitBucket::GroupById
            | RateLimitBucket::AppById
            | RateLimitBucket::Other => 600,
        }
    }

    /// The bucket a request falls in.
    ///
    /// `path` is the request path without query string, either concrete
    /// (`/api/v1/groups/00g1/users`) or an OpenAPI template (`/api/v1/groups/{groupId}/users`);
    /// `method` is the HTTP method in upper case.
    pub fn for_request(method: &str, path: &str) -> RateLimitBucket {
        let segments: Vec<&str> = path
            .trim_end_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match segments.as_slice() {
            ["api", "v1", "users"] => {
                if method == "GET" || method == "POST" {
                    RateLimitBucket::UsersList
                } else {
                    RateLimitBucket::Other
                }
            }
            ["api", "v1", "users", _] if method == "GET" => RateLimitBucket::UserById,
            ["api", "v1", "users", _] | ["api", "v1", "users", _, "lifecycle", _] => {
                RateLimitBucket::UserWrite
            }
            // `rules` is a literal segment, not a group id: rules count as "not by id".
            ["api", "v1", "groups", "rules"] => RateLimitBucket::GroupsList,
            ["api", "v1", "groups", _] => RateLimitBucket::GroupById,
            ["api", "v1", "groups", ..] => RateLimitBucket::GroupsList,
            ["api", "v1", "apps", _] => RateLimitBucket::AppById,
            ["api", "v1", "apps", ..] => RateLimitBucket::AppsList,
            ["api", "v1", "logs", ..] => RateLimitBucket::Logs,
            ["oauth2", "v1", "clients", ..] => RateLimitBucket::OAuth2Clients,
            ["oauth2", "v1", ..] => RateLimitBucket::OrgAuthorizationServer,
            _ => RateLimitBucket::Other,
        }
    }
}

impl fmt::Display for RateLimitBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_in_the_documented_buckets() {
        use RateLimitBucket as B;
        for (method, path, bucket) in [
            ("GET", "/api/v1/users", B::UsersList),
            ("POST", "/api/v1/users", B::UsersList),
            ("GET", "/api/v1/users/00u1", B::UserById),
            ("DELETE", "/api/v1/users/00u1", B::UserWrite),
            ("PUT", "/api/v1/users/00u1", B::UserWrite),
            (
                "POST",
                "/api/v1/users/00u1/lifecycle/activate",
                B::UserWrite,
            ),
            ("PUT", "/api/v1/groups/00g1", B::GroupById),
            ("DELETE", "/api/v1/groups/00g1", B::GroupById),
            ("PUT", "/api/v1/groups/00g1/users/00u1", B::GroupsList),
            ("POST", "/api/v1/groups", B::GroupsList),
            ("POST", "/api/v1/apps", B::AppsList),
            ("PUT", "/api/v1/apps/0oa1", B::AppById),
            ("POST", "/api/v1/apps/0oa1/users", B::AppsList),
            ("POST", "/api/v1/zones", B::Other),
            ("GET", "/api/v1/users/{userId}/roles", B::Other),
            ("GET", "/api/v1/groups", B::GroupsList),
            ("GET", "/api/v1/groups/rules", B::GroupsList),
            ("GET", "/api/v1/groups/00g1", B::GroupById),
            ("GET", "/api/v1/groups/{groupId}/users", B::GroupsList),
            ("GET", "/api/v1/apps", B::AppsList),
            ("GET", "/api/v1/apps/0oa1", B::AppById),
            ("GET", "/api/v1/apps/0oa1/users", B::AppsList),
            ("GET", "/api/v1/logs", B::Logs),
            ("POST", "/oauth2/v1/token", B::OrgAuthorizationServer),
            ("GET", "/oauth2/v1/clients/0oa1/roles", B::OAuth2Clients),
            ("GET", "/api/v1/authorizationServers", B::Other),
            ("GET", "/api/v1/policies", B::Other),
            (
                "GET",
                "/attack-protection/api/v1/user-lockout-settings",
                B::Other,
            ),
        ] {
            assert_eq!(B::for_request(method, path), bucket, "{method} {path}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = RateLimitBucket::ALL.iter().map(|b| b.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RateLimitBucket::ALL.len());
    }
}
