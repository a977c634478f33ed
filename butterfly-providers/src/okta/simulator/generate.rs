//! Generating an org from a seed.
//!
//! Every kind in the catalogue gets objects shaped like the OpenAPI spec's schemas, with
//! `_links` and with the secrets a backup must strip (app client secrets, hook auth values,
//! IdP client secrets, SMTP passwords...), each marked with [`SECRET_MARKER`]. The same
//! seed and sizes give the same org, byte for byte, whatever the port: only `_links`
//! carry the org URL.
//!
//! [`SECRET_MARKER`]: super::SECRET_MARKER

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, Timelike};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::org::{Item, Org, SECRET_MARKER, ServiceApp};
use crate::okta::kinds::{self, KindSpec, POLICY_TYPES};

/// The size and seed of a simulated org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgConfig {
    /// Seeds every random choice.
    pub seed: u64,
    /// How many users (a few are deprovisioned, suspended, staged...).
    pub users: usize,
    /// How many groups besides `Everyone`.
    pub groups: usize,
    /// How many apps besides Butterfly's own service app.
    pub apps: usize,
}

impl Default for OrgConfig {
    fn default() -> Self {
        OrgConfig {
            seed: 1,
            users: 200,
            groups: 20,
            apps: 10,
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
    "John",
    "Katherine",
    "Donald",
    "Sophie",
    "Niklaus",
    "Joan",
    "Bjarne",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Backus",
    "Johnson",
    "Knuth",
    "Wilson",
    "Wirth",
    "Clarke",
    "Stroustrup",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Finance",
    "Support",
    "Marketing",
    "Legal",
    "People",
    "Security",
];
const APP_LABELS: &[&str] = &[
    "Salesforce",
    "Slack",
    "GitHub",
    "Zoom",
    "Workday",
    "Jira",
    "Confluence",
    "Box",
    "Dropbox",
    "AWS",
    "Google Workspace",
    "Microsoft 365",
    "Zendesk",
    "DocuSign",
    "Figma",
    "Notion",
    "ServiceNow",
    "Tableau",
    "Datadog",
    "PagerDuty",
];
const USER_STATUSES: &[(&str, u32)] = &[
    ("ACTIVE", 80),
    ("STAGED", 4),
    ("PROVISIONED", 4),
    ("SUSPENDED", 3),
    ("DEPROVISIONED", 4),
    ("LOCKED_OUT", 2),
    ("PASSWORD_EXPIRED", 2),
    ("RECOVERY", 1),
];
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Build the org for `config`, served at `org_url`.
pub(crate) fn generate(config: &OrgConfig, org_url: &str) -> Org {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let client_id = okta_id(&mut rng, "0oa");
    let key_id = okta_id(&mut rng, "");
    let mut g = Gen {
        rng,
        url: org_url.trim_end_matches('/').to_owned(),
        org: Org::new(org_url, ServiceApp { client_id, key_id }),
        state: State::default(),
    };
    g.org_settings();
    g.security();
    g.hooks();
    g.schemas();
    g.branding();
    g.identity_providers();
    g.users(config.users);
    g.groups(config.groups);
    g.apps(config.apps);
    g.authorization_servers(config.apps);
    g.policies(config.apps);
    g.roles();
    g.org
}

/// Ids generated early that later objects point at.
#[derive(Debug, Default)]
struct State {
    zones: Vec<String>,
    push_providers: Vec<String>,
    authenticators: Vec<String>,
    device_assurances: Vec<String>,
    inline_hooks: Vec<String>,
    user_types: Vec<String>,
    ui_schema: String,
    brands: Vec<String>,
    idps: Vec<String>,
    realms: Vec<String>,
    users: Vec<Arc<Item>>,
    active_users: Vec<Arc<Item>>,
    everyone: String,
    groups: Vec<String>,
    apps: Vec<(String, String)>,
    custom_roles: Vec<String>,
    resource_sets: Vec<String>,
}

struct Gen {
    rng: ChaCha8Rng,
    url: String,
    org: Org,
    state: State,
}

fn okta_id(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    while id.len() < 20 {
        id.push(char::from(BASE62[rng.gen_range(0..BASE62.len())]));
    }
    id
}

fn spec(name: &str) -> &'static KindSpec {
    match kinds::by_name(name) {
        Some(k) => k,
        // The generator names only catalogue kinds; a test walks every one of them.
        None => unreachable!("the generator names an unknown kind {name}"),
    }
}

impl Gen {
    fn id(&mut self, prefix: &str) -> String {
        okta_id(&mut self.rng, prefix)
    }

