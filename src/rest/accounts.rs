//! LogInByAccount (`PUT /v1/accounts/login`) and LogOut
//! (`DELETE /v1/accounts/sessions/{uuid}`): synchronous, no session needed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::reply::{self, Refused};
use super::{inventory, request, Rest};
use crate::app::accounts::LogIn;

/// LogInByAccount: `{"logInByAccount": {"accountName", "password"}}`.
pub async fn log_in(State(rest): State<Arc<Rest>>, body: Bytes) -> Result<Response, Refused> {
    let body = request::object(&body)?;
    let action = request::action(&body, &["logInByAccount"], "/v1/accounts/login")?;
    let result = async {
        let fields = request::fields_of("logInByAccount", Some(action))?;
        let login = LogIn {
            account_name: request::string(&fields, "accountName")?,
            password: request::string(&fields, "password")?,
        };
        let session = rest.app.log_in(login).await?;
        Ok(json!({ "inventory": inventory::session(&session) }))
    }
    .await;
    Ok(reply::sync(result))
}

/// LogOut: `{}`, also for a session already gone (as in ZStack).
pub async fn log_out(State(rest): State<Arc<Rest>>, Path(uuid): Path<String>) -> Response {
    reply::sync(rest.app.log_out(uuid).await.map(|()| json!({})))
}
