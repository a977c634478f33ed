//! Property-based fuzzing of every parser that reads untrusted input, for a time budget.
//!
//! ```text
//! cargo run --release -p butterfly-benches --bin fuzz -- [--seconds-per-target 20] [--target NAME]
//! scripts/fuzz                      # the same, every target
//! ```
//!
//! Each target draws inputs from a proptest strategy (grammar-shaped text mixed with
//! arbitrary text and bytes) until its budget is spent, and checks the one rule: no
//! panic, and every failure is the parser's typed error (a `Result`, or for the SCIM
//! service a response below 500 in SCIM's error format). A panic prints the input that
//! caused it and the run exits 1. The case count of each target is printed.
//!
//! Targets: `scim-filter` (filters, and that a parsed filter prints back to itself),
//! `scim-path` (PATCH paths and attribute paths), `scim-service` (whole SCIM requests:
//! method, path, query and JSON body, against the in-memory store: every answer below
//! 500 but `/Me`'s 501, in SCIM's error format), `canonical-json`
//! (canonical form is stable and parses back to the same value), `logout-token` (signed
//! tokens with arbitrary claims and headers, and arbitrary text), `snapshot-reader`
//! (a real repository whose pack, index or manifest is replaced by arbitrary bytes or has
//! bytes flipped).

// The checks are assertions, as in a test: a panic is the finding, caught and reported
// with its input. Checks take their input by value, as `run` hands each one over.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::needless_pass_by_value
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus, TeamId};
use butterfly_oidc::{ClientId, Issuer, JwksCache, LogoutTokenValidator};
use butterfly_scim::filter::{AttrPath, Filter, PatchPath};
use butterfly_scim::{MemoryStore, ScimService};
use butterfly_store::snapshots::SnapshotRepository;
use bytes::Bytes;
use clap::Parser;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Time budget per target.
    #[arg(long, default_value_t = 20)]
    seconds_per_target: u64,
    /// Run only this target (repeatable).
    #[arg(long = "target")]
    targets: Vec<String>,
}

const TARGETS: [&str; 6] = [
    "scim-filter",
    "scim-path",
    "scim-service",
    "canonical-json",
    "logout-token",
    "snapshot-reader",
];

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    for t in &args.targets {
        if !TARGETS.contains(&t.as_str()) {
            eprintln!("unknown target {t}; targets: {}", TARGETS.join(", "));
            return std::process::ExitCode::from(2);
        }
    }
    // Panics are caught and reported with their input; keep the default hook quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let budget = Duration::from_secs(args.seconds_per_target);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    println!("{:<16} {:>10} {:>8}  result", "target", "cases", "seconds");
    for target in TARGETS {
        if !args.targets.is_empty() && !args.targets.iter().any(|t| t == target) {
            continue;
        }
        let started = Instant::now();
        let outcome = match target {
            "scim-filter" => run(budget, filter_text(), check_filter),
            "scim-path" => run(budget, filter_text(), check_path),
            "scim-service" => {
                let service = ScimService::new(MemoryStore::new());
                let team = TeamId::new_random();
                run(budget, scim_request(), |(method, path, body)| {
                    runtime.block_on(check_scim(&service, team, method, path, body));
                })
            }
            "canonical-json" => run(budget, json_value(), check_canonical),
            "logout-token" => match LogoutFixture::new() {
                Ok(fixture) => run(budget, token_input(), |input| {
                    runtime.block_on(fixture.check(input));
                }),
                Err(e) => Outcome::Failed(format!("fixture: {e}")),
            },
            "snapshot-reader" => match runtime.block_on(RepoFixture::new()) {
                Ok(fixture) => run(budget, damage(), |d| runtime.block_on(fixture.check(d))),
                Err(e) => Outcome::Failed(format!("fixture: {e}")),
            },
            _ => continue,
        };
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Outcome::Clean(cases) => println!("{target:<16} {cases:>10} {seconds:>8.1}  clean"),
            Outcome::Failed(report) => {
                failed = true;
                println!("{target:<16} {:>10} {seconds:>8.1}  PANIC", "-");
                println!("{report}");
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

enum Outcome {
    Clean(u64),
    Failed(String),
}

/// Draw from `strategy` and run `check` until `budget` is spent or a check panics.
fn run<S, F>(budget: Duration, strategy: S, mut check: F) -> Outcome
where
    S: Strategy,
    S::Value: std::fmt::Debug + Clone,
    F: FnMut(S::Value),
{
    let mut runner = TestRunner::deterministic();
    let started = Instant::now();
    let mut cases = 0u64;
    while started.elapsed() < budget {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let value = tree.current();
        let input = value.clone();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(value))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            return Outcome::Failed(format!("input: {input:?}\npanic: {message}"));
        }
        cases += 1;
    }
    Outcome::Clean(cases)
}

