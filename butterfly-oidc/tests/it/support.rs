//! Keys and token forging for the tests: RSA keys generated once per run, tokens signed
//! with them (or deliberately not).

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use butterfly_core::FixedClock;
use chrono::DateTime;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.example.com";
pub const CLIENT_ID: &str = "butterfly-app";
/// The fixed "now" of the token tests.
pub const NOW: i64 = 1_700_000_000;

pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub public_pem: String,
    pub jwk: Value,
}

fn generate(kid: &str) -> TestKey {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let der = private.to_pkcs1_der().unwrap();
    let public = private.to_public_key();
    TestKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        jwk: json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    }
}

/// The provider's signing key.
pub fn idp_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| generate("idp-key-1"))
}

/// Another key: an attacker's, or the provider's next one after rotation.
pub fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| generate("idp-key-2"))
}

pub fn jwks(keys: &[&TestKey]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }))
        .unwrap()
}

pub fn clock_at(unix: i64) -> Arc<FixedClock> {
    Arc::new(FixedClock::new(DateTime::from_timestamp(unix, 0).unwrap()))
}

/// RS256 with `key`, naming `kid` and `typ` in the header.
pub fn sign_with(key: &TestKey, kid: Option<&str>, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// RS256 with the provider's key, typed as a logout token.
pub fn sign(claims: &Value) -> String {
    let key = idp_key();
    sign_with(key, Some(&key.kid), Some("logout+jwt"), claims)
}

/// HS256 with the provider's public key PEM as the shared secret: the classic
/// algorithm-confusion forgery.
pub fn sign_hs256_with_public_pem(claims: &Value) -> String {
    let key = idp_key();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(key.public_pem.as_bytes()),
    )
    .unwrap()
}

/// A compact JWS from a raw header, raw claims and a raw signature.
pub fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A valid logout token's claims for `issuer`, at [`NOW`], with this `jti`.
pub fn logout_claims(issuer: &str, jti: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "iat": NOW - 5,
        "jti": jti,
        "sub": "user-1",
        "sid": "sid-1",
        "events": { butterfly_oidc::BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}
