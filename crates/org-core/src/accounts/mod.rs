//! Accounts: people, created from their token on first use.

pub mod grpc;
pub mod store;

use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;

use crate::error::{Error, Result};
use crate::model::{Account, Caller};
use crate::rpcs;
use crate::service::OrgCore;

/// GetCurrentAccount (it has no fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GetCurrentAccount;

/// The account bound to a token subject, if any.
pub async fn find_by_subject(conn: &impl Conn, subject: &str) -> Result<Option<Account>> {
    store::find_by_subject(conn, subject).await
}

impl OrgCore {
    /// The account of an account principal, created on its first call; a
    /// changed email or name in the token is taken over.
    pub async fn ensure_account(&self, principal: &Principal) -> Result<Account> {
        store::ensure(self.db(), principal).await
    }

    /// The account of an account principal another service reports (an
    /// audit record's actor): created if it never called org-core itself,
    /// but never updated, since the report may be older than the account.
    pub async fn reported_account(&self, principal: &Principal) -> Result<Account> {
        match store::find_by_subject(self.db(), &principal.subject).await? {
            Some(account) => Ok(account),
            None => self.ensure_account(principal).await,
        }
    }

    /// The calling account.
    pub async fn get_current_account(
        &self,
        principal: &Principal,
        _input: GetCurrentAccount,
    ) -> Result<Account> {
        match self
            .caller_of(principal, &rpcs::GET_CURRENT_ACCOUNT)
            .await?
        {
            Caller::Account(account) => Ok(account),
            _ => Err(Error::principal_kind("account")),
        }
    }
}
