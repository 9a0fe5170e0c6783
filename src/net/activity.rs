//! [`Activity`]: what a connection's watchdog needs to know (has a request come, is one in
//! flight, since when is it quiet), kept by wrapping the service and each response body.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::{Request, Response};
use tokio::time::Instant;

use super::{Limits, Peer};

/// The requests of one connection.
#[derive(Debug)]
pub(super) struct Activity {
    accepted: Instant,
    /// A request has arrived: the handshake is over.
    served: AtomicBool,
    /// Requests whose response (body included) is not finished.
    in_flight: AtomicUsize,
    /// When the last request finished.
    last_done: Mutex<Instant>,
}

impl Activity {
    pub(super) fn new(accepted: Instant) -> Activity {
        Activity {
            accepted,
            served: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_done: Mutex::new(accepted),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection is to be closed if nothing changes: the handshake deadline before
    /// the first request, else the idle deadline. With a request in flight there is none
    /// yet; the watchdog looks again one idle time-out later.
    pub(super) fn deadline(&self, limits: &Limits) -> Instant {
        if !self.served.load(Ordering::SeqCst) {
            return self.accepted + limits.handshake_timeout;
        }
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Instant::now() + limits.idle_timeout;
        }
        *self
            .last_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            + limits.idle_timeout
    }

    /// Whether the connection is past its deadline now: which one, for the log.
    pub(super) fn expired(&self, limits: &Limits) -> Option<&'static str> {
        let quiet = self.in_flight.load(Ordering::SeqCst) == 0;
        let past = quiet && Instant::now() >= self.deadline(limits);
        match (past, self.served.load(Ordering::SeqCst)) {
            (false, _) => None,
            (true, false) => Some("handshake time-out"),
            (true, true) => Some("idle time-out"),
        }
    }
}

/// A request in flight; dropped when its response body is finished or dropped.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .last_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The service of one connection: tags each request with the [`Peer`] and tracks it.
#[derive(Clone, Debug)]
pub(super) struct Tracked<S> {
    pub(super) inner: S,
    pub(super) activity: Arc<Activity>,
    pub(super) peer: Peer,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, ReqB, B> tower_service::Service<Request<ReqB>> for Tracked<S>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        req.extensions_mut().insert(self.peer);
        let in_flight = self.activity.begin();
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody {
                inner: body,
                _in_flight: in_flight,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until it is dropped
    /// (a streaming response is in flight as long as it streams).
    pub(super) struct TrackedBody<B> {
        #[pin]
        inner: B,
        _in_flight: InFlight,
    }
}

impl<B: http_body::Body> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
