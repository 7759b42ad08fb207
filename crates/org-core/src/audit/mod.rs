//! The audit log: every write records who, what, when, from which service
//! and why, in the same transaction as the change. org-core's own writes
//! record through the service kit's write path ([`store::AuditLog`]); the
//! other services send theirs with `AppendAuditEvents`.

pub mod grpc;
pub mod store;

pub use store::AuditLog;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::db::Conn;
use loopback_runtime::pagination::Page;
use loopback_runtime::tx::{Actor, AuditRecord};
use uuid::Uuid;

use crate::access::{Deleted, require_operator};
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::paging::CallerPage;
use crate::rpcs;
use crate::service::OrgCore;

/// Most records one AppendAuditEvents call may carry.
pub const MAX_APPEND: usize = 500;

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id (a UUIDv7, so ids sort by time).
    pub id: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Who (`account:{uuid}`, `operator:{sub}`, `service:{sub}`).
    pub actor: String,
    /// The service that recorded it.
    pub service: String,
    /// The RPC.
    pub method: String,
    /// The resource changed.
    pub resource: String,
    /// Its organization, if any.
    pub organization: Option<Uuid>,
    /// The reason given.
    pub reason: String,
    /// What changed, a JSON object.
    pub details: String,
}

/// What an audit listing is restricted to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// One organization, or every one (operators).
    pub organization: Option<Uuid>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact resource, or a prefix when it ends with `/`.
    pub resource: Option<String>,
    /// At or after.
    pub start: Option<DateTime<Utc>>,
    /// Before.
    pub end: Option<DateTime<Utc>>,
}

/// ListAuditEvents, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAuditEvents {
    /// What to list.
    pub filter: AuditFilter,
    /// Size and position (the token is bound to the caller).
    pub page: CallerPage,
}

/// Who made a change another service reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedActor {
    /// The principal who called that service (accounts are recorded by
    /// their org-core account id).
    Principal(Principal),
    /// Already in the log's spelling.
    Id(String),
}

/// One change another service reports, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedRecord {
    /// The record's id; the log keeps one record per id.
    pub id: Uuid,
    /// When the change happened.
    pub time: DateTime<Utc>,
    /// The RPC that made it.
    pub method: String,
    /// The resource changed.
    pub resource: String,
    /// Its organization, if any.
    pub organization: Option<Uuid>,
    /// Who.
    pub actor: ReportedActor,
    /// Why.
    pub reason: String,
    /// What changed, a JSON object.
    pub details: serde_json::Value,
}

/// AppendAuditEvents, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendAuditEvents {
    /// The records, at most [`MAX_APPEND`].
    pub records: Vec<ReportedRecord>,
}

/// Writes `record` into the log inside `conn`, for the rare write whose
/// event does not belong to the write's scope (a new organization's
/// creation is scoped to its creator's account).
pub async fn record(conn: &impl Conn, record: AuditRecord) -> Result<()> {
    let actor = record.actor.audit_id();
    store::append(conn, vec![(record, actor)]).await?;
    Ok(())
}

impl OrgCore {
    /// Lists audit events, newest first: an organization's for its admins,
    /// any or all for operators (also those of purged organizations).
    pub async fn list_audit_events(
        &self,
        principal: &Principal,
        input: ListAuditEvents,
    ) -> Result<Page<AuditEvent>> {
        let rpc = &rpcs::LIST_AUDIT_EVENTS;
        let caller = self.caller_of(principal, rpc).await?;
        let page = input.page.bind(&caller.page_key())?;
        match input.filter.organization {
            // Operators read any organization's log, a purged one's too:
            // the log outlives what it records.
            Some(_) if caller.is_operator() => {}
            Some(org) => {
                self.authorize(self.db(), &caller, rpc, org, Deleted::ShowToOperators)
                    .await?;
            }
            None => require_operator(&caller)?,
        }
        let rows = store::list(self.db(), &input.filter, &page).await?;
        Ok(page.page(rows, |e| e.id.clone()))
    }

    /// Appends another service's records to the log, idempotently by
    /// record id; returns how many were new. The calling service is
    /// recorded as the events' service.
    pub async fn append_audit_events(
        &self,
        principal: &Principal,
        input: AppendAuditEvents,
    ) -> Result<u64> {
        let caller = self
            .caller_of(principal, &rpcs::APPEND_AUDIT_EVENTS)
            .await?;
        let service = match &caller {
            Caller::Service(p) => p.subject.clone(),
            Caller::Operator(p) => p.audit_id(),
            Caller::Account(_) => return Err(Error::principal_kind("service or operator")),
        };
        // Accounts are named like org-core's own events name them; many
        // records usually share one.
        let mut accounts: HashMap<String, String> = HashMap::new();
        let mut rows = Vec::with_capacity(input.records.len());
        for r in input.records {
            let actor = match r.actor {
                ReportedActor::Id(id) => id,
                ReportedActor::Principal(p) if p.kind == PrincipalKind::Account => {
                    match accounts.get(&p.subject) {
                        Some(id) => id.clone(),
                        None => {
                            let id = format!("account:{}", self.reported_account(&p).await?.id);
                            accounts.insert(p.subject, id.clone());
                            id
                        }
                    }
                }
                ReportedActor::Principal(p) => p.audit_id(),
            };
            let record = AuditRecord {
                id: r.id,
                time: r.time,
                service: service.clone(),
                method: r.method,
                resource: r.resource,
                organization: r.organization,
                actor: Actor::Id(actor.clone()),
                reason: r.reason,
                details: r.details,
            };
            rows.push((record, actor));
        }
        store::append_atomically(self.db(), rows).await
    }
}
