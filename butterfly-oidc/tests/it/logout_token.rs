//! Back-Channel Logout 1.0 section 2.6, one forged token per rule.

use axum::http::StatusCode;
use std::sync::Arc;

use butterfly_oidc::{
    BACKCHANNEL_LOGOUT_EVENT, ClientId, Issuer, JwksCache, LogoutRequest, LogoutTokenError,
    LogoutTokenValidator,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{
    CLIENT_ID, ISSUER, NOW, clock_at, idp_key, jwks, other_key, raw_token, sign,
    sign_hs256_with_public_pem, sign_with,
};

fn validator() -> LogoutTokenValidator {
    let keys = Arc::new(JwksCache::from_json(&jwks(&[idp_key()])).unwrap());
    LogoutTokenValidator::new(
        Issuer::new(ISSUER).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        keys,
    )
    .with_algorithms(["RS256"])
    .with_clock(clock_at(NOW))
}

/// A valid logout token's claims, with a unique `jti`.
fn claims(jti: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": NOW - 5,
        "exp": NOW + 115,
        "jti": jti,
        "sub": "user-1",
        "sid": "sid-1",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

fn with(jti: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims(jti);
    edit(c.as_object_mut().unwrap());
    c
}

#[tokio::test]
async fn every_rule_of_section_2_6_is_enforced() {
    let v = Arc::new(validator());
    let key = idp_key();
    let none_header = json!({"alg": "none", "typ": "logout+jwt", "kid": key.kid});
    let cases: Vec<(&str, String, &str)> = vec![
        ("valid", sign(&claims("j-valid")), "Ok"),
        (
            "valid, typ JWT",
            sign_with(key, Some(&key.kid), Some("JWT"), &claims("j-typ-jwt")),
            "Ok",
        ),
        (
            "valid, typ application/logout+jwt",
            sign_with(
                key,
                Some(&key.kid),
                Some("application/logout+jwt"),
                &claims("j-typ-app"),
            ),
            "Ok",
        ),
        (
            "valid, no typ and no kid (single key)",
            sign_with(key, None, None, &claims("j-no-kid")),
            "Ok",
        ),
        (
            "valid, audience array",
            sign(&with("j-aud-array", |c| {
                c.insert("aud".into(), json!(["other-client", CLIENT_ID]));
            })),
            "Ok",
        ),
        (
            "valid, sid only",
            sign(&with("j-sid-only", |c| {
                c.remove("sub");
            })),
            "Ok",
        ),
        (
            "valid, sub only, no exp",
            sign(&with("j-sub-only", |c| {
                c.remove("sid");
                c.remove("exp");
            })),
            "Ok",
        ),
        (
            "wrong key (same kid)",
            sign_with(other_key(), Some(&key.kid), None, &claims("j-wrong-key")),
            "Err(InvalidSignature)",
        ),
        (
            "unknown kid",
            sign_with(other_key(), Some("nobody"), None, &claims("j-unknown-kid")),
            "Err(Keys(UnknownKey",
        ),
        (
            "alg none",
            raw_token(&none_header, &claims("j-none"), ""),
            "Err(DisallowedAlgorithm(\"none\"))",
        ),
        (
            "HS256 with the public key PEM as secret",
            sign_hs256_with_public_pem(&claims("j-hs256")),
            "Err(DisallowedAlgorithm(\"HS256\"))",
        ),
        (
            "RS384, not advertised",
            {
                let mut header = Header::new(Algorithm::RS384);
                header.kid = Some(key.kid.clone());
                jsonwebtoken::encode(&header, &claims("j-rs384"), &key.encoding).unwrap()
            },
            "Err(DisallowedAlgorithm(\"RS384\"))",
        ),
        (
            "typ at+jwt",
            sign_with(key, Some(&key.kid), Some("at+jwt"), &claims("j-at-jwt")),
            "Err(WrongType(\"at+jwt\"))",
        ),
        (
            "missing events",
            sign(&with("j-no-events", |c| {
                c.remove("events");
            })),
            "Err(MissingLogoutEvent)",
        ),
        (
            "events without the logout member",
            sign(&with("j-other-event", |c| {
                c.insert("events".into(), json!({"urn:other": {}}));
            })),
            "Err(MissingLogoutEvent)",
        ),
        (
            "events value not an object",
            sign(&with("j-event-string", |c| {
                c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }));
            })),
            "Err(EventNotObject)",
        ),
        (
            "events not an object",
            sign(&with("j-events-array", |c| {
                c.insert("events".into(), json!([BACKCHANNEL_LOGOUT_EVENT]));
            })),
            "Err(InvalidClaim(\"events\"))",
        ),
        (
            "nonce present",
            sign(&with("j-nonce", |c| {
                c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
            })),
            "Err(NoncePresent)",
        ),
        (
            "expired",
            sign(&with("j-expired", |c| {
                c.insert("iat".into(), json!(NOW - 200));
                c.insert("exp".into(), json!(NOW - 100));
            })),
            "Err(Expired)",
        ),
        (
            "iat too old",
            sign(&with("j-old", |c| {
                c.insert("iat".into(), json!(NOW - 3600));
                c.remove("exp");
            })),
            "Err(TooOld)",
        ),
        (
            "iat in the future",
            sign(&with("j-future", |c| {
                c.insert("iat".into(), json!(NOW + 600));
            })),
            "Err(IssuedInFuture)",
        ),
        (
            "iat slightly in the future, within skew",
            sign(&with("j-skew", |c| {
                c.insert("iat".into(), json!(NOW + 30));
            })),
            "Ok",
        ),
        (
            "iat missing",
            sign(&with("j-no-iat", |c| {
                c.remove("iat");
            })),
            "Err(MissingIssuedAt)",
        ),
        (
            "wrong aud",
            sign(&with("j-aud", |c| {
                c.insert("aud".into(), json!("other-client"));
            })),
            "Err(WrongAudience)",
        ),
        (
            "wrong iss",
            sign(&with("j-iss", |c| {
                c.insert("iss".into(), json!("https://evil.example.com"));
            })),
            "Err(WrongIssuer)",
        ),
        (
            "neither sub nor sid",
            sign(&with("j-nobody", |c| {
                c.remove("sub");
                c.remove("sid");
            })),
            "Err(MissingSubjectAndSession)",
        ),
        (
            "missing jti",
            sign(&with("", |c| {
                c.remove("jti");
            })),
            "Err(MissingJti)",
        ),
        ("not a JWT", "not-a-token".to_owned(), "Err(Malformed("),
        (
            "five parts (JWE)",
            "a.b.c.d.e".to_owned(),
            "Err(Malformed(\"encrypted",
        ),
        (
            "critical header",
            {
                let header = json!({"alg": "RS256", "kid": key.kid, "crit": ["exp"]});
                // The signature is never looked at: crit fails first.
                raw_token(&header, &claims("j-crit"), "c2ln")
            },
            "Err(Malformed(\"the header has critical",
        ),
    ];

    // The same forged tokens through the HTTP route: each is a 400 with no-store, and
    // no session is ended.
    let route = crate::axum_route::recorder_with(Arc::clone(&v));
    for (name, token, expected) in cases {
        let result = v.validate(&token).await;
        let shown = format!("{result:?}");
        assert!(
            shown.starts_with(expected),
            "{name}: expected {expected}, got {shown}"
        );
        if expected != "Ok" {
            let (status, cache, text) = crate::axum_route::post(
                &route,
                crate::axum_route::FORM,
                format!("logout_token={token}"),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {text}");
            assert_eq!(cache.as_deref(), Some("no-store"), "{name}");
        }
    }
    assert!(route.ended.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_valid_token_names_the_session_and_cannot_be_replayed() {
    let v = validator();
    let token = sign(&claims("j-replay"));
    let request: LogoutRequest = v.validate(&token).await.unwrap();
    assert_eq!(request.issuer.as_str(), ISSUER);
    assert_eq!(request.subject.as_deref(), Some("user-1"));
    assert_eq!(request.sid.as_deref(), Some("sid-1"));
    assert_eq!(request.jti, "j-replay");
    assert!(matches!(
        v.validate(&token).await,
        Err(LogoutTokenError::Replayed)
    ));
    // Another token with the same jti is a replay too, whatever else differs.
    let again = sign(&with("j-replay", |c| {
        c.insert("sid".into(), json!("sid-2"));
    }));
    assert!(matches!(
        v.validate(&again).await,
        Err(LogoutTokenError::Replayed)
    ));
}

#[tokio::test]
async fn symmetric_algorithms_stay_refused_even_when_advertised() {
    let keys = Arc::new(JwksCache::from_json(&jwks(&[idp_key()])).unwrap());
    let v = LogoutTokenValidator::new(
        Issuer::new(ISSUER).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        keys,
    )
    .with_algorithms(["HS256", "none", "RS256"])
    .with_clock(clock_at(NOW));
    for token in [sign_hs256_with_public_pem(&claims("j-hs-adv")), {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(idp_key().kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims("j-hs-secret"),
            &EncodingKey::from_secret(b"client-secret"),
        )
        .unwrap()
    }] {
        assert!(matches!(
            v.validate(&token).await,
            Err(LogoutTokenError::DisallowedAlgorithm(alg)) if alg == "HS256"
        ));
    }
    assert!(v.validate(&sign(&claims("j-rs-ok"))).await.is_ok());
}

#[test]
fn the_issuer_can_be_peeked_for_routing() {
    assert_eq!(
        LogoutTokenValidator::peek_issuer(&sign(&claims("j-peek"))).as_deref(),
        Some(ISSUER)
    );
    assert_eq!(LogoutTokenValidator::peek_issuer("garbage"), None);
}
