//! JWT bearer assertions: decoding, RS256 signature verification against
//! the connected app's certificate (or bare public key), and the claim
//! checks Salesforce makes (`iss` = consumer key, `sub` = a user, `aud` =
//! the login host, `exp` in seconds, with about 3 minutes of clock skew).
//!
//! Verification uses `ring` (already compiled in as rustls' provider). Only
//! the few DER structures needed to reach the RSA key are walked here: a
//! certificate's `subjectPublicKeyInfo`, and that structure's key bits.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

/// An RSA public key (PKCS#1 `RSAPublicKey` DER) that verifies assertions.
#[derive(Debug, Clone)]
pub struct VerifyKey(Vec<u8>);

impl VerifyKey {
    /// Reads a PEM `CERTIFICATE` or `PUBLIC KEY` (or `RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<VerifyKey, String> {
        let (label, der) = pem_block(pem)?;
        let spki = match label.as_str() {
            "CERTIFICATE" => spki_of_certificate(&der)?,
            "PUBLIC KEY" => der,
            "RSA PUBLIC KEY" => return Ok(VerifyKey(der)),
            other => {
                return Err(format!(
                    "a `{other}` PEM block is not a certificate or public key"
                ));
            }
        };
        Ok(VerifyKey(rsa_key_of_spki(&spki)?))
    }

    /// Whether `signature` is a valid RS256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.0,
        )
        .verify(message, signature)
        .is_ok()
    }
}

/// A decoded assertion.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The header object.
    pub header: Value,
    /// The claims object.
    pub claims: Value,
    /// `header.claims`, the signed bytes.
    pub signed: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes `header.claims.signature`; `None` when it is not a JWT.
pub fn decode(assertion: &str) -> Option<Assertion> {
    let mut parts = assertion.trim().split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok()?).ok()?;
    let claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    Some(Assertion {
        header,
        claims,
        signed: format!("{h}.{c}").into_bytes(),
        signature,
    })
}

fn pem_block(pem: &str) -> Result<(String, Vec<u8>), String> {
    let start = pem
        .find("-----BEGIN ")
        .ok_or("no `-----BEGIN …-----` line")?;
    let rest = &pem[start + 11..];
    let label_end = rest.find("-----").ok_or("malformed BEGIN line")?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest
        .find(&end_marker)
        .ok_or_else(|| format!("no `{end_marker}` line"))?;
    let b64: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("the PEM body is not base64: {e}"))?;
    Ok((label, der))
}

/// One DER element: (tag, content, rest).
fn der(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "malformed DER".to_string();
    let tag = *input.first().ok_or_else(bad)?;
    let first = *input.get(1).ok_or_else(bad)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let bytes = input.get(2..2 + n).ok_or_else(bad)?;
        (
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize),
            2 + n,
        )
    };
    let content = input.get(header..header + len).ok_or_else(bad)?;
    Ok((tag, content, &input[header + len..]))
}

/// The `subjectPublicKeyInfo` (whole element) of an X.509 certificate.
fn spki_of_certificate(cert: &[u8]) -> Result<Vec<u8>, String> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    // [0] version (optional), serial, signature alg, issuer, validity, subject, spki
    let (tag, _, after) = der(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..5 {
        let (_, _, after) = der(rest)?;
        rest = after;
    }
    let (tag, _, after) = der(rest)?;
    if tag != 0x30 {
        return Err("no subjectPublicKeyInfo in the certificate".to_string());
    }
    // The whole SEQUENCE element, header included.
    Ok(rest[..rest.len() - after.len()].to_vec())
}

/// The `RSAPublicKey` inside a `subjectPublicKeyInfo`.
fn rsa_key_of_spki(spki: &[u8]) -> Result<Vec<u8>, String> {
    let (_, inner, _) = der(spki)?;
    let (_, algorithm, rest) = der(inner)?;
    let (_, oid, _) = der(algorithm)?;
    // 1.2.840.113549.1.1.1 rsaEncryption
    if oid != [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] {
        return Err("the key is not an RSA key (JWT bearer needs RS256)".to_string());
    }
    let (tag, bits, _) = der(rest)?;
    if tag != 0x03 || bits.first() != Some(&0) {
        return Err("malformed public key bits".to_string());
    }
    Ok(bits[1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../tests/fixtures/jwt/test-cert.pem");
    const PUB: &str = include_str!("../tests/fixtures/jwt/test-pub.pem");
    const KEY: &[u8] = include_bytes!("../tests/fixtures/jwt/test-key.pk8");
    const OTHER: &[u8] = include_bytes!("../tests/fixtures/jwt/other-key.pk8");

    fn sign(key: &[u8], message: &[u8]) -> Vec<u8> {
        let pair = ring::signature::RsaKeyPair::from_pkcs8(key).expect("test key");
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            message,
            &mut sig,
        )
        .expect("signs");
        sig
    }

    #[test]
    fn certificates_and_public_keys_verify_rs256() {
        let msg = b"header.claims";
        let good = sign(KEY, msg);
        let bad = sign(OTHER, msg);
        for pem in [CERT, PUB] {
            let key = VerifyKey::from_pem(pem).expect("key parses");
            assert!(key.verify(msg, &good));
            assert!(!key.verify(msg, &bad));
            assert!(!key.verify(b"header.other", &good));
        }
    }

    #[test]
    fn bad_pem_is_explained() {
        assert!(
            VerifyKey::from_pem("nothing")
                .unwrap_err()
                .contains("BEGIN")
        );
        let e =
            VerifyKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .unwrap_err();
        assert!(e.contains("not a certificate or public key"), "{e}");
    }

    #[test]
    fn decodes_jwts() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let c = URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#);
        let a = decode(&format!("{h}.{c}.AAAA")).expect("decodes");
        assert_eq!(a.header["alg"], "RS256");
        assert_eq!(a.claims["iss"], "x");
        assert!(decode("a.b").is_none());
        assert!(decode("!!.b.c").is_none());
    }
}
