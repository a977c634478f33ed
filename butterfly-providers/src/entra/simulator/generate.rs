//! Generating a tenant from a seed and sizes.
//!
//! The same seed and sizes give the same tenant, ids included (a ChaCha stream, no wall
//! clock). Shapes follow Graph's v1.0 CSDL; a test checks every emitted property against
//! it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::tenant::Tenant;
use crate::entra::kinds;

/// Microsoft Graph's application id, the same in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The tenant that owns Microsoft's first-party apps.
const MICROSOFT_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// What `secretText` holds when [`TenantConfig::secret_canary`] is on: a backup must never
/// store it.
pub const SECRET_CANARY: &str = "BUTTERFLY-ENTRA-CANARY-SECRET";

/// Built-in directory role templates: (template id, display name).
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
    ),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
    ),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
    ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
];
/// The Global Administrator role template id.
pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

/// App role ids of Microsoft Graph application permissions Microsoft publishes; others are
/// derived from the permission's name (stable, but not Microsoft's).
const KNOWN_PERMISSION_IDS: &[(&str, &str)] = &[
    ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214"),
    ("User.ReadWrite.All", "741f803b-c850-494e-b5df-cde7c675a1ca"),
    ("Group.Read.All", "5b567255-7703-4780-807c-7be8301ae99b"),
    (
        "Group.ReadWrite.All",
        "62a82d76-70ea-41e2-9197-370581804d09",
    ),
    (
        "GroupMember.Read.All",
        "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    ),
    ("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
    (
        "Directory.ReadWrite.All",
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    ),
    (
        "Application.Read.All",
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    ),
    (
        "Application.ReadWrite.All",
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    ),
    (
        "AppRoleAssignment.ReadWrite.All",
        "06b708a9-e830-4db3-a914-8e69da51d44f",
    ),
    ("Policy.Read.All", "246dd0d5-5bd0-4def-940b-0421030a5b68"),
    (
        "RoleManagement.Read.Directory",
        "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    ),
];

/// How to generate a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantConfig {
    /// The seed: the same seed and sizes give the same tenant.
    pub seed: u64,
    /// Users (about a tenth of them guests).
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// App registrations (each with a service principal), besides the backup's own.
    pub apps: usize,
    /// Put [`SECRET_CANARY`] in `secretText` of app password credentials and in identity
    /// providers' `clientSecret`, which Graph never returns: a backup must strip them.
    pub secret_canary: bool,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig {
            seed: 1,
            users: 200,
            groups: 20,
            apps: 10,
            secret_canary: false,
        }
    }
}

/// Every application permission the simulated Microsoft Graph service principal offers:
/// the catalogue's, their ReadWrite forms, and the directory-wide ones.
pub fn graph_permissions() -> BTreeSet<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for kind in kinds::all() {
        out.insert(kind.read_permission.to_owned());
        out.insert(kind.read_permission.replace(".Read.", ".ReadWrite."));
        if let Some(w) = kind.write_permission {
            out.insert(w.to_owned());
        }
    }
    out.extend(
        ["Directory.Read.All", "Directory.ReadWrite.All"]
            .into_iter()
            .map(str::to_owned),
    );
    out
}

/// The app role id of a Microsoft Graph application permission.
pub fn permission_id(name: &str) -> String {
    KNOWN_PERMISSION_IDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(
            || {
                let hash = sha2::Sha256::digest(format!("graph-permission:{name}").as_bytes());
                uuid_from(&hash[..16])
            },
            |(_, id)| (*id).to_owned(),
        )
}

/// Bytes as hex digits.
pub(crate) fn hex(bytes: &[u8], upper: bool) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        // Writing into a String cannot fail.
        let _ = if upper {
            write!(out, "{b:02X}")
        } else {
            write!(out, "{b:02x}")
        };
        out
    })
}

fn uuid_from(bytes: &[u8]) -> String {
    let hex = hex(&bytes[..16], false);
    // Version 4, RFC 4122 variant (8, 9, a or b).
    let variant = ["8", "9", "a", "b"][usize::from(bytes[8] & 3)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A seeded id source.
#[derive(Debug)]
pub(crate) struct Ids {
    rng: ChaCha8Rng,
}

impl Ids {
    pub fn new(seed: u64) -> Self {
        Ids {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
    pub fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid_from(&bytes)
    }
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }
}

pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Edsger",
    "Katherine",
    "Donald",
    "Sophie",
    "Niklaus",
    "Annie",
    "Guido",
];
const LAST: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
    "Allen", "Backus", "Perlman", "Lee", "Lamarr", "Dijkstra", "Johnson", "Knuth", "Wilson",
    "Wirth", "Easley", "Rossum",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Finance",
    "Marketing",
    "Support",
    "Legal",
    "Operations",
    "People",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "Germany", "DE"),
    ("London", "United Kingdom", "GB"),
    ("Paris", "France", "FR"),
    ("Seattle", "United States", "US"),
    ("Toronto", "Canada", "CA"),
    ("Sydney", "Australia", "AU"),
];

/// The backup app's identity in the generated tenant.
#[derive(Debug, Clone)]
#[allow(clippy::struct_field_names)]
pub(crate) struct BackupApp {
    pub app_id: String,
    pub application_id: String,
    pub service_principal_id: String,
    pub graph_sp_id: String,
}

