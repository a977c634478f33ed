//! The pure half of the SCIM load driver (`src/bin/scim-load.rs`): the users it seeds,
//! the request bodies and filters it sends, what it expects back, and the statistics it
//! prints. Nothing here touches a socket, so the expectations the driver checks every
//! response against are unit tested here.
//!
//! Every seeded User is a function of its index and the run's tag, so the driver keeps
//! only a small [`SeedUser`] per User (plus the id the server gave it) and can still
//! compute, for any list filter, exactly how many Users the server must return.

use std::time::Duration;

use serde_json::{Value, json};

/// RFC 7643 core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// RFC 7644 PATCH request schema.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// RFC 7644 list response schema.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Given names the seeded Users draw from.
pub const GIVEN_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Wei",
    "Priya",
    "Ahmed",
    "Sofia",
    "Yuki",
    "Olga",
    "Kwame",
    "Lucia",
];

/// Family names the seeded Users draw from: several share a two-letter prefix, so a
/// `name.familyName sw` filter matches more than one name, as real prefixes do.
pub const FAMILY_NAMES: &[&str] = &[
    "Smith",
    "Smart",
    "Johnson",
    "Jones",
    "Jordan",
    "Williams",
    "Wilson",
    "Brown",
    "Brooks",
    "Garcia",
    "Gardner",
    "Miller",
    "Mitchell",
    "Davis",
    "Rodriguez",
    "Rogers",
    "Martinez",
    "Martin",
    "Hernandez",
    "Harris",
    "Lopez",
    "Gonzalez",
    "Anderson",
    "Thomas",
    "Thompson",
    "Taylor",
    "Moore",
    "Jackson",
    "White",
    "Lee",
    "Lewis",
    "Clark",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Adams",
    "Baker",
    "Nelson",
    "Carter",
    "Perez",
    "Roberts",
    "Turner",
    "Phillips",
    "Campbell",
    "Parker",
    "Evans",
    "Edwards",
    "Collins",
    "Stewart",
    "Sanchez",
    "Morris",
    "Murphy",
    "Cook",
    "Rivera",
    "Kowalski",
    "Okafor",
    "Tanaka",
    "Novak",
    "Schmidt",
];

/// The `name.familyName sw` prefixes the list phase filters on.
pub const LIST_PREFIXES: &[&str] = &[
    "Sm", "Jo", "Wi", "Br", "Ga", "Mi", "Ro", "Ma", "Ha", "Th", "Le", "Ca", "Pa", "Ed", "Sc", "No",
];

/// One in this many seeded Users starts inactive (`active: false`), as in a real
/// directory where some accounts are suspended.
pub const INACTIVE_ONE_IN: u64 = 10;

/// SplitMix64: a tiny, seedable, well-mixed generator. The driver needs reproducible
/// picks (which User to look up next), not cryptographic ones, and this avoids another
/// dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` > 0). The modulo bias is far below anything a
    /// load test can see.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// What the driver remembers of one seeded User.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedUser {
    /// Position in the seeding order, from 0.
    pub index: u64,
    /// Index into [`GIVEN_NAMES`].
    pub given: u8,
    /// Index into [`FAMILY_NAMES`].
    pub family: u8,
    /// Whether the User is active (as last set by the driver).
    pub active: bool,
}

impl SeedUser {
    /// The User with seeding index `index` in a run seeded with `seed`.
    pub fn new(index: u64, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
        // The name lists are far shorter than 256 entries, so the casts never truncate.
        #[allow(clippy::cast_possible_truncation)]
        let given = rng.below(GIVEN_NAMES.len() as u64) as u8;
        #[allow(clippy::cast_possible_truncation)]
        let family = rng.below(FAMILY_NAMES.len() as u64) as u8;
        SeedUser {
            index,
            given,
            family,
            active: rng.below(INACTIVE_ONE_IN) != 0,
        }
    }

