//! TLS for mysql connections from the URL (mysql_async on rustls with ring).
//!
//! Accepted, besides mysql_async's own `require_ssl`, `verify_ca`,
//! `verify_identity` and `built_in_roots` (which it reads itself):
//! `ssl-mode` (or `ssl_mode`) = `DISABLED`, `PREFERRED`, `REQUIRED`,
//! `VERIFY_CA` or `VERIFY_IDENTITY` (any case), and `ssl-ca` (or `ssl_ca`)
//! = the path of a PEM file of trusted CA certificates, which then replaces
//! Mozilla's list. Both are taken out before mysql_async parses the rest,
//! as it rejects them. See [`ssl_opts`] for what each mode verifies.

use aqueduct_runtime::connector::ConnectorError;
use mysql_async::SslOpts;
use std::path::{Path, PathBuf};

/// The `ssl-mode` values, as MySQL's clients spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

/// The TLS parameters of a URL that mysql_async does not read itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsParams {
    /// `ssl-mode`, when given.
    pub mode: Option<SslMode>,
    /// `ssl-ca`, when given.
    pub ca: Option<PathBuf>,
    /// The URL also sets one of mysql_async's own TLS parameters.
    pub driver_params: bool,
}

const MODES: &str = "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY";

/// Splits `url` into what mysql_async parses and [`TlsParams`].
pub fn split(system: &str, url: &str) -> Result<(String, TlsParams), ConnectorError> {
    let mut params = TlsParams::default();
    // mysql_async reads URLs with the `url` crate: the query starts at the
    // first `?` after the credentials
    let after_credentials = url.find('@').map_or(0, |i| i + 1);
    let Some(q) = url[after_credentials..]
        .find('?')
        .map(|i| after_credentials + i)
    else {
        return Ok((url.to_string(), params));
    };
    let query = url[q + 1..].split('#').next().unwrap_or_default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || {
            percent_encoding::percent_decode_str(raw_value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| {
                    ConnectorError::Config(format!(
                        "mysql `{system}`: the URL's `{raw_key}` is not valid percent-encoded UTF-8"
                    ))
                })
        };
        match raw_key {
            "ssl-mode" | "ssl_mode" => {
                params.mode = Some(match value()?.to_ascii_uppercase().as_str() {
                    "DISABLED" => SslMode::Disabled,
                    "PREFERRED" => SslMode::Preferred,
                    "REQUIRED" => SslMode::Required,
                    "VERIFY_CA" => SslMode::VerifyCa,
                    "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
                    _ => {
                        return Err(ConnectorError::Config(format!(
                            "mysql `{system}`: the URL's `ssl-mode` must be one of {MODES}"
                        )));
                    }
                })
            }
            "ssl-ca" | "ssl_ca" => {
                let path = value()?;
                params.ca = (!path.is_empty()).then(|| PathBuf::from(path));
            }
            _ => {
                if matches!(
                    raw_key,
                    "require_ssl" | "verify_ca" | "verify_identity" | "built_in_roots"
                ) {
                    params.driver_params = true;
                }
                kept.push(pair);
            }
        }
    }
    let mut rest = url[..q].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, params))
}