/// Generate the tenant. `granted` are the backup app's application permissions (assigned
/// on the Microsoft Graph service principal); `cert_thumbprint` the base64 SHA-1 of its
/// certificate, registered as a key credential.
#[allow(clippy::too_many_lines)]
pub(crate) fn generate(
    config: &TenantConfig,
    granted: &BTreeSet<String>,
    cert_thumbprint: &str,
) -> (Tenant, BackupApp) {
    let mut ids = Ids::new(config.seed);
    let base: DateTime<Utc> = DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default();
    let mut t = Tenant {
        tenant_id: ids.uuid(),
        domain: format!("butterflysim{}.onmicrosoft.com", config.seed),
        ..Tenant::default()
    };
    let when = |ids: &mut Ids| ts(base + TimeDelta::seconds(ids.rng().gen_range(0..60_000_000)));
    let custom_domain = format!("example{}.com", config.seed);

    // --- Organization, domains, branding -------------------------------------------------
    let org_id = t.tenant_id.clone();
    t.put(
        "organization",
        &org_id,
        json!({
            "id": org_id,
            "deletedDateTime": null,
            "businessPhones": ["+1 425 555 0100"],
            "city": "Seattle",
            "country": null,
            "countryLetterCode": "US",
            "createdDateTime": ts(base),
            "defaultUsageLocation": "US",
            "displayName": format!("Butterfly Simulated {}", config.seed),
            "marketingNotificationEmails": [],
            "onPremisesLastSyncDateTime": null,
            "onPremisesSyncEnabled": null,
            "postalCode": "98052",
            "preferredLanguage": "en",
            "privacyProfile": null,
            "securityComplianceNotificationMails": [],
            "securityComplianceNotificationPhones": [],
            "state": "WA",
            "street": "1 Simulation Way",
            "technicalNotificationMails": [format!("admin@{custom_domain}")],
            "tenantType": "AAD",
            "assignedPlans": [],
            "provisionedPlans": [],
            "verifiedDomains": [
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": false, "isInitial": true, "name": t.domain, "type": "Managed"},
                {"capabilities": "Email", "isDefault": true, "isInitial": false, "name": custom_domain, "type": "Managed"},
            ],
        }),
    );
    t.children
        .entry("branding")
        .or_default()
        .entry(org_id.clone())
        .or_default()
        .insert(
            "branding".into(),
            json!({
                "id": "0",
                "backgroundColor": "#0f6cbd",
                "backgroundImageRelativeUrl": null,
                "bannerLogoRelativeUrl": null,
                "cdnList": ["aadcdn.msftauthimages.net"],
                "customAccountResetCredentialsUrl": null,
                "customCannotAccessYourAccountText": null,
                "customCannotAccessYourAccountUrl": null,
                "customForgotMyPasswordText": null,
                "customPrivacyAndCookiesText": null,
                "customPrivacyAndCookiesUrl": null,
                "customResetItNowText": null,
                "customTermsOfUseText": null,
                "customTermsOfUseUrl": null,
                "headerBackgroundColor": null,
                "signInPageText": "Welcome to the simulated tenant",
                "usernameHintText": format!("someone@{custom_domain}"),
                "loginPageTextVisibilitySettings": {
                    "hideCannotAccessYourAccount": null, "hideForgotMyPassword": null,
                    "hideResetItNow": null, "hideTermsOfUse": true, "hidePrivacyAndCookies": true,
                    "hideAccountResetCredentials": null
                },
            }),
        );
    for (name, default, initial, auth, services) in [
        (
            t.domain.clone(),
            false,
            true,
            "Managed",
            vec!["Email", "OfficeCommunicationsOnline"],
        ),
        (custom_domain.clone(), true, false, "Managed", vec!["Email"]),
        (
            format!("fed{}.example.net", config.seed),
            false,
            false,
            "Federated",
            vec![],
        ),
    ] {
        t.put(
            "domain",
            &name,
            json!({
                "id": name,
                "authenticationType": auth,
                "availabilityStatus": null,
                "isAdminManaged": true,
                "isDefault": default,
                "isInitial": initial,
                "isRoot": true,
                "isVerified": true,
                "passwordNotificationWindowInDays": 14,
                "passwordValidityPeriodInDays": 2_147_483_647,
                "supportedServices": services,
                "state": null,
            }),
        );
    }

    // --- Users ------------------------------------------------------------------------------
    let mut users = Vec::with_capacity(config.users);
    let mut members_only = Vec::new();
    for i in 0..config.users {
        let id = ids.uuid();
        let first = FIRST[ids.rng().gen_range(0..FIRST.len())];
        let last = LAST[ids.rng().gen_range(0..LAST.len())];
        let (city, country, usage) = CITIES[ids.rng().gen_range(0..CITIES.len())];
        let guest = i % 10 == 9;
        let nick = format!("{}.{}{}", first.to_lowercase(), last.to_lowercase(), i);
        let (upn, mail, user_type, creation) = if guest {
            (
                format!("{nick}_partner.example#EXT#@{}", t.domain),
                format!("{nick}@partner.example"),
                "Guest",
                json!("Invitation"),
            )
        } else {
            (
                format!("{nick}@{custom_domain}"),
                format!("{nick}@{custom_domain}"),
                "Member",
                Value::Null,
            )
        };
        let created = when(&mut ids);
        let enabled = ids.rng().gen_ratio(97, 100);
        let department = DEPARTMENTS[ids.rng().gen_range(0..DEPARTMENTS.len())];
        let user = json!({
            "id": id,
            "deletedDateTime": null,
            "accountEnabled": enabled,
            "businessPhones": if guest { json!([]) } else { json!([format!("+1 425 555 {:04}", i % 10_000)]) },
            "city": city,
            "companyName": if guest { Value::Null } else { json!("Butterfly Simulated") },
            "country": country,
            "createdDateTime": created,
            "creationType": creation,
            "department": department,
            "displayName": format!("{first} {last}"),
            "employeeId": if guest { Value::Null } else { json!(format!("E{i:06}")) },
            "externalUserState": if guest { json!("Accepted") } else { Value::Null },
            "externalUserStateChangeDateTime": if guest { json!(created) } else { Value::Null },
            "givenName": first,
            "identities": [{
                "signInType": if guest { "federated" } else { "userPrincipalName" },
                "issuer": if guest { "ExternalAzureAD".to_owned() } else { t.domain.clone() },
                "issuerAssignedId": if guest { Value::Null } else { json!(upn) },
            }],
            "jobTitle": if guest { Value::Null } else { json!(format!("{department} specialist")) },
            "mail": mail,
            "mailNickname": nick,
            "mobilePhone": null,
            "officeLocation": if guest { Value::Null } else { json!(city) },
            "onPremisesSyncEnabled": null,
            "otherMails": if guest { json!([mail]) } else { json!([]) },
            "passwordPolicies": null,
            "preferredLanguage": "en-US",
            "proxyAddresses": [format!("SMTP:{mail}")],
            "surname": last,
            "usageLocation": usage,
            "userPrincipalName": upn,
            "userType": user_type,
        });
        t.put("user", &id, user);
        if !guest {
            members_only.push(id.clone());
        }
        users.push(id);
    }
    let pick_user = |ids: &mut Ids| -> Option<String> {
        members_only
            .choose(ids.rng())
            .or_else(|| users.choose(ids.rng()))
            .cloned()
    };

    // --- Groups, members, owners ----------------------------------------------------------
    let mut groups = Vec::with_capacity(config.groups);
    let average = (config.users * 2)
        .checked_div(config.groups)
        .map_or(0, |a| a.clamp(3, 60));
    for i in 0..config.groups {
        let id = ids.uuid();
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let flavour = ids.rng().gen_range(0..10);
        let (types, mail_enabled, security, rule) = match flavour {
            0..=5 => (json!([]), false, true, Value::Null),
            6..=8 => (json!(["Unified"]), true, false, Value::Null),
            _ => (
                json!(["DynamicMembership"]),
                false,
                true,
                json!(format!("user.department -eq \"{dept}\"")),
            ),
        };
        let nick = format!("{}-{i}", dept.to_lowercase());
        let unified = (6..=8).contains(&flavour);
        let role_assignable = i % 25 == 0 && !unified;
        let group = json!({
            "id": id,
            "deletedDateTime": null,
            "classification": null,
            "createdDateTime": when(&mut ids),
            "description": format!("{dept} team {i}"),
            "displayName": format!("{dept} {i}"),
            "expirationDateTime": null,
            "groupTypes": types,
            "isAssignableToRole": if role_assignable { json!(true) } else { Value::Null },
            "mail": if mail_enabled { json!(format!("{nick}@{custom_domain}")) } else { Value::Null },
            "mailEnabled": mail_enabled,
            "mailNickname": nick,
            "membershipRule": rule,
            "membershipRuleProcessingState": if rule.is_null() { Value::Null } else { json!("On") },
            "onPremisesSyncEnabled": null,
            "preferredDataLocation": null,
            "proxyAddresses": if mail_enabled { json!([format!("SMTP:{nick}@{custom_domain}")]) } else { json!([]) },
            "renewedDateTime": when(&mut ids),
            "resourceBehaviorOptions": [],
            "resourceProvisioningOptions": [],
            "securityEnabled": security,
            "securityIdentifier": format!("S-1-12-1-{}", ids.rng().gen_range(1_000_000..9_999_999)),
            "theme": null,
            "visibility": if unified { json!(if i % 2 == 0 { "Private" } else { "Public" }) } else { Value::Null },
            "onPremisesProvisioningErrors": [],
            "serviceProvisioningErrors": [],
        });
        t.put("group", &id, group);
        t.relations
            .entry("group_member")
            .or_default()
            .insert(id.clone(), BTreeSet::new());
        t.relations
            .entry("group_owner")
            .or_default()
            .insert(id.clone(), BTreeSet::new());
        groups.push(id);
    }
    for (i, group) in groups.iter().enumerate() {
        if !users.is_empty() {
            let n = ids.rng().gen_range(0..=average * 2).min(users.len());
            for user in users
                .choose_multiple(ids.rng(), n)
                .cloned()
                .collect::<Vec<_>>()
            {
                t.add_member("group_member", group, &user);
            }
            let owners = if i % 3 == 0 { 2 } else { 1 };
            for _ in 0..owners {
                if let Some(owner) = pick_user(&mut ids) {
                    t.add_member("group_owner", group, &owner);
                }
            }
        }
        // Some nesting.
        if i % 20 == 1 && i > 0 {
            let inner = groups[i - 1].clone();
            t.add_member("group_member", group, &inner);
        }
    }

    // --- Microsoft Graph service principal -------------------------------------------------
    let graph_sp_id = ids.uuid();
    let app_roles: Vec<Value> = graph_permissions()
        .iter()
        .map(|p| {
            json!({
                "allowedMemberTypes": ["Application"],
                "description": format!("Allows the app to use {p} without a signed-in user."),
                "displayName": p,
                "id": permission_id(p),
                "isEnabled": true,
                "origin": "Application",
                "value": p,
            })
        })
        .collect();
    t.put(
        "service_principal",
        &graph_sp_id,
        service_principal(
            &graph_sp_id,
            GRAPH_APP_ID,
            "Microsoft Graph",
            MICROSOFT_TENANT,
            &ts(base),
            &json!(app_roles),
            &json!([]),
            &json!([]),
        ),
    );
    t.children
        .entry("app_role_assignment")
        .or_default()
        .insert(graph_sp_id.clone(), BTreeMap::default());

    // --- Applications and their service principals -----------------------------------------
    let canary = config.secret_canary;
    let backup_app_id = ids.uuid();
    let backup_application_id = ids.uuid();
    let backup_sp_id = ids.uuid();
    let backup_key = json!([{
        "customKeyIdentifier": cert_thumbprint,
        "displayName": "CN=butterfly-entra-sim",
        "endDateTime": ts(base + TimeDelta::days(3650)),
        "key": null,
        "keyId": ids.uuid(),
        "startDateTime": ts(base),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }]);
    let backup_password = json!([password_credential(
        &mut ids,
        "butterfly backup",
        base,
        canary
    )]);
    t.put(
        "application",
        &backup_application_id,
        application(
            &backup_application_id,
            &backup_app_id,
            "Butterfly backup",
            &ts(base),
            &backup_password,
            &backup_key,
            &json!([]),
            &t.domain,
        ),
    );
    t.put(
        "service_principal",
        &backup_sp_id,
        service_principal(
            &backup_sp_id,
            &backup_app_id,
            "Butterfly backup",
            &t.tenant_id,
            &ts(base),
            &json!([]),
            &json!([]),
            &backup_key,
        ),
    );
    t.relations
        .entry("application_owner")
        .or_default()
        .insert(backup_application_id.clone(), BTreeSet::new());
    t.children
        .entry("app_role_assignment")
        .or_default()
        .insert(backup_sp_id.clone(), BTreeMap::default());
    let backup = BackupApp {
        app_id: backup_app_id,
        application_id: backup_application_id,
        service_principal_id: backup_sp_id,
        graph_sp_id: graph_sp_id.clone(),
    };
    set_graph_grants(&mut t, &mut ids, &backup, granted, base);

    let permissions: Vec<String> = graph_permissions().into_iter().collect();
    for i in 0..config.apps {
        let application_id = ids.uuid();
        let app_id = ids.uuid();
        let sp_id = ids.uuid();
        let name = format!("Simulated app {i}");
        let created = when(&mut ids);
        let roles = if i % 5 == 0 {
            json!([{
                "allowedMemberTypes": ["User"],
                "description": "Readers of the app",
                "displayName": "Reader",
                "id": ids.uuid(),
                "isEnabled": true,
                "origin": "Application",
                "value": "App.Reader",
            }])
        } else {
            json!([])
        };
        let passwords = if i % 2 == 0 {
            json!([password_credential(
                &mut ids,
                &format!("{name} secret"),
                base,
                canary
            )])
        } else {
            json!([])
        };
        let keys = if i % 4 == 1 {
            let mut thumb = [0u8; 20];
            ids.rng().fill(&mut thumb);
            json!([{
                "customKeyIdentifier": hex(&thumb, true),
                "displayName": format!("CN={name}"),
                "endDateTime": ts(base + TimeDelta::days(730)),
                "key": null,
                "keyId": ids.uuid(),
                "startDateTime": ts(base),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            }])
        } else {
            json!([])
        };
        t.put(
            "application",
            &application_id,
            application(
                &application_id,
                &app_id,
                &name,
                &created,
                &passwords,
                &keys,
                &roles,
                &t.domain,
            ),
        );
        t.put(
            "service_principal",
            &sp_id,
            service_principal(
                &sp_id,
                &app_id,
                &name,
                &t.tenant_id,
                &created,
                &roles,
                &json!([]),
                &keys,
            ),
        );
        let mut owners = BTreeSet::new();
        if let Some(owner) = pick_user(&mut ids) {
            owners.insert(owner);
        }
        t.relations
            .entry("application_owner")
            .or_default()
            .insert(application_id.clone(), owners);
        t.children
            .entry("app_role_assignment")
            .or_default()
            .insert(sp_id.clone(), BTreeMap::default());
        // Users and groups assigned to the app's role.
        if let Some(role) = roles
            .get(0)
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
        {
            for _ in 0..3 {
                if let Some(user) = pick_user(&mut ids) {
                    let assignment = app_role_assignment(
                        &mut ids, &t, &user, "User", &sp_id, &name, &role, &created,
                    );
                    insert_assignment(&mut t, &sp_id, assignment);
                }
            }
            if let Some(group) = groups.choose(ids.rng()).cloned() {
                let assignment = app_role_assignment(
                    &mut ids, &t, &group, "Group", &sp_id, &name, &role, &created,
                );
                insert_assignment(&mut t, &sp_id, assignment);
            }
        }
        // Some apps hold application permissions on Microsoft Graph.
        if i % 10 == 3 {
            for permission in permissions
                .choose_multiple(ids.rng(), 2)
                .cloned()
                .collect::<Vec<_>>()
            {
                let assignment = app_role_assignment(
                    &mut ids,
                    &t,
                    &sp_id,
                    "ServicePrincipal",
                    &graph_sp_id,
                    "Microsoft Graph",
                    &permission_id(&permission),
                    &created,
                );
                insert_assignment(&mut t, &graph_sp_id, assignment);
            }
        }
        // Delegated consent for a third of them.
        if i % 3 == 0 {
            let grant_id = ids.uuid();
            let user_consent = i % 6 == 3;
            t.put(
                "oauth2_permission_grant",
                &grant_id,
                json!({
                    "id": grant_id,
                    "clientId": sp_id,
                    "consentType": if user_consent { "Principal" } else { "AllPrincipals" },
                    "principalId": if user_consent { pick_user(&mut ids).map_or(Value::Null, Value::String) } else { Value::Null },
                    "resourceId": graph_sp_id,
                    "scope": "openid profile email User.Read",
                }),
            );
        }
    }

    // --- Directory roles, assignments, PIM ---------------------------------------------------
    for (template, name) in BUILT_IN_ROLES {
        t.put(
            "role_definition",
            template,
            json!({
                "id": template,
                "description": format!("Built-in role: {name}."),
                "displayName": name,
                "isBuiltIn": true,
                "isEnabled": true,
                "resourceScopes": ["/"],
                "templateId": template,
                "version": "1",
                "rolePermissions": [{
                    "allowedResourceActions": [format!("microsoft.directory/{}/allTasks", name.to_lowercase().replace(' ', ""))],
                    "condition": null,
                    "excludedResourceActions": [],
                }],
            }),
        );
    }
    let custom_role = ids.uuid();
    t.put(
        "role_definition",
        &custom_role,
        json!({
            "id": custom_role,
            "description": "Reads app registrations and manages their owners",
            "displayName": "Simulated App Owner Manager",
            "isBuiltIn": false,
            "isEnabled": true,
            "resourceScopes": ["/"],
            "templateId": custom_role,
            "version": null,
            "rolePermissions": [{
                "allowedResourceActions": ["microsoft.directory/applications/owners/update", "microsoft.directory/applications/standard/read"],
                "condition": null,
                "excludedResourceActions": [],
            }],
        }),
    );
    let break_glass = members_only.first().cloned();
    let mut admins: Vec<(String, &str)> = Vec::new();
    let admin_count = (config.users / 2000).clamp(2, 8).min(members_only.len());
    for user in members_only.iter().take(admin_count) {
        admins.push((user.clone(), GLOBAL_ADMINISTRATOR));
    }
    for (n, (template, _)) in BUILT_IN_ROLES.iter().enumerate().skip(1) {
        if let Some(user) = members_only.get(admin_count + n) {
            admins.push((user.clone(), template));
        }
    }
    if let Some(group) = groups.first() {
        admins.push((group.clone(), "194ae4cb-b126-40b2-bd5b-6091b380977d"));
    }
    for (principal, role) in &admins {
        let id = format!("{}-{}", &role[..8], ids.uuid());
        t.put(
            "role_assignment",
            &id,
            json!({
                "id": id,
                "appScopeId": null,
                "condition": null,
                "directoryScopeId": "/",
                "principalId": principal,
                "principalOrganizationId": t.tenant_id,
                "roleDefinitionId": role,
            }),
        );
        let schedule = ids.uuid();
        t.put(
            "role_assignment_schedule",
            &schedule,
            json!({
                "id": schedule,
                "appScopeId": null,
                "assignmentType": "Assigned",
                "createdDateTime": ts(base),
                "createdUsing": schedule,
                "directoryScopeId": "/",
                "memberType": "Direct",
                "modifiedDateTime": null,
                "principalId": principal,
                "roleDefinitionId": role,
                "status": "Provisioned",
                "scheduleInfo": {"startDateTime": ts(base), "recurrence": null, "expiration": {"type": "noExpiration", "endDateTime": null, "duration": null}},
            }),
        );
    }
    let eligible = (config.users / 500).clamp(1, 20).min(members_only.len());
    for (n, user) in members_only.iter().rev().take(eligible).enumerate() {
        let role = BUILT_IN_ROLES[n % 4].0;
        let id = ids.uuid();
        let expires = n % 2 == 0;
        t.put(
            "role_eligibility_schedule",
            &id,
            json!({
                "id": id,
                "appScopeId": null,
                "createdDateTime": ts(base),
                "createdUsing": id,
                "directoryScopeId": "/",
                "memberType": "Direct",
                "modifiedDateTime": null,
                "principalId": user,
                "roleDefinitionId": role,
                "status": "Provisioned",
                "scheduleInfo": {
                    "startDateTime": ts(base),
                    "recurrence": null,
                    "expiration": if expires {
                        json!({"type": "afterDateTime", "endDateTime": ts(base + TimeDelta::days(365)), "duration": null})
                    } else {
                        json!({"type": "noExpiration", "endDateTime": null, "duration": null})
                    },
                },
            }),
        );
    }

    // --- Administrative units --------------------------------------------------------------
    let units = (config.users / 5000).clamp(2, 20);
    for u in 0..units {
        let id = ids.uuid();
        let city = CITIES[u % CITIES.len()].0;
        t.put(
            "administrative_unit",
            &id,
            json!({
                "id": id,
                "deletedDateTime": null,
                "description": format!("Users in {city}"),
                "displayName": format!("{city} office"),
                "isMemberManagementRestricted": null,
                "membershipRule": null,
                "membershipRuleProcessingState": null,
                "membershipType": null,
                "visibility": null,
            }),
        );
        let n = (users.len() / 10 / units).clamp(1, 200).min(users.len());
        let members: BTreeSet<String> = users.choose_multiple(ids.rng(), n).cloned().collect();
        t.relations
            .entry("administrative_unit_member")
            .or_default()
            .insert(id, members);
    }

    // --- Conditional Access and named locations --------------------------------------------
    let hq = ids.uuid();
    let vpn = ids.uuid();
    let blocked_countries = ids.uuid();
    let allowed_countries = ids.uuid();
    for (id, name, ranges, trusted) in [
        (
            &hq,
            "Headquarters",
            vec!["198.51.100.0/24", "203.0.113.8/29"],
            true,
        ),
        (&vpn, "Corporate VPN", vec!["192.0.2.0/24"], true),
    ] {
        t.put(
            "named_location",
            id,
            json!({
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "id": id,
                "displayName": name,
                "createdDateTime": ts(base),
                "modifiedDateTime": ts(base),
                "isTrusted": trusted,
                "ipRanges": ranges.iter().map(|r| json!({"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": r})).collect::<Vec<_>>(),
            }),
        );
    }
    for (id, name, countries) in [
        (&blocked_countries, "Blocked countries", vec!["KP", "IR"]),
        (
            &allowed_countries,
            "Operating countries",
            vec!["US", "DE", "GB", "FR", "CA", "AU"],
        ),
    ] {
        t.put(
            "named_location",
            id,
            json!({
                "@odata.type": "#microsoft.graph.countryNamedLocation",
                "id": id,
                "displayName": name,
                "createdDateTime": ts(base),
                "modifiedDateTime": ts(base),
                "countriesAndRegions": countries,
                "countryLookupMethod": "clientIpAddress",
                "includeUnknownCountriesAndRegions": false,
            }),
        );
    }
    let admin_roles: Vec<&str> = BUILT_IN_ROLES.iter().take(8).map(|(id, _)| *id).collect();
    let exclude: Vec<String> = break_glass.iter().cloned().collect();
    let policies = [
        (
            "Require MFA for administrators",
            "enabled",
            json!({"includeUsers": [], "excludeUsers": exclude, "includeGroups": [], "excludeGroups": [], "includeRoles": admin_roles, "excludeRoles": []}),
            json!(["all"]),
            json!({"includeLocations": ["All"], "excludeLocations": []}),
            json!({"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": []}),
        ),
        (
            "Block legacy authentication",
            "enabled",
            json!({"includeUsers": ["All"], "excludeUsers": exclude, "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": []}),
            json!(["exchangeActiveSync", "other"]),
            Value::Null,
            json!({"operator": "OR", "builtInControls": ["block"], "customAuthenticationFactors": [], "termsOfUse": []}),
        ),
        (
            "Require MFA for all users (report-only)",
            "enabledForReportingButNotEnforced",
            json!({"includeUsers": ["All"], "excludeUsers": exclude, "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": []}),
            json!(["all"]),
            json!({"includeLocations": ["All"], "excludeLocations": [hq]}),
            json!({"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": []}),
        ),
        (
            "Block sign-ins from blocked countries",
            "enabled",
            json!({"includeUsers": ["All"], "excludeUsers": exclude, "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": []}),
            json!(["all"]),
            json!({"includeLocations": [blocked_countries], "excludeLocations": []}),
            json!({"operator": "OR", "builtInControls": ["block"], "customAuthenticationFactors": [], "termsOfUse": []}),
        ),
        (
            "Require compliant device for guests",
            "disabled",
            json!({"includeUsers": ["GuestsOrExternalUsers"], "excludeUsers": [], "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": []}),
            json!(["browser", "mobileAppsAndDesktopClients"]),
            Value::Null,
            json!({"operator": "OR", "builtInControls": ["compliantDevice"], "customAuthenticationFactors": [], "termsOfUse": []}),
        ),
    ];
    for (name, state, users_condition, client_apps, locations, grant) in policies {
        let id = ids.uuid();
        t.put(
            "conditional_access_policy",
            &id,
            json!({
                "id": id,
                "templateId": null,
                "displayName": name,
                "createdDateTime": ts(base),
                "modifiedDateTime": null,
                "state": state,
                "sessionControls": null,
                "conditions": {
                    "userRiskLevels": [],
                    "signInRiskLevels": [],
                    "clientAppTypes": client_apps,
                    "servicePrincipalRiskLevels": [],
                    "platforms": null,
                    "locations": locations,
                    "devices": null,
                    "clientApplications": null,
                    "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [], "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
                    "users": users_condition,
                },
                "grantControls": grant,
            }),
        );
    }

    // --- Authentication policies -------------------------------------------------------------
    for (id, name, kind, combos) in [
        (
            "00000000-0000-0000-0000-000000000002",
            "Multifactor authentication",
            "builtIn",
            vec![
                "windowsHelloForBusiness",
                "fido2",
                "x509CertificateMultiFactor",
                "password,microsoftAuthenticatorPush",
                "password,softwareOath",
                "password,sms",
            ],
        ),
        (
            "00000000-0000-0000-0000-000000000003",
            "Passwordless MFA",
            "builtIn",
            vec![
                "windowsHelloForBusiness",
                "fido2",
                "x509CertificateMultiFactor",
                "microsoftAuthenticatorPhoneSignIn",
            ],
        ),
        (
            "00000000-0000-0000-0000-000000000004",
            "Phishing-resistant MFA",
            "builtIn",
            vec![
                "windowsHelloForBusiness",
                "fido2",
                "x509CertificateMultiFactor",
            ],
        ),
    ] {
        t.put(
            "authentication_strength_policy",
            id,
            json!({
                "id": id,
                "createdDateTime": ts(base),
                "modifiedDateTime": ts(base),
                "displayName": name,
                "description": format!("{name}: combinations Conditional Access can require."),
                "policyType": kind,
                "requirementsSatisfied": "mfa",
                "allowedCombinations": combos,
            }),
        );
    }
    let custom_strength = ids.uuid();
    t.put(
        "authentication_strength_policy",
        &custom_strength,
        json!({
            "id": custom_strength,
            "createdDateTime": ts(base),
            "modifiedDateTime": ts(base),
            "displayName": "FIDO2 only",
            "description": "Security keys for privileged access",
            "policyType": "custom",
            "requirementsSatisfied": "mfa",
            "allowedCombinations": ["fido2"],
        }),
    );
    let all_users =
        json!([{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}]);
    singleton(
        &mut t,
        "authentication_methods_policy",
        json!({
            "id": "authenticationMethodsPolicy",
            "displayName": "Authentication Methods Policy",
            "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
            "lastModifiedDateTime": ts(base),
            "policyVersion": "1.5",
            "policyMigrationState": "migrationComplete",
            "reconfirmationInDays": 0,
            "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"snoozeDurationInDays": 1, "state": "default", "excludeTargets": [], "includeTargets": [{"id": "all_users", "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator"}]}},
            "authenticationMethodConfigurations": [
                {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration", "id": "MicrosoftAuthenticator", "state": "enabled", "excludeTargets": [], "isSoftwareOathEnabled": false, "includeTargets": all_users},
                {"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "id": "Fido2", "state": "enabled", "excludeTargets": [], "isAttestationEnforced": true, "isSelfServiceRegistrationAllowed": true, "includeTargets": all_users},
                {"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "id": "Sms", "state": "disabled", "excludeTargets": [], "includeTargets": all_users},
                {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration", "id": "TemporaryAccessPass", "state": "enabled", "excludeTargets": [], "defaultLifetimeInMinutes": 60, "defaultLength": 8, "minimumLifetimeInMinutes": 60, "maximumLifetimeInMinutes": 480, "isUsableOnce": false, "includeTargets": all_users},
                {"@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration", "id": "Email", "state": "enabled", "excludeTargets": [], "allowExternalIdToUseEmailOtp": "default", "includeTargets": all_users},
            ],
        }),
    );
    singleton(
        &mut t,
        "authorization_policy",
        json!({
            "id": "authorizationPolicy",
            "deletedDateTime": null,
            "allowInvitesFrom": "everyone",
            "allowedToSignUpEmailBasedSubscriptions": true,
            "allowedToUseSSPR": true,
            "allowEmailVerifiedUsersToJoinOrganization": false,
            "allowUserConsentForRiskyApps": null,
            "blockMsolPowerShell": false,
            "description": "Used to manage authorization related settings across the company.",
            "displayName": "Authorization Policy",
            "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
            "defaultUserRolePermissions": {
                "allowedToCreateApps": true,
                "allowedToCreateSecurityGroups": true,
                "allowedToCreateTenants": true,
                "allowedToReadBitlockerKeysForOwnedDevice": true,
                "allowedToReadOtherUsers": true,
                "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"],
            },
        }),
    );
    singleton(
        &mut t,
        "security_defaults",
        json!({
            "id": "00000000-0000-0000-0000-000000000005",
            "deletedDateTime": null,
            "description": "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks.",
            "displayName": "Security Defaults",
            "isEnabled": false,
        }),
    );
    singleton(
        &mut t,
        "admin_consent_request_policy",
        json!({
            "isEnabled": true,
            "notifyReviewers": true,
            "remindersEnabled": true,
            "requestDurationInDays": 30,
            "version": 1,
            "reviewers": [{"query": format!("/users/{}", break_glass.clone().unwrap_or_default()), "queryType": "MicrosoftGraph", "queryRoot": null}],
        }),
    );
    for (id, name) in [
        (
            "microsoft-user-default-low",
            "Default policy for user consent to apps (low risk)",
        ),
        (
            "microsoft-user-default-legacy",
            "Default policy for user consent to apps (legacy)",
        ),
        (
            "microsoft-all-application-permissions",
            "All application permissions, for any client app",
        ),
        (
            "microsoft-company-admin",
            "Everything consentable by a Global Administrator",
        ),
    ] {
        t.put("permission_grant_policy", id, json!({"id": id, "deletedDateTime": null, "displayName": name, "description": format!("{name}.")}));
    }
    let sts = [
        (
            "token_lifetime_policy",
            "Short-lived tokens",
            r#"{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"01:00:00"}}"#,
        ),
        (
            "token_issuance_policy",
            "SAML SHA-256 signing",
            r#"{"TokenIssuancePolicy":{"Version":1,"SigningAlgorithm":"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256","TokenResponseSigningPolicy":"TokenOnly","SamlTokenVersion":"2.0"}}"#,
        ),
        (
            "claims_mapping_policy",
            "Employee id claim",
            r#"{"ClaimsMappingPolicy":{"Version":1,"IncludeBasicClaimSet":"true","ClaimsSchema":[{"Source":"user","ID":"employeeid","JwtClaimType":"employee_id"}]}}"#,
        ),
        (
            "home_realm_discovery_policy",
            "Federated sign-in routing",
            r#"{"HomeRealmDiscoveryPolicy":{"AccelerateToFederatedDomain":true,"PreferredDomain":"fed.example.net","AllowCloudPasswordValidation":false}}"#,
        ),
        (
            "activity_based_timeout_policy",
            "Idle session timeout",
            r#"{"ActivityBasedTimeoutPolicy":{"Version":1,"ApplicationPolicies":[{"ApplicationId":"default","WebSessionIdleTimeout":"08:00:00"}]}}"#,
        ),
    ];
    for (kind, name, definition) in sts {
        let id = ids.uuid();
        t.put(
            kinds::by_name(kind).map_or("", |k| k.name),
            &id,
            json!({"id": id, "deletedDateTime": null, "definition": [definition], "displayName": name, "isOrganizationDefault": false}),
        );
    }

    // --- Cross-tenant access, identity providers ---------------------------------------------
    singleton(
        &mut t,
        "cross_tenant_access_policy",
        json!({
            "id": "crossTenantAccessPolicy",
            "deletedDateTime": null,
            "displayName": "CrossTenantAccessPolicy",
            "description": null,
            "allowedCloudEndpoints": [],
        }),
    );
    let b2b = |access: &str| {
        json!({
            "usersAndGroups": {"accessType": access, "targets": [{"target": "AllUsers", "targetType": "user"}]},
            "applications": {"accessType": access, "targets": [{"target": "AllApplications", "targetType": "application"}]},
        })
    };
    let trust = json!({"isMfaAccepted": false, "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false});
    singleton(
        &mut t,
        "cross_tenant_access_default",
        json!({
            "isServiceDefault": true,
            "inboundTrust": trust,
            "b2bCollaborationOutbound": b2b("allowed"),
            "b2bCollaborationInbound": b2b("allowed"),
            "b2bDirectConnectOutbound": b2b("blocked"),
            "b2bDirectConnectInbound": b2b("blocked"),
            "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": false},
            "invitationRedemptionIdentityProviderConfiguration": {"primaryIdentityProviderPrecedenceOrder": ["azureActiveDirectory", "externalFederation", "socialIdentityProviders"], "fallbackIdentityProvider": "defaultConfiguredIdp"},
            "tenantRestrictions": null,
        }),
    );
    for n in 0..2 {
        let partner = ids.uuid();
        t.put(
            "cross_tenant_access_partner",
            &partner,
            json!({
                "tenantId": partner,
                "isServiceProvider": n == 1,
                "isInMultiTenantOrganization": false,
                "inboundTrust": {"isMfaAccepted": true, "isCompliantDeviceAccepted": n == 0, "isHybridAzureADJoinedDeviceAccepted": false},
                "b2bCollaborationOutbound": null,
                "b2bCollaborationInbound": b2b("allowed"),
                "b2bDirectConnectOutbound": null,
                "b2bDirectConnectInbound": if n == 0 { b2b("allowed") } else { Value::Null },
                "automaticUserConsentSettings": {"inboundAllowed": n == 0, "outboundAllowed": n == 0},
                "tenantRestrictions": null,
            }),
        );
    }
    for (id, value) in [
        (
            "AADSignup-OAUTH",
            json!({"@odata.type": "#microsoft.graph.builtInIdentityProvider", "id": "AADSignup-OAUTH", "displayName": "Azure Active Directory Sign up", "identityProviderType": "AADSignup"}),
        ),
        (
            "EmailOTPSignup-OAUTH",
            json!({"@odata.type": "#microsoft.graph.builtInIdentityProvider", "id": "EmailOTPSignup-OAUTH", "displayName": "Email One Time Passcode", "identityProviderType": "EmailOTP"}),
        ),
        (
            "Google-OAUTH",
            json!({"@odata.type": "#microsoft.graph.socialIdentityProvider", "id": "Google-OAUTH", "displayName": "Google", "identityProviderType": "Google", "clientId": "sim-google-client.apps.googleusercontent.com", "clientSecret": if canary { SECRET_CANARY } else { "******" }}),
        ),
    ] {
        t.put("identity_provider", id, value);
    }

    // --- Group lifecycle, directory settings ------------------------------------------------
    let lifecycle = ids.uuid();
    t.put(
        "group_lifecycle_policy",
        &lifecycle,
        json!({
            "id": lifecycle,
            "alternateNotificationEmails": format!("groups-admin@{custom_domain}"),
            "groupLifetimeInDays": 180,
            "managedGroupTypes": "Selected",
        }),
    );
    for (template, name, values) in [
        (
            "62375ab9-6b52-47ed-826b-58e47e0e304b",
            "Group.Unified",
            vec![
                ("EnableGroupCreation", "false"),
                ("AllowGuestsToAccessGroups", "true"),
                ("AllowToAddGuests", "false"),
                ("UsageGuidelinesUrl", ""),
            ],
        ),
        (
            "5cf42378-d67d-4f36-ba46-e8b86229381d",
            "Password Rule Settings",
            vec![
                ("BannedPasswordCheckOnPremisesMode", "Audit"),
                ("EnableBannedPasswordCheckOnPremises", "True"),
                ("EnableBannedPasswordCheck", "True"),
                ("LockoutDurationInSeconds", "60"),
                ("LockoutThreshold", "10"),
                ("BannedPasswordList", ""),
            ],
        ),
    ] {
        let id = ids.uuid();
        t.put("directory_setting", &id, json!({
            "id": id,
            "displayName": name,
            "templateId": template,
            "values": values.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        }));
    }

    // --- Entitlement management --------------------------------------------------------------
    let general = ids.uuid();
    let catalog = ids.uuid();
    for (id, name, kind) in [
        (&general, "General", "systemCreated"),
        (&catalog, "Engineering resources", "userManaged"),
    ] {
        t.put(
            "access_package_catalog",
            id,
            json!({
                "id": id,
                "catalogType": kind,
                "createdDateTime": ts(base),
                "description": format!("{name} catalogue"),
                "displayName": name,
                "isExternallyVisible": kind == "userManaged",
                "modifiedDateTime": ts(base),
                "state": "published",
            }),
        );
    }
    for (n, name) in ["Engineering onboarding", "Partner access", "Finance tools"]
        .iter()
        .enumerate()
    {
        let id = ids.uuid();
        t.put(
            "access_package",
            &id,
            json!({
                "id": id,
                "createdDateTime": ts(base),
                "description": format!("{name} package"),
                "displayName": name,
                "isHidden": n == 2,
                "modifiedDateTime": ts(base),
            }),
        );
    }

    // Generation is not a change: delta starts from here.
    t.changes.clear();
    t.seq = 0;
    (t, backup)
}

fn singleton(t: &mut Tenant, kind: &'static str, value: Value) {
    if let Some(k) = kinds::by_name(kind)
        && let kinds::IdRule::Singleton(name) = k.id
    {
        t.objects
            .entry(k.name)
            .or_default()
            .insert(name.to_owned(), value);
    }
}

pub(crate) fn password_credential(
    ids: &mut Ids,
    name: &str,
    base: DateTime<Utc>,
    canary: bool,
) -> Value {
    let hint: String = ids.uuid().chars().take(3).collect();
    json!({
        "customKeyIdentifier": null,
        "displayName": name,
        "endDateTime": ts(base + TimeDelta::days(730)),
        "hint": hint,
        "keyId": ids.uuid(),
        "secretText": if canary { json!(SECRET_CANARY) } else { Value::Null },
        "startDateTime": ts(base),
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn application(
    id: &str,
    app_id: &str,
    name: &str,
    created: &str,
    passwords: &Value,
    keys: &Value,
    roles: &Value,
    domain: &str,
) -> Value {
    json!({
        "id": id,
        "deletedDateTime": null,
        "appId": app_id,
        "applicationTemplateId": null,
        "createdDateTime": created,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": name,
        "groupMembershipClaims": null,
        "identifierUris": [format!("api://{app_id}")],
        "isDeviceOnlyAuthSupported": null,
        "isFallbackPublicClient": false,
        "notes": null,
        "publisherDomain": domain,
        "serviceManagementReference": null,
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "defaultRedirectUri": null,
        "optionalClaims": null,
        "addIns": [],
        "api": {"acceptMappedClaims": null, "knownClientApplications": [], "requestedAccessTokenVersion": null, "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": roles,
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
        "keyCredentials": keys,
        "passwordCredentials": passwords,
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
        "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [format!("https://{}.example/callback", name.to_lowercase().replace(' ', "-"))], "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}, "redirectUriSettings": []},
        "spa": {"redirectUris": []},
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn service_principal(
    id: &str,
    app_id: &str,
    name: &str,
    owner_tenant: &str,
    created: &str,
    roles: &Value,
    passwords: &Value,
    keys: &Value,
) -> Value {
    let _ = created;
    json!({
        "id": id,
        "deletedDateTime": null,
        "accountEnabled": true,
        "alternativeNames": [],
        "appDisplayName": name,
        "appDescription": null,
        "appId": app_id,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": owner_tenant,
        "appRoleAssignmentRequired": false,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": name,
        "homepage": null,
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": [],
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "samlSingleSignOnSettings": null,
        "addIns": [],
        "appRoles": roles,
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
        "keyCredentials": keys,
        "oauth2PermissionScopes": [],
        "passwordCredentials": passwords,
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn app_role_assignment(
    ids: &mut Ids,
    t: &Tenant,
    principal: &str,
    principal_type: &str,
    resource: &str,
    resource_name: &str,
    role: &str,
    created: &str,
) -> Value {
    let principal_name = t
        .directory
        .get(principal)
        .and_then(|k| t.object(k, principal))
        .and_then(|o| o["displayName"].as_str())
        .unwrap_or_default()
        .to_owned();
    // Graph's assignment ids are opaque base64url strings.
    let mut raw = [0u8; 32];
    ids.rng().fill(&mut raw);
    let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    json!({
        "id": id,
        "deletedDateTime": null,
        "appRoleId": role,
        "createdDateTime": created,
        "principalDisplayName": principal_name,
        "principalId": principal,
        "principalType": principal_type,
        "resourceDisplayName": resource_name,
        "resourceId": resource,
    })
}

pub(crate) fn insert_assignment(t: &mut Tenant, resource: &str, assignment: Value) {
    let id = assignment["id"].as_str().unwrap_or_default().to_owned();
    t.children
        .entry("app_role_assignment")
        .or_default()
        .entry(resource.to_owned())
        .or_default()
        .insert(id, assignment);
}

/// Make the backup app's Microsoft Graph application permissions exactly `granted`.
pub(crate) fn set_graph_grants(
    t: &mut Tenant,
    ids: &mut Ids,
    backup: &BackupApp,
    granted: &BTreeSet<String>,
    at: DateTime<Utc>,
) {
    let wanted: BTreeSet<String> = granted.iter().map(|p| permission_id(p)).collect();
    let assignments = t
        .children
        .entry("app_role_assignment")
        .or_default()
        .entry(backup.graph_sp_id.clone())
        .or_default();
    assignments.retain(|_, a| {
        a["principalId"].as_str() != Some(backup.service_principal_id.as_str())
            || a["appRoleId"].as_str().is_some_and(|r| wanted.contains(r))
    });
    let have: BTreeSet<String> = assignments
        .values()
        .filter(|a| a["principalId"].as_str() == Some(backup.service_principal_id.as_str()))
        .filter_map(|a| a["appRoleId"].as_str().map(str::to_owned))
        .collect();
    for role in wanted.difference(&have) {
        let assignment = app_role_assignment(
            ids,
            t,
            &backup.service_principal_id,
            "ServicePrincipal",
            &backup.graph_sp_id,
            "Microsoft Graph",
            role,
            &ts(at),
        );
        insert_assignment(t, &backup.graph_sp_id, assignment);
    }
}
