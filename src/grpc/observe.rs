//! The request line of a gRPC call: [`start`] when it arrives, [`answer`] with its result.

use tonic::{Response, Status};

use crate::app::{ApiError, App};
use crate::request_log::RequestLine;

/// A call of `api` (ZStack's name) arriving now on the gRPC front.
pub fn start(api: &'static str) -> RequestLine {
    RequestLine::start("grpc", api)
}

/// Logs and counts the call, and turns its result into tonic's answer.
pub fn answer<T>(
    app: &App,
    line: RequestLine,
    result: Result<T, ApiError>,
) -> Result<Response<T>, Status> {
    line.finish_with(app.metrics(), result)
        .map(Response::new)
        .map_err(Status::from)
}