    /// A timestamp between 2019 and mid-2025, in Okta's millisecond format.
    fn ts(&mut self) -> String {
        let secs = self.rng.gen_range(1_546_300_800_i64..1_748_736_000);
        match chrono::DateTime::from_timestamp(secs, 0) {
            Some(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            None => "2020-01-01T00:00:00.000Z".to_owned(),
        }
    }

    fn secret(&mut self, what: &str) -> String {
        let n: u64 = self.rng.r#gen();
        format!("{SECRET_MARKER}{what}-{n:016x}")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from.choose(&mut self.rng).copied().unwrap_or_default()
    }

    fn href(&self, path: &str) -> Value {
        json!({ "href": format!("{}{path}", self.url) })
    }

    fn self_link(&self, path: &str) -> Value {
        json!({ "self": self.href(path) })
    }

    /// Record the listing of `kind` under `params`.
    fn put(&mut self, kind: &str, params: &[(&str, &str)], items: Vec<Value>) -> Vec<Arc<Item>> {
        let spec = spec(kind);
        let path = fill(spec, params);
        self.org.insert(spec, path, items)
    }

    fn put_absent(&mut self, kind: &str, params: &[(&str, &str)]) {
        let spec = spec(kind);
        let path = fill(spec, params);
        self.org.insert_absent(spec, path);
    }

    fn org_settings(&mut self) {
        let id = self.id("00o");
        let (created, updated) = (self.ts(), self.ts());
        let org = json!({
            "id": id, "companyName": "Butterfly Simulated Org", "subdomain": "butterfly-sim",
            "status": "ACTIVE", "website": "https://example.com", "address1": "1 Main St",
            "city": "Springfield", "state": "CA", "country": "United States", "postalCode": "94000",
            "phoneNumber": "+1-555-0100", "supportPhoneNumber": "+1-555-0199",
            "endUserSupportHelpURL": "https://help.example.com", "expiresAt": null,
            "created": created, "lastUpdated": updated,
            "_links": { "contacts": self.href("/api/v1/org/contacts"), "preferences": self.href("/api/v1/org/preferences") }
        });
        self.put("org_setting", &[], vec![org]);
        let prefs = json!({ "showEndUserFooter": true, "_links": { "hideEndUserFooter": self.href("/api/v1/org/preferences/hideEndUserFooter") } });
        self.put("org_preferences", &[], vec![prefs]);

        let mut features = Vec::new();
        for (name, stage) in [
            // The Features API lists self-service features, which are in BETA or EA.
            ("Okta Identity Engine", "EA"),
            ("Direct Authentication", "EA"),
            ("Early Access Hooks", "BETA"),
            ("Passkey Autofill", "EA"),
            ("Realms", "EA"),
            ("Session Protection", "EA"),
        ] {
            let id = self.id("ftr");
            let enabled = self.chance(0.6);
            features.push(json!({
                "id": id, "type": "self-service", "name": name,
                "description": format!("{name} for the org"),
                "status": if enabled { "ENABLED" } else { "DISABLED" },
                "stage": { "value": stage, "state": if stage == "BETA" { "OPEN" } else { "CLOSED" } },
                "_links": self.self_link(&format!("/api/v1/features/{id}"))
            }));
        }
        self.put("feature", &[], features);

        let mut pools = Vec::new();
        for (name, kind) in [("corp.example.com", "AD"), ("ldap.example.com", "LDAP")] {
            let (id, agent) = (self.id("0oa"), self.id("a53"));
            pools.push(json!({
                "id": id, "name": name, "type": kind, "operationalStatus": "OPERATIONAL",
                "disruptedAgents": 0, "inactiveAgents": 0,
                "agents": [{ "id": agent, "name": format!("{name}-agent-1"), "isHidden": false,
                    "isLatestGAedVersion": true, "lastConnection": 1_700_000_000_000_u64,
                    "operationalStatus": "OPERATIONAL", "poolId": id, "type": kind, "updateStatus": "Scheduled", "version": "3.16.0" }]
            }));
        }
        self.put("agent_pool", &[], pools);

        let mut realms = Vec::new();
        for (name, default) in [("Default Realm", true), ("Partners", false)] {
            let id = self.id("guo");
            let (c, u) = (self.ts(), self.ts());
            self.state.realms.push(id.clone());
            realms.push(json!({
                "id": id, "isDefault": default, "created": c, "lastUpdated": u,
                "profile": { "name": name, "realmType": if default { "DEFAULT" } else { "PARTNER" } },
                "_links": self.self_link(&format!("/api/v1/realms/{id}"))
            }));
        }
        self.put("realm", &[], realms);
    }

    fn security(&mut self) {
        let mut zones = Vec::new();
        for (name, usage, cidr) in [
            ("LegacyIpZone", "POLICY", "203.0.113.0/24"),
            ("BlockedIpZone", "BLOCKLIST", "198.51.100.0/24"),
            ("Office", "POLICY", "192.0.2.0/24"),
        ] {
            let id = self.id("nzo");
            let (c, u) = (self.ts(), self.ts());
            self.state.zones.push(id.clone());
            zones.push(json!({
                "type": "IP", "id": id, "name": name, "status": "ACTIVE", "usage": usage,
                "system": name != "Office", "created": c, "lastUpdated": u,
                "gateways": [{ "type": "CIDR", "value": cidr }], "proxies": null,
                "_links": self.self_link(&format!("/api/v1/zones/{id}"))
            }));
        }
        let id = self.id("nzo");
        self.state.zones.push(id.clone());
        zones.push(json!({
            "type": "DYNAMIC", "id": id, "name": "Anonymizers", "status": "ACTIVE", "usage": "BLOCKLIST",
            "system": false, "proxyType": "Tor", "locations": [{ "country": "AQ", "region": null }],
            "asns": ["64496"], "_links": self.self_link(&format!("/api/v1/zones/{id}"))
        }));
        // Every org has this system zone (Okta's "DefaultEnhancedDynamicZone"), blocking
        // anonymizers by IP service category.
        let id = self.id("nzo");
        let (c, u) = (self.ts(), self.ts());
        self.state.zones.push(id.clone());
        zones.push(json!({
            "type": "DYNAMIC_V2", "id": id, "name": "DefaultEnhancedDynamicZone", "status": "ACTIVE",
            "usage": "BLOCKLIST", "system": true, "created": c, "lastUpdated": u,
            "locations": { "include": [], "exclude": [] }, "asns": { "include": [], "exclude": [] },
            "ipServiceCategories": { "include": ["ALL_ANONYMIZERS"], "exclude": [] },
            "_links": self.self_link(&format!("/api/v1/zones/{id}"))
        }));
        self.put("network_zone", &[], zones);

        let mut origins = Vec::new();
        for name in ["portal", "intranet", "docs"] {
            let id = self.id("tos");
            let c = self.ts();
            origins.push(json!({
                "id": id, "name": name, "origin": format!("https://{name}.example.com"), "status": "ACTIVE",
                "scopes": [{ "type": "CORS" }, { "type": "REDIRECT" }],
                "created": c, "createdBy": "00u1", "lastUpdated": c, "lastUpdatedBy": "00u1",
                "_links": self.self_link(&format!("/api/v1/trustedOrigins/{id}"))
            }));
        }
        self.put("trusted_origin", &[], origins);

        let mut behaviors = Vec::new();
        for (name, kind, settings) in [
            (
                "New Device",
                "ANOMALOUS_DEVICE",
                json!({ "maxEventsUsedForEvaluation": 20 }),
            ),
            (
                "New IP",
                "ANOMALOUS_IP",
                json!({ "maxEventsUsedForEvaluation": 50 }),
            ),
            (
                "New City",
                "ANOMALOUS_LOCATION",
                json!({ "granularity": "CITY", "maxEventsUsedForEvaluation": 20 }),
            ),
            ("Velocity", "VELOCITY", json!({ "velocityKph": 805 })),
        ] {
            let id = self.id("abp");
            let (c, u) = (self.ts(), self.ts());
            behaviors.push(json!({
                "id": id, "name": name, "type": kind, "status": "ACTIVE", "settings": settings,
                "created": c, "lastUpdated": u, "_link": self.self_link(&format!("/api/v1/behaviors/{id}"))
            }));
        }
        self.put("behavior", &[], behaviors);

        let mut assurances = Vec::new();
        for (name, platform) in [("Managed Windows", "WINDOWS"), ("Managed macOS", "MACOS")] {
            let id = self.id("dae");
            let (c, u) = (self.ts(), self.ts());
            self.state.device_assurances.push(id.clone());
            assurances.push(json!({
                "id": id, "name": name, "platform": platform, "osVersion": { "minimum": "12.0.0" },
                "diskEncryptionType": { "include": ["ALL_INTERNAL_VOLUMES"] },
                "screenLockType": { "include": ["BIOMETRIC", "PASSCODE"] }, "secureHardwarePresent": true,
                "createdBy": "00u1", "createdDate": c, "lastUpdatedBy": "00u1", "lastUpdate": u,
                "_links": self.self_link(&format!("/api/v1/device-assurances/{id}"))
            }));
        }
        self.put("device_assurance", &[], assurances);

        let (c, u) = (self.ts(), self.ts());
        let excluded = self.state.zones.get(2).cloned().unwrap_or_default();
        let threat = json!({ "action": "audit", "excludeZones": [excluded], "created": c, "lastUpdated": u,
            "_links": self.self_link("/api/v1/threats/configuration") });
        self.put("threat_insight_setting", &[], vec![threat]);
        self.put(
            "user_lockout_setting",
            &[],
            vec![json!({ "preventBruteForceLockoutFromUnknownDevices": false })],
        );

        let id = self.id("ccp");
        let secret = self.secret("captcha");
        let captcha = json!({ "id": id, "name": "Sign-in CAPTCHA", "type": "HCAPTCHA",
            "siteKey": "10000000-ffff-ffff-ffff-000000000001", "secretKey": secret,
            "_links": self.self_link(&format!("/api/v1/captchas/{id}")) });
        self.put("captcha", &[], vec![captcha]);

        let (apns, fcm) = (self.id("ppc"), self.id("ppc"));
        self.state.push_providers = vec![apns.clone(), fcm.clone()];
        let (signing, private) = (self.secret("apns-key"), self.secret("fcm-key"));
        let (u1, u2) = (self.ts(), self.ts());
        let providers = vec![
            json!({ "id": apns, "name": "iOS push", "providerType": "APNS", "lastUpdatedDate": u1,
                "configuration": { "keyId": "ABC123DEFG", "teamId": "TEAM123456", "fileName": "AuthKey.p8", "tokenSigningKey": signing },
                "_links": self.self_link(&format!("/api/v1/push-providers/{apns}")) }),
            json!({ "id": fcm, "name": "Android push", "providerType": "FCM", "lastUpdatedDate": u2,
                "configuration": { "projectId": "butterfly-sim", "fileName": "service-account.json",
                    "serviceAccountJson": { "type": "service_account", "private_key": private } },
                "_links": self.self_link(&format!("/api/v1/push-providers/{fcm}")) }),
        ];
        self.put("push_provider", &[], providers);

        let id = self.id("sse");
        let provider = json!({ "id": id, "name": "Partner SSF", "status": "ACTIVE", "type": "Custom",
            "settings": { "issuer": "https://ssf.example.com", "jwks_url": "https://ssf.example.com/jwks" },
            "_links": self.self_link(&format!("/api/v1/security-events-providers/{id}")) });
        self.put("security_events_provider", &[], vec![provider]);

        let mut authenticators = Vec::new();
        for (key, name, kind) in [
            ("okta_password", "Password", "password"),
            ("okta_email", "Email", "email"),
            ("okta_verify", "Okta Verify", "app"),
            ("webauthn", "Security Key or Biometric", "security_key"),
            ("phone_number", "Phone", "phone"),
            ("duo", "Duo Security", "app"),
            ("custom_app", "Butterfly Push", "app"),
        ] {
            let id = self.id("aut");
            let (c, u) = (self.ts(), self.ts());
            self.state.authenticators.push(id.clone());
            let mut a = json!({
                "id": id, "key": key, "name": name, "type": kind, "status": "ACTIVE",
                "created": c, "lastUpdated": u,
                "_links": { "self": self.href(&format!("/api/v1/authenticators/{id}")),
                    "methods": self.href(&format!("/api/v1/authenticators/{id}/methods")) }
            });
            match key {
                "okta_email" => {
                    a["settings"] = json!({ "allowedFor": "any", "tokenLifetimeInMinutes": 5 });
                }
                "duo" => {
                    let secret = self.secret("duo");
                    a["provider"] = json!({ "type": "DUO", "configuration": {
                        "host": "api-xxxxxxxx.duosecurity.com", "integrationKey": "DIXXXXXXXXXXXXXXXXXX",
                        "secretKey": secret, "userNameTemplate": { "template": "oktaId" } } });
                }
                "custom_app" => {
                    let push = self
                        .state
                        .push_providers
                        .first()
                        .cloned()
                        .unwrap_or_default();
                    a["provider"] =
                        json!({ "type": "PUSH", "configuration": { "apns": { "id": push } } });
                    a["settings"] =
                        json!({ "userVerification": "PREFERRED", "appInstanceId": "0oa1" });
                }
                _ => a["settings"] = json!({ "allowedFor": "sso" }),
            }
            authenticators.push(a);
        }
        self.put("authenticator", &[], authenticators);
    }

    fn hook_channel(&mut self, uri: &str) -> Value {
        let auth = self.secret("hook-auth");
        let header = self.secret("hook-header");
        json!({ "type": "HTTP", "version": "1.0.0", "config": {
            "uri": uri, "method": "POST",
            "headers": [{ "key": "X-Api-Key", "value": header }, { "key": "X-Trace", "value": "sim" }],
            "authScheme": { "type": "HEADER", "key": "Authorization", "value": auth } } })
    }

    fn hooks(&mut self) {
        let id = self.id("HKY");
        let (c, u) = (self.ts(), self.ts());
        let key_id = self.id("");
        self.put(
            "hook_key",
            &[],
            vec![json!({ "id": id, "keyId": key_id, "name": "Hook signing key", "isUsed": "true", "created": c, "lastUpdated": u })],
        );

        let mut inline = Vec::new();
        for (name, kind) in [
            ("Token enrichment", "com.okta.oauth2.tokens.transform"),
            ("Registration check", "com.okta.user.pre-registration"),
            ("Import transform", "com.okta.import.transform"),
        ] {
            let id = self.id("cal");
            let (c, u) = (self.ts(), self.ts());
            let channel = self.hook_channel(&format!("https://hooks.example.com/{kind}"));
            self.state.inline_hooks.push(id.clone());
            inline.push(json!({ "id": id, "name": name, "type": kind, "version": "1.0.0", "status": "ACTIVE",
                "channel": channel, "created": c, "lastUpdated": u,
                "_links": { "self": self.href(&format!("/api/v1/inlineHooks/{id}")),
                    "deactivate": self.href(&format!("/api/v1/inlineHooks/{id}/lifecycle/deactivate")) } }));
        }
        let id = self.id("cal");
        let client_secret = self.secret("hook-oauth");
        self.state.inline_hooks.push(id.clone());
        inline.push(json!({ "id": id, "name": "SAML assertion (OAuth)", "type": "com.okta.saml.tokens.transform",
            "version": "1.0.0", "status": "ACTIVE",
            "channel": { "type": "OAUTH", "version": "1.0.0", "config": {
                "uri": "https://hooks.example.com/saml", "method": "POST", "authType": "client_secret_post",
                "clientId": "hook-client", "clientSecret": client_secret,
                "tokenUrl": "https://auth.example.com/token", "scope": "hooks" } },
            "_links": self.self_link(&format!("/api/v1/inlineHooks/{id}")) }));
        self.put("inline_hook", &[], inline);

        let mut event = Vec::new();
        for (name, events) in [
            (
                "User lifecycle",
                vec!["user.lifecycle.create", "user.lifecycle.deactivate"],
            ),
            (
                "Group changes",
                vec!["group.user_membership.add", "group.user_membership.remove"],
            ),
        ] {
            let id = self.id("who");
            let (c, u) = (self.ts(), self.ts());
            let channel = self.hook_channel("https://events.example.com/okta");
            event.push(json!({ "id": id, "name": name, "status": "ACTIVE", "verificationStatus": "VERIFIED",
                "events": { "type": "EVENT_TYPE", "items": events }, "channel": channel,
                "created": c, "createdBy": "00u1", "lastUpdated": u,
                "_links": { "self": self.href(&format!("/api/v1/eventHooks/{id}")),
                    "verify": self.href(&format!("/api/v1/eventHooks/{id}/lifecycle/verify")) } }));
        }
        self.put("event_hook", &[], event);

        let (aws, splunk) = (self.id("0oa"), self.id("0oa"));
        let token = self.secret("splunk-hec");
        let (c1, c2) = (self.ts(), self.ts());
        let streams = vec![
            json!({ "id": aws, "name": "EventBridge", "type": "aws_eventbridge", "status": "ACTIVE",
                "settings": { "accountId": "123456789012", "eventSourceName": "okta-sim", "region": "us-east-1" },
                "created": c1, "lastUpdated": c1, "_links": self.self_link(&format!("/api/v1/logStreams/{aws}")) }),
            json!({ "id": splunk, "name": "Splunk", "type": "splunk_cloud_logstreaming", "status": "ACTIVE",
                "settings": { "host": "acme.splunkcloud.com", "edition": "aws", "token": token },
                "created": c2, "lastUpdated": c2, "_links": self.self_link(&format!("/api/v1/logStreams/{splunk}")) }),
        ];
        self.put("log_stream", &[], streams);
    }

    fn schema(
        &self,
        id_path: &str,
        title: &str,
        base: &Value,
        custom: &Value,
        created: &str,
    ) -> Value {
        json!({
            "id": format!("{}{id_path}", self.url), "$schema": "http://json-schema.org/draft-04/schema#",
            "name": title.to_lowercase().replace(' ', "_"), "title": title, "type": "object",
            "created": created, "lastUpdated": created,
            "definitions": {
                "base": { "id": "#base", "type": "object", "properties": base, "required": ["login"] },
                "custom": { "id": "#custom", "type": "object", "properties": custom, "required": [] }
            },
            "properties": { "profile": { "allOf": [{ "$ref": "#/definitions/custom" }, { "$ref": "#/definitions/base" }] } },
            "_links": self.self_link(&format!("/api/v1{id_path}"))
        })
    }

    fn schemas(&mut self) {
        let mut types = Vec::new();
        for (name, display, default) in [
            ("user", "User", true),
            ("contractor", "Contractor", false),
            ("partner", "Partner", false),
        ] {
            let (id, schema_id) = (self.id("oty"), self.id("osc"));
            let (c, u) = (self.ts(), self.ts());
            self.state.user_types.push(id.clone());
            types.push(json!({
                "id": id, "name": name, "displayName": display, "description": format!("{display} accounts"),
                "default": default, "createdBy": "00u1", "lastUpdatedBy": "00u1", "created": c, "lastUpdated": u,
                "_links": { "self": self.href(&format!("/api/v1/meta/types/user/{id}")),
                    "schema": self.href(&format!("/api/v1/meta/schemas/user/{schema_id}")) }
            }));
            let base = json!({
                "login": { "title": "Username", "type": "string", "required": true, "minLength": 5, "maxLength": 100,
                    "permissions": [{ "principal": "SELF", "action": "READ_ONLY" }], "mutability": "READ_WRITE", "scope": "NONE" },
                "firstName": { "title": "First name", "type": "string", "mutability": "READ_WRITE", "scope": "NONE" },
                "lastName": { "title": "Last name", "type": "string", "mutability": "READ_WRITE", "scope": "NONE" },
                "email": { "title": "Primary email", "type": "string", "format": "email", "required": true }
            });
            let custom = json!({
                "costCenter": { "title": "Cost center", "type": "string", "master": { "type": "PROFILE_MASTER" } },
                "employeeNumber": { "title": "Employee number", "type": "string", "unique": "UNIQUE_VALIDATED" }
            });
            let body = self.schema(
                &format!("/meta/schemas/user/{schema_id}"),
                &format!("{display} schema"),
                &base,
                &custom,
                &c,
            );
            self.put("user_schema", &[("schemaId", &schema_id)], vec![body]);
        }
        self.put("user_type", &[], types);

        let c = self.ts();
        let group_schema = self.schema(
            "/meta/schemas/group/default",
            "Okta group",
            &json!({ "name": { "title": "Name", "type": "string", "required": true },
                    "description": { "title": "Description", "type": "string" } }),
            &json!({ "owner": { "title": "Owner", "type": "string" } }),
            &c,
        );
        self.put("group_schema", &[], vec![group_schema]);

        let linked = json!({
            "primary": { "name": "manager", "title": "Manager", "description": "Manager of the user", "type": "USER" },
            "associated": { "name": "subordinate", "title": "Subordinate", "description": "Reports to the manager", "type": "USER" },
            "_links": self.self_link("/api/v1/meta/schemas/user/linkedObjects/manager")
        });
        self.put("linked_object", &[], vec![linked]);

        let id = self.id("uis");
        let (c, u) = (self.ts(), self.ts());
        self.state.ui_schema.clone_from(&id);
        let ui = json!({ "id": id, "created": c, "lastUpdated": u,
            "uiSchema": { "type": "Group", "label": "Sign up", "buttonLabel": "Register",
                "elements": [{ "type": "Control", "scope": "#/properties/firstName", "label": "First name", "options": { "format": "text" } },
                             { "type": "Control", "scope": "#/properties/email", "label": "Email", "options": { "format": "text" } }] },
            "_links": self.self_link(&format!("/api/v1/meta/uischemas/{id}")) });
        self.put("ui_schema", &[], vec![ui]);
    }

    fn branding(&mut self) {
        let id = self.id("");
        let password = self.secret("smtp");
        let server = json!({ "id": id, "alias": "Corporate SMTP", "host": "smtp.example.com", "port": 587,
            "username": "okta-mailer", "password": password, "enabled": true, "authType": "BASIC_SMTP_AUTH" });
        self.put("email_server", &[], vec![server]);

        let email_domain = self.id("OeD");
        let domain = json!({ "id": email_domain, "domain": "mail.example.com", "displayName": "Example",
            "userName": "noreply", "validationStatus": "VERIFIED",
            "dnsValidationRecords": [{ "recordType": "CNAME", "fqdn": "mail.example.com", "verificationValue": "u.sim.okta.com" }] });
        self.put("email_domain", &[], vec![domain]);

        let mut brands = Vec::new();
        for (name, default) in [("Example", true), ("Partners", false)] {
            let id = self.id("bnd");
            self.state.brands.push(id.clone());
            brands.push(json!({ "id": id, "name": name, "isDefault": default, "removePoweredByOkta": false,
                "agreeToCustomPrivacyPolicy": true, "customPrivacyPolicyUrl": "https://example.com/privacy",
                "locale": "en", "emailDomainId": email_domain,
                "defaultApp": { "appInstanceId": null, "appLinkName": null, "classicApplicationUri": null },
                "_links": { "self": self.href(&format!("/api/v1/brands/{id}")),
                    "themes": self.href(&format!("/api/v1/brands/{id}/themes")) } }));
        }
        self.put("brand", &[], brands);

        let brands = self.state.brands.clone();
        for (i, brand) in brands.iter().enumerate() {
            let theme = self.id("thd");
            let body = json!({ "id": theme, "logo": format!("{}/assets/img/logo.png", self.url),
                "favicon": format!("{}/favicon.ico", self.url), "backgroundImage": null,
                "primaryColorHex": "#1662dd", "primaryColorContrastHex": "#ffffff",
                "secondaryColorHex": "#ebebed", "secondaryColorContrastHex": "#000000",
                "signInPageTouchPointVariant": "OKTA_DEFAULT", "endUserDashboardTouchPointVariant": "OKTA_DEFAULT",
                "errorPageTouchPointVariant": "OKTA_DEFAULT", "emailTemplateTouchPointVariant": "OKTA_DEFAULT",
                "loadingPageTouchPointVariant": "OKTA_DEFAULT",
                "_links": self.self_link(&format!("/api/v1/brands/{brand}/themes/{theme}")) });
            self.put("theme", &[("brandId", brand)], vec![body]);
            if i == 0 {
                let page = json!({ "pageContent": "<html><body>{{{SignInWidgetResources}}}</body></html>",
                    "widgetVersion": "^7", "widgetCustomizations": { "signInLabel": "Sign in to Example", "showPasswordVisibilityToggle": true },
                    "contentSecurityPolicySetting": { "mode": "report_only", "srcList": [] } });
                self.put("sign_in_page", &[("brandId", brand)], vec![page]);
            } else {
                self.put_absent("sign_in_page", &[("brandId", brand)]);
            }
            let mut templates = Vec::new();
            for name in [
                "UserActivation",
                "ForgotPassword",
                "PasswordChanged",
                "EmailChallenge",
                "AccountLockout",
            ] {
                let base = format!("/api/v1/brands/{brand}/templates/email/{name}");
                templates.push(json!({ "name": name, "_links": {
                    "self": self.href(&base), "settings": self.href(&format!("{base}/settings")),
                    "defaultContent": self.href(&format!("{base}/default-content")),
                    "customizations": self.href(&format!("{base}/customizations")) } }));
                let mut customizations = Vec::new();
                if self.chance(0.5) {
                    let id = self.id("oel");
                    let (c, u) = (self.ts(), self.ts());
                    customizations.push(json!({ "id": id, "language": "en", "isDefault": true,
                        "subject": format!("{name} at Example"), "body": "<html><body>Hello ${user.profile.firstName}</body></html>",
                        "created": c, "lastUpdated": u, "_links": self.self_link(&format!("{base}/customizations/{id}")) }));
                }
                self.put(
                    "email_customization",
                    &[("brandId", brand), ("templateName", name)],
                    customizations,
                );
            }
            self.put("email_template", &[("brandId", brand)], templates);
        }

        let id = self.id("OcD");
        let brand = self.state.brands.first().cloned().unwrap_or_default();
        let domain = json!({ "id": id, "domain": "login.example.com", "certificateSourceType": "OKTA_MANAGED",
            "validationStatus": "VERIFIED", "brandId": brand,
            "dnsRecords": [{ "fqdn": "login.example.com", "recordType": "CNAME", "values": ["butterfly-sim.customdomains.okta.com"] }],
            "publicCertificate": { "subject": "CN=login.example.com", "fingerprint": "73:4A:...", "expiration": "2026-01-01T00:00:00.000Z" },
            "_links": self.self_link(&format!("/api/v1/domains/{id}")) });
        self.put("domain", &[], vec![domain]);

        let id = self.id("cst");
        let (c, u) = (self.ts(), self.ts());
        let sms = json!({ "id": id, "name": "Verification code", "type": "SMS_VERIFY_CODE",
            "template": "${org.name} code: ${code}", "translations": { "fr": "${org.name} code : ${code}" },
            "created": c, "lastUpdated": u });
        self.put("sms_template", &[], vec![sms]);
    }

    fn identity_providers(&mut self) {
        let kid = format!("{}-{}", self.id(""), self.id(""));
        let (c, u) = (self.ts(), self.ts());
        let key = json!({ "kid": kid, "kty": "RSA", "use": "sig", "e": "AQAB",
            "n": "101438407598598116085679865987760095721749307901605456708912786847324207000576780508113360584555007890315805735307890113536927352312915634368993759211767770602174860126854831344273970871509573365292777620005537635317282520456901584213746937262823585533063042033441296629204165064680610660631365266976782082747",
            "x5c": ["MIIDnjCCAoagAwIBAgIGAVG3MN+PMA0GCSqGSIb3DQEBBQUAMIGPMQswCQYDVQQGEwJVUzETMBEG"],
            "x5t#S256": "wzPVobIrveR1x-PCbjsFGNV-6zn7Rm9KuOWOG4Rk6jE", "created": c, "lastUpdated": u,
            "expiresAt": "2030-01-01T00:00:00.000Z" });
        self.put("idp_key", &[], vec![key]);

        let mut idps = Vec::new();
        let saml = self.id("0oa");
        idps.push(json!({ "id": saml, "type": "SAML2", "issuerMode": "ORG_URL", "name": "Partner SAML", "status": "ACTIVE",
            "protocol": { "type": "SAML2",
                "endpoints": { "sso": { "url": "https://idp.partner.example/sso", "binding": "HTTP-POST", "destination": "https://idp.partner.example/sso" },
                    "acs": { "binding": "HTTP-POST", "type": "INSTANCE" } },
                "algorithms": { "request": { "signature": { "algorithm": "SHA-256", "scope": "REQUEST" } },
                    "response": { "signature": { "algorithm": "SHA-256", "scope": "ANY" } } },
                "credentials": { "trust": { "issuer": "https://idp.partner.example", "audience": "https://butterfly-sim", "kid": kid } } },
            "policy": { "provisioning": { "action": "AUTO", "profileMaster": false, "groups": { "action": "NONE" },
                    "conditions": { "deprovisioned": { "action": "NONE" }, "suspended": { "action": "NONE" } } },
                "accountLink": { "action": "AUTO", "filter": null },
                "subject": { "userNameTemplate": { "template": "idpuser.subjectNameId" }, "matchType": "USERNAME" },
                "maxClockSkew": 120_000 },
            "_links": self.self_link(&format!("/api/v1/idps/{saml}")) }));
        let oidc = self.id("0oa");
        let secret = self.secret("idp-client");
        idps.push(json!({ "id": oidc, "type": "OIDC", "issuerMode": "ORG_URL", "name": "Partner OIDC", "status": "ACTIVE",
            "protocol": { "type": "OIDC", "scopes": ["openid", "profile", "email"],
                "endpoints": { "authorization": { "url": "https://oidc.partner.example/authorize", "binding": "HTTP-REDIRECT" },
                    "token": { "url": "https://oidc.partner.example/token", "binding": "HTTP-POST" } },
                "issuer": { "url": "https://oidc.partner.example" },
                "credentials": { "client": { "client_id": "okta-sim", "client_secret": secret } } },
            "policy": { "provisioning": { "action": "AUTO", "profileMaster": false, "groups": { "action": "NONE" } },
                "subject": { "userNameTemplate": { "template": "idpuser.email" }, "matchType": "USERNAME" }, "maxClockSkew": 0 },
            "_links": self.self_link(&format!("/api/v1/idps/{oidc}")) }));
        let apple = self.id("0oa");
        let private = self.secret("apple-key");
        idps.push(json!({ "id": apple, "type": "APPLE", "issuerMode": "DYNAMIC", "name": "Sign in with Apple", "status": "INACTIVE",
            "protocol": { "type": "OIDC", "scopes": ["openid", "email", "name"],
                "credentials": { "client": { "client_id": "com.example.okta" },
                    "signing": { "kid": "APPLEKID12", "teamId": "TEAM123456", "privateKey": private } } },
            "policy": { "provisioning": { "action": "AUTO" }, "maxClockSkew": 0 },
            "_links": self.self_link(&format!("/api/v1/idps/{apple}")) }));
        self.state.idps = vec![saml, oidc, apple];
        self.put("idp", &[], idps);
    }

    fn users(&mut self, count: usize) {
        let total: u32 = USER_STATUSES.iter().map(|(_, w)| w).sum();
        let mut users = Vec::with_capacity(count);
        for i in 0..count {
            let id = self.id("00u");
            let first = self.pick(FIRST_NAMES).to_owned();
            let last = self.pick(LAST_NAMES).to_owned();
            let dept = self.pick(DEPARTMENTS).to_owned();
            let mut roll = self.rng.gen_range(0..total);
            let mut status = "ACTIVE";
            for (s, w) in USER_STATUSES {
                if roll < *w {
                    status = s;
                    break;
                }
                roll -= w;
            }
            let user_type = if self.chance(0.9) {
                self.state.user_types.first().cloned()
            } else {
                self.state.user_types.get(1 + i % 2).cloned()
            }
            .unwrap_or_default();
            let (created, updated, login) = (self.ts(), self.ts(), self.ts());
            let login_name = format!(
                "{}.{}{i}@example.com",
                first.to_lowercase(),
                last.to_lowercase().replace('-', "")
            );
            let mut credentials = json!({
                "password": {},
                "recovery_question": { "question": "Who's a major player in the cowboy scene?" },
                "provider": { "type": "OKTA", "name": "OKTA" }
            });
            // A few imported users still carry their source hash, and a few planted recovery
            // answers: Okta never returns them, but a backup must not keep them if it did.
            if self.chance(0.05) {
                let (salt, value) = (self.secret("salt"), self.secret("hash"));
                credentials["password"] = json!({ "hash": { "algorithm": "BCRYPT", "workFactor": 10, "salt": salt, "value": value } });
            }
            if self.chance(0.02) {
                credentials["recovery_question"]["answer"] = json!(self.secret("answer"));
            }
            let realm = self.state.realms.first().cloned().unwrap_or_default();
            let cost_center = format!("CC-{}", self.rng.gen_range(10..30));
            let href = format!("/api/v1/users/{id}");
            users.push(json!({
                "id": id, "status": status, "created": created, "activated": created,
                "statusChanged": updated, "lastLogin": login, "lastUpdated": updated, "passwordChanged": created,
                "type": { "id": user_type }, "realmId": realm,
                "profile": { "firstName": first, "lastName": last, "login": login_name, "email": login_name,
                    "mobilePhone": null, "secondEmail": null, "department": dept, "costCenter": cost_center,
                    "employeeNumber": format!("{:06}", i + 1) },
                "credentials": credentials,
                "_links": { "self": self.href(&href),
                    "type": self.href(&format!("/api/v1/meta/types/user/{user_type}")),
                    "schema": self.href("/api/v1/meta/schemas/user/default"),
                    "suspend": { "href": format!("{}{href}/lifecycle/suspend", self.url), "method": "POST" },
                    "resetPassword": { "href": format!("{}{href}/lifecycle/reset_password", self.url), "method": "POST" } }
            }));
        }
        let items = self.put("user", &[], users);
        self.state.active_users = items
            .iter()
            .filter(|u| u.status.as_deref() != Some("DEPROVISIONED"))
            .cloned()
            .collect();
        self.state.users = items;

        let id = self.id("rul");
        let realm = self.state.realms.get(1).cloned().unwrap_or_default();
        let (c, u) = (self.ts(), self.ts());
        let assignment = json!({ "id": id, "name": "Partners by domain", "priority": 1, "status": "ACTIVE", "isDefault": false,
            "actions": { "assignUserToRealm": { "realmId": realm } },
            "conditions": { "profileSourceId": self.state.idps.first(), "expression": { "value": "user.profile.email.endsWith(\"@partner.example\")" } },
            "created": c, "lastUpdated": u, "_links": self.self_link(&format!("/api/v1/realm-assignments/{id}")) });
        self.put("realm_assignment", &[], vec![assignment]);
    }

    fn group_body(&mut self, id: &str, kind: &str, name: &str, description: &str) -> Value {
        let (c, u, m) = (self.ts(), self.ts(), self.ts());
        json!({ "id": id, "created": c, "lastUpdated": u, "lastMembershipUpdated": m,
            "objectClass": ["okta:user_group"], "type": kind,
            "profile": { "name": name, "description": description },
            "_links": { "logo": [{ "name": "medium", "href": format!("{}/img/logos/groups/okta-medium.png", self.url), "type": "image/png" }],
                "users": self.href(&format!("/api/v1/groups/{id}/users")),
                "apps": self.href(&format!("/api/v1/groups/{id}/apps")) } })
    }

    fn groups(&mut self, count: usize) {
        let everyone = self.id("00g");
        let mut groups = vec![self.group_body(
            &everyone,
            "BUILT_IN",
            "Everyone",
            "All users in your organization",
        )];
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let id = self.id("00g");
            let dept = self.pick(DEPARTMENTS);
            let name = format!("{dept} {i}");
            groups.push(self.group_body(
                &id,
                "OKTA_GROUP",
                &name,
                &format!("The {dept} team, cohort {i}"),
            ));
            ids.push(id);
        }
        self.put("group", &[], groups);

        let mut rules = Vec::new();
        for _ in 0..(count / 10).max(usize::from(count > 0)) {
            let id = self.id("0pr");
            let (c, u) = (self.ts(), self.ts());
            let cc = self.rng.gen_range(10..30);
            let target = ids.choose(&mut self.rng).cloned().unwrap_or_default();
            let active = self.chance(0.8);
            rules.push(json!({ "id": id, "type": "group_rule", "status": if active { "ACTIVE" } else { "INACTIVE" },
                "name": format!("Cost center CC-{cc}"), "created": c, "lastUpdated": u, "allGroupsValid": true,
                "conditions": { "people": { "users": { "exclude": [] }, "groups": { "exclude": [] } },
                    "expression": { "value": format!("user.costCenter==\"CC-{cc}\""), "type": "urn:okta:expression:1.0" } },
                "actions": { "assignUserToGroups": { "groupIds": [target] } } }));
        }
        self.put("group_rule", &[], rules);

        // Everyone holds every user; each other user joins one to four groups.
        let mut members: Vec<Vec<Arc<Item>>> = vec![Vec::new(); ids.len()];
        let users = self.state.users.clone();
        if !ids.is_empty() {
            for user in &users {
                let n = self.rng.gen_range(1..=4.min(ids.len()));
                let mut chosen: Vec<usize> = (0..ids.len()).collect::<Vec<_>>();
                chosen.partial_shuffle(&mut self.rng, n);
                let mut picked: Vec<usize> = chosen.into_iter().take(n).collect();
                picked.sort_unstable();
                for g in picked {
                    members[g].push(Arc::clone(user));
                }
            }
        }
        let spec_members = spec("group_membership");
        let path = fill(spec_members, &[("groupId", &everyone)]);
        self.org.insert_shared(spec_members, path, users.clone());
        for (id, list) in ids.iter().zip(members) {
            let path = fill(spec_members, &[("groupId", id)]);
            self.org.insert_shared(spec_members, path, list);
        }

        let all = std::iter::once(everyone.clone())
            .chain(ids.iter().cloned())
            .collect::<Vec<_>>();
        for (i, group) in all.iter().enumerate() {
            let mut owners = Vec::new();
            if i > 0
                && self.chance(0.3)
                && let Some(owner) = self.state.active_users.choose(&mut self.rng).cloned()
            {
                let u = self.ts();
                owners.push(json!({ "id": owner.id, "type": "USER", "displayName": "Group owner",
                        "originId": null, "originType": "OKTA_DIRECTORY", "resolved": true, "lastUpdated": u }));
            }
            self.put("group_owner", &[("groupId", group)], owners);
        }
        self.state.everyone = everyone;
        self.state.groups = ids;
    }

