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
pub async fn record(conn: &impl ConnectionTrait, caller: &Caller, record: AuditRecord<'_>) -> Result<()> {
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