// ---- SCIM filters and paths ----

/// Text shaped like SCIM filters, with arbitrary text mixed in.
fn filter_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("userName".to_owned()),
        Just("emails[type eq \"work\"]".to_owned()),
        Just("name.familyName".to_owned()),
        Just("urn:ietf:params:scim:schemas:core:2.0:User:userName".to_owned()),
        Just("meta.lastModified".to_owned()),
        prop_oneof![
            Just("eq"),
            Just("ne"),
            Just("co"),
            Just("sw"),
            Just("ew"),
            Just("pr"),
            Just("gt"),
            Just("ge"),
            Just("lt"),
            Just("le"),
            Just("and"),
            Just("or"),
            Just("not"),
            Just("("),
            Just(")"),
            Just("["),
            Just("]"),
            Just("."),
            Just(":"),
            Just("\""),
            Just("\\"),
            Just("true"),
            Just("null"),
            Just("1e400"),
            Just("-0"),
        ]
        .prop_map(str::to_owned),
        "\"[^\"]{0,12}\"",
        "[a-zA-Z$_][a-zA-Z0-9$_-]{0,10}",
        any::<String>(),
    ];
    prop_oneof![
        4 => prop::collection::vec(token, 0..24).prop_map(|t| t.join(" ")),
        1 => any::<String>(),
        1 => "[ ()\\[\\]a-z.\"]{0,200}",
    ]
}

fn check_filter(text: String) {
    if let Ok(filter) = Filter::parse(&text) {
        // What parses prints back to text that parses to the same filter.
        let printed = filter.to_string();
        match Filter::parse(&printed) {
            Ok(again) => assert_eq!(again, filter, "printed as {printed}"),
            Err(e) => panic!("printed filter {printed} does not parse: {e}"),
        }
    }
}

fn check_path(text: String) {
    let _ = PatchPath::parse(&text);
    let _ = AttrPath::parse(&text);
}

