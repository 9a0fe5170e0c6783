//! Answers: a reply (200), an API error (503 with ZStack's error JSON), and the plain-text
//! errors of the transport itself (400/404/405), as ZStack's REST server writes them.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::ApiError;

/// A request the REST layer refuses before any API runs: a status and a sentence, sent as
/// plain text (ZStack's REST layer answers these in plain text, not JSON).
#[derive(Debug)]
pub struct Refused(pub StatusCode, pub String);

impl Refused {
    /// 400 with `sentence`.
    pub fn bad_request(sentence: impl Into<String>) -> Refused {
        Refused(StatusCode::BAD_REQUEST, sentence.into())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

/// ZStack's `ErrorCode` as JSON, fields without a value left out.
pub fn error_code(err: &ApiError) -> Value {
    let (code, description) = err.zstack_code();
    json!({ "code": code, "description": description, "details": err.details() })
}

/// The body of a failed API: `{"error": {...}}`.
pub fn error_body(err: &ApiError) -> Value {
    json!({ "error": error_code(err) })
}

/// A synchronous API's answer: 200 with the reply, or 503 with the error body.
pub fn sync(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(err) => failed(&err),
    }
}

/// 503 with the error body, as ZStack answers every failed API.
pub fn failed(err: &ApiError) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(error_body(err))).into_response()
}

/// No route for the path: 404, `no api mapping to <path>`.
pub async fn no_route(uri: Uri) -> Refused {
    Refused(
        StatusCode::NOT_FOUND,
        format!("no api mapping to {}", uri.path()),
    )
}

/// A path that exists, with a method it does not take: 405.
pub async fn wrong_method(method: axum::http::Method, uri: Uri) -> Refused {
    Refused(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("no api mapping to {} {}", method, uri.path()),
    )
}
