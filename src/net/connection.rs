//! One accepted connection: TLS (if any) within the handshake time-out, then hyper, watched
//! for the handshake and idle time-outs and for shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::activity::{Activity, Tracked};
use super::{HttpService, Limits, Peer, ResponseBody};

/// At shutdown, the most a connection is waited for after it was asked to close: the
/// server's jobs are cancelled by then, so what remains is a peer that does not answer,
/// and a stop (SIGTERM) must not wait on it for long.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The hyper settings of every connection of a listener.
pub(super) fn builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.handshake_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout)
        // As tonic's own server: no cap on streams per connection; the job bounds of the
        // application are what limit the work.
        .max_concurrent_streams(None);
    builder
}

/// A connection just accepted, with everything it needs to be served.
pub(super) struct Accepted {
    pub(super) stream: TcpStream,
    pub(super) remote: SocketAddr,
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) limits: Limits,
    /// Becomes true when the server shuts down.
    pub(super) stop: watch::Receiver<bool>,
    /// The connection's place under the cap, given back when this is dropped.
    pub(super) _slot: OwnedSemaphorePermit,
}

impl Accepted {
    /// Serves the connection until it closes, times out, or the server stops.
    pub(super) async fn serve<S, B>(self, builder: Builder<TokioExecutor>, service: S)
    where
        S: HttpService<B>,
        B: ResponseBody,
    {
        let accepted = Instant::now();
        // Small responses (every unary call) must not wait for Nagle.
        let _ = self.stream.set_nodelay(true);
        let peer = Peer {
            remote: self.remote,
            local: self.stream.local_addr().unwrap_or(self.remote),
        };
        let activity = Arc::new(Activity::new(accepted));
        let service = TowerToHyperService::new(Tracked {
            inner: service,
            activity: activity.clone(),
            peer,
        });
        let mut stop = self.stop;
        let Some(acceptor) = self.tls else {
            let io = TokioIo::new(self.stream);
            return watch(builder, io, service, &activity, &self.limits, &mut stop).await;
        };
        let deadline = accepted + self.limits.handshake_timeout;
        let handshake = tokio::time::timeout_at(deadline, acceptor.accept(self.stream));
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(client = %peer.remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(client = %peer.remote, "TLS handshake time-out: closed");
                    return;
                }
            },
            _ = stop.wait_for(|stopping| *stopping) => return,
        };
        let io = TokioIo::new(stream);
        watch(builder, io, service, &activity, &self.limits, &mut stop).await;
    }
}

/// Runs hyper on `io` until the connection ends; past the handshake or idle deadline, or at
/// shutdown, asks it to close gracefully (HTTP/2 GOAWAY, HTTP/1 after the current response)
/// and drops it if that takes longer than the handshake time-out.
async fn watch<I, S, B>(
    builder: Builder<TokioExecutor>,
    io: I,
    service: TowerToHyperService<S>,
    activity: &Activity,
    limits: &Limits,
    stop: &mut watch::Receiver<bool>,
) where
    I: Read + Write + Unpin + Send + 'static,
    S: HttpService<B>,
    B: ResponseBody,
{
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let grace = loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(activity.deadline(limits)) => {
                if let Some(reason) = activity.expired(limits) {
                    tracing::debug!(reason, "closing a connection");
                    break limits.handshake_timeout;
                }
            }
            _ = stop.wait_for(|stopping| *stopping) => {
                break limits.handshake_timeout.min(SHUTDOWN_GRACE);
            }
        }
    };
    conn.as_mut().graceful_shutdown();
    // A peer that never answers the GOAWAY (or never reads) is dropped after the grace.
    let _ = tokio::time::timeout(grace, conn).await;
}
