//! The listener every front serves through: accepts TCP connections (TLS optional) under
//! [`Limits`] and serves each with hyper (HTTP/1.1 and HTTP/2), for any tower service: the
//! gRPC routes of tonic and an axum router alike.
//!
//! Why not each framework's own server loop: tonic's accepted every connection at once and
//! kept it forever, so 20,000 idle sockets exhausted the descriptors, after which its loop
//! retried the failing `accept` without pause at 100% CPU. Here:
//! - at most [`Limits::max_connections`] connections are open; the next one is not accepted
//!   until one closes, so it waits in the kernel's backlog (no descriptor, no CPU);
//! - a connection has [`Limits::handshake_timeout`] from its accept to finish TLS and send
//!   its first request (a partial HTTP/2 preface included), and is closed after
//!   [`Limits::idle_timeout`] without a request in flight;
//! - HTTP/2 keep-alive pings close a connection whose peer stopped answering;
//! - an `accept` error other than a connection's own (`EMFILE`, `ENFILE`, `ENOMEM`) pauses
//!   the loop briefly instead of spinning.
//!
//! Each request carries the connection's [`Peer`] in its `http::Extensions`, for the
//! log-in back-off by client address.

mod accept;
mod activity;
mod connection;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;

pub use accept::{Listener, ServeError};

/// The error type hyper takes from a body.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body the listener can send: tonic's and axum's both are.
pub trait ResponseBody:
    http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

impl<B> ResponseBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

/// A service the listener can serve: tonic's `Routes` (after `prepare()`) and an axum
/// `Router` both are. It is cloned for each connection.
pub trait HttpService<B: ResponseBody>:
    tower_service::Service<
        Request<Incoming>,
        Response = Response<B>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B: ResponseBody> HttpService<B> for S where
    S: tower_service::Service<
            Request<Incoming>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// The connection limits of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; more wait in the kernel's listen backlog.
    pub max_connections: usize,
    /// From accept to the first request's headers (TLS handshake and HTTP/2 preface
    /// included); also the most a closing connection is waited for before it is dropped
    /// (at shutdown, at most 2 s).
    pub handshake_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// HTTP/2 keep-alive: a PING after this long without a frame from the peer...
    pub keepalive_interval: Duration,
    /// ...which must be answered within this long, or the connection is closed.
    pub keepalive_timeout: Duration,
}

impl Default for Limits {
    /// 1024 connections, a 10 s handshake, 300 s idle, a ping after 60 s of silence
    /// answered within 20 s.
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// The two ends of the connection a request came on (in each request's extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// Our address it connected to.
    pub local: SocketAddr,
}
