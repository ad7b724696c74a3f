//! JWT bearer assertions: the PEM private key read once at start-up, and
//! RS256-signed assertions minted per token request.
//!
//! Salesforce accepts RS256 only; the claims are `iss` (consumer key), `sub`
//! (username), `aud` (login/test host or the community URL) and `exp` in
//! epoch seconds, three minutes ahead as the common clients do.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

/// How long an assertion is valid.
const LIFETIME_SECS: i64 = 180;

/// An RSA key able to sign assertions.
pub(crate) struct SigningKey(RsaKeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Reads a PEM RSA private key (`BEGIN PRIVATE KEY`, PKCS#8, or
    /// `BEGIN RSA PRIVATE KEY`, PKCS#1). Literal `\n` sequences (a key put in
    /// one environment line) count as line breaks. Errors never quote the key.
    pub(crate) fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let pem = pem.replace("\\n", "\n");
        let pkcs1 = pem.contains("BEGIN RSA PRIVATE KEY");
        if !pkcs1 && !pem.contains("BEGIN PRIVATE KEY") {
            return Err(
                "private_key is not a PEM RSA private key (expected a `-----BEGIN PRIVATE KEY-----` or `-----BEGIN RSA PRIVATE KEY-----` block)"
                    .into(),
            );
        }
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| "private_key: the PEM block is not valid base64".to_string())?;
        let pair = if pkcs1 {
            RsaKeyPair::from_der(&der)
        } else {
            RsaKeyPair::from_pkcs8(&der)
        }
        .map_err(|e| format!("private_key is not a usable RSA private key ({e})"))?;
        Ok(SigningKey(pair))
    }

    /// A signed assertion for `sub`, issued by `iss`, for `aud`.
    pub(crate) fn assertion(&self, iss: &str, sub: &str, aud: &str) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let claims = serde_json::json!({
            "iss": iss, "sub": sub, "aud": aud, "exp": now + LIFETIME_SECS,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "cannot sign the JWT assertion".to_string())?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}