    fn app_body(
        &mut self,
        id: &str,
        label: &str,
        mode: &str,
        index: usize,
    ) -> (Value, Option<String>) {
        let (c, u) = (self.ts(), self.ts());
        let slug = label.to_lowercase().replace(' ', "_");
        // Okta names an app after its app definition: a template's key name for the
        // template modes (the spec's `name` enums), a generated key for custom SAML 2.0,
        // SWA and OIDC apps.
        let name = match mode {
            "BOOKMARK" => "bookmark".to_owned(),
            "BASIC_AUTH" => "template_basic_auth".to_owned(),
            "BROWSER_PLUGIN" => "template_swa".to_owned(),
            "SECURE_PASSWORD_STORE" => "template_sps".to_owned(),
            "WS_FEDERATION" => "template_wsfed".to_owned(),
            "OPENID_CONNECT" => "oidc_client".to_owned(),
            _ => slug.clone(),
        };
        let mut client_id = None;
        let mut app = json!({
            "id": id, "orn": format!("orn:okta:idp:00o1:apps:{name}:{id}"), "name": name, "label": format!("{label} {index}"),
            "status": "ACTIVE", "created": c, "lastUpdated": u, "features": [], "signOnMode": mode,
            "accessibility": { "selfService": false, "errorRedirectUrl": null, "loginRedirectUrl": null },
            "visibility": { "autoSubmitToolbar": false, "hide": { "iOS": false, "web": false }, "appLinks": { name.clone(): true } },
            "credentials": { "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" }, "signing": { "kid": "sim-signing-kid" } },
            "settings": { "app": {}, "notifications": { "vpn": { "network": { "connection": "DISABLED" } } } },
            "_links": { "appLinks": [{ "name": name, "href": format!("{}/home/{name}/{id}/aln1", self.url), "type": "text/html" }],
                "groups": self.href(&format!("/api/v1/apps/{id}/groups")),
                "users": self.href(&format!("/api/v1/apps/{id}/users")),
                "deactivate": self.href(&format!("/api/v1/apps/{id}/lifecycle/deactivate")) }
        });
        match mode {
            "SAML_2_0" => {
                app["settings"]["signOn"] = json!({ "ssoAcsUrl": format!("https://{slug}.example.com/saml/acs"),
                    "audience": format!("https://{slug}.example.com"), "recipient": format!("https://{slug}.example.com/saml/acs"),
                    "subjectNameIdTemplate": "${user.userName}", "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                    "responseSigned": true, "assertionSigned": true, "signatureAlgorithm": "RSA_SHA256", "digestAlgorithm": "SHA256",
                    "allowMultipleAcsEndpoints": false, "honorForceAuthn": true, "requestCompressed": false,
                    "attributeStatements": [] });
                app["_links"]["metadata"] =
                    self.href(&format!("/api/v1/apps/{id}/sso/saml/metadata"));
                if index % 7 == 3 {
                    // An Org2Org app carries the target org's API token.
                    app["name"] = json!("okta_org2org");
                    app["settings"]["app"] = json!({ "baseUrl": "https://partner.okta.com", "token": self.secret("org2org") });
                }
            }
            "OPENID_CONNECT" => {
                let secret = self.secret("client");
                client_id = Some(id.to_owned());
                app["credentials"]["oauthClient"] = json!({ "client_id": id, "client_secret": secret,
                    "token_endpoint_auth_method": "client_secret_basic", "autoKeyRotation": true });
                app["settings"]["oauthClient"] = json!({ "application_type": "web", "consent_method": "REQUIRED",
                    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                    "redirect_uris": [format!("https://{slug}.example.com/callback")],
                    "post_logout_redirect_uris": [], "issuer_mode": "ORG_URL" });
            }
            "AUTO_LOGIN" => {
                // A custom SWA app: its sign-in page is under `settings.signOn`.
                app["credentials"]["scheme"] = json!("SHARED_USERNAME_AND_PASSWORD");
                app["credentials"]["userName"] = json!("shared@example.com");
                app["credentials"]["password"] = json!({ "value": self.secret("swa") });
                app["settings"]["signOn"] = json!({ "loginUrl": format!("https://{slug}.example.com/login"),
                    "redirectUrl": format!("https://{slug}.example.com/home") });
            }
            "BROWSER_PLUGIN" => {
                app["credentials"]["scheme"] = json!("SHARED_USERNAME_AND_PASSWORD");
                app["credentials"]["userName"] = json!("shared@example.com");
                app["credentials"]["password"] = json!({ "value": self.secret("swa") });
                app["settings"]["app"] = json!({ "url": format!("https://{slug}.example.com/login"),
                    "usernameField": "#username", "passwordField": "#password", "buttonField": "#signin" });
            }
            "BASIC_AUTH" => {
                app["credentials"]["scheme"] = json!("EDIT_USERNAME_AND_PASSWORD");
                app["settings"]["app"] = json!({ "url": format!("https://{slug}.example.com/login"),
                    "authURL": format!("https://{slug}.example.com/auth") });
            }
            "SECURE_PASSWORD_STORE" => {
                app["credentials"]["scheme"] = json!("EDIT_USERNAME_AND_PASSWORD");
                app["settings"]["app"] = json!({ "url": format!("https://{slug}.example.com/login"),
                    "usernameField": "user", "passwordField": "pass" });
            }
            "SAML_1_1" => {
                // Only OIN SAML 1.1 integrations exist; their settings are the
                // integration's own, with overrides under `signOn`.
                app["settings"]["signOn"] = json!({ "defaultRelayState": "", "ssoAcsUrlOverride": "",
                    "audienceOverride": "", "recipientOverride": "" });
            }
            "WS_FEDERATION" => {
                app["settings"]["app"] = json!({ "realm": format!("urn:okta:app:{id}"),
                    "wReplyURL": format!("https://{slug}.example.com/wsfed"), "wReplyOverride": false,
                    "siteURL": format!("https://{slug}.example.com"), "audienceRestriction": format!("https://{slug}.example.com"),
                    "nameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
                    "authnContextClassRef": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                    "groupValueFormat": "windowsDomainQualifiedName", "usernameAttribute": "username" });
            }
            "BOOKMARK" => {
                app["settings"]["app"] = json!({ "url": format!("https://{slug}.example.com"), "requestIntegration": false });
            }
            _ => {}
        }
        (app, client_id)
    }