    /// The given name.
    pub fn given_name(&self) -> &'static str {
        GIVEN_NAMES[usize::from(self.given) % GIVEN_NAMES.len()]
    }

    /// The family name.
    pub fn family_name(&self) -> &'static str {
        FAMILY_NAMES[usize::from(self.family) % FAMILY_NAMES.len()]
    }

    /// The `userName`, an email as Okta sends it; `tag` keeps runs against the same
    /// server from colliding.
    pub fn user_name(&self, tag: &str) -> String {
        format!(
            "{}.{}.{}.{tag}@example.com",
            self.given_name().to_lowercase(),
            self.family_name().to_lowercase(),
            self.index
        )
    }

    /// The id a seeder that writes Users straight into a server's database
    /// (`scim-seed`) gives this User: a random-looking version 4 UUID drawn from the
    /// run's seed, `tag` and the index, so the load driver knows it without asking the
    /// server. Servers that assign ids themselves give others; the driver then learns
    /// them from the create responses.
    pub fn seeded_id(&self, seed: u64, tag: &str) -> String {
        // FNV-1a of the tag, so runs with different tags get different ids.
        let tag_hash = tag.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        });
        let mut rng = SplitMix64::new(
            seed.rotate_left(29) ^ tag_hash ^ self.index.wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        let bits = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        // RFC 9562: version 4 in bits 48-51, variant 0b10 in bits 64-65.
        let bits =
            (bits & !(0xF_u128 << 76) & !(0x3_u128 << 62)) | (0x4_u128 << 76) | (0x2_u128 << 62);
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The body Okta POSTs to `/Users` for this User.
    pub fn create_body(&self, tag: &str) -> Value {
        let user_name = self.user_name(tag);
        json!({
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "externalId": format!("00u{tag}{:012}", self.index),
            "name": {
                "givenName": self.given_name(),
                "familyName": self.family_name(),
            },
            "displayName": format!("{} {}", self.given_name(), self.family_name()),
            "locale": "en-US",
            "emails": [{"primary": true, "value": user_name, "type": "work"}],
            "active": self.active,
        })
    }
}

/// The body of an Okta-style PATCH: `replace` of `active` without a path (as Okta
/// deactivates and reactivates) and of `name.givenName` with one.
pub fn patch_body(active: bool, given_name: &str) -> Value {
    json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "replace", "value": {"active": active}},
            {"op": "replace", "path": "name.givenName", "value": given_name},
        ],
    })
}

/// A SCIM filter string literal: quotes and backslashes escaped (RFC 7644 3.4.2.2 takes
/// JSON string syntax).
pub fn filter_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `userName eq "..."`: how Okta and Entra ID look a User up before creating it.
pub fn lookup_filter(user_name: &str) -> String {
    format!("userName eq {}", filter_string(user_name))
}

/// The list phase's filter: a prefix match on a sub-attribute combined with a boolean,
/// the kind of filter an admin tool sends and a store cannot answer from one index.
pub fn list_filter(prefix: &str) -> String {
    format!(
        "name.familyName sw {} and active eq true",
        filter_string(prefix)
    )
}

/// Whether `user` matches [`list_filter`]`(prefix)`. `familyName` is not case exact
/// (RFC 7643 4.1.1), so the prefix compares case-insensitively.
pub fn matches_list_filter(user: &SeedUser, prefix: &str) -> bool {
    user.active && starts_with_ignore_case(user.family_name(), prefix)
}

/// Case-insensitive `starts_with`, on Unicode lower case.
pub fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value.to_lowercase().starts_with(&prefix.to_lowercase())
}

/// Latency figures for one phase, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Requests measured.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

/// The nearest-rank `q`-quantile (0 < q <= 1) of ascending `sorted`; 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarise latencies given in microseconds (sorted in place); `None` when empty.
/// Sorting every sample is exact and, at a few hundred thousand samples a phase, cheap
/// enough not to need a histogram crate.
pub fn summarize(latencies_us: &mut [u64]) -> Option<LatencySummary> {
    if latencies_us.is_empty() {
        return None;
    }
    latencies_us.sort_unstable();
    let ms = |us: u64| Duration::from_micros(us).as_secs_f64() * 1e3;
    let total: u128 = latencies_us.iter().map(|&us| u128::from(us)).sum();
    // Precision loss only past 2^52 microseconds of summed latency.
    #[allow(clippy::cast_precision_loss)]
    let mean_ms = total as f64 / latencies_us.len() as f64 / 1e3;
    Some(LatencySummary {
        count: latencies_us.len(),
        p50_ms: ms(percentile(latencies_us, 0.50)),
        p90_ms: ms(percentile(latencies_us, 0.90)),
        p99_ms: ms(percentile(latencies_us, 0.99)),
        max_ms: ms(latencies_us[latencies_us.len() - 1]),
        mean_ms,
    })
}