// ---- the SCIM service: whole requests ----

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        prop_oneof![
            Just("userName"),
            Just("active"),
            Just("emails"),
            Just("members"),
            Just("value"),
            Just("urn:ietf:params:scim:schemas:core:2.0:User"),
            Just("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
            Just("replace"),
            Just("add"),
            Just("remove"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("schemas".to_owned()),
                    Just("userName".to_owned()),
                    Just("displayName".to_owned()),
                    Just("Operations".to_owned()),
                    Just("op".to_owned()),
                    Just("path".to_owned()),
                    Just("value".to_owned()),
                    Just("members".to_owned()),
                    Just("emails".to_owned()),
                    Just("name".to_owned()),
                    Just("active".to_owned()),
                    Just("externalId".to_owned()),
                    any::<String>(),
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn scim_request() -> impl Strategy<Value = (String, String, Vec<u8>)> {
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("PUT"),
        Just("PATCH"),
        Just("DELETE")
    ];
    let path = prop_oneof![
        Just("/Users".to_owned()),
        Just("/Groups".to_owned()),
        Just("/Bulk".to_owned()),
        Just("/.search".to_owned()),
        Just("/Users/00000000-0000-0000-0000-000000000000".to_owned()),
        filter_text().prop_map(|f| format!(
            "/Users?filter={}",
            url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
        )),
        "/[A-Za-z%0-9./?=&]{0,40}",
    ];
    let body = prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => any::<Vec<u8>>(),
    ];
    (method.prop_map(str::to_owned), path, body)
}

async fn check_scim(
    service: &ScimService<MemoryStore>,
    team: TeamId,
    method: String,
    path_and_query: String,
    body: Vec<u8>,
) {
    let Ok(request) = http::Request::builder()
        .method(method.as_str())
        .uri(format!("http://scim.test{path_and_query}"))
        .header("content-type", "application/scim+json")
        .body(Bytes::from(body))
    else {
        return; // Not a request a server could receive.
    };
    let response = service
        .handle(team, "http://scim.test/scim/v2", request)
        .await;
    let status = response.status().as_u16();
    // 501 is RFC 7644's answer for /Me when the provider does not support it (3.11);
    // anything else at 500 or above is a server error the input caused.
    assert!(status < 500 || status == 501, "status {status}");
    if status >= 400 {
        let body: Value = serde_json::from_slice(response.body())
            .unwrap_or_else(|e| panic!("a {status} body is not JSON: {e}"));
        assert_eq!(
            body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{body}"
        );
        assert_eq!(body["status"], status.to_string(), "{body}");
    }
}

// ---- canonical JSON ----

fn check_canonical(value: Value) {
    let bytes = butterfly_core::canonical_json(&value);
    let parsed: Value = serde_json::from_slice(&bytes).expect("canonical JSON parses");
    assert_eq!(butterfly_core::canonical_json(&parsed), bytes, "stable");
    assert_eq!(
        butterfly_core::Digest::of_json(&parsed),
        butterfly_core::Digest::of_json(&value)
    );
}

// ---- back-channel logout tokens ----

struct LogoutFixture {
    validator: LogoutTokenValidator,
    key: jsonwebtoken::EncodingKey,
}

const ISSUER: &str = "https://idp.example.test";

impl LogoutFixture {
    fn new() -> Result<Self, String> {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let private =
            rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
        let der = private.to_pkcs1_der().map_err(|e| e.to_string())?;
        let public = private.to_public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]});
        let cache = JwksCache::from_json(jwks.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let validator = LogoutTokenValidator::new(
            Issuer::new(ISSUER).map_err(|e| e.to_string())?,
            ClientId::new("client").map_err(|e| e.to_string())?,
            Arc::new(cache),
        );
        let key = jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes());
        Ok(LogoutFixture { validator, key })
    }

    async fn check(&self, input: TokenInput) {
        let token = match input {
            TokenInput::Text(text) => text,
            TokenInput::Signed { claims, typ } => {
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some("k1".to_owned());
                header.typ = typ;
                match jsonwebtoken::encode(&header, &claims, &self.key) {
                    Ok(token) => token,
                    Err(_) => return,
                }
            }
            TokenInput::Segments(h, c, s) => format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                URL_SAFE_NO_PAD.encode(c.to_string()),
                URL_SAFE_NO_PAD.encode(s)
            ),
        };
        let _ = LogoutTokenValidator::peek_issuer(&token);
        let _ = self.validator.validate(&token).await;
    }
}

#[derive(Debug, Clone)]
enum TokenInput {
    Text(String),
    Signed { claims: Value, typ: Option<String> },
    Segments(Value, Value, Vec<u8>),
}

