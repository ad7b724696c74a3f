//! The connection URL: libpq's TLS parameters (`sslmode`, `sslrootcert`)
//! are taken out of a `postgres://` URL here, because tokio-postgres'
//! parser knows neither `verify-ca`/`verify-full` nor `sslrootcert`; the
//! rest goes to tokio-postgres unchanged. Messages never repeat the URL
//! (it may hold a password).

use crate::connector::ConnectorError;
use percent_encoding::percent_decode_str;
use std::path::PathBuf;

/// libpq's `sslmode` values (`allow` is not offered: it would try
/// plaintext first, which no one should ask for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext.
    Disable,
    /// TLS when the server offers it (the default).
    Prefer,
    /// Encrypted; the chain is verified only when `sslrootcert` is given.
    Require,
    /// The chain verified, the host name not.
    VerifyCa,
    /// The chain and the host name verified.
    VerifyFull,
}

/// The TLS parameters of one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    /// The `sslmode` asked for.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of the trusted CA certificates.
    pub root_cert: Option<PathBuf>,
}

impl Default for TlsParams {
    fn default() -> Self {
        // libpq's (and tokio-postgres') default
        TlsParams {
            mode: SslMode::Prefer,
            root_cert: None,
        }
    }
}

const MODES: &str = "disable, prefer, require, verify-ca or verify-full";

/// Splits `url` into what tokio-postgres parses and the TLS parameters.
/// A key/value connection string (`host=... user=...`) is passed on as it
/// is, with no parameters here: tokio-postgres reads its `sslmode`
/// (disable, prefer, require).
pub fn split(who: &str, url: &str) -> Result<(String, Option<TlsParams>), ConnectorError> {
    let Some(rest) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
    else {
        return Ok((url.to_string(), None));
    };
    let mut params = TlsParams::default();
    // as tokio-postgres reads it: credentials end at the first `@`, the
    // query starts at the first `?` after them
    let after_credentials = rest.find('@').map_or(0, |i| i + 1);
    let start = url.len() - rest.len() + after_credentials;
    let Some(q) = url[start..].find('?').map(|i| start + i) else {
        return Ok((url.to_string(), Some(params)));
    };
    let mut kept = Vec::new();
    for pair in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(who, "parameter name", raw_key)?;
        match key.as_str() {
            "sslmode" => {
                params.mode = match decode(who, "sslmode", raw_value)?.as_str() {
                    "disable" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    "allow" => {
                        return Err(ConnectorError::Config(format!(
                            "{who}: sslmode=allow is not supported (it tries without TLS first); use one of {MODES}"
                        )));
                    }
                    _ => {
                        return Err(ConnectorError::Config(format!(
                            "{who}: the URL's `sslmode` must be one of {MODES}"
                        )));
                    }
                }
            }
            "sslrootcert" => {
                let path = decode(who, "sslrootcert", raw_value)?;
                if path == "system" {
                    return Err(ConnectorError::Config(format!(
                        "{who}: sslrootcert=system is not supported; leave `sslrootcert` out to verify against Mozilla's CA list, or give the path of a PEM file"
                    )));
                }
                params.root_cert = (!path.is_empty()).then(|| PathBuf::from(path));
            }
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(ConnectorError::Config(format!(
                    "{who}: client certificates (`{key}`) are not supported; authenticate with a user and password"
                )));
            }
            _ => kept.push(pair),
        }
    }
    let mut rest = url[..q].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, Some(params)))
}

fn decode(who: &str, what: &str, raw: &str) -> Result<String, ConnectorError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ConnectorError::Config(format!(
                "{who}: the URL's {what} is not valid percent-encoded UTF-8"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-pw";

    fn ok(url: &str) -> (String, TlsParams) {
        match split("postgres `pg`", url) {
            Ok((rest, Some(params))) => (rest, params),
            Ok((_, None)) => panic!("{url}: not read as a URL"),
            Err(e) => panic!("{url}: {e}"),
        }
    }

    fn err(url: &str) -> String {
        match split("postgres `pg`", url) {
            Ok(v) => panic!("{url} was accepted: {v:?}"),
            Err(e) => {
                let text = e.to_string();
                assert!(!text.contains(SECRET), "password in error: {text}");
                text
            }
        }
    }

    #[test]
    fn no_parameters_means_prefer_and_no_roots() {
        let url = format!("postgres://u:{SECRET}@h:5432/db");
        let (rest, params) = ok(&url);
        assert_eq!(rest, url);
        assert_eq!(params, TlsParams::default());
        assert_eq!(params.mode, SslMode::Prefer);
    }

    #[test]
    fn every_mode_is_read_and_removed() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let (rest, params) = ok(&format!("postgresql://u@h/db?sslmode={text}"));
            assert_eq!(rest, "postgresql://u@h/db");
            assert_eq!(params.mode, mode, "{text}");
        }
    }

    #[test]
    fn root_cert_is_decoded_and_other_parameters_kept_in_order() {
        let (rest, params) = ok(
            "postgres://u@h/db?application_name=a&sslrootcert=%2Ftmp%2Fca%20x.pem&sslmode=verify-full&connect_timeout=5",
        );
        assert_eq!(
            rest,
            "postgres://u@h/db?application_name=a&connect_timeout=5"
        );
        assert_eq!(params.mode, SslMode::VerifyFull);
        assert_eq!(params.root_cert, Some(PathBuf::from("/tmp/ca x.pem")));
    }

    #[test]
    fn question_mark_in_the_password_is_not_the_query() {
        let url = format!("postgres://u:{SECRET}?x@h/db?sslmode=require");
        let (rest, params) = ok(&url);
        assert_eq!(rest, format!("postgres://u:{SECRET}?x@h/db"));
        assert_eq!(params.mode, SslMode::Require);
    }

    #[test]
    fn the_last_sslmode_wins_as_in_libpq() {
        let (_, params) = ok("postgres://h/db?sslmode=disable&sslmode=verify-ca");
        assert_eq!(params.mode, SslMode::VerifyCa);
    }

    #[test]
    fn key_value_strings_pass_unchanged() {
        let text = format!("host=h user=u password={SECRET} sslmode=require");
        match split("postgres `pg`", &text) {
            Ok((rest, None)) => assert_eq!(rest, text),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_values_fail_without_the_password() {
        let bad = err(&format!("postgres://u:{SECRET}@h/db?sslmode=verify_full"));
        assert!(
            bad.contains("postgres `pg`") && bad.contains("verify-full"),
            "{bad}"
        );
        let allow = err(&format!("postgres://u:{SECRET}@h/db?sslmode=allow"));
        assert!(allow.contains("allow is not supported"), "{allow}");
        let system = err(&format!("postgres://u:{SECRET}@h/db?sslrootcert=system"));
        assert!(system.contains("sslrootcert=system"), "{system}");
        let client = err(&format!("postgres://u:{SECRET}@h/db?sslcert=/c.pem"));
        assert!(client.contains("client certificates"), "{client}");
        let utf8 = err(&format!("postgres://u:{SECRET}@h/db?sslrootcert=%FF"));
        assert!(utf8.contains("percent-encoded"), "{utf8}");
    }
}
