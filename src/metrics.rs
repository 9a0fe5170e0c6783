//! [`Metrics`]: the server's counters and histograms, in Prometheus' text format.
//!
//! Transport-neutral: each front (gRPC, REST) records a finished request with
//! [`Metrics::record_request`] (usually through `crate::request_log::RequestLine::finish`,
//! which also writes the log line), the job manager records each computed hash with
//! [`Metrics::record_hash`], and whoever serves `/metrics` answers with
//! `App::render_metrics`, which samples the job gauges and calls [`Metrics::render`].
//!
//! Labels come from fixed sets only (API names are `&'static str`, codes are ZStack's,
//! algorithms the engine's), so a caller cannot grow the number of series.
//!
//! The exposition is OpenMetrics text ([`CONTENT_TYPE`]), which Prometheus scrapes as is;
//! counters carry the `_total` suffix.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the result code of a successful request is recorded as.
pub const CODE_OK: &str = "OK";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// `grpc` or `rest`.
    front: &'static str,
    /// ZStack's API name, e.g. `CalculateImageHash`.
    api: &'static str,
    /// [`CODE_OK`] or the ZStack error code (`SYS.1007`, `ID.1000`, ...).
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    front: &'static str,
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgorithmLabels {
    algorithm: &'static str,
}

/// Builds a histogram family's histograms (a plain `fn`, so the family type can be named).
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 1 ms to about 4.6 hours (×4 each): requests range from a log-in
/// (tens of ms of argon2) to the hash of a multi-terabyte image.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

/// The server's metrics. One per server, shared by every front (it is `Sync`).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<ApiLabels>,
    jobs_running: Gauge,
    jobs_queued: Gauge,
    hashed_bytes: Family<AlgorithmLabels, Counter>,
    hash_seconds: HistogramFamily<AlgorithmLabels>,
    password_checks: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds: HistogramFamily<ApiLabels> =
            Family::new_with_constructor(latency_histogram);
        let jobs_running = Gauge::default();
        let jobs_queued = Gauge::default();
        let hashed_bytes = Family::<AlgorithmLabels, Counter>::default();
        let hash_seconds: HistogramFamily<AlgorithmLabels> =
            Family::new_with_constructor(latency_histogram);
        let password_checks = Counter::default();
        let mut registry = Registry::with_prefix("imghash");
        registry.register(
            "requests",
            "Requests answered, by front, API and result code (OK or the ZStack error code)",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer, by front and API",
            request_seconds.clone(),
        );
        registry.register(
            "jobs_running",
            "Hash jobs computing now",
            jobs_running.clone(),
        );
        registry.register(
            "jobs_queued",
            "Hash jobs waiting for a run slot",
            jobs_queued.clone(),
        );
        registry.register(
            "hashed_bytes",
            "Bytes of images hashed by completed jobs, by algorithm",
            hashed_bytes.clone(),
        );
        registry.register(
            "hash_duration_seconds",
            "Time a hash job computed (after its wait for a run slot), by algorithm",
            hash_seconds.clone(),
        );
        registry.register(
            "password_checks",
            "argon2 password verifications made by log-ins (unknown accounts included: they \
             are checked against a dummy hash)",
            password_checks.clone(),
        );
        Metrics {
            password_checks,
            registry,
            requests,
            request_seconds,
            jobs_running,
            jobs_queued,
            hashed_bytes,
            hash_seconds,
        }
    }

    /// Counts one answered request of `front` (`"grpc"`, `"rest"`) and `api` with its result
    /// `code` ([`CODE_OK`] or a ZStack code), and observes its duration.
    pub fn record_request(
        &self,
        front: &'static str,
        api: &'static str,
        code: &'static str,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels { front, api, code })
            .inc();
        self.request_seconds
            .get_or_create(&ApiLabels { front, api })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a completed hash job: `bytes` read with `algorithm` in `elapsed`.
    pub fn record_hash(&self, algorithm: &'static str, bytes: u64, elapsed: Duration) {
        let labels = AlgorithmLabels { algorithm };
        self.hashed_bytes.get_or_create(&labels).inc_by(bytes);
        self.hash_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one argon2 verification of a log-in.
    pub fn record_password_check(&self) {
        self.password_checks.inc();
    }

    /// argon2 verifications made so far.
    pub fn password_checks(&self) -> u64 {
        self.password_checks.get()
    }

    /// Sets the job gauges (sampled from the job manager when rendering).
    pub fn set_jobs(&self, running: usize, queued: usize) {
        self.jobs_running
            .set(i64::try_from(running).unwrap_or(i64::MAX));
        self.jobs_queued
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
    }

    /// The text exposition of every metric ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a metric
        // type, and an empty scrape is a better answer to it than a panic.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_requests_and_hashes_appear_in_the_text() {
        let metrics = Metrics::new();
        metrics.record_request(
            "grpc",
            "LogInByAccount",
            "ID.1000",
            Duration::from_millis(30),
        );
        metrics.record_request(
            "grpc",
            "LogInByAccount",
            "ID.1000",
            Duration::from_millis(30),
        );
        metrics.record_hash("sha256", 4096, Duration::from_millis(2));
        metrics.set_jobs(1, 3);
        let text = metrics.render();
        assert!(
            text.contains(
                "imghash_requests_total{front=\"grpc\",api=\"LogInByAccount\",code=\"ID.1000\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("imghash_hashed_bytes_total{algorithm=\"sha256\"} 4096"),
            "{text}"
        );
        assert!(text.contains("imghash_jobs_queued 3"), "{text}");
        assert!(
            text.contains("imghash_hash_duration_seconds_count{algorithm=\"sha256\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
