//! The audit outbox: how a service other than org-core gets its writes into
//! the organization's one audit log (which org-core owns) without losing
//! any when org-core is down.
//!
//! A write transaction stores its audit records in the service's own
//! `kit_audit_outbox` table ([`Outbox`] is its [`AuditSink`]), so an
//! acknowledged write always has its record. [`relay`] then ships the
//! oldest records to org-core and deletes what org-core accepted. org-core
//! keeps one record per id, so a batch sent twice (a crash between sending
//! and deleting) is still logged once.

use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbErr};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::{Principal, PrincipalKind};
use crate::tx::{Actor, AuditRecord, AuditSink};

const TABLE: &str = "kit_audit_outbox";
const COLUMNS: [&str; 11] = [
    "id",
    "event_time",
    "service",
    "method",
    "resource",
    "organization_id",
    "actor_kind",
    "actor_subject",
    "actor_email",
    "reason",
    "details",
];

/// Stores audit records in the service's outbox table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outbox;

impl AuditSink for Outbox {
    fn write<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        records: Vec<AuditRecord>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            let mut insert = Query::insert()
                .into_table(Alias::new(TABLE))
                .columns(COLUMNS.iter().map(|c| Alias::new(*c)))
                .to_owned();
            for r in records {
                let (kind, subject, email) = match &r.actor {
                    Actor::Principal(p) => (p.kind.as_str(), p.subject.clone(), p.email.clone()),
                    Actor::Id(id) => ("id", id.clone(), None),
                };
                insert.values_panic([
                    r.id.to_string().into(),
                    r.time.into(),
                    r.service.into(),
                    r.method.into(),
                    r.resource.into(),
                    r.organization.map(|o| o.to_string()).into(),
                    kind.into(),
                    subject.into(),
                    email.into(),
                    r.reason.into(),
                    r.details.to_string().into(),
                ]);
            }
            txn.execute(&insert).await?;
            Ok(())
        })
    }
}

/// The oldest `limit` records still waiting for org-core.
pub async fn pending(db: &DatabaseConnection, limit: u64) -> Result<Vec<AuditRecord>, DbErr> {
    let stmt = Query::select()
        .columns(COLUMNS.iter().map(|c| Alias::new(*c)))
        .from(Alias::new(TABLE))
        .order_by(Alias::new("id"), Order::Asc)
        .limit(limit)
        .to_owned();
    let corrupt = |what: &str| DbErr::Custom(format!("audit outbox: bad {what}"));
    let mut out = Vec::new();
    for row in db.query_all(&stmt).await? {
        let id: String = row.try_get("", "id")?;
        let kind: String = row.try_get("", "actor_kind")?;
        let subject: String = row.try_get("", "actor_subject")?;
        let email: Option<String> = row.try_get("", "actor_email")?;
        let actor = match kind.as_str() {
            "id" => Actor::Id(subject),
            kind => Actor::Principal(Principal {
                kind: match kind {
                    "account" => PrincipalKind::Account,
                    "service" => PrincipalKind::Service,
                    "operator" => PrincipalKind::Operator,
                    _ => return Err(corrupt("actor kind")),
                },
                subject,
                email,
                name: None,
            }),
        };
        let organization: Option<String> = row.try_get("", "organization_id")?;
        let details: String = row.try_get("", "details")?;
        out.push(AuditRecord {
            id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
            time: row.try_get("", "event_time")?,
            service: row.try_get("", "service")?,
            method: row.try_get("", "method")?,
            resource: row.try_get("", "resource")?,
            organization: organization
                .map(|o| Uuid::parse_str(&o).map_err(|_| corrupt("organization")))
                .transpose()?,
            actor,
            reason: row.try_get("", "reason")?,
            details: serde_json::from_str(&details).map_err(|_| corrupt("details"))?,
        });
    }
    Ok(out)
}

/// Removes delivered records.
pub async fn delete(db: &DatabaseConnection, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = Query::delete()
        .from_table(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().map(|i| i.to_string())))
        .to_owned();
    db.execute(&stmt).await?;
    Ok(())
}

/// Where the relay delivers: org-core's audit log, through the authority
/// client. Delivery must be idempotent by record id.
pub trait AuditPublisher: Send + Sync + 'static {
    /// Appends `records` to the audit log; an error leaves them queued.
    fn publish<'a>(&'a self, records: &'a [AuditRecord]) -> BoxFuture<'a, Result<(), String>>;
}

/// Records sent per call.
const BATCH: u64 = 100;
/// Poll interval when no commit wakes the relay (records written by
/// another replica, or left over from before a restart).
const POLL: Duration = Duration::from_secs(1);
/// Longest pause after failed deliveries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Ships the outbox of `db` to `publisher` until `shutdown`: at once after
/// each commit (`committed`), otherwise every second; after a failure it
/// backs off (doubling up to 10 s) and tries again, so records written
/// while org-core is down arrive when it returns.
pub async fn relay(
    db: DatabaseConnection,
    publisher: impl AuditPublisher,
    mut committed: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::ZERO;
    loop {
        let outcome = deliver_once(&db, &publisher).await;
        let pause = match outcome {
            Ok(n) if n as u64 == BATCH => Duration::ZERO,
            Ok(_) => {
                backoff = Duration::ZERO;
                POLL
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(200), MAX_BACKOFF);
                tracing::debug!(error = %e, retry_in = ?backoff, "audit outbox delivery failed");
                backoff
            }
        };
        if pause.is_zero() {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = committed.changed(), if backoff.is_zero() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Delivers one batch; returns how many records it delivered.
pub async fn deliver_once(
    db: &DatabaseConnection,
    publisher: &impl AuditPublisher,
) -> Result<usize, String> {
    let records = pending(db, BATCH).await.map_err(|e| e.to_string())?;
    if records.is_empty() {
        return Ok(0);
    }
    publisher.publish(&records).await?;
    let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    delete(db, &ids).await.map_err(|e| e.to_string())?;
    Ok(ids.len())
}
