//! The metrics server's TLS: a certificate and key from `--metrics-cert-dir` (`tls.crt`, `tls.key`,
//! PEM; read again when either file changes, e.g. when cert-manager renews the Secret), or a
//! self-signed certificate made at start when no folder is given (as controller-runtime does).

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// Certificate file in `--metrics-cert-dir`.
pub const CERT_FILE: &str = "tls.crt";
/// Key file in `--metrics-cert-dir`.
pub const KEY_FILE: &str = "tls.key";

/// Why the metrics server's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds no usable item.
    #[error("metrics TLS: reading {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key does not fit the certificate or is of an unsupported type.
    #[error("metrics TLS: {cert} and {key}: {message}")]
    Pair {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The self-signed certificate could not be made.
    #[error("metrics TLS: making a self-signed certificate: {0}")]
    SelfSigned(String),
    /// rustls refused the configuration.
    #[error("metrics TLS: {0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS acceptor of the metrics server: certificate files from `cert_dir`, else self-signed.
pub fn acceptor(cert_dir: Option<&Path>) -> Result<TlsAcceptor, TlsError> {
    let resolver: Arc<dyn ResolvesServerCert> = match cert_dir {
        Some(dir) => {
            let files = CertFiles { cert: dir.join(CERT_FILE), key: dir.join(KEY_FILE) };
            let (key, stamp) = files.load()?;
            info!(cert = %files.cert.display(), "metrics TLS: serving the certificate from files");
            Arc::new(Reloading { files, current: Mutex::new((Arc::new(key), stamp)) })
        }
        None => {
            info!("metrics TLS: no --metrics-cert-dir; serving a self-signed certificate made at start");
            Arc::new(Fixed(Arc::new(self_signed()?)))
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A self-signed certificate for `localhost` and `127.0.0.1` (clients skip its verification).
fn self_signed() -> Result<CertifiedKey, TlsError> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let signer = provider().key_provider.load_private_key(key).map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    Ok(CertifiedKey::new(vec![made.cert.der().clone()], signer))
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The two files and their modification times.
#[derive(Debug)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

type Stamp = (Option<SystemTime>, Option<SystemTime>);

impl CertFiles {
    fn stamp(&self) -> Stamp {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (modified(&self.cert), modified(&self.key))
    }

    fn load(&self) -> Result<(CertifiedKey, Stamp), TlsError> {
        let stamp = self.stamp();
        let file_error = |path: &Path, message: String| TlsError::File { path: path.to_path_buf(), message };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| file_error(&self.cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(&self.cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(file_error(&self.cert, "no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| file_error(&self.key, e.to_string()))?;
        let pair_error = |message: String| TlsError::Pair { cert: self.cert.clone(), key: self.key.clone(), message };
        let signer = provider().key_provider.load_private_key(key).map_err(|e| pair_error(e.to_string()))?;
        let certified = CertifiedKey::new(certs, signer);
        certified.keys_match().map_err(|e| pair_error(e.to_string()))?;
        Ok((certified, stamp))
    }
}

/// Serves the files' certificate; reads them again at a handshake after either file changed (a
/// broken new pair is logged and the previous one kept).
#[derive(Debug)]
struct Reloading {
    files: CertFiles,
    current: Mutex<(Arc<CertifiedKey>, Stamp)>,
}

impl Reloading {
    fn current_key(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = self.files.stamp();
        if stamp != current.1 {
            match self.files.load() {
                Ok((key, stamp)) => {
                    info!(cert = %self.files.cert.display(), "metrics TLS: certificate files changed; serving the new certificate");
                    *current = (Arc::new(key), stamp);
                }
                Err(e) => {
                    warn!(error = %e, "metrics TLS: the changed certificate files are not usable; keeping the previous certificate");
                    current.1 = stamp;
                }
            }
        }
        current.0.clone()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        std::fs::write(dir.join(CERT_FILE), made.cert.pem()).unwrap();
        std::fs::write(dir.join(KEY_FILE), made.signing_key.serialize_pem()).unwrap();
    }

    #[test]
    fn files_load_and_bad_ones_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = acceptor(Some(dir.path())).err().expect("missing files");
        assert!(err.to_string().contains("tls.crt"), "{err}");
        write_pair(dir.path(), "a.example");
        assert!(acceptor(Some(dir.path())).is_ok());
        std::fs::write(dir.path().join(KEY_FILE), "not pem").unwrap();
        let err = acceptor(Some(dir.path())).err().expect("bad key");
        assert!(err.to_string().contains("tls.key"), "{err}");
        // A key of another certificate.
        let other = rcgen::generate_simple_self_signed(vec!["b.example".to_string()]).unwrap();
        std::fs::write(dir.path().join(KEY_FILE), other.signing_key.serialize_pem()).unwrap();
        assert!(matches!(acceptor(Some(dir.path())), Err(TlsError::Pair { .. })));
    }

    #[test]
    fn a_changed_pair_is_served_and_a_broken_one_keeps_the_previous() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "a.example");
        let files = CertFiles { cert: dir.path().join(CERT_FILE), key: dir.path().join(KEY_FILE) };
        let (key, stamp) = files.load().unwrap();
        let first = key.cert[0].clone();
        let r = Reloading { files, current: Mutex::new((Arc::new(key), stamp)) };
        let served = |r: &Reloading| r.current_key().cert[0].clone();
        assert_eq!(served(&r), first);
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_pair(dir.path(), "b.example");
        let second = served(&r);
        assert_ne!(second, first, "the renewed certificate is served");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join(CERT_FILE), "broken").unwrap();
        assert_eq!(served(&r), second, "a broken renewal keeps the previous certificate");
    }
}
