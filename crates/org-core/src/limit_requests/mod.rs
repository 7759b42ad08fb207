//! Limit increase requests: an organization asks for a higher limit with a
//! justification; an operator approves (setting the override) or denies it,
//! with an audited reason.

pub mod grpc;

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, require_operator};
use crate::audit::{self, AuditRecord};
use crate::catalog;
use crate::changes::{self, kind};
use crate::entity::{limit_increase_request as lir, organization};
use crate::error::{Error, Result};
use crate::model::{Caller, parse_stored_uuid};
use crate::organizations::store as org_store;
use crate::policy::ActionClass;
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
        format!(
            "organizations/{}/limitIncreaseRequests/{}",
            self.organization, self.id
        )
    }
}

fn to_domain(m: lir::Model) -> Result<LimitRequest> {
    Ok(LimitRequest {
        id: parse_stored_uuid(&m.id)?,
        organization: parse_stored_uuid(&m.organization_id)?,
        limit: m.limit_key,
        requested_value: m.requested_value,
        current_value: m.current_value,
        justification: m.justification,
        state: m.state,
        requester: m.requester,
        decided_by: m.decided_by,
        decision_reason: m.decision_reason,
        create_time: m.create_time,
        decide_time: m.decide_time,
    })
}

async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<LimitRequest>> {
    lir::Entity::find_by_id(id.to_string())
        .filter(lir::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

impl OrgCore {
    /// Asks for a higher limit.
    pub async fn create_limit_request(
        &self,
        caller: &Caller,
        org: Uuid,
        limit: &str,
        requested_value: i64,
        justification: String,
        validate_only: bool,
    ) -> Result<LimitRequest> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(
            catalog::LIMIT_REQUESTS_CREATE,
            ActionClass::Setup,
            "CreateLimitIncreaseRequest",
        )?;
        let current_value = access.organization.capabilities.limit(limit);
        if requested_value <= current_value {
            return Err(Error::invalid(
                "limit_increase_request.requested_value",
                format!("must exceed the current {limit} of {current_value}"),
            ));
        }
        let open = lir::Entity::find()
            .filter(lir::Column::OrganizationId.eq(org.to_string()))
            .filter(lir::Column::LimitKey.eq(limit))
            .filter(lir::Column::State.eq(state::OPEN))
            .one(&txn)
            .await?;
        if let Some(open) = open {
            let open = to_domain(open)?;
            return Err(Error::AlreadyExists(format!(
                "{} is still open for {limit}",
                open.name()
            )));
        }
        let id = Uuid::now_v7();
        lir::Entity::insert(lir::ActiveModel {
            id: Set(id.to_string()),
            organization_id: Set(org.to_string()),
            limit_key: Set(limit.to_string()),
            requested_value: Set(requested_value),
            current_value: Set(current_value),
            justification: Set(justification.clone()),
            state: Set(state::OPEN.into()),
            requester: Set(caller.audit_id()),
            decided_by: Set(None),
            decision_reason: Set(None),
            create_time: Set(Utc::now()),
            decide_time: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        let created = find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::Corrupt("request vanished inside its transaction".into()))?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "CreateLimitIncreaseRequest",
                resource: created.name(),
                organization: Some(org),
                reason: &justification,
                details: json!({ "limit": limit, "from": current_value, "to": requested_value }),
            },
        )
        .await?;
        self.finish(txn, validate_only).await?;
        Ok(created)
    }

    /// Lists requests of one organization, or of all (operators).
    pub async fn list_limit_requests(
        &self,
        caller: &Caller,
        org: Option<Uuid>,
        only: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<LimitRequest>, String)> {
        let mut cond = Condition::all();
        match org {
            Some(org) => {
                let access = self
                    .org_access(self.db(), caller, org, Deleted::Hide)
                    .await?;
                access.require(
                    catalog::LIMIT_REQUESTS_LIST,
                    ActionClass::Read,
                    "ListLimitIncreaseRequests",
                )?;
                cond = cond.add(lir::Column::OrganizationId.eq(org.to_string()));
            }
            None => require_operator(caller)?,
        }
        if let Some(s) = only {
            cond = cond.add(lir::Column::State.eq(s));
        }
        if let Some(after) = &page.after {
            cond = cond.add(lir::Column::Id.gt(after.as_str()));
        }
        let rows = lir::Entity::find()
            .filter(cond)
            .order_by_asc(lir::Column::Id)
            .limit(page.fetch_limit())
            .all(self.db())
            .await?
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows, |r| r.id.to_string()))
    }

    /// Approves (setting the override) or denies an open request.
    pub async fn decide_limit_request(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        approve: bool,
        reason: &str,
    ) -> Result<LimitRequest> {
        require_operator(caller)?;
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        let name = format!("organizations/{org}/limitIncreaseRequests/{id}");
        let request = find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        if request.state != state::OPEN {
            return Err(Error::FailedPrecondition {
                reason: "REQUEST_DECIDED",
                message: format!("{name} was already {}", request.state.to_lowercase()),
            });
        }
        let new_state = if approve {
            state::APPROVED
        } else {
            state::DENIED
        };
        if approve {
            org_store::set_override(
                &txn,
                org,
                &request.limit,
                Some(request.requested_value),
                None,
            )
            .await?;
            let version = access.organization.version;
            if !org_store::save(&txn, org, version, organization::ActiveModel::default()).await? {
                return Err(Error::EtagMismatch(access.organization.name()));
            }
            changes::append(&txn, org, kind::CAPABILITIES).await?;
        }
        lir::Entity::update_many()
            .col_expr(lir::Column::State, Expr::value(new_state))
            .col_expr(lir::Column::DecidedBy, Expr::value(caller.audit_id()))
            .col_expr(lir::Column::DecisionReason, Expr::value(reason))
            .col_expr(lir::Column::DecideTime, Expr::value(Utc::now()))
            .filter(lir::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: if approve { "ApproveLimitIncreaseRequest" } else { "DenyLimitIncreaseRequest" },
                resource: name.clone(),
                organization: Some(org),
                reason,
                details: json!({ "limit": request.limit, "requested_value": request.requested_value }),
            },
        )
        .await?;
        let decided = find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(name))?;
        self.finish(txn, false).await?;
        Ok(decided)
    }
}