/// What is wrong with a `userName eq` lookup's response, if anything: it must hold
/// exactly the one User with `expected_id`.
pub fn check_lookup(body: &Value, expected_id: &str, user_name: &str) -> Result<(), String> {
    let total = body.get("totalResults").and_then(Value::as_u64);
    let resources = body
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if total != Some(1) || resources.len() != 1 {
        return Err(format!(
            "lookup of {user_name}: expected exactly 1 result, got totalResults {total:?} with {} resources",
            resources.len()
        ));
    }
    let found = &resources[0];
    let id = found.get("id").and_then(Value::as_str);
    let name = found.get("userName").and_then(Value::as_str);
    if id != Some(expected_id) || !name.is_some_and(|n| n.eq_ignore_ascii_case(user_name)) {
        return Err(format!(
            "lookup of {user_name}: expected id {expected_id}, got id {id:?} userName {name:?}"
        ));
    }
    Ok(())
}

/// What is wrong with a list response for [`list_filter`]`(prefix)`, if anything: every
/// resource must match, the page must be full up to `count`, and, when `expected_total`
/// is known, `totalResults` must equal it.
pub fn check_list(
    body: &Value,
    prefix: &str,
    count: usize,
    expected_total: Option<u64>,
) -> Result<(), String> {
    let total = body
        .get("totalResults")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("list sw {prefix}: no totalResults"))?;
    let resources = body
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if let Some(expected) = expected_total
        && total != expected
    {
        return Err(format!(
            "list sw {prefix}: totalResults {total}, expected {expected}"
        ));
    }
    let want_on_page = usize::try_from(total).unwrap_or(usize::MAX).min(count);
    if resources.len() != want_on_page {
        return Err(format!(
            "list sw {prefix}: {} resources on the page, expected {want_on_page} (totalResults {total}, count {count})",
            resources.len()
        ));
    }
    for r in resources {
        let family = r.pointer("/name/familyName").and_then(Value::as_str);
        let active = r.get("active").and_then(Value::as_bool);
        if !family.is_some_and(|f| starts_with_ignore_case(f, prefix)) || active != Some(true) {
            return Err(format!(
                "list sw {prefix}: resource {:?} does not match (familyName {family:?}, active {active:?})",
                r.get("id")
            ));
        }
    }
    Ok(())
}

/// What is wrong with a page of `sortBy=userName` (ascending) starting at `start_index`,
/// if anything: userNames in order (ignoring case, as `userName` is not case-exact), the
/// page as full as `totalResults` allows, and, when `expected_total` is known,
/// `totalResults` equal to it.
pub fn check_sorted(
    body: &Value,
    start_index: u64,
    count: usize,
    expected_total: Option<u64>,
) -> Result<(), String> {
    let total = body
        .get("totalResults")
        .and_then(Value::as_u64)
        .ok_or_else(|| "sorted list: no totalResults".to_owned())?;
    if let Some(expected) = expected_total
        && total != expected
    {
        return Err(format!(
            "sorted list: totalResults {total}, expected {expected}"
        ));
    }
    let resources = body
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let left = total.saturating_sub(start_index.saturating_sub(1));
    let want = usize::try_from(left).unwrap_or(usize::MAX).min(count);
    if resources.len() != want {
        return Err(format!(
            "sorted list from {start_index}: {} resources, expected {want} (totalResults {total})",
            resources.len()
        ));
    }
    let names: Vec<String> = resources
        .iter()
        .map(|r| {
            r.get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase()
        })
        .collect();
    if let Some((before, after)) = names.iter().zip(names.iter().skip(1)).find(|(a, b)| a > b) {
        return Err(format!(
            "sorted list from {start_index}: {before} before {after}"
        ));
    }
    Ok(())
}

