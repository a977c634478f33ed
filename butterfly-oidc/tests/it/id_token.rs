//! ID token validation (OIDC Core section 3.1.3.7) with forged tokens.

use std::sync::Arc;

use butterfly_oidc::{ClientId, IdTokenError, IdTokenValidator, Issuer, JwksCache};
use serde_json::{Value, json};

use crate::support::{
    CLIENT_ID, ISSUER, NOW, clock_at, idp_key, jwks, other_key, sign_hs256_with_public_pem,
    sign_with,
};

const NONCE: &str = "n-0S6_WzA2Mj";

fn validator() -> IdTokenValidator {
    let keys = Arc::new(JwksCache::from_json(&jwks(&[idp_key()])).unwrap());
    IdTokenValidator::new(
        Issuer::new(ISSUER).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        keys,
    )
    .with_algorithms(["RS256", "HS256"])
    .with_clock(clock_at(NOW))
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "user-1",
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "auth_time": NOW - 20,
        "nonce": NONCE,
        "sid": "sid-1",
        "email": "jane@example.com",
        "email_verified": true,
        "name": "Jane Doe",
        "groups": ["admins"],
    })
}

fn with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    edit(c.as_object_mut().unwrap());
    c
}

fn sign(claims: &Value) -> String {
    let key = idp_key();
    sign_with(key, Some(&key.kid), None, claims)
}

#[tokio::test]
async fn a_valid_id_token_becomes_a_verified_login() {
    let login = validator().validate(&sign(&claims()), NONCE).await.unwrap();
    assert_eq!(login.issuer.as_str(), ISSUER);
    assert_eq!(login.subject, "user-1");
    assert_eq!(login.email.as_deref(), Some("jane@example.com"));
    assert!(login.email_verified);
    assert_eq!(login.name.as_deref(), Some("Jane Doe"));
    assert_eq!(login.sid.as_deref(), Some("sid-1"));
    assert_eq!(login.auth_time.unwrap().timestamp(), NOW - 20);
    assert_eq!(login.expires_at.timestamp(), NOW + 3600);
    assert_eq!(login.claims["groups"], json!(["admins"]));
    assert!(!format!("{login:?}").contains(login.id_token.as_str()));
}

#[tokio::test]
async fn id_tokens_breaking_a_rule_are_rejected() {
    let v = validator();
    let key = idp_key();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "nonce mismatch",
            sign(&with(|c| {
                c.insert("nonce".into(), json!("other"));
            })),
            "Err(NonceMismatch)",
        ),
        (
            "nonce missing",
            sign(&with(|c| {
                c.remove("nonce");
            })),
            "Err(NonceMismatch)",
        ),
        (
            "wrong aud",
            sign(&with(|c| {
                c.insert("aud".into(), json!("other-client"));
            })),
            "Err(WrongAudience)",
        ),
        (
            "several audiences, no azp",
            sign(&with(|c| {
                c.insert("aud".into(), json!([CLIENT_ID, "other-client"]));
            })),
            "Err(WrongAuthorizedParty)",
        ),
        (
            "azp is another client",
            sign(&with(|c| {
                c.insert("azp".into(), json!("other-client"));
            })),
            "Err(WrongAuthorizedParty)",
        ),
        (
            "several audiences, azp us",
            sign(&with(|c| {
                c.insert("aud".into(), json!([CLIENT_ID, "other-client"]));
                c.insert("azp".into(), json!(CLIENT_ID));
            })),
            "Ok",
        ),
        (
            "wrong iss",
            sign(&with(|c| {
                c.insert("iss".into(), json!("https://evil.example.com"));
            })),
            "Err(WrongIssuer)",
        ),
        (
            "expired",
            sign(&with(|c| {
                c.insert("exp".into(), json!(NOW - 61));
            })),
            "Err(Expired)",
        ),
        (
            "expired within skew",
            sign(&with(|c| {
                c.insert("exp".into(), json!(NOW - 30));
            })),
            "Ok",
        ),
        (
            "no exp",
            sign(&with(|c| {
                c.remove("exp");
            })),
            "Err(MissingExpiry)",
        ),
        (
            "iat in the future",
            sign(&with(|c| {
                c.insert("iat".into(), json!(NOW + 600));
            })),
            "Err(IssuedInFuture)",
        ),
        (
            "no sub",
            sign(&with(|c| {
                c.remove("sub");
            })),
            "Err(MissingSubject)",
        ),
        (
            "email_verified as a string",
            sign(&with(|c| {
                c.insert("email_verified".into(), json!("true"));
            })),
            "Ok",
        ),
        (
            "email_verified a number",
            sign(&with(|c| {
                c.insert("email_verified".into(), json!(1));
            })),
            "Err(InvalidClaim(\"email_verified\"))",
        ),
        (
            "wrong key",
            sign_with(other_key(), Some(&key.kid), None, &claims()),
            "Err(InvalidSignature)",
        ),
        (
            "HS256 with the public key PEM, though advertised",
            sign_hs256_with_public_pem(&claims()),
            "Err(DisallowedAlgorithm(\"HS256\"))",
        ),
    ];
    for (name, token, expected) in cases {
        let shown = format!("{:?}", v.validate(&token, NONCE).await);
        assert!(
            shown.starts_with(expected),
            "{name}: expected {expected}, got {shown}"
        );
    }
    let unverified = v
        .validate(
            &sign(&with(|c| {
                c.remove("email_verified");
            })),
            NONCE,
        )
        .await
        .unwrap();
    assert!(!unverified.email_verified, "absent means not verified");
    assert!(matches!(
        v.validate("x.y", NONCE).await,
        Err(IdTokenError::Malformed(_))
    ));
}
