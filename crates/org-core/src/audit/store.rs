//! Audit log storage: the service kit's audit sink for org-core's own
//! writes, appends from other services, and the listing query.

use futures::future::BoxFuture;
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::tx::{AuditRecord, AuditSink};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, TransactionTrait as _, TryInsertResult,
};

use super::{AuditEvent, AuditFilter};
use crate::entity::audit_event;
use crate::error::Result;
use crate::model::parse_stored_uuid;

fn row(r: AuditRecord, actor: String) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(r.id.to_string()),
        time: Set(r.time),
        actor: Set(actor),
        service: Set(r.service),
        method: Set(r.method),
        resource: Set(r.resource),
        organization_id: Set(r.organization.map(|o| o.to_string())),
        reason: Set(r.reason),
        details: Set(r.details.to_string()),
    }
}

/// org-core's audit sink: its writes' records go straight into the log, in
/// the write's own transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditLog;

impl AuditSink for AuditLog {
    fn write<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        records: Vec<AuditRecord>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            let rows = records.into_iter().map(|r| {
                let actor = r.actor.audit_id();
                row(r, actor)
            });
            audit_event::Entity::insert_many(rows)
                .exec_without_returning(txn)
                .await?;
            Ok(())
        })
    }
}

/// Appends records, each with its actor already resolved; a record whose
/// id the log holds is skipped. Returns how many were new.
pub async fn append(
    conn: &impl ConnectionTrait,
    records: Vec<(AuditRecord, String)>,
) -> Result<u64> {
    let mut appended = 0;
    for (record, actor) in records {
        let inserted = audit_event::Entity::insert(row(record, actor))
            .on_conflict_do_nothing()
            .exec_without_returning(conn)
            .await?;
        if let TryInsertResult::Inserted(n) = inserted {
            appended += n;
        }
    }
    Ok(appended)
}

/// [`append`] in a transaction of its own: all records or none.
pub async fn append_atomically(
    db: &DatabaseConnection,
    records: Vec<(AuditRecord, String)>,
) -> Result<u64> {
    let txn = db.begin().await?;
    let appended = append(&txn, records).await?;
    txn.commit().await?;
    Ok(appended)
}

fn to_domain(e: audit_event::Model) -> Result<AuditEvent> {
    let organization = e
        .organization_id
        .map(|o| parse_stored_uuid(&o))
        .transpose()?;
    Ok(AuditEvent {
        id: e.id,
        time: e.time,
        actor: e.actor,
        service: e.service,
        method: e.method,
        resource: e.resource,
        organization,
        reason: e.reason,
        details: e.details,
    })
}

/// A page of events matching `filter`, newest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Vec<AuditEvent>> {
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
    audit_event::Entity::find()
        .filter(cond)
        .order_by_desc(audit_event::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
