//! gRPC adapter of `loopback.orgcore.v1.AccountService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::auth;
use tonic::{Request, Response, Status};

use crate::convert::timestamp;
use crate::error::Error;
use crate::model::{Account, Caller};
use crate::service::OrgCore;

/// Serves AccountService.
#[derive(Debug, Clone)]
pub struct AccountGrpc(pub OrgCore);

/// The wire form of an account.
pub fn account_to_pb(a: &Account) -> pb::Account {
    pb::Account {
        name: format!("accounts/{}", a.id),
        subject: a.subject.clone(),
        email: a.email.clone(),
        display_name: a.display_name.clone(),
        create_time: Some(timestamp(a.create_time)),
    }
}

#[tonic::async_trait]
impl pb::account_service_server::AccountService for AccountGrpc {
    async fn get_current_account(
        &self,
        request: Request<pb::GetCurrentAccountRequest>,
    ) -> Result<Response<pb::GetCurrentAccountResponse>, Status> {
        let principal = auth::principal(&request)?;
        match self.0.caller(&principal).await? {
            Caller::Account(account) => Ok(Response::new(pb::GetCurrentAccountResponse {
                account: Some(account_to_pb(&account)),
            })),
            _ => Err(Error::PrincipalKind("account").into()),
        }
    }
}
