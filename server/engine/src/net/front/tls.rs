//! TLS for https and wss on the game port: certificates from PEM files or a self-signed one
//! made at start, and the rustls acceptor.
//!
//! rustls runs on the `ring` provider: it builds with only a C compiler, where `aws-lc-rs`
//! (rustls' default) needs cmake and more on a fresh machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the server's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// A certificate chain and its private key, PEM files (e.g. from Let's Encrypt).
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A development certificate made at start for localhost, 127.0.0.1, ::1 and these names.
    SelfSigned(Vec<String>),
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {why}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// rcgen could not make a certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key (e.g. they do not match).
    #[error("the certificate and key are not usable: {0}")]
    Rustls(#[from] rustls::Error),
    /// Writing `server cert`'s files failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A certificate ready to serve.
pub struct Tls {
    /// Accepts TLS connections.
    pub acceptor: TlsAcceptor,
    /// SHA-256 fingerprint of the leaf certificate, as `AB:CD:...` (what browsers and
    /// `openssl x509 -fingerprint -sha256` show).
    pub fingerprint: String,
}

/// A generated certificate and key, PEM-encoded.
pub struct GeneratedCert {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Private key, PEM (PKCS#8).
    pub key_pem: String,
    /// SHA-256 fingerprint.
    pub fingerprint: String,
}

impl Tls {
    /// Loads or makes the certificate and builds the acceptor (HTTP/1.1 only, via ALPN).
    pub fn load(source: &TlsSource) -> Result<Tls, TlsError> {
        let (chain, key) = match source {
            TlsSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?),
            TlsSource::SelfSigned(names) => {
                let made = generate(names)?;
                let chain =
                    vec![CertificateDer::from_pem_slice(made.cert_pem.as_bytes()).map_err(pem_err("generated"))?];
                let key = PrivateKeyDer::from_pem_slice(made.key_pem.as_bytes()).map_err(pem_err("generated"))?;
                (chain, key)
            }
        };
        let fingerprint = fingerprint(&chain[0]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), fingerprint })
    }
}

/// Makes a self-signed certificate for localhost, 127.0.0.1, ::1 and `names`.
pub fn generate(names: &[String]) -> Result<GeneratedCert, TlsError> {
    let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for name in names {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    let made = rcgen::generate_simple_self_signed(all)?;
    Ok(GeneratedCert {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        fingerprint: fingerprint(made.cert.der()),
    })
}

/// `server cert --out DIR`: writes `DIR/cert.pem` and `DIR/key.pem` (the key readable by its
/// owner only) and returns the fingerprint.
pub fn write_generated(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf, String), TlsError> {
    let made = generate(names)?;
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &made.cert_pem).map_err(write_err(&cert))?;
    write_private(&key, made.key_pem.as_bytes()).map_err(write_err(&key))?;
    Ok((cert, key, made.fingerprint))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn pem_err(path: impl Into<String>) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
    let path = path.into();
    move |e| TlsError::Pem { path, why: e.to_string() }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(pem_err(path.display().to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(path.display().to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Pem { path: path.display().to_string(), why: "no CERTIFICATE in the file".into() });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(pem_err(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads_and_its_files_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key, printed) = write_generated(dir.path(), &["game.example".into()]).expect("written");
        let tls = Tls::load(&TlsSource::Files { cert: cert.clone(), key }).expect("loads");
        assert_eq!(tls.fingerprint, printed, "the printed fingerprint is the served certificate's");
        assert_eq!(tls.fingerprint.len(), 32 * 3 - 1);
        let pem = std::fs::read_to_string(cert).expect("cert file");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    }

    #[test]
    fn missing_or_mismatched_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = Tls::load(&TlsSource::Files { cert: dir.path().join("no.pem"), key: dir.path().join("no.key") });
        assert!(matches!(missing, Err(TlsError::Pem { .. })), "missing files");
        let (cert, _, _) = write_generated(&dir.path().join("a"), &[]).expect("a");
        let (_, key, _) = write_generated(&dir.path().join("b"), &[]).expect("b");
        assert!(matches!(Tls::load(&TlsSource::Files { cert, key }), Err(TlsError::Rustls(_))), "mismatched key");
    }
}
