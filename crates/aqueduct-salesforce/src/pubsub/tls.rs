//! TLS of the Pub/Sub channel: the trust roots (Mozilla's, plus the CA
//! certificates of the system option `pubsub_ca` when given, e.g. the CA of
//! a TLS-inspecting proxy or of the emulator's test certificate), and a
//! failed certificate check said so users know what to change.
//!
//! tonic reports a failed handshake as `UNAVAILABLE` carrying only the text
//! of rustls' error (the error itself is not kept), so the check is
//! recognised by that text, which `rustls_wording_is_what_we_look_for`
//! pins. Retrying cannot fix a certificate, so it stops the flow.

use aqueduct_runtime::connector::ConnectorError;
use tonic::transport::{Certificate, ClientTlsConfig};

/// How rustls' `Error::InvalidCertificate` starts.
const INVALID_CERTIFICATE: &str = "invalid peer certificate: ";

/// The client TLS configuration; reads `pubsub_ca` now, so a missing or
/// empty file stops start-up rather than every connection attempt.
pub(crate) fn client_config(
    label: &str,
    ca: Option<&str>,
) -> Result<ClientTlsConfig, ConnectorError> {
    let config = ClientTlsConfig::new().with_webpki_roots();
    let Some(path) = ca else {
        return Ok(config);
    };
    let bad = |why: String| {
        ConnectorError::Config(format!(
            "`{label}`: `pubsub_ca` {path}: {why}; give a PEM file with the CA certificate that signed the Pub/Sub server's"
        ))
    };
    let (pem, _) = aqueduct_runtime::ca_file::read(std::path::Path::new(path)).map_err(bad)?;
    Ok(config.ca_certificate(Certificate::from_pem(pem)))
}

/// What to do about a failed certificate check, when `message` (a gRPC
/// status message) is one.
pub(crate) fn certificate_hint(message: &str) -> Option<&'static str> {
    let (_, problem) = message.split_once(INVALID_CERTIFICATE)?;
    Some(
        if problem.starts_with("UnknownIssuer") || problem.starts_with("BadSignature") {
            "the server's certificate is not signed by a trusted CA; set `pubsub_ca` to the file of the CA that signed it"
        } else if problem.starts_with("certificate not valid for name")
            || problem.starts_with("NotValidForName")
        {
            "the server's certificate does not name the host of `pubsub_url`; connect by a name or address the certificate holds"
        } else {
            "check the server's certificate and `pubsub_ca`"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError;

    #[test]
    fn rustls_wording_is_what_we_look_for() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let hint = certificate_hint(&unknown.to_string()).expect("recognised");
        assert!(hint.contains("set `pubsub_ca`"), "{hint}");
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(
            certificate_hint(&expired.to_string()),
            Some("check the server's certificate and `pubsub_ca`")
        );
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(
            certificate_hint(&name.to_string()),
            Some(
                "the server's certificate does not name the host of `pubsub_url`; connect by a name or address the certificate holds"
            ),
            "{name}"
        );
        assert_eq!(certificate_hint("tcp connect error"), None);
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_stops_start_up() {
        let dir = tempfile::tempdir().expect("dir");
        let err = |path: &std::path::Path| match client_config("crm", path.to_str()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{} was accepted", path.display()),
        };
        let path = dir.path().join("nope.pem");
        let missing = err(&path);
        let start = format!("`crm`: `pubsub_ca` {}: cannot be read (", path.display());
        assert!(
            missing.starts_with(&start)
                && missing.ends_with(
                    "; give a PEM file with the CA certificate that signed the Pub/Sub server's"
                ),
            "{missing}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        assert!(
            err(&empty).contains("holds no PEM certificate"),
            "{}",
            err(&empty)
        );
    }
}
