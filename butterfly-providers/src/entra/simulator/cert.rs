//! A self-signed X.509 certificate for the simulator's app registration.
//!
//! Entra authenticates a certificate credential by the SHA-1 (`x5t`) or SHA-256
//! (`x5t#S256`) thumbprint of the certificate's DER, named in the client assertion's
//! header. The simulator builds the certificate itself: a minimal v3 certificate (subject
//! = issuer, RSA key, sha256WithRSAEncryption) encoded with a few lines of DER below, so
//! no X.509 crate joins the tree. Any client that loads PEM certificates (OpenSSL, MSAL,
//! azure-identity) accepts it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use rsa::pkcs8::EncodePublicKey as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::Digest as _;

/// sha256WithRSAEncryption, 1.2.840.113549.1.1.11.
const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// The DER DigestInfo prefix of a SHA-256 hash (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        // Short form: the length fits the byte.
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(0));
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn time(at: DateTime<Utc>) -> Vec<u8> {
    let year = at.year();
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    if (1950..2050).contains(&year) {
        tlv(0x17, format!("{:02}{rest}", year % 100).as_bytes())
    } else {
        tlv(0x18, format!("{year:04}{rest}").as_bytes())
    }
}

fn algorithm() -> Vec<u8> {
    seq(&[&tlv(0x06, SHA256_WITH_RSA), &[0x05, 0x00]])
}

/// A certificate and its thumbprints.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub der: Vec<u8>,
    pub pem: String,
    /// base64url SHA-1 of the DER: the `x5t` header.
    pub x5t: String,
    /// base64url SHA-256 of the DER: the `x5t#S256` header.
    pub x5t_s256: String,
}

/// A self-signed certificate for `key`, named `CN={common_name}`, valid over the range.
pub(crate) fn self_signed(
    key: &RsaPrivateKey,
    common_name: &str,
    serial: u64,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<Certificate, String> {
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| e.to_string())?;
    let name = seq(&[&tlv(
        0x31,
        &seq(&[&tlv(0x06, COMMON_NAME), &tlv(0x0c, common_name.as_bytes())]),
    )]);
    // A positive INTEGER in its shortest form (DER): no leading zero bytes, except one
    // that keeps the top bit clear.
    let raw = serial.max(1).to_be_bytes();
    let skip = raw.iter().take_while(|b| **b == 0).count();
    let mut serial_bytes = Vec::new();
    if raw[skip] & 0x80 != 0 {
        serial_bytes.push(0);
    }
    serial_bytes.extend_from_slice(&raw[skip..]);
    let tbs = seq(&[
        &tlv(0xa0, &tlv(0x02, &[0x02])),
        &tlv(0x02, &serial_bytes),
        &algorithm(),
        &name,
        &seq(&[&time(not_before), &time(not_after)]),
        &name,
        spki.as_bytes(),
    ]);
    let hash = sha2::Sha256::digest(&tbs);
    let mut digest_info = SHA256_DIGEST_INFO.to_vec();
    digest_info.extend_from_slice(&hash);
    let signature = key
        .sign(Pkcs1v15Sign::new_unprefixed(), &digest_info)
        .map_err(|e| e.to_string())?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(&signature);
    let der = seq(&[&tbs, &algorithm(), &tlv(0x03, &bits)]);
    Ok(Certificate::from_der(der))
}

impl Certificate {
    pub(crate) fn from_der(der: Vec<u8>) -> Self {
        let sha1 = sha1::Sha1::digest(&der);
        let sha256 = sha2::Sha256::digest(&der);
        let body = STANDARD.encode(&der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        Certificate {
            x5t: URL_SAFE_NO_PAD.encode(sha1),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
            pem,
            der,
        }
    }

    /// Read the first certificate of a PEM file.
    #[cfg(test)]
    pub(crate) fn from_pem(pem: &str) -> Result<Self, String> {
        let start = pem
            .find("-----BEGIN CERTIFICATE-----")
            .ok_or("no BEGIN CERTIFICATE line")?;
        let rest = &pem[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = rest
            .find("-----END CERTIFICATE-----")
            .ok_or("no END CERTIFICATE line")?;
        let body: String = rest[..end].split_whitespace().collect();
        let der = STANDARD
            .decode(body)
            .map_err(|e| format!("certificate is not base64: {e}"))?;
        Ok(Certificate::from_der(der))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey as _;

    #[test]
    fn the_certificate_carries_the_key_and_a_valid_signature() {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let until = DateTime::from_timestamp(2_600_000_000, 0).unwrap();
        let cert = self_signed(&key, "butterfly-entra-sim", 7, from, until).unwrap();
        assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let again = Certificate::from_pem(&cert.pem).unwrap();
        assert_eq!(again.der, cert.der);
        assert_eq!(again.x5t, cert.x5t);
        assert_eq!(URL_SAFE_NO_PAD.decode(&cert.x5t).unwrap().len(), 20);
        // The SPKI is inside, and the signature verifies over the TBS part.
        let spki = key.to_public_key().to_public_key_der().unwrap();
        let der = &cert.der;
        assert!(
            der.windows(spki.as_bytes().len())
                .any(|w| w == spki.as_bytes())
        );
        // Outer SEQUENCE (long form, 2 length bytes), then the TBS SEQUENCE.
        assert_eq!(der[0], 0x30);
        let tbs_start = 4;
        assert_eq!(der[tbs_start], 0x30);
        let tbs_len = usize::from(der[tbs_start + 2]) << 8 | usize::from(der[tbs_start + 3]);
        let tbs = &der[tbs_start..tbs_start + 4 + tbs_len];
        let signature = &der[der.len() - 128..];
        let public = rsa::RsaPublicKey::from_public_key_der(spki.as_bytes()).unwrap();
        let hash = sha2::Sha256::digest(tbs);
        public
            .verify(
                Pkcs1v15Sign::new_unprefixed(),
                &[SHA256_DIGEST_INFO, &hash].concat(),
                signature,
            )
            .unwrap();
        // 2049 is UTCTime, 2052 GeneralizedTime.
        assert_eq!(time(until)[0], 0x18);
        assert_eq!(time(from)[0], 0x17);
    }
}