    fn apps(&mut self, count: usize) {
        let modes = [
            "SAML_2_0",
            "OPENID_CONNECT",
            "AUTO_LOGIN",
            "BOOKMARK",
            "BROWSER_PLUGIN",
            "SAML_2_0",
            "OPENID_CONNECT",
            // The rarer modes, so an org of 11 apps or more has every sign-on mode.
            "BASIC_AUTH",
            "SAML_1_1",
            "SECURE_PASSWORD_STORE",
            "WS_FEDERATION",
        ];
        let mut apps = Vec::with_capacity(count + 1);
        let mut meta = Vec::with_capacity(count + 1);

        // Butterfly's own service app: private_key_jwt, Okta API scopes, an admin role.
        let service = self.org.service_app.client_id.clone();
        let (c, u) = (self.ts(), self.ts());
        apps.push(json!({
            "id": service, "orn": format!("orn:okta:idp:00o1:apps:oidc_client:{service}"), "name": "oidc_client",
            "label": "Butterfly Security Service", "status": "ACTIVE", "created": c, "lastUpdated": u,
            "features": [], "signOnMode": "OPENID_CONNECT",
            "credentials": { "oauthClient": { "client_id": service, "token_endpoint_auth_method": "private_key_jwt", "autoKeyRotation": true } },
            "settings": { "oauthClient": { "application_type": "service", "grant_types": ["client_credentials"], "response_types": ["token"] } },
            "_links": { "groups": self.href(&format!("/api/v1/apps/{service}/groups")), "users": self.href(&format!("/api/v1/apps/{service}/users")) }
        }));
        meta.push((service.clone(), "SERVICE".to_owned(), Some(service.clone())));

        for i in 0..count {
            let id = self.id("0oa");
            let label = self.pick(APP_LABELS).to_owned();
            let mode = modes[i % modes.len()];
            let (body, client) = self.app_body(&id, &label, mode, i);
            apps.push(body);
            meta.push((id, mode.to_owned(), client));
        }
        self.put("app", &[], apps);

        let active = self.state.active_users.clone();
        let groups = self.state.groups.clone();
        let per_app_max = (active.len() / 100).max(1);
        for (id, mode, client) in &meta {
            let params = [("appId", id.as_str())];
            let provisioned = mode == "SAML_2_0";
            if provisioned {
                let u = self.ts();
                let feature = json!({ "name": "USER_PROVISIONING", "status": "ENABLED", "description": "Push users to the app",
                    "capabilities": { "create": { "lifecycleCreate": { "status": "ENABLED" } },
                        "update": { "profile": { "status": "ENABLED" }, "lifecycleDeactivate": { "status": "ENABLED" },
                            "password": { "status": "DISABLED", "seed": "RANDOM", "change": "KEEP_EXISTING" } } },
                    "lastUpdated": u,
                    "_links": self.self_link(&format!("/api/v1/apps/{id}/features/USER_PROVISIONING")) });
                self.put("app_feature", &params, vec![feature]);
            } else {
                self.put_absent("app_feature", &params);
            }
            if mode == "BOOKMARK" {
                self.put_absent("app_user_schema", &params);
            } else {
                let c = self.ts();
                let schema = self.schema(
                    &format!("/meta/schemas/apps/{id}/default"),
                    "App user",
                    &json!({ "userName": { "title": "Username", "type": "string", "required": true } }),
                    &json!({ "role": { "title": "Role", "type": "string", "scope": "NONE" } }),
                    &c,
                );
                self.put("app_user_schema", &params, vec![schema]);
            }

            // Direct assignments (the service app has none).
            let n = if mode == "SERVICE" {
                0
            } else {
                (5 + self.rng.gen_range(0..=per_app_max)).min(active.len())
            };
            let mut picked: Vec<&Arc<Item>> = active.choose_multiple(&mut self.rng, n).collect();
            picked.sort_by(|a, b| a.id.cmp(&b.id));
            let mut assignments = Vec::with_capacity(picked.len());
            for user in picked {
                let (c, u) = (self.ts(), self.ts());
                let mut a = json!({ "id": user.id, "externalId": null, "created": c, "lastUpdated": u,
                    "scope": "USER", "status": "ACTIVE", "statusChanged": u, "passwordChanged": null, "syncState": "DISABLED",
                    "credentials": { "userName": format!("{}@apps.example.com", user.id) },
                    "profile": { "role": "member" },
                    "_links": { "app": self.href(&format!("/api/v1/apps/{id}")), "user": self.href(&format!("/api/v1/users/{}", user.id)) } });
                if mode == "AUTO_LOGIN" || mode == "BROWSER_PLUGIN" {
                    a["credentials"]["password"] = json!({ "value": self.secret("app-user") });
                }
                assignments.push(a);
            }
            self.put("app_user_assignment", &params, assignments);

            let mut group_assignments = Vec::new();
            if mode != "SERVICE" {
                let k = self.rng.gen_range(0..=3_usize).min(groups.len());
                let mut chosen: Vec<&String> = groups.choose_multiple(&mut self.rng, k).collect();
                chosen.sort();
                for (priority, g) in chosen.into_iter().enumerate() {
                    let u = self.ts();
                    group_assignments.push(json!({ "id": g, "lastUpdated": u, "priority": priority, "profile": {},
                        "_links": { "app": self.href(&format!("/api/v1/apps/{id}")), "group": self.href(&format!("/api/v1/groups/{g}")) } }));
                }
            }
            self.put("app_group_assignment", &params, group_assignments);

            if provisioned {
                let mut mappings = Vec::new();
                if let Some(g) = groups.choose(&mut self.rng) {
                    let (mid, target) = (self.id("gPm"), self.id(""));
                    let (c, u) = (self.ts(), self.ts());
                    mappings.push(json!({ "id": mid, "sourceGroupId": g, "targetGroupId": target, "status": "ACTIVE",
                        "created": c, "lastUpdated": u, "lastPush": u,
                        "_links": { "app": self.href(&format!("/api/v1/apps/{id}")), "sourceGroup": self.href(&format!("/api/v1/groups/{g}")) } }));
                }
                self.put("app_group_push_mapping", &params, mappings);
            } else {
                self.put_absent("app_group_push_mapping", &params);
            }

            let mut grants = Vec::new();
            let scopes: &[&str] = match mode.as_str() {
                "SERVICE" => &[
                    "okta.users.read",
                    "okta.groups.read",
                    "okta.apps.read",
                    "okta.policies.read",
                ],
                "OPENID_CONNECT" => &["okta.users.read.self"],
                _ => &[],
            };
            for scope in scopes {
                let gid = self.id("oag");
                let (c, u) = (self.ts(), self.ts());
                grants.push(json!({ "id": gid, "status": "ACTIVE", "created": c, "lastUpdated": u,
                    "createdBy": { "id": "00u1", "type": "User" }, "issuer": self.url, "clientId": id,
                    "scopeId": scope, "source": "ADMIN",
                    "_links": { "app": self.href(&format!("/api/v1/apps/{id}")), "self": self.href(&format!("/api/v1/apps/{id}/grants/{gid}")) } }));
            }
            self.put("app_grant", &params, grants);
            self.state.apps.push((id.clone(), mode.clone()));
            if let Some(client) = client {
                let roles = if *client == service {
                    let rid = self.id("irb");
                    let (c, u) = (self.ts(), self.ts());
                    vec![
                        json!({ "id": rid, "label": "Super Administrator", "type": "SUPER_ADMIN", "status": "ACTIVE",
                        "created": c, "lastUpdated": u, "assignmentType": "CLIENT",
                        "_links": { "assignee": self.href(&format!("/oauth2/v1/clients/{client}")) } }),
                    ]
                } else {
                    Vec::new()
                };
                self.put("client_role_assignment", &[("clientId", client)], roles);
            }
        }

        let id = self.id("0oa");
        let (c, _) = (self.ts(), self.ts());
        let integration = json!({ "id": id, "type": "anzennaapps", "name": "Anzenna", "orgUrl": self.url,
            "grantedScopes": ["okta.users.read", "okta.groups.read"], "configGuideUrl": "https://example.com/guide",
            "createdAt": c, "createdBy": "00u1",
            "_links": { "self": self.href(&format!("/integrations/api/v1/api-services/{id}")),
                "client": self.href(&format!("/oauth2/v1/clients/{id}")) } });
        self.put("api_service_integration", &[], vec![integration]);

        // One mapping per provisioned app and per IdP: summaries in the list, properties
        // only in the detail view.
        let default_type = self.state.user_types.first().cloned().unwrap_or_default();
        let mut summaries = Vec::new();
        let sources: Vec<(String, String, &str)> = meta
            .iter()
            .filter(|(_, mode, _)| mode == "SAML_2_0")
            .map(|(id, _, _)| (id.clone(), "appuser".to_owned(), "app"))
            .chain(
                self.state
                    .idps
                    .iter()
                    .map(|id| (id.clone(), "appuser".to_owned(), "idp")),
            )
            .collect();
        let mapping_spec = spec("profile_mapping");
        for (source, kind, what) in sources {
            let id = self.id("prm");
            let summary = json!({ "id": id,
                "source": { "id": source, "name": format!("{what}_{source}"), "type": kind,
                    "_links": { "self": self.href(&format!("/api/v1/{}s/{source}", if what == "app" { "app" } else { "idp" })) } },
                "target": { "id": default_type, "name": "user", "type": "user",
                    "_links": { "self": self.href(&format!("/api/v1/meta/types/user/{default_type}")) } },
                "_links": self.self_link(&format!("/api/v1/mappings/{id}")) });
            let mut detail = summary.clone();
            detail["properties"] = json!({
                "firstName": { "expression": "appuser.firstName", "pushStatus": "PUSH" },
                "lastName": { "expression": "appuser.lastName", "pushStatus": "PUSH" },
                "email": { "expression": "appuser.email", "pushStatus": "DONT_PUSH" } });
            self.org
                .insert_object(mapping_spec, format!("/api/v1/mappings/{id}"), &detail);
            summaries.push(summary);
        }
        self.put("profile_mapping", &[], summaries);
    }

