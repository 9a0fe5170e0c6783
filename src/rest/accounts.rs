//! LogInByAccount (`PUT /v1/accounts/login`) and LogOut
//! (`DELETE /v1/accounts/sessions/{uuid}`): synchronous, no session needed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::reply::{self, Refused};
use super::{inventory, request, Rest};
use crate::app::accounts::LogIn;
use crate::net::Peer;
use crate::request_log::RequestLine;

/// LogInByAccount: `{"logInByAccount": {"accountName", "password"}}`. The client's address
/// goes to the log-in back-off.
pub async fn log_in(
    State(rest): State<Arc<Rest>>,
    peer: Option<Extension<Peer>>,
    body: Bytes,
) -> Result<Response, Refused> {
    let body = request::object(&body)?;
    let action = request::action(&body, &["logInByAccount"], "/v1/accounts/login")?;
    let mut line = RequestLine::start("rest", "LogInByAccount");
    let result = async {
        let fields = request::fields_of("logInByAccount", Some(action))?;
        let login = LogIn {
            account_name: request::string(&fields, "accountName")?,
            password: request::string(&fields, "password")?,
            client: peer.map(|Extension(peer)| peer.remote.ip()),
        };
        let session = rest.app.log_in(login).await?;
        line.account = Some(session.account_uuid.clone());
        Ok(json!({ "inventory": inventory::session(&session) }))
    }
    .await;
    Ok(reply::sync(line.finish_with(rest.app.metrics(), result)))
}

/// LogOut: `{}`, also for a session already gone (as in ZStack).
pub async fn log_out(State(rest): State<Arc<Rest>>, Path(uuid): Path<String>) -> Response {
    let line = RequestLine::start("rest", "LogOut");
    let result = rest.app.log_out(uuid).await.map(|()| json!({}));
    reply::sync(line.finish_with(rest.app.metrics(), result))
}
