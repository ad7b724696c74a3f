//! A PEM file of CA certificates named by a connector option
//! (`sslrootcert`, `ssl-ca`, `pubsub_ca`), read at start-up so that a
//! missing, unreadable or empty file stops the run with a clear message
//! instead of failing every connection.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;

/// The file's bytes and its certificates; `Err` is the reason, for the
/// caller's message (which names the option and the file).
pub fn read(path: &Path) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not valid PEM ({e})"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".to_string());
    }
    Ok((pem, certs))
}