    fn authorization_servers(&mut self, apps: usize) {
        let mut servers = Vec::new();
        let mut ids = Vec::new();
        for i in 0..=(apps / 100) {
            let id = self.id("aus");
            let (c, u) = (self.ts(), self.ts());
            let name = if i == 0 {
                "default".to_owned()
            } else {
                format!("api-{i}")
            };
            let kid = self.id("");
            servers.push(json!({ "id": id, "name": name, "description": format!("Authorization server {name}"),
                "audiences": [format!("api://{name}")], "issuer": format!("{}/oauth2/{id}", self.url), "issuerMode": "ORG_URL",
                "status": "ACTIVE", "created": c, "lastUpdated": u,
                "credentials": { "signing": { "rotationMode": "AUTO", "lastRotated": c, "nextRotation": u, "kid": kid, "use": "sig" } },
                "_links": { "self": self.href(&format!("/api/v1/authorizationServers/{id}")),
                    "scopes": self.href(&format!("/api/v1/authorizationServers/{id}/scopes")),
                    "claims": self.href(&format!("/api/v1/authorizationServers/{id}/claims")),
                    "policies": self.href(&format!("/api/v1/authorizationServers/{id}/policies")),
                    "metadata": [self.href(&format!("/oauth2/{id}/.well-known/oauth-authorization-server"))] } }));
            ids.push(id);
        }
        self.put("authorization_server", &[], servers);

        let clients: Vec<String> = self
            .state
            .apps
            .iter()
            .filter(|(_, m)| m == "OPENID_CONNECT")
            .map(|(id, _)| id.clone())
            .collect();
        for server in &ids {
            let base = format!("/api/v1/authorizationServers/{server}");
            let params = [("authServerId", server.as_str())];
            let mut scopes = Vec::new();
            for (name, system) in [
                ("openid", true),
                ("profile", true),
                ("email", true),
                ("offline_access", true),
                ("orders:read", false),
                ("orders:write", false),
            ] {
                let id = self.id("scp");
                scopes.push(json!({ "id": id, "name": name, "displayName": name, "description": format!("Access to {name}"),
                    "system": system, "metadataPublish": if system { "ALL_CLIENTS" } else { "NO_CLIENTS" },
                    "consent": "IMPLICIT", "default": false, "optional": false,
                    "_links": self.self_link(&format!("{base}/scopes/{id}")) }));
            }
            self.put("auth_server_scope", &params, scopes);

            let (c1, c2) = (self.id("ocl"), self.id("ocl"));
            let claims = vec![
                json!({ "id": c1, "name": "department", "status": "ACTIVE", "claimType": "RESOURCE", "valueType": "EXPRESSION",
                    "value": "user.profile.department", "alwaysIncludeInToken": true, "system": false,
                    "conditions": { "scopes": ["orders:read"] }, "_links": self.self_link(&format!("{base}/claims/{c1}")) }),
                json!({ "id": c2, "name": "groups", "status": "ACTIVE", "claimType": "IDENTITY", "valueType": "GROUPS",
                    "value": "Engineering", "group_filter_type": "STARTS_WITH", "alwaysIncludeInToken": true, "system": false,
                    "conditions": { "scopes": [] }, "_links": self.self_link(&format!("{base}/claims/{c2}")) }),
            ];
            self.put("auth_server_claim", &params, claims);

            let mut policies = Vec::new();
            let mut policy_ids = Vec::new();
            for (priority, name) in ["Default Policy", "Internal apps"].iter().enumerate() {
                let id = self.id("00p");
                let (c, u) = (self.ts(), self.ts());
                let include: Vec<String> = if priority == 0 {
                    vec!["ALL_CLIENTS".to_owned()]
                } else {
                    clients.iter().take(3).cloned().collect()
                };
                policies.push(json!({ "id": id, "type": "OAUTH_AUTHORIZATION_POLICY", "name": name, "description": name,
                    "status": "ACTIVE", "priority": priority + 1, "system": false, "created": c, "lastUpdated": u,
                    "conditions": { "clients": { "include": include } },
                    "_links": { "self": self.href(&format!("{base}/policies/{id}")), "rules": self.href(&format!("{base}/policies/{id}/rules")) } }));
                policy_ids.push(id);
            }
            self.put("auth_server_policy", &params, policies);
            for policy in &policy_ids {
                let mut rules = Vec::new();
                for priority in 1..=2 {
                    let id = self.id("0pr");
                    let (c, u) = (self.ts(), self.ts());
                    let hook = self.state.inline_hooks.first().cloned().unwrap_or_default();
                    let mut token = json!({ "accessTokenLifetimeMinutes": 60, "refreshTokenLifetimeMinutes": 0, "refreshTokenWindowMinutes": 10080 });
                    if priority == 1 {
                        token["inlineHook"] = json!({ "id": hook });
                    }
                    rules.push(json!({ "id": id, "type": "RESOURCE_ACCESS", "name": format!("Rule {priority}"), "status": "ACTIVE",
                        "priority": priority, "system": false, "created": c, "lastUpdated": u,
                        "conditions": { "people": { "groups": { "include": [self.state.everyone] }, "users": { "include": [] } },
                            "grantTypes": { "include": ["authorization_code", "client_credentials"] }, "scopes": { "include": ["*"] } },
                        "actions": { "token": token },
                        "_links": self.self_link(&format!("{base}/policies/{policy}/rules/{id}")) }));
                }
                self.put(
                    "auth_server_policy_rule",
                    &[("authServerId", server), ("policyId", policy)],
                    rules,
                );
            }
        }
    }

