//! gRPC adapter of `loopback.orgcore.v1.AccountService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::timestamp;
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::GetCurrentAccount;
use crate::model::Account;
use crate::service::OrgCore;

/// Serves AccountService.
#[derive(Debug, Clone)]
pub struct AccountGrpc(pub OrgCore);

/// The wire form of an account.
pub fn account_to_pb(a: Account) -> pb::Account {
    pb::Account {
        name: format!("accounts/{}", a.id),
        subject: a.subject,
        email: a.email,
        display_name: a.display_name,
        create_time: Some(timestamp(a.create_time)),
    }
}

impl TryFrom<pb::GetCurrentAccountRequest> for GetCurrentAccount {
    type Error = FieldViolations;
    fn try_from(_: pb::GetCurrentAccountRequest) -> Result<Self, FieldViolations> {
        Ok(Self)
    }
}

#[tonic::async_trait]
impl pb::account_service_server::AccountService for AccountGrpc {
    async fn get_current_account(
        &self,
        request: Request<pb::GetCurrentAccountRequest>,
    ) -> Result<Response<pb::GetCurrentAccountResponse>, Status> {
        unary(&self.0, request, OrgCore::get_current_account, |a| {
            pb::GetCurrentAccountResponse {
                account: Some(account_to_pb(a)),
            }
        })
        .await
    }
}
