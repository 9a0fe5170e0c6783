//! [`RestConfig`]: the REST front's settings, validated once.

use std::time::Duration;

/// How long ZStack keeps the result of an asynchronous job.
pub const DEFAULT_JOB_RETENTION: Duration = Duration::from_secs(3 * 3600);

/// The REST front's settings.
#[derive(Clone, Debug)]
pub struct RestConfig {
    /// Hosts (`host` or `host:port`) that `X-Web-Hook` may name; empty: none.
    pub webhook_allow: Vec<String>,
    /// How long an ended job's result is kept for polling.
    pub job_retention: Duration,
    /// Jobs kept at most (running and ended); the oldest ended ones go first.
    pub max_jobs_kept: usize,
    /// Tries of a web hook delivery (ZStack: 15).
    pub webhook_tries: u32,
    /// Pause between two tries (ZStack: 2 s).
    pub webhook_interval: Duration,
    /// Time-out of one web hook request.
    pub webhook_timeout: Duration,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time-out of one request (an asynchronous API answers at once; its job is bounded by
    /// `X-API-Timeout` instead).
    pub request_timeout: Duration,
    /// Bound of an asynchronous job without `X-API-Timeout`: the time ZStack's SDKs poll.
    pub default_api_timeout: Duration,
}

impl Default for RestConfig {
    /// ZStack's figures: results kept 3 h, hooks tried 15 times 2 s apart; 10,000 jobs kept,
    /// 1 MiB bodies (a ZStack body is a few hundred bytes), 60 s per request.
    fn default() -> RestConfig {
        RestConfig {
            webhook_allow: Vec::new(),
            job_retention: DEFAULT_JOB_RETENTION,
            max_jobs_kept: 10_000,
            webhook_tries: 15,
            webhook_interval: Duration::from_secs(2),
            webhook_timeout: Duration::from_secs(10),
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(60),
            default_api_timeout: DEFAULT_JOB_RETENTION,
        }
    }
}