    fn policies(&mut self, apps: usize) {
        for policy_type in POLICY_TYPES {
            let count = match policy_type {
                "OKTA_SIGN_ON" | "PASSWORD" | "MFA_ENROLL" => 2,
                "ACCESS_POLICY" => 1 + apps / 25,
                _ => 1,
            };
            let mut policies = Vec::new();
            let mut ids = Vec::new();
            for priority in 1..=count {
                let id = self.id(if policy_type == "ACCESS_POLICY" {
                    "rst"
                } else {
                    "00p"
                });
                let (c, u) = (self.ts(), self.ts());
                let default = priority == count;
                let mut p = json!({ "id": id, "type": policy_type, "status": "ACTIVE",
                    "name": if default { format!("Default {policy_type} policy") } else { format!("{policy_type} policy {priority}") },
                    "description": "Simulated policy", "priority": priority, "system": default,
                    "created": c, "lastUpdated": u,
                    "conditions": { "people": { "groups": { "include": [if default { self.state.everyone.clone() } else { self.state.groups.first().cloned().unwrap_or_default() }] } } },
                    "_links": { "self": self.href(&format!("/api/v1/policies/{id}")),
                        "rules": self.href(&format!("/api/v1/policies/{id}/rules")),
                        "deactivate": self.href(&format!("/api/v1/policies/{id}/lifecycle/deactivate")) } });
                match policy_type {
                    "PASSWORD" => {
                        p["settings"] = json!({ "password": { "complexity": { "minLength": 12, "minLowerCase": 1, "minUpperCase": 1,
                            "minNumber": 1, "minSymbol": 0, "excludeUsername": true, "dictionary": { "common": { "exclude": true } } },
                            "age": { "maxAgeDays": 0, "expireWarnDays": 0, "minAgeMinutes": 0, "historyCount": 4 },
                            "lockout": { "maxAttempts": 10, "autoUnlockMinutes": 0, "showLockoutFailures": false } },
                            "recovery": { "factors": { "okta_email": { "status": "ACTIVE" } } },
                            "delegation": { "options": { "skipUnlock": false } } });
                        p["conditions"]["authProvider"] = json!({ "provider": "OKTA" });
                    }
                    "MFA_ENROLL" => {
                        p["settings"] = json!({ "type": "AUTHENTICATORS", "authenticators": [
                            { "key": "okta_verify", "enroll": { "self": "REQUIRED" } },
                            { "key": "webauthn", "enroll": { "self": "OPTIONAL" } } ] });
                    }
                    "ACCESS_POLICY" => {
                        p["conditions"] = Value::Null;
                        p["_links"]["mappings"] =
                            self.href(&format!("/api/v1/policies/{id}/mappings"));
                    }
                    "PROFILE_ENROLLMENT" | "IDP_DISCOVERY" | "ENTITY_RISK"
                    | "POST_AUTH_SESSION" => {
                        // Conditions live on the rules of these types; the policy's own
                        // `conditions` is null (the spec's nullable string).
                        p["conditions"] = Value::Null;
                    }
                    _ => {}
                }
                ids.push(id);
                policies.push(p);
            }
            self.put(
                &format!("policy.{policy_type}"),
                &[("type", policy_type)],
                policies,
            );
            for policy in &ids {
                let rules = self.policy_rules(policy_type, policy);
                self.put(
                    &format!("policy_rule.{policy_type}"),
                    &[("policyId", policy)],
                    rules,
                );
            }
        }
    }

