//! [`RequestLine`]: the one log line (and the metrics) of every answered request, the same
//! for every front.
//!
//! A handler starts a line when the request arrives, fills in what it learns (the account
//! once the session is checked, the image, the job), and finishes it with the result. The
//! line is logged at `info` under the target `imghash::request` with the fields `front`,
//! `api`, `account`, `image`, `job`, `code` ([`CODE_OK`] or the ZStack code), `duration_ms`,
//! and `error` (the sentence) for a failure, so `--log-format json` gives a machine one
//! object per request.

use std::time::Instant;

use crate::app::ApiError;
use crate::metrics::{Metrics, CODE_OK};

/// A request being answered.
#[derive(Debug)]
pub struct RequestLine {
    front: &'static str,
    api: &'static str,
    started: Instant,
    /// The account's uuid, once the session (or log-in) told it.
    pub account: Option<String>,
    /// The image the request is about.
    pub image: Option<String>,
    /// The job: the REST api-job uuid, or the hash job's.
    pub job: Option<String>,
}

impl RequestLine {
    /// A request of `api` (ZStack's name, e.g. `"AddImage"`) arriving now on `front`
    /// (`"grpc"`, `"rest"`).
    pub fn start(front: &'static str, api: &'static str) -> RequestLine {
        RequestLine {
            front,
            api,
            started: Instant::now(),
            account: None,
            image: None,
            job: None,
        }
    }

    /// Logs the line and records the request in `metrics`: `error` is `None` for a success.
    pub fn finish(self, metrics: &Metrics, error: Option<&ApiError>) {
        let elapsed = self.started.elapsed();
        let code = error.map_or(CODE_OK, |e| e.zstack_code().0);
        metrics.record_request(self.front, self.api, code, elapsed);
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let account = self.account.as_deref().unwrap_or("");
        let image = self.image.as_deref().unwrap_or("");
        let job = self.job.as_deref().unwrap_or("");
        match error {
            None => tracing::info!(target: "imghash::request", front = self.front,
                api = self.api, account, image, job, code, duration_ms, "request"),
            Some(e) => tracing::info!(target: "imghash::request", front = self.front,
                api = self.api, account, image, job, code, duration_ms, error = %e, "request"),
        }
    }

    /// [`finish`](Self::finish) with a result, passing the result through.
    pub fn finish_with<T>(
        self,
        metrics: &Metrics,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.finish(metrics, result.as_ref().err());
        result
    }
}