fn token_input() -> impl Strategy<Value = TokenInput> {
    let now = chrono::Utc::now().timestamp();
    let claim_value = prop_oneof![
        json_value(),
        Just(json!(ISSUER)),
        Just(json!("client")),
        Just(json!(["client", "other"])),
        (-1000i64..1000).prop_map(move |d| json!(now + d)),
        Just(json!({"http://schemas.openid.net/event/backchannel-logout": {}})),
    ];
    let claims = prop::collection::btree_map(
        prop_oneof![
            Just("iss".to_owned()),
            Just("aud".to_owned()),
            Just("iat".to_owned()),
            Just("exp".to_owned()),
            Just("jti".to_owned()),
            Just("sub".to_owned()),
            Just("sid".to_owned()),
            Just("events".to_owned()),
            Just("nonce".to_owned()),
            any::<String>(),
        ],
        claim_value,
        0..9,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    prop_oneof![
        any::<String>().prop_map(TokenInput::Text),
        (
            claims.clone(),
            prop::option::of(prop_oneof![
                Just("logout+jwt".to_owned()),
                Just("JWT".to_owned()),
                any::<String>()
            ])
        )
            .prop_map(|(claims, typ)| TokenInput::Signed { claims, typ }),
        (json_value(), claims, any::<Vec<u8>>())
            .prop_map(|(h, c, s)| TokenInput::Segments(h, c, s)),
    ]
}

// ---- the snapshot reader ----

struct RepoFixture {
    dir: tempfile::TempDir,
    files: Vec<(std::path::PathBuf, Vec<u8>)>,
}

#[derive(Debug, Clone)]
enum Damage {
    Replace { file: usize, bytes: Vec<u8> },
    Flip { file: usize, at: usize, bit: u8 },
    Truncate { file: usize, keep: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<Vec<u8>>())
            .prop_map(|(file, bytes)| Damage::Replace { file, bytes }),
        (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(file, at, bit)| Damage::Flip {
            file,
            at,
            bit
        }),
        (any::<usize>(), any::<usize>()).prop_map(|(file, keep)| Damage::Truncate { file, keep }),
    ]
}

impl RepoFixture {
    async fn new() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let repo = SnapshotRepository::init(dir.path())
            .await
            .map_err(|e| e.to_string())?;
        let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", chrono::Utc::now());
        for i in 0..50 {
            let resource = Resource::new(
                ResourceKind::new(if i % 2 == 0 { "user" } else { "group" }),
                format!("0{i}"),
                json!({"id": format!("0{i}"), "profile": {"n": i}}),
            );
            writer.add(&resource).await.map_err(|e| e.to_string())?;
        }
        writer
            .finish(chrono::Utc::now(), SnapshotStatus::Complete)
            .await
            .map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for sub in ["packs", "index", "snapshots"] {
            for entry in std::fs::read_dir(dir.path().join(sub)).map_err(|e| e.to_string())? {
                let path = entry.map_err(|e| e.to_string())?.path();
                let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                files.push((path, bytes));
            }
        }
        Ok(RepoFixture { dir, files })
    }

    async fn check(&self, damage: Damage) {
        let n = self.files.len();
        let (index, bytes) = match damage {
            Damage::Replace { file, bytes } => (file % n, bytes),
            Damage::Flip { file, at, bit } => {
                let mut bytes = self.files[file % n].1.clone();
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= 1 << bit;
                }
                (file % n, bytes)
            }
            Damage::Truncate { file, keep } => {
                let mut bytes = self.files[file % n].1.clone();
                bytes.truncate(keep % (bytes.len() + 1));
                (file % n, bytes)
            }
        };
        let path = &self.files[index].0;
        std::fs::write(path, &bytes).expect("write the damaged file");
        let t = Instant::now();
        // Every read path: open (indexes), list (manifests), read each snapshot, verify.
        if let Ok(repo) = SnapshotRepository::open_with_password(self.dir.path(), None).await {
            if let Ok(listing) = repo.list_all().await {
                for summary in listing.snapshots {
                    let _ = repo.manifest(summary.id).await;
                }
            }
            let _ = repo.verify(None).await;
            let _ = repo.check(true).await;
        }
        if t.elapsed() > Duration::from_millis(300) {
            eprintln!(
                "slow {:?}: {} {} bytes",
                t.elapsed(),
                path.display(),
                bytes.len()
            );
        }
        std::fs::write(path, &self.files[index].1).expect("restore the file");
    }
}