/// The TLS options for `params`, given those mysql_async read from the
/// rest of the URL (`parsed`); `None` is plaintext.
///
/// - `DISABLED`: plaintext.
/// - `PREFERRED`, `REQUIRED`: encrypted, nothing verified; with `ssl-ca`
///   as `VERIFY_CA`. `PREFERRED` falls back to plaintext when the server
///   offers no TLS: the connector asks once at start-up (mysql_async
///   cannot fall back by itself), with these options.
/// - `VERIFY_CA`: the chain to the roots. mysql_async 0.37.1 also checks
///   the host name here (its name-mismatch test no longer matches rustls'
///   message: blackbeam/mysql_async#404), so it behaves as `VERIFY_IDENTITY`.
/// - `VERIFY_IDENTITY`: the chain and the host name of the URL.
///
/// Without `ssl-mode`, mysql_async's own parameters decide (plaintext
/// unless `require_ssl=true`, which verifies chain and name unless
/// `verify_ca=false`/`verify_identity=false`); `ssl-ca` then needs
/// `require_ssl=true`.
pub fn ssl_opts(
    system: &str,
    params: &TlsParams,
    parsed: Option<&SslOpts>,
) -> Result<Option<SslOpts>, ConnectorError> {
    let base = match params.mode {
        Some(_) if params.driver_params => {
            return Err(ConnectorError::Config(format!(
                "mysql `{system}`: the URL sets both `ssl-mode` and mysql_async's `require_ssl`/`verify_ca`/`verify_identity`/`built_in_roots`; keep one of the two"
            )));
        }
        Some(SslMode::Disabled) => return Ok(None),
        Some(SslMode::Preferred | SslMode::Required) if params.ca.is_none() => SslOpts::default()
            .with_danger_accept_invalid_certs(true)
            .with_danger_skip_domain_validation(true),
        Some(SslMode::Preferred | SslMode::Required | SslMode::VerifyCa) => {
            SslOpts::default().with_danger_skip_domain_validation(true)
        }
        Some(SslMode::VerifyIdentity) => SslOpts::default(),
        None => match (parsed, &params.ca) {
            (Some(opts), _) => opts.clone(),
            (None, None) => return Ok(None),
            (None, Some(_)) => {
                return Err(ConnectorError::Config(format!(
                    "mysql `{system}`: the URL gives `ssl-ca` but asks for no TLS; add ssl-mode=VERIFY_IDENTITY (or VERIFY_CA)"
                )));
            }
        },
    };
    let Some(ca) = &params.ca else {
        return Ok(Some(base));
    };
    check_ca(system, ca)?;
    Ok(Some(
        base.with_root_certs(vec![ca.clone().into()])
            .with_disable_built_in_roots(true),
    ))
}

/// Reads `ssl-ca` now, so a missing or empty file stops start-up with a
/// clear message rather than failing each connection.
fn check_ca(system: &str, ca: &Path) -> Result<(), ConnectorError> {
    let bad = |why: String| {
        ConnectorError::Config(format!(
            "mysql `{system}`: `ssl-ca` {}: {why}; give a PEM file with the CA certificate that signed the server's",
            ca.display()
        ))
    };
    aqueduct_runtime::ca_file::read(ca).map_err(bad)?;
    Ok(())
}

