//! [`Listener`]: the accept loop, bounded by the connection cap, and shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::{connection, tls, HttpService, Limits, ResponseBody};
use crate::app::TlsIdentity;

/// Descriptors kept for everything but connections (the inventory, images being hashed or
/// copied, the blocking threads' files), when the cap is lowered to fit `RLIMIT_NOFILE`.
const RESERVED_DESCRIPTORS: u64 = 128;

/// How long the loop pauses after an `accept` error that is not a connection's own (out of
/// descriptors or memory): retrying at once cannot succeed and would spin a core.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why [`Listener::serve`] could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The certificate chain or key is not usable PEM, or rustls refused them.
    #[error("cannot use the TLS certificate and key: {0}")]
    Tls(String),
}

/// A bound listener with its limits and, optionally, TLS.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Limits,
}

impl Listener {
    /// Serves `tcp` in plaintext under `limits`. The connection cap is lowered (with a
    /// warning) if the process's descriptor limit could not hold it.
    pub fn new(tcp: TcpListener, limits: Limits) -> Listener {
        let mut limits = limits;
        limits.max_connections = fit_descriptor_limit(limits.max_connections);
        Listener {
            tcp,
            tls: None,
            limits,
        }
    }

    /// Serves TLS with this identity instead (ALPN offers `h2` and `http/1.1`).
    pub fn with_tls(mut self, identity: Option<&TlsIdentity>) -> Result<Listener, ServeError> {
        self.tls = identity.map(tls::acceptor).transpose()?;
        Ok(self)
    }

    /// The limits in force (after fitting the descriptor limit).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves `service` on every accepted connection until `shutdown` resolves; then stops
    /// accepting (the port closes), lets each connection finish its requests (dropping it
    /// after [`Limits::handshake_timeout`] more), and returns once all are closed.
    pub async fn serve<S, B>(self, service: S, shutdown: impl Future<Output = ()>)
    where
        S: HttpService<B>,
        B: ResponseBody,
    {
        let Listener { tcp, tls, limits } = self;
        let cap = u32::try_from(limits.max_connections)
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        let slots = Arc::new(Semaphore::new(cap as usize));
        let (stop_tx, stop_rx) = watch::channel(false);
        let builder = connection::builder(&limits);
        tokio::pin!(shutdown);
        loop {
            // The slot first: at the cap, connections stay in the backlog, not in our hands.
            let slot = tokio::select! {
                () = &mut shutdown => break,
                slot = slots.clone().acquire_owned() => slot,
            };
            let Ok(slot) = slot else { break };
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = tcp.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; pausing");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    }
                }
            };
            let conn = connection::Accepted {
                stream,
                remote,
                tls: tls.clone(),
                limits,
                stop: stop_rx.clone(),
                _slot: slot,
            };
            tokio::spawn(conn.serve(builder.clone(), service.clone()));
        }
        // Closing the port now: a client connecting during the drain is refused at once
        // rather than left in the backlog until its deadline.
        drop(tcp);
        let _ = stop_tx.send(true);
        // Every connection holds a slot until it is closed.
        let _all_closed = slots.acquire_many(cap).await;
    }
}

/// Errors of one connection that `accept` reports (it was reset before we took it): the
/// next accept can succeed at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// `wanted`, or less if the soft descriptor limit cannot hold it besides
/// [`RESERVED_DESCRIPTORS`]; measured at run time since every host sets it differently.
fn fit_descriptor_limit(wanted: usize) -> usize {
    // `None`: unlimited.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let room = usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            max_connections = wanted,
            descriptor_limit = limit,
            lowered_to = room.max(1),
            "--max-connections does not fit the open-file limit (ulimit -n); lowered"
        );
        return room.max(1);
    }
    wanted
}