/// What is wrong with a PATCH response, if anything. A 204 has no body to check
/// (`body` is `None`); a 200 must show both replaced values.
pub fn check_patch(body: Option<&Value>, active: bool, given_name: &str) -> Result<(), String> {
    let Some(body) = body else {
        return Ok(());
    };
    let got_active = body.get("active").and_then(Value::as_bool);
    let got_given = body.pointer("/name/givenName").and_then(Value::as_str);
    if got_active != Some(active) || got_given != Some(given_name) {
        return Err(format!(
            "PATCH of {:?}: expected active {active} givenName {given_name}, got {got_active:?} {got_given:?}",
            body.get("id")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_reproducible_and_varied() {
        assert_eq!(SeedUser::new(7, 1), SeedUser::new(7, 1));
        let users: Vec<_> = (0..10_000).map(|i| SeedUser::new(i, 1)).collect();
        let inactive = users.iter().filter(|u| !u.active).count();
        assert!((700..1300).contains(&inactive), "{inactive} inactive");
        let families: std::collections::BTreeSet<_> = users.iter().map(|u| u.family).collect();
        assert_eq!(families.len(), FAMILY_NAMES.len());
        // Every list prefix selects someone, and none selects everyone.
        for prefix in LIST_PREFIXES {
            let n = users
                .iter()
                .filter(|u| matches_list_filter(u, prefix))
                .count();
            assert!(n > 100 && n < 5_000, "{prefix}: {n}");
        }
    }

    #[test]
    fn seeded_ids_are_v4_uuids_unique_per_tag() {
        let id = SeedUser::new(5, 1).seeded_id(1, "t");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_eq!(id, SeedUser::new(5, 1).seeded_id(1, "t"));
        assert_ne!(id, SeedUser::new(5, 1).seeded_id(1, "u"));
        let ids: std::collections::BTreeSet<String> = (0..10_000)
            .map(|i| SeedUser::new(i, 1).seeded_id(1, "t"))
            .collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn bodies_look_like_okta() {
        let u = SeedUser::new(3, 9);
        let body = u.create_body("t1");
        assert_eq!(body["userName"], u.user_name("t1"));
        assert_eq!(body["emails"][0]["value"], u.user_name("t1"));
        assert_eq!(body["name"]["familyName"], u.family_name());
        assert_eq!(body["externalId"], "00ut1000000000003");
        let patch = patch_body(false, "Zed");
        assert_eq!(patch["Operations"][0]["value"]["active"], false);
        assert_eq!(patch["Operations"][1]["path"], "name.givenName");
    }

    #[test]
    fn filters_escape_their_values() {
        assert_eq!(lookup_filter("a\"b\\c"), r#"userName eq "a\"b\\c""#);
        assert_eq!(
            list_filter("Sm"),
            r#"name.familyName sw "Sm" and active eq true"#
        );
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = summarize(&mut v).unwrap();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 0.050).abs() < 1e-9);
        assert!((s.p99_ms - 0.099).abs() < 1e-9);
        assert!((s.max_ms - 0.100).abs() < 1e-9);
        assert_eq!(percentile(&[5], 0.99), 5);
        assert_eq!(percentile(&[], 0.5), 0);
        assert!(summarize(&mut []).is_none());
    }

    #[test]
    fn lookup_check_wants_exactly_the_user() {
        let one = json!({"totalResults": 1, "Resources": [{"id": "x", "userName": "A@b"}]});
        assert!(check_lookup(&one, "x", "a@b").is_ok());
        assert!(check_lookup(&one, "y", "a@b").is_err());
        let none = json!({"totalResults": 0, "Resources": []});
        assert!(check_lookup(&none, "x", "a@b").is_err());
    }

    #[test]
    fn list_check_wants_matching_full_pages() {
        let r = |f: &str, a: bool| json!({"id": "1", "name": {"familyName": f}, "active": a});
        let good = json!({"totalResults": 2, "Resources": [r("Smith", true), r("smart", true)]});
        assert!(check_list(&good, "Sm", 100, Some(2)).is_ok());
        assert!(check_list(&good, "Sm", 1, None).is_err());
        assert!(check_list(&good, "Sm", 100, Some(3)).is_err());
        let inactive = json!({"totalResults": 1, "Resources": [r("Smith", false)]});
        assert!(check_list(&inactive, "Sm", 100, None).is_err());
        let wrong = json!({"totalResults": 1, "Resources": [r("Jones", true)]});
        assert!(check_list(&wrong, "Sm", 100, None).is_err());
    }

    #[test]
    fn sorted_check_wants_ordered_full_pages() {
        let page = |names: &[&str]| {
            let resources: Vec<Value> = names.iter().map(|n| json!({"userName": n})).collect();
            json!({"totalResults": 3, "Resources": resources})
        };
        assert!(check_sorted(&page(&["a", "B", "c"]), 1, 100, Some(3)).is_ok());
        assert!(check_sorted(&page(&["b", "A", "c"]), 1, 100, None).is_err());
        assert!(check_sorted(&page(&["a", "b", "c"]), 1, 100, Some(4)).is_err());
        assert!(check_sorted(&page(&["a", "b"]), 1, 100, None).is_err());
        assert!(check_sorted(&page(&["c"]), 3, 100, None).is_ok());
    }

    #[test]
    fn patch_check_reads_a_body_when_there_is_one() {
        assert!(check_patch(None, true, "A").is_ok());
        let body = json!({"id": "1", "active": false, "name": {"givenName": "A"}});
        assert!(check_patch(Some(&body), false, "A").is_ok());
        assert!(check_patch(Some(&body), true, "A").is_err());
    }
}