/// A hint for a failed TLS handshake, when `err` is one.
pub fn handshake_hint(err: &mysql_async::Error) -> Option<String> {
    use mysql_async::{DriverError, IoError};
    let rustls_error = match err {
        mysql_async::Error::Io(IoError::Io(io)) => {
            io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        }
        mysql_async::Error::Io(IoError::Tls(tls)) => {
            std::error::Error::source(tls).and_then(|e| e.downcast_ref::<rustls::Error>())
        }
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            return Some(
                "the URL asks for TLS but the server does not offer it; enable TLS on the server or use ssl-mode=DISABLED"
                    .to_string(),
            );
        }
        _ => None,
    };
    let Some(failed @ rustls::Error::InvalidCertificate(cert)) = rustls_error else {
        return rustls_error.map(|e| format!("TLS handshake failed: {e}"));
    };
    let hint = match cert {
        rustls::CertificateError::NotValidForName
        | rustls::CertificateError::NotValidForNameContext { .. } => {
            "the server's certificate does not name the host of the URL; connect by a name or address the certificate holds"
        }
        rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
            "the server's certificate is not signed by a trusted CA; set `ssl-ca` to the file of the CA that signed it"
        }
        _ => "check the server's certificate and `ssl-ca`",
    };
    Some(format!(
        "TLS handshake failed: certificate verification failed ({failed}): {hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-pw";

    fn split_ok(url: &str) -> (String, TlsParams) {
        match split("my", url) {
            Ok(v) => v,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn no_parameters_pass_unchanged() {
        let url = format!("mysql://root:{SECRET}@h:3306/test");
        let (rest, params) = split_ok(&url);
        assert_eq!(rest, url);
        assert_eq!(params, TlsParams::default());
    }

    #[test]
    fn modes_and_ca_are_read_and_removed() {
        for (text, mode) in [
            ("DISABLED", SslMode::Disabled),
            ("preferred", SslMode::Preferred),
            ("Required", SslMode::Required),
            ("VERIFY_CA", SslMode::VerifyCa),
            ("verify_identity", SslMode::VerifyIdentity),
        ] {
            let (rest, params) = split_ok(&format!(
                "mysql://u@h/db?pool_min=0&ssl-mode={text}&ssl_ca=%2Ftmp%2Fca.pem"
            ));
            assert_eq!(rest, "mysql://u@h/db?pool_min=0");
            assert_eq!(params.mode, Some(mode), "{text}");
            assert_eq!(params.ca, Some(PathBuf::from("/tmp/ca.pem")));
            assert!(!params.driver_params);
        }
    }

    #[test]
    fn driver_parameters_stay_and_are_noticed() {
        let (rest, params) = split_ok("mysql://u@h/db?require_ssl=true&verify_ca=false");
        assert_eq!(rest, "mysql://u@h/db?require_ssl=true&verify_ca=false");
        assert!(params.driver_params);
        assert_eq!(params.mode, None);
    }

    #[test]
    fn question_mark_in_the_password_is_not_the_query() {
        let (rest, params) = split_ok(&format!("mysql://u:{SECRET}?x@h/db?ssl-mode=REQUIRED"));
        assert_eq!(rest, format!("mysql://u:{SECRET}?x@h/db"));
        assert_eq!(params.mode, Some(SslMode::Required));
    }

    fn opts(url: &str) -> Result<Option<SslOpts>, String> {
        let (_, params) = split("my", url).map_err(|e| e.to_string())?;
        ssl_opts("my", &params, None).map_err(|e| e.to_string())
    }

    #[test]
    fn what_each_mode_verifies() {
        assert!(matches!(opts("mysql://h/db?ssl-mode=DISABLED"), Ok(None)));
        assert!(matches!(opts("mysql://h/db"), Ok(None)));
        for mode in ["PREFERRED", "REQUIRED"] {
            let Ok(Some(o)) = opts(&format!("mysql://h/db?ssl-mode={mode}")) else {
                panic!("{mode}");
            };
            assert!(
                o.accept_invalid_certs() && o.skip_domain_validation(),
                "{mode}"
            );
        }
        let Ok(Some(ca)) = opts("mysql://h/db?ssl-mode=VERIFY_CA") else {
            panic!("VERIFY_CA");
        };
        assert!(!ca.accept_invalid_certs() && ca.skip_domain_validation());
        let Ok(Some(full)) = opts("mysql://h/db?ssl-mode=VERIFY_IDENTITY") else {
            panic!("VERIFY_IDENTITY");
        };
        assert!(!full.accept_invalid_certs() && !full.skip_domain_validation());
        assert!(!full.disable_built_in_roots());
    }

    #[test]
    fn a_ca_file_replaces_the_built_in_roots_and_upgrades_required() {
        let dir = std::env::temp_dir().join(format!("aqueduct-mysql-tls-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let ca = dir.join("ca.pem");
        // any well-formed PEM certificate block will do for the parser
        let root = webpki_roots_der();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            root
        );
        if let Err(e) = std::fs::write(&ca, pem) {
            panic!("{e}");
        }
        let url = format!("mysql://h/db?ssl-mode=REQUIRED&ssl-ca={}", ca.display());
        let Ok(Some(o)) = opts(&url) else {
            panic!("{:?}", opts(&url).err());
        };
        assert!(
            !o.accept_invalid_certs(),
            "REQUIRED with ssl-ca verifies the chain"
        );
        assert!(o.disable_built_in_roots());
        assert_eq!(o.root_certs().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Base64 of a small DER blob; the PEM parser checks framing, not X.509.
    fn webpki_roots_der() -> String {
        "MAMCAQE=".to_string()
    }

    #[test]
    fn mistakes_fail_without_the_password() {
        let check = |url: String, want: &str| {
            let text = match opts(&url) {
                Err(e) => e,
                Ok(o) => panic!("{url} was accepted: {}", o.is_some()),
            };
            assert!(!text.contains(SECRET), "password in error: {text}");
            assert!(text.contains("mysql `my`") && text.contains(want), "{text}");
        };
        let base = format!("mysql://root:{SECRET}@h/db");
        check(format!("{base}?ssl-mode=VERIFY_FULL"), "VERIFY_IDENTITY");
        check(
            format!("{base}?ssl-mode=REQUIRED&require_ssl=true"),
            "keep one of the two",
        );
        check(
            format!("{base}?ssl-ca=/nonexistent/ca.pem"),
            "asks for no TLS",
        );
        check(
            format!("{base}?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem"),
            "cannot be read",
        );
    }
}
