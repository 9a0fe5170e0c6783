//! AccountService: LogInByAccount and LogOut.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{inventory, proto};
use crate::app::accounts::LogIn;
use crate::app::App;

/// The AccountService over the application.
pub struct AccountService {
    pub app: Arc<App>,
}

#[tonic::async_trait]
impl proto::account_service_server::AccountService for AccountService {
    async fn log_in_by_account(
        &self,
        request: Request<proto::LogInByAccountRequest>,
    ) -> Result<Response<proto::LogInByAccountResponse>, Status> {
        let req = request.into_inner();
        let login = LogIn {
            account_name: req.account_name,
            password: req.password,
        };
        let session = self.app.log_in(login).await.inspect_err(|e| {
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
        self.app.log_out(request.into_inner().session_uuid).await?;
        Ok(Response::new(proto::LogOutResponse { success: true }))
    }
}
