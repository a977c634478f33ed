//! Every response a full backup reads from the simulator, validated against the `200`
//! schema of its operation in Okta's OpenAPI description (see [`super::openapi`]).
//!
//! The simulator is served behind a recording layer, the shared runner backs it up, and
//! each `GET` answered `200` is matched to its operation by path template. Where real
//! Okta is known to answer differently from its own description, the simulator follows
//! Okta and [`EXCEPTIONS`] names the difference and why; an exception no response needs
//! any more fails the test, so the list cannot go stale.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use butterfly_core::SnapshotStatus;
use butterfly_core::source::InMemorySnapshotSource;
use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::{
    ClientId, FetchEvent, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl, PrivateKey,
};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::simulator::{OrgConfig, Simulator, SimulatorConfig};
use serde_json::Value;

use super::openapi::{self, Operations, Violation};
use super::simulator::client_key;

/// One exchange seen by the recording layer.
#[derive(Debug, Clone)]
struct Exchange {
    method: String,
    path: String,
    status: u16,
    body: Vec<u8>,
}

type Recording = Arc<Mutex<Vec<Exchange>>>;

async fn record(State(log): State<Recording>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    log.lock().unwrap().push(Exchange {
        method,
        path,
        status: parts.status.as_u16(),
        body: bytes.to_vec(),
    });
    Response::from_parts(parts, Body::from(bytes))
}

/// A known difference between real Okta and its OpenAPI description, which the simulator
/// reproduces on purpose.
struct Exception {
    /// The operation's path template.
    template: &'static str,
    /// The end of the violation's JSON pointer, after the array index of a list answer
    /// (`/proxyType`, `/settings/app/url`), or `*` for any.
    at_suffix: &'static str,
    /// A fragment of the violation's message.
    message: &'static str,
    /// Why the simulator follows Okta here, with the source.
    why: &'static str,
}

const NOT_NULLABLE: &str = "null where the schema is not nullable";

/// Where Okta answers differently from its description. Each reason cites the spec's
/// own text (an example response or a description) that shows what Okta sends.
const EXCEPTIONS: &[Exception] = &[
    Exception {
        template: "/api/v1/apps",
        at_suffix: "/accessibility/errorRedirectUrl",
        message: NOT_NULLABLE,
        why: "Okta sends null for an unset custom error page: the spec's own app example \
              (components.examples.AppResponseBaseEx) has `errorRedirectUrl: null`",
    },
    Exception {
        template: "/api/v1/apps",
        at_suffix: "/accessibility/loginRedirectUrl",
        message: NOT_NULLABLE,
        why: "Okta sends null for an unset custom login page: AppResponseBaseEx has \
              `loginRedirectUrl: null`",
    },
    Exception {
        template: "/api/v1/apps/{appId}/users",
        at_suffix: "/externalId",
        message: NOT_NULLABLE,
        why: "an assignment not provisioned to the app has no external id, sent as null: \
              components.examples.AppUserCredUpdateResponse has `externalId: null`",
    },
    Exception {
        template: "/api/v1/brands",
        at_suffix: "/defaultApp/appInstanceId",
        message: NOT_NULLABLE,
        why: "a brand without a default app sends nulls: components.examples.\
              CreateBrandResponse has `defaultApp: {appInstanceId: null, ...}`",
    },
    Exception {
        template: "/api/v1/brands",
        at_suffix: "/defaultApp/appLinkName",
        message: NOT_NULLABLE,
        why: "CreateBrandResponse has `appLinkName: null`",
    },
    Exception {
        template: "/api/v1/brands",
        at_suffix: "/defaultApp/classicApplicationUri",
        message: NOT_NULLABLE,
        why: "CreateBrandResponse has `classicApplicationUri: null`",
    },
    Exception {
        template: "/api/v1/brands/{brandId}/themes",
        at_suffix: "/backgroundImage",
        message: NOT_NULLABLE,
        why: "a theme without a background image sends null: components.examples.\
              GetThemeResponse has `backgroundImage: null`",
    },
    Exception {
        template: "/api/v1/idps",
        at_suffix: "/policy/accountLink/filter",
        message: NOT_NULLABLE,
        why: "an IdP that links accounts without a group filter sends `filter: null`, \
              as every IdP example in the spec does (components.examples, 54 times)",
    },
    Exception {
        template: "/api/v1/meta/schemas/user/{schemaId}",
        at_suffix: "/unique",
        message: "expected boolean, got string",
        why: "the schema types `unique` as a boolean, but the spec's own description of \
              unique attributes (tag Schema) says \"the response shows the properties with \
              `\"unique\": \"UNIQUE_VALIDATED\"`\" (or PENDING_UNIQUENESS)",
    },
    Exception {
        template: "/api/v1/org",
        at_suffix: "/expiresAt",
        message: NOT_NULLABLE,
        why: "an org that does not expire (any paid org) sends `expiresAt: null`, as \
              components.examples.CreateChildOrgResponseEx shows",
    },
    Exception {
        template: "/api/v1/zones",
        at_suffix: "/region",
        message: NOT_NULLABLE,
        why: "a location without a region sends null: NetworkZoneLocation.region's own \
              description says \"or `null` if empty\"",
    },
];