    fn policy_rules(&mut self, policy_type: &str, policy: &str) -> Vec<Value> {
        let n = if matches!(policy_type, "ACCESS_POLICY" | "OKTA_SIGN_ON") {
            2
        } else {
            1
        };
        let mut rules = Vec::new();
        for priority in 1..=n {
            let id = self.id("0pr");
            let (c, u) = (self.ts(), self.ts());
            let zone = self.state.zones.get(2).cloned().unwrap_or_default();
            let (rule_type, conditions, actions) = match policy_type {
                "OKTA_SIGN_ON" => (
                    "SIGN_ON",
                    json!({ "network": { "connection": if priority == 1 { "ZONE" } else { "ANYWHERE" }, "include": if priority == 1 { vec![zone] } else { vec![] } },
                        "authContext": { "authType": "ANY" } }),
                    json!({ "signon": { "access": "ALLOW", "requireFactor": priority != 1, "factorPromptMode": "ALWAYS",
                        "rememberDeviceByDefault": false, "factorLifetime": 15,
                        "session": { "maxSessionIdleMinutes": 120, "maxSessionLifetimeMinutes": 0, "usePersistentCookie": false } } }),
                ),
                "PASSWORD" => (
                    "PASSWORD",
                    json!({ "people": { "users": { "exclude": [] } }, "network": { "connection": "ANYWHERE" } }),
                    json!({ "passwordChange": { "access": "ALLOW" }, "selfServicePasswordReset": { "access": "ALLOW" },
                        "selfServiceUnlock": { "access": "DENY" } }),
                ),
                "MFA_ENROLL" => (
                    "MFA_ENROLL",
                    json!({ "people": { "users": { "exclude": [] } }, "network": { "connection": "ANYWHERE" } }),
                    json!({ "enroll": { "self": "CHALLENGE" } }),
                ),
                "ACCESS_POLICY" => {
                    let assurance = self
                        .state
                        .device_assurances
                        .first()
                        .cloned()
                        .unwrap_or_default();
                    let authenticator = self
                        .state
                        .authenticators
                        .get(2)
                        .cloned()
                        .unwrap_or_default();
                    let user_type = self.state.user_types.first().cloned().unwrap_or_default();
                    (
                        "ACCESS_POLICY",
                        json!({ "network": { "connection": "ZONE", "include": [zone] },
                        "device": { "assurance": { "include": [assurance] }, "managed": false, "registered": true },
                        "userType": { "include": [user_type], "exclude": [] }, "riskScore": { "level": "ANY" } }),
                        json!({ "appSignOn": { "access": "ALLOW", "verificationMethod": { "factorMode": "2FA", "type": "ASSURANCE",
                        "reauthenticateIn": "PT2H", "constraints": [{ "possession": { "required": true, "authenticationMethods": [{ "key": "okta_verify", "method": "signed_nonce", "id": authenticator }] } }] } } }),
                    )
                }
                "PROFILE_ENROLLMENT" => {
                    let hook = self.state.inline_hooks.get(1).cloned().unwrap_or_default();
                    (
                        "PROFILE_ENROLLMENT",
                        Value::Null,
                        json!({ "profileEnrollment": { "access": "ALLOW", "activationRequirements": { "emailVerification": true },
                        "preRegistrationInlineHooks": [{ "inlineHookId": hook }], "uiSchemaId": self.state.ui_schema,
                        "targetGroupIds": [self.state.groups.first()], "unknownUserAction": "DENY" } }),
                    )
                }
                "IDP_DISCOVERY" => {
                    let idp = self.state.idps.first().cloned().unwrap_or_default();
                    (
                        "IDP_DISCOVERY",
                        json!({ "network": { "connection": "ANYWHERE" }, "userIdentifier": { "type": "IDENTIFIER",
                        "patterns": [{ "matchType": "SUFFIX", "value": "partner.example" }] } }),
                        json!({ "idp": { "providers": [{ "type": "SAML2", "id": idp }], "idpSelectionType": "SPECIFIC" } }),
                    )
                }
                _ => (
                    policy_type,
                    json!({ "riskScore": { "level": "HIGH" } }),
                    json!({ "entityRisk": { "actions": [{ "action": "TERMINATE_ALL_SESSIONS" }] } }),
                ),
            };
            rules.push(json!({ "id": id, "type": rule_type, "status": "ACTIVE", "name": format!("Rule {priority}"),
                "priority": priority, "system": priority == n, "created": c, "lastUpdated": u,
                "conditions": conditions, "actions": actions,
                "_links": { "self": self.href(&format!("/api/v1/policies/{policy}/rules/{id}")),
                    "deactivate": self.href(&format!("/api/v1/policies/{policy}/rules/{id}/lifecycle/deactivate")) } }));
        }
        rules
    }

