//! The audit log: every write records who, what, when, from which service
//! and why, in the same transaction as the change.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::entity::audit_event;
use crate::error::Result;
use crate::model::Caller;

/// One change to record.
#[derive(Debug)]
pub struct AuditRecord<'a> {
    /// The RPC, e.g. `SetVerificationStatus`.
    pub method: &'a str,
    /// The resource name changed.
    pub resource: String,
    /// The organization, if any.
    pub organization: Option<Uuid>,
    /// The reason given (empty when none is required).
    pub reason: &'a str,
    /// What changed.
    pub details: serde_json::Value,
}

/// Writes `record` as done by `caller`.
pub async fn record(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    record: AuditRecord<'_>,
) -> Result<()> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        time: Set(Utc::now()),
        actor: Set(caller.audit_id()),
        service: Set("org-core".into()),
        method: Set(record.method.into()),
        resource: Set(record.resource),
        organization_id: Set(record.organization.map(|o| o.to_string())),
        reason: Set(record.reason.into()),
        details: Set(record.details.to_string()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub mod grpc;

/// What an audit listing is restricted to.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// One organization, or every one (operators).
    pub organization: Option<Uuid>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact resource, or a prefix when it ends with `/`.
    pub resource: Option<String>,
    /// At or after.
    pub start: Option<chrono::DateTime<Utc>>,
    /// Before.
    pub end: Option<chrono::DateTime<Utc>>,
}

impl crate::service::OrgCore {
    /// Lists audit events, newest first: an organization's for its admins,
    /// any or all for operators.
    pub async fn list_audit_events(
        &self,
        caller: &Caller,
        filter: AuditFilter,
        page: loopback_runtime::pagination::PageRequest,
    ) -> Result<(Vec<audit_event::Model>, String)> {
        use sea_orm::{
            ColumnTrait as _, Condition, QueryFilter as _, QueryOrder as _, QuerySelect as _,
        };
        match filter.organization {
            Some(org) => {
                let access = self
                    .org_access(
                        self.db(),
                        caller,
                        org,
                        crate::access::Deleted::ShowToOperators,
                    )
                    .await?;
                access.require(
                    crate::catalog::AUDIT_LIST,
                    crate::policy::ActionClass::Read,
                    "ListAuditEvents",
                )?;
            }
            None => crate::access::require_operator(caller)?,
        }
        let mut cond = Condition::all();
        if let Some(org) = filter.organization {
            cond = cond.add(audit_event::Column::OrganizationId.eq(org.to_string()));
        }
        if let Some(actor) = &filter.actor {
            cond = cond.add(audit_event::Column::Actor.eq(actor.as_str()));
        }
        if let Some(resource) = &filter.resource {
            cond = if resource.ends_with('/') {
                cond.add(audit_event::Column::Resource.starts_with(resource.as_str()))
            } else {
                cond.add(audit_event::Column::Resource.eq(resource.as_str()))
            };
        }
        if let Some(start) = filter.start {
            cond = cond.add(audit_event::Column::Time.gte(start));
        }
        if let Some(end) = filter.end {
            cond = cond.add(audit_event::Column::Time.lt(end));
        }
        if let Some(after) = &page.after {
            cond = cond.add(audit_event::Column::Id.lt(after.as_str()));
        }
        let rows = audit_event::Entity::find()
            .filter(cond)
            .order_by_desc(audit_event::Column::Id)
            .limit(page.fetch_limit())
            .all(self.db())
            .await?;
        Ok(page.finish(rows, |r| r.id.clone()))
    }
}
