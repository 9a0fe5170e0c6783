//! AccountService: LogInByAccount and LogOut.

use std::sync::Arc;

use imghash_store::{new_uuid, Session};
use tonic::{Request, Response, Status};

use super::auth::verify_password;
use super::context::{now_ms, Context};
use super::error::ApiError;
use super::validate;
use super::{inventory, proto};

/// The AccountService implementation.
pub struct AccountApi {
    pub ctx: Arc<Context>,
}

#[tonic::async_trait]
impl proto::account_service_server::AccountService for AccountApi {
    async fn log_in_by_account(
        &self,
        request: Request<proto::LogInByAccountRequest>,
    ) -> Result<Response<proto::LogInByAccountResponse>, Status> {
        let req = request.into_inner();
        let session = self.log_in(req).await.inspect_err(|e| {
            tracing::warn!(rpc = "LogInByAccount", error = %e, "failed");
        })?;
        tracing::info!(rpc = "LogInByAccount", account = %session.account_uuid, "logged in");
        Ok(Response::new(proto::LogInByAccountResponse {
            inventory: Some(inventory::session(session)),
        }))
    }

    async fn log_out(
        &self,
        request: Request<proto::LogOutRequest>,
    ) -> Result<Response<proto::LogOutResponse>, Status> {
        let uuid = request.into_inner().session_uuid;
        validate::uuid("sessionUuid", &uuid)?;
        // Logging out of a session that is already gone succeeds, as in ZStack.
        self.ctx
            .db(move |store| store.delete_session(&uuid))
            .await?;
        Ok(Response::new(proto::LogOutResponse { success: true }))
    }
}

impl AccountApi {
    async fn log_in(&self, req: proto::LogInByAccountRequest) -> Result<Session, ApiError> {
        validate::required("accountName", &req.account_name)?;
        validate::required("password", &req.password)?;
        // A locked account is refused before anything else, the password check included.
        if let Some(remaining) = self.ctx.logins.locked(&req.account_name) {
            return Err(ApiError::WrongCredentials(format!(
                "Too many failed logins for account '{}'; wait {} s before trying again",
                req.account_name,
                remaining.as_secs() + 1
            )));
        }
        let wrong = || ApiError::WrongCredentials("Wrong account name or password".to_string());
        let fail = |name: &str| {
            self.ctx.logins.failed(name);
            wrong()
        };
        let name = req.account_name.clone();
        let account = self
            .ctx
            .db(move |store| store.account_by_name(&name))
            .await?
            .ok_or_else(|| fail(&req.account_name))?;
        // argon2 takes tens of milliseconds of CPU on purpose: keep it off the runtime.
        let stored = account.password_hash.clone();
        let password = req.password;
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
        if !ok {
            return Err(fail(&req.account_name));
        }
        self.ctx.logins.succeeded(&req.account_name);
        let now = now_ms();
        let session = Session {
            uuid: new_uuid(),
            account_uuid: account.uuid.clone(),
            user_uuid: account.uuid,
            expired_date: now + self.ctx.session_timeout_ms,
            create_date: now,
        };
        let stored = session.clone();
        self.ctx.db(move |store| store.add_session(&stored)).await?;
        Ok(session)
    }
}