    fn roles(&mut self) {
        let mut roles = Vec::new();
        for label in ["Helpdesk", "App auditor"] {
            let id = self.id("cr0");
            let (c, u) = (self.ts(), self.ts());
            roles.push(json!({ "id": id, "label": label, "description": format!("{label} role"), "created": c, "lastUpdated": u,
                "_links": { "self": self.href(&format!("/api/v1/iam/roles/{id}")),
                    "permissions": self.href(&format!("/api/v1/iam/roles/{id}/permissions")) } }));
            self.state.custom_roles.push(id);
        }
        self.put("custom_role", &[], roles);
        for role in self.state.custom_roles.clone() {
            let mut permissions = Vec::new();
            for label in [
                "okta.users.read",
                "okta.users.lifecycle.manage",
                "okta.groups.read",
            ] {
                let (c, u) = (self.ts(), self.ts());
                permissions.push(json!({ "label": label, "created": c, "lastUpdated": u,
                    "_links": { "role": self.href(&format!("/api/v1/iam/roles/{role}")) } }));
            }
            self.put("role_permission", &[("roleIdOrLabel", &role)], permissions);
        }

        let mut sets = Vec::new();
        for label in ["Engineering groups", "Support apps"] {
            let id = self.id("iam");
            let (c, u) = (self.ts(), self.ts());
            sets.push(json!({ "id": id, "label": label, "description": label, "created": c, "lastUpdated": u,
                "_links": { "self": self.href(&format!("/api/v1/iam/resource-sets/{id}")),
                    "resources": self.href(&format!("/api/v1/iam/resource-sets/{id}/resources")),
                    "bindings": self.href(&format!("/api/v1/iam/resource-sets/{id}/bindings")) } }));
            self.state.resource_sets.push(id);
        }
        self.put("resource_set", &[], sets);
        for (i, set) in self.state.resource_sets.clone().iter().enumerate() {
            let mut resources = Vec::new();
            let targets: Vec<String> = if i == 0 {
                self.state
                    .groups
                    .iter()
                    .take(2)
                    .map(|g| format!("/api/v1/groups/{g}"))
                    .collect()
            } else {
                self.state
                    .apps
                    .iter()
                    .skip(1)
                    .take(2)
                    .map(|(a, _)| format!("/api/v1/apps/{a}"))
                    .collect()
            };
            for target in targets {
                let id = self.id("ire");
                let (c, u) = (self.ts(), self.ts());
                resources.push(json!({ "id": id, "orn": format!("orn:okta:directory:00o1{}", target.replace('/', ":")),
                    "created": c, "lastUpdated": u, "_links": { "self": self.href(&target) } }));
            }
            self.put(
                "resource_set_resource",
                &[("resourceSetIdOrLabel", set)],
                resources,
            );
            let role = self.state.custom_roles.get(i).cloned().unwrap_or_default();
            let binding = json!({ "id": role, "_links": { "self": self.href(&format!("/api/v1/iam/resource-sets/{set}/bindings/{role}")),
                "members": self.href(&format!("/api/v1/iam/resource-sets/{set}/bindings/{role}/members")) } });
            self.put(
                "resource_set_binding",
                &[("resourceSetIdOrLabel", set)],
                vec![binding],
            );
        }

        // A few admins: the first active users, plus one per 500 users.
        let admins: Vec<Arc<Item>> = {
            let active = &self.state.active_users;
            let n = (3 + active.len() / 500).min(active.len());
            active.iter().take(n).cloned().collect()
        };
        let mut assignees = Vec::new();
        for (i, admin) in admins.iter().enumerate() {
            assignees.push(json!({ "id": admin.id, "orn": format!("orn:okta:directory:00o1:users:{}", admin.id),
                "_links": { "self": self.href(&format!("/api/v1/users/{}", admin.id)),
                    "roles": self.href(&format!("/api/v1/users/{}/roles", admin.id)) } }));
            let rid = self.id("ra1");
            let (c, u) = (self.ts(), self.ts());
            let assignment = if i == 0 {
                json!({ "id": rid, "label": "Super Administrator", "type": "SUPER_ADMIN", "status": "ACTIVE",
                    "created": c, "lastUpdated": u, "assignmentType": "USER",
                    "_links": { "assignee": self.href(&format!("/api/v1/users/{}", admin.id)) } })
            } else {
                let role = self.state.custom_roles.first().cloned().unwrap_or_default();
                let set = self
                    .state
                    .resource_sets
                    .first()
                    .cloned()
                    .unwrap_or_default();
                json!({ "id": rid, "label": "Helpdesk", "type": "CUSTOM", "status": "ACTIVE", "created": c, "lastUpdated": u,
                    "assignmentType": "USER", "role": role, "resource-set": set,
                    "_links": { "assignee": self.href(&format!("/api/v1/users/{}", admin.id)),
                        "role": self.href(&format!("/api/v1/iam/roles/{role}")) } })
            };
            self.put(
                "user_role_assignment",
                &[("userId", &admin.id)],
                vec![assignment],
            );
        }
        self.put("role_assignee_user", &[], assignees);

        let groups: Vec<String> = std::iter::once(self.state.everyone.clone())
            .chain(self.state.groups.iter().cloned())
            .collect();
        for (i, group) in groups.iter().enumerate() {
            let mut roles = Vec::new();
            if i == 1 {
                let rid = self.id("irb");
                let (c, u) = (self.ts(), self.ts());
                roles.push(json!({ "id": rid, "label": "Read-only Administrator", "type": "READ_ONLY_ADMIN", "status": "ACTIVE",
                    "created": c, "lastUpdated": u, "assignmentType": "GROUP",
                    "_links": { "assignee": self.href(&format!("/api/v1/groups/{group}")) } }));
            }
            self.put("group_role_assignment", &[("groupId", group)], roles);
        }
    }
}

/// The path of `kind`'s listing under these parameters. Parameters the path does not use
/// (`type` for policies) pick the listing among kinds that share a path.
fn fill(kind: &KindSpec, params: &[(&str, &str)]) -> String {
    let map: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    kind.path_for(&map)
        .unwrap_or_else(|| kind.list_path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::kinds::{IdRule, ParentIds};

    fn small() -> OrgConfig {
        OrgConfig {
            seed: 7,
            users: 60,
            groups: 8,
            apps: 14,
        }
    }

    #[test]
    fn every_kind_has_resources() {
        let org = generate(&small(), "http://sim.test");
        for (kind, n) in org.counts() {
            assert!(n > 0, "no {kind} generated");
        }
        let nested = kinds::all().filter(|k| k.parent.is_some());
        for kind in nested {
            assert!(
                org.listings_of(kind.name).count() > 0,
                "{}: no listing",
                kind.name
            );
        }
    }

    #[test]
    fn sanitizing_removes_every_planted_secret() {
        let org = generate(&small(), "http://sim.test");
        let dummy = ParentIds {
            resource_id: "parent".into(),
            param_value: "parent".into(),
        };
        let mut planted = BTreeMap::new();
        for kind in kinds::all() {
            for (_, listing) in org.listings_of(kind.name) {
                for item in &listing.items {
                    if item.body.contains(SECRET_MARKER) {
                        *planted.entry(kind.name).or_insert(0) += 1;
                    }
                    let raw: Value = serde_json::from_str(&item.body).unwrap();
                    let parent = kind.parent.is_some().then_some(&dummy);
                    let resource = kind.to_resource(parent, raw).unwrap();
                    let stored =
                        String::from_utf8(butterfly_core::canonical_json(&resource.attributes))
                            .unwrap();
                    assert!(
                        !stored.contains(SECRET_MARKER),
                        "{}: a secret survives: {stored}",
                        kind.name
                    );
                    assert!(
                        !stored.contains("\"_links\""),
                        "{}: links survive",
                        kind.name
                    );
                }
            }
        }
        // The test has teeth: every kind that declares secrets had some planted.
        for kind in kinds::all().filter(|k| !k.secrets.is_empty()) {
            assert!(
                planted.contains_key(kind.name),
                "{}: nothing planted",
                kind.name
            );
        }
        // Members are stored as pairs, so their (user) bodies never need stripping.
        assert!(kinds::all().any(|k| matches!(k.id, IdRule::Member { .. })));
    }

    #[test]
    fn a_seed_determines_the_org() {
        let bodies = |org: &Org| -> Vec<String> {
            org.listings
                .iter()
                .flat_map(|((path, kind), l)| {
                    l.items
                        .iter()
                        .map(move |i| format!("{kind} {path} {}", i.body))
                })
                .collect()
        };
        let a = generate(&small(), "http://sim.test");
        let b = generate(&small(), "http://sim.test");
        assert_eq!(bodies(&a), bodies(&b));
        assert_eq!(a.service_app.client_id, b.service_app.client_id);
        let c = generate(&OrgConfig { seed: 8, ..small() }, "http://sim.test");
        assert_ne!(bodies(&a), bodies(&c));
    }

    #[test]
    fn ids_look_like_okta_ids_and_are_unique_per_kind() {
        let org = generate(&small(), "http://sim.test");
        for (_, listing) in org.listings_of("user") {
            let mut ids: Vec<&str> = listing.items.iter().map(|i| i.id.as_str()).collect();
            assert!(ids.iter().all(|id| id.len() == 20 && id.starts_with("00u")));
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 60);
        }
    }
}
