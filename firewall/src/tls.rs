//! TLS with clients, for every protocol's listener: the listener's PEM certificate chain
//! and private key (`tls-cert`, `tls-key`) loaded once at start into a [`TlsAcceptor`] that
//! the sessions use to terminate their clients' TLS.
//!
//! ```text
//!  start: tls-cert + tls-key ──► certificates, key, key matches? ──► TlsAcceptor
//!            (an error stops the start, naming the file and the config key)
//!  session: the protocol's TLS request ──► TlsAcceptor::accept ──► statements as before
//! ```
//!
//! The firewall terminates TLS: the connection to the database server stays plain TCP, so
//! the firewall should run beside the server or on a network trusted as much. The
//! certificate is read once; a renewed certificate takes a restart.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
pub use tokio_rustls::TlsAcceptor;

use crate::config::Listener;

/// Why a certificate and key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid PEM: {reason}", path.display())]
    NotPem { path: PathBuf, reason: String },
    #[error("{} has no certificate (expected a PEM `BEGIN CERTIFICATE` block)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the certificate in {} cannot be used: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error(
        "{} has no private key (expected a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
    #[error("the private key in {} cannot be used: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error(
        "the private key in {} does not match the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

/// A listener whose TLS cannot start.
#[derive(Debug, thiserror::Error)]
#[error(
    "listener `{listener}` cannot use its TLS certificate: {problem} (fix `{key}` in the configuration)"
)]
pub struct ListenerTlsError {
    pub listener: String,
    /// The config key of the file at fault, e.g. `firewall.listeners[0].tls-cert`.
    pub key: String,
    /// Not `source`: the message says it already, and a source would repeat it.
    pub problem: TlsError,
}

/// The TLS acceptor of a listener, if it has `tls-cert` and `tls-key`. `listen_key` is the
/// config key of its `listen` (`firewall.listeners[N].listen`); errors name its sibling
/// `tls-cert` or `tls-key`.
pub fn for_listener(
    l: &Listener,
    listen_key: &str,
) -> Result<Option<TlsAcceptor>, ListenerTlsError> {
    let Some((cert, key)) = &l.tls else {
        return Ok(None);
    };
    acceptor(cert, key).map(Some).map_err(|problem| {
        let base = listen_key.strip_suffix(".listen").unwrap_or(listen_key);
        let field = match &problem {
            TlsError::Unreadable { path, .. } | TlsError::NotPem { path, .. } if path == key => {
                "tls-key"
            }
            TlsError::NoPrivateKey { .. } | TlsError::BadKey { .. } => "tls-key",
            _ => "tls-cert",
        };
        ListenerTlsError {
            listener: l.name.clone(),
            key: format!("{base}.{field}"),
            problem,
        }
    })
}

/// Loads `cert` (the chain, end-entity certificate first) and `key` (PKCS#8, PKCS#1 or
/// SEC1) and checks that they belong together.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(cert)?;
    let private = private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = certified_key(chain, private, &provider, cert, key)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::BadCertificate {
            path: cert.to_owned(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        path: path.to_owned(),
        source,
    })
}

fn not_pem(path: &Path, e: pem::Error) -> TlsError {
    TlsError::NotPem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        e => not_pem(path, e),
    })
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    private: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey, TlsError> {
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::BadKey {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // A key that cannot tell its public half is taken on trust, as rustls does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            })
        }
        Err(e) => Err(TlsError::BadCertificate {
            path: cert.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// A stream that first gives back bytes already read from it: a protocol whose TLS
/// request gets no answer (MySQL) may have its client's handshake in the same read.
pub struct Prefixed<S> {
    prefix: bytes::BytesMut,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: bytes::BytesMut, inner: S) -> Self {
        Prefixed { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A self-signed certificate and its key, by the openssl command (`deploy/install.sh`
    /// installs it with the PostgreSQL client).
    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("the openssl command runs");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (cert, key)
    }

    #[test]
    fn loads_a_matching_pair_and_names_what_is_wrong_otherwise() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let (cert, key) = self_signed(d, "a");
        let (other_cert, other_key) = self_signed(d, "b");
        let garbage = d.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").expect("write");
        let broken = d.join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").expect("write");
        let missing = d.join("missing.pem");
        assert!(acceptor(&cert, &key).is_ok());
        assert!(acceptor(&other_cert, &other_key).is_ok());

        // (cert, key, expected variant, field, words of the message)
        type Check = fn(&TlsError) -> bool;
        let table: &[(&Path, &Path, Check, &str, &str)] = &[
            (
                &missing,
                &key,
                |e| matches!(e, TlsError::Unreadable { .. }),
                "tls-cert",
                "cannot read",
            ),
            (
                &garbage,
                &key,
                |e| matches!(e, TlsError::NoCertificate { .. }),
                "tls-cert",
                "has no certificate",
            ),
            (
                &key,
                &key,
                |e| matches!(e, TlsError::NoCertificate { .. }),
                "tls-cert",
                "has no certificate",
            ),
            (
                &broken,
                &key,
                |e| matches!(e, TlsError::NotPem { .. }),
                "tls-cert",
                "is not valid PEM",
            ),
            (
                &cert,
                &cert,
                |e| matches!(e, TlsError::NoPrivateKey { .. }),
                "tls-key",
                "has no private key",
            ),
            (
                &cert,
                &garbage,
                |e| matches!(e, TlsError::NoPrivateKey { .. }),
                "tls-key",
                "has no private key",
            ),
            (
                &cert,
                &missing,
                |e| matches!(e, TlsError::Unreadable { .. }),
                "tls-key",
                "cannot read",
            ),
            (
                &cert,
                &other_key,
                |e| matches!(e, TlsError::KeyMismatch { .. }),
                "tls-cert",
                "does not match",
            ),
        ];
        for (i, (c, k, check, field, words)) in table.iter().enumerate() {
            let e = match acceptor(c, k) {
                Ok(_) => panic!("row {i}: {} + {} loaded", c.display(), k.display()),
                Err(e) => e,
            };
            assert!(check(&e), "row {i}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains(words), "row {i}: {msg}");
            let named = if *field == "tls-key" { k } else { c };
            assert!(msg.contains(&named.display().to_string()), "row {i}: {msg}");

            let l = Listener {
                name: "pg".into(),
                protocol: analyzer::event::Protocol::Postgres,
                listen: "127.0.0.1:6432".parse().expect("addr"),
                upstream: ("127.0.0.1".into(), 5432),
                fail_mode: crate::config::FailMode::Closed,
                tls: Some((c.to_path_buf(), k.to_path_buf())),
                kill: None,
            };
            let e = match for_listener(&l, "firewall.listeners[3].listen") {
                Ok(_) => panic!("row {i}: loaded"),
                Err(e) => e,
            };
            assert_eq!(e.key, format!("firewall.listeners[3].{field}"), "row {i}");
            let msg = e.to_string();
            assert!(msg.starts_with("listener `pg` cannot use its TLS"), "{msg}");
            assert!(
                msg.contains(&format!("fix `firewall.listeners[3].{field}`")),
                "{msg}"
            );
        }
    }

    #[test]
    fn a_listener_without_tls_has_no_acceptor() {
        let l = Listener {
            name: "pg".into(),
            protocol: analyzer::event::Protocol::Postgres,
            listen: "127.0.0.1:6432".parse().expect("addr"),
            upstream: ("127.0.0.1".into(), 5432),
            fail_mode: crate::config::FailMode::Closed,
            tls: None,
            kill: None,
        };
        assert!(matches!(for_listener(&l, "--listen"), Ok(None)));
    }
}