impl Exception {
    fn covers(&self, template: &str, violation: &Violation) -> bool {
        self.template == template
            && (self.at_suffix == "*" || violation.at.ends_with(self.at_suffix))
            && violation.message.contains(self.message)
    }
}

/// Reads a client of the API makes that the backup does not, checked too (the simulator
/// serves them; a restore or a person's script may read them).
const EXTRA_READS: &[&str] = &["/api/v1/meta/schemas/user/default"];

/// The spec's sign-on modes (`ApplicationSignOnMode`): the simulator generates each.
fn sign_on_modes(spec: &Value) -> BTreeSet<String> {
    spec["components"]["schemas"]["ApplicationSignOnMode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_a_backup_reads_matches_okta_s_openapi_description() {
    let spec = openapi::spec();
    let timer = Arc::new(VirtualTimer::new(
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    ));
    let modes = sign_on_modes(spec);
    let config = SimulatorConfig {
        org: OrgConfig {
            seed: 23,
            users: 40,
            groups: 6,
            // Two apps of every sign-on mode the generator cycles through.
            apps: 2 * modes.len() + 2,
        },
        timer: timer.clone(),
        client_public_key_pem: Some(client_key().public_pem.clone()),
        ..SimulatorConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let org_url = format!("http://{}", listener.local_addr().unwrap());
    let simulator = Simulator::new(&config, &org_url).unwrap();
    let recording = Recording::default();
    let router = simulator
        .router()
        .layer(axum::middleware::from_fn_with_state(
            recording.clone(),
            record,
        ));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let source = InMemorySnapshotSource::new();
    let outcome = run_okta_backup(
        credentials(&simulator),
        options(&timer),
        &source,
        timer.as_ref(),
        |_: &FetchEvent| {},
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.status(),
        SnapshotStatus::Complete,
        "{:?}",
        outcome.warnings()
    );

    // The reads the backup does not make, through the same recording layer.
    let fetcher = OktaFetcher::new(credentials(&simulator), options(&timer)).unwrap();
    let session = fetcher
        .sign_in(BTreeSet::from(["okta.schemas.read".to_owned()]))
        .await
        .unwrap();
    for path in EXTRA_READS {
        let answer = session.send("GET", path, None, true).await.unwrap();
        assert!(
            answer.is_success(),
            "GET {path}: {} {}",
            answer.status,
            answer.body
        );
    }
    server.abort();

    let exchanges = recording.lock().unwrap().clone();
    let operations = Operations::new(spec);
    let mut failures = Vec::new();
    // Differences by operation, place (array indices as `*`) and message, with counts.
    let mut differences: BTreeMap<String, usize> = BTreeMap::new();
    let mut used = vec![false; EXCEPTIONS.len()];
    let mut validated: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_modes = BTreeSet::new();
    let mut seen_zone_types = BTreeSet::new();
    for exchange in exchanges
        .iter()
        .filter(|e| e.method == "GET" && e.status == 200)
    {
        let Some(template) = operations.template_for(&exchange.path) else {
            failures.push(format!("GET {}: no operation in the spec", exchange.path));
            continue;
        };
        let body: Value = match serde_json::from_slice(&exchange.body) {
            Ok(body) => body,
            Err(e) => {
                failures.push(format!("GET {}: not JSON ({e})", exchange.path));
                continue;
            }
        };
        match template {
            "/api/v1/apps" => seen_modes.extend(strings_at(&body, "signOnMode")),
            "/api/v1/zones" => seen_zone_types.extend(strings_at(&body, "type")),
            _ => {}
        }
        *validated.entry(template).or_default() += 1;
        let violations = openapi::validate_response(spec, template, &body)
            .unwrap_or_else(|e| panic!("GET {}: {e}", exchange.path));
        for violation in violations {
            if let Some(i) = EXCEPTIONS
                .iter()
                .position(|x| x.covers(template, &violation))
            {
                used[i] = true;
            } else {
                let key = format!(
                    "GET {template} {} ({}): {}",
                    generic(&violation.at),
                    violation.schema,
                    violation.message
                );
                *differences.entry(key).or_default() += 1;
            }
        }
    }

    // The org covers what the test is about.
    assert_eq!(
        seen_modes, modes,
        "the simulator generates an app of every sign-on mode"
    );
    assert_eq!(
        seen_zone_types,
        BTreeSet::from(["IP".into(), "DYNAMIC".into(), "DYNAMIC_V2".into()]),
        "the simulator generates a zone of every type"
    );
    // Every kind of the catalogue was read and answered with objects.
    let unread: Vec<_> = kinds::all()
        .map(|k| k.list_path)
        .filter(|path| !validated.contains_key(path))
        .collect();
    assert!(unread.is_empty(), "kinds never answered 200: {unread:#?}");
    assert!(validated.contains_key("/api/v1/meta/schemas/user/{schemaId}"));
    eprintln!(
        "validated {} responses of {} operations",
        validated.values().sum::<usize>(),
        validated.len()
    );
    for (exception, _) in EXCEPTIONS.iter().zip(&used).filter(|(_, used)| **used) {
        assert!(!exception.why.is_empty());
        eprintln!(
            "exception: GET {} {}: {} ({})",
            exception.template, exception.at_suffix, exception.message, exception.why
        );
    }
    let stale: Vec<_> = EXCEPTIONS
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(x, _)| format!("{} {} {}", x.template, x.at_suffix, x.message))
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions no response needs any more: {stale:#?}"
    );
    failures.extend(
        differences
            .into_iter()
            .map(|(difference, n)| format!("{difference} [{n}x]")),
    );
    assert!(
        failures.is_empty(),
        "{} responses differ from the spec:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A JSON pointer with its array indices as `*`.
fn generic(at: &str) -> String {
    at.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The values of `field` in a list answer's objects.
fn strings_at(body: &Value, field: &str) -> Vec<String> {
    body.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get(field).and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

fn credentials(simulator: &Simulator) -> OktaCredentials {
    let given = simulator.client_credentials();
    OktaCredentials {
        org_url: OrgUrl::parse(&given.org_url).unwrap(),
        client_id: ClientId::new(given.client_id.clone()).unwrap(),
        key_id: Some(given.key_id.clone()),
        private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
    }
}

fn options(timer: &Arc<VirtualTimer>) -> FetchOptions {
    FetchOptions {
        rate_limit_share: 1.0,
        timer: timer.clone(),
        // The simulator listens on loopback.
        insecure_allow_private_addresses: true,
        ..FetchOptions::default()
    }
}
