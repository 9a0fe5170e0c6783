//! AccountService: LogInByAccount and LogOut.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{inventory, observe, proto};
use crate::app::accounts::LogIn;
use crate::app::App;
use crate::net::Peer;

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
        let mut line = observe::start("LogInByAccount");
        // The back-off counts failures per account and client address.
        let client = request
            .extensions()
            .get::<Peer>()
            .map(|peer| peer.remote.ip());
        let req = request.into_inner();
        let login = LogIn {
            account_name: req.account_name,
            password: req.password,
            client,
        };
        let result = self.app.log_in(login).await.map(|session| {
            line.account = Some(session.account_uuid.clone());
            proto::LogInByAccountResponse {
                inventory: Some(inventory::session(session)),
            }
        });
        observe::answer(&self.app, line, result)
    }

    async fn log_out(
        &self,
        request: Request<proto::LogOutRequest>,
    ) -> Result<Response<proto::LogOutResponse>, Status> {
        let line = observe::start("LogOut");
        let result = self.app.log_out(request.into_inner().session_uuid).await;
        observe::answer(
            &self.app,
            line,
            result.map(|()| proto::LogOutResponse { success: true }),
        )
    }
}
