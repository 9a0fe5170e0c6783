//! The TLS acceptor of a listener, from the PEM identity of the configuration.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use super::ServeError;
use crate::app::TlsIdentity;

/// A rustls acceptor (ring provider, TLS 1.2 and 1.3) offering HTTP/2 and HTTP/1.1 by ALPN.
pub(super) fn acceptor(identity: &TlsIdentity) -> Result<TlsAcceptor, ServeError> {
    let certs = CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServeError::Tls(format!("the certificate chain is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(
            "the certificate file holds no certificate".to_string(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
        .map_err(|e| ServeError::Tls(format!("the private key is not PEM: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
