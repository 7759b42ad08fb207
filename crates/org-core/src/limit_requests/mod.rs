//! Limit increase requests: an organization asks for a higher limit with a
//! justification; an operator approves (setting the override) or denies it,
//! with an audited reason.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::pagination::Page;
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, require_operator};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::organizations::{self, Override};
use crate::paging::CallerPage;
use crate::rpcs;
use crate::service::OrgCore;

/// Request states as stored.
pub mod state {
    /// Waiting for an operator.
    pub const OPEN: &str = "OPEN";
    /// Approved.
    pub const APPROVED: &str = "APPROVED";
    /// Denied.
    pub const DENIED: &str = "DENIED";
}

/// A limit increase request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRequest {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Limit key.
    pub limit: String,
    /// Value asked for.
    pub requested_value: i64,
    /// Value when asked.
    pub current_value: i64,
    /// Why.
    pub justification: String,
    /// State.
    pub state: String,
    /// Who asked.
    pub requester: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Why it was decided so.
    pub decision_reason: Option<String>,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Decision time.
    pub decide_time: Option<DateTime<Utc>>,
}

impl LimitRequest {
    /// `organizations/{org}/limitIncreaseRequests/{id}`.
    pub fn name(&self) -> String {
        request_name(self.organization, self.id)
    }
}

fn request_name(org: Uuid, id: Uuid) -> String {
    format!("organizations/{org}/limitIncreaseRequests/{id}")
}

/// CreateLimitIncreaseRequest, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLimitRequest {
    /// The organization.
    pub organization: Uuid,
    /// A known limit key.
    pub limit: String,
    /// The value asked for (positive).
    pub requested_value: i64,
    /// Why, trimmed.
    pub justification: String,
    /// Check only.
    pub validate_only: bool,
}

/// ListLimitIncreaseRequests, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLimitRequests {
    /// One organization, or every one (operators).
    pub organization: Option<Uuid>,
    /// Only requests in this state.
    pub state: Option<&'static str>,
    /// Size and position (the token is bound to the caller).
    pub page: CallerPage,
}

/// ApproveLimitIncreaseRequest or DenyLimitIncreaseRequest, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideLimitRequest {
    /// The organization.
    pub organization: Uuid,
    /// The request.
    pub id: Uuid,
    /// Why, for the audit log (trimmed).
    pub reason: String,
}

/// Deletes every limit increase request of `org`, decided or not (the
/// organization is being purged: call it inside the purge's write
/// transaction; the audit log keeps how each was decided). Returns how
/// many went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

impl OrgCore {
    /// Asks for a higher limit.
    pub async fn create_limit_request(
        &self,
        principal: &Principal,
        input: CreateLimitRequest,
    ) -> Result<LimitRequest> {
        let rpc = &rpcs::CREATE_LIMIT_INCREASE_REQUEST;
        let org = input.organization;
        let limit = input.limit;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let current_value = access.organization.capabilities.limit(&limit);
        if input.requested_value <= current_value {
            return Err(Error::invalid(
                "limit_increase_request.requested_value",
                format!("must exceed the current {limit} of {current_value}"),
            ));
        }
        if let Some(open) = store::find_open(tx.conn(), org, &limit).await? {
            return Err(Error::already_exists(format!(
                "{} is still open for {limit}",
                open.name()
            )));
        }
        let request = LimitRequest {
            id: Uuid::now_v7(),
            organization: org,
            limit,
            requested_value: input.requested_value,
            current_value,
            justification: input.justification,
            state: state::OPEN.into(),
            requester: caller.audit_id(),
            decided_by: None,
            decision_reason: None,
            create_time: Utc::now(),
            decide_time: None,
        };
        store::insert(tx.conn(), &request).await?;
        let created = store::find(tx.conn(), org, request.id)
            .await?
            .ok_or_else(|| Error::Corrupt("request vanished inside its transaction".into()))?;
        tx.audit_with_reason(
            created.name(),
            &created.justification,
            json!({ "limit": created.limit, "from": current_value, "to": created.requested_value }),
        );
        tx.commit().await?;
        Ok(created)
    }

    /// Lists requests of one organization, or of all (operators).
    pub async fn list_limit_requests(
        &self,
        principal: &Principal,
        input: ListLimitRequests,
    ) -> Result<Page<LimitRequest>> {
        let rpc = &rpcs::LIST_LIMIT_INCREASE_REQUESTS;
        let caller = self.caller_of(principal, rpc).await?;
        let page = input.page.bind(&caller.page_key())?;
        match input.organization {
            Some(org) => {
                self.authorize(self.db(), &caller, rpc, org, Deleted::Hide)
                    .await?;
            }
            None => require_operator(&caller)?,
        }
        let rows = store::list(self.db(), input.organization, input.state, &page).await?;
        Ok(page.page(rows, |r| r.id.to_string()))
    }

    /// Approves an open request, setting the override.
    pub async fn approve_limit_request(
        &self,
        principal: &Principal,
        input: DecideLimitRequest,
    ) -> Result<LimitRequest> {
        self.decide_limit_request(principal, input, true).await
    }

    /// Denies an open request.
    pub async fn deny_limit_request(
        &self,
        principal: &Principal,
        input: DecideLimitRequest,
    ) -> Result<LimitRequest> {
        self.decide_limit_request(principal, input, false).await
    }

    async fn decide_limit_request(
        &self,
        principal: &Principal,
        input: DecideLimitRequest,
        approve: bool,
    ) -> Result<LimitRequest> {
        let rpc = if approve {
            &rpcs::APPROVE_LIMIT_INCREASE_REQUEST
        } else {
            &rpcs::DENY_LIMIT_INCREASE_REQUEST
        };
        let org = input.organization;
        let caller = self.caller_of(principal, rpc).await?;
        let mut tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let name = request_name(org, input.id);
        let request = store::find(tx.conn(), org, input.id)
            .await?
            .ok_or_else(|| Error::not_found(name.clone()))?;
        if request.state != state::OPEN {
            return Err(Error::precondition(
                "REQUEST_DECIDED",
                format!("{name} was already {}", request.state.to_lowercase()),
            ));
        }
        let new_state = if approve {
            let value = Override::Limit(request.requested_value);
            organizations::set_override(tx.conn(), org, &request.limit, value).await?;
            organizations::touch(tx.conn(), &access.organization).await?;
            changes::append(tx.conn(), org, kind::CAPABILITIES).await?;
            state::APPROVED
        } else {
            state::DENIED
        };
        store::decide(
            tx.conn(),
            input.id,
            new_state,
            &caller.audit_id(),
            &input.reason,
        )
        .await?;
        tx.audit_with_reason(
            name.clone(),
            &input.reason,
            json!({ "limit": request.limit, "requested_value": request.requested_value }),
        );
        let decided = store::find(tx.conn(), org, input.id)
            .await?
            .ok_or_else(|| Error::not_found(name))?;
        tx.commit().await?;
        Ok(decided)
    }
}
