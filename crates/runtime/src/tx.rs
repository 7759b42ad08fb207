//! The one write path every service uses: [`Writes::begin`] opens a
//! transaction that
//!
//! 1. first takes the per-organization lock (a row in `kit_org_locks`,
//!    upserted: a row lock on PostgreSQL, the write lock on SQLite), so
//!    every write to one organization — and every limit check in it — runs
//!    one after another on any number of replicas;
//! 2. under that lock looks up the request's `request_id`, so a retried
//!    create finds what the first attempt made ([`WriteTx::replayed`]);
//! 3. collects audit records ([`WriteTx::audit`]) and hands them to the
//!    service's [`AuditSink`] inside the same transaction, so a change and
//!    its audit record commit together or not at all;
//! 4. commits — or, for `validate_only`, rolls everything back, so a
//!    validate-only request runs every real check and writes nothing.
//!
//! org-core's sink writes its audit log directly; every other service's
//! sink is the [`outbox`](crate::outbox), relayed to org-core's log.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ConnectionTrait as _, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait as _,
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz::Rpc;

/// What a write request says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// The caller's idempotency key (a canonical UUID), if any.
    pub request_id: Option<String>,
    /// Run every check, write nothing.
    pub validate_only: bool,
}

impl WriteOptions {
    /// A write with neither a request id nor validate-only.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Only `validate_only`.
    pub fn validate_only(validate_only: bool) -> Self {
        Self {
            request_id: None,
            validate_only,
        }
    }
}

/// Who made a change, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Already in the log's spelling (`account:{uuid}`, `operator:{sub}`).
    Id(String),
    /// A principal the log's owner resolves (accounts to their account id).
    Principal(Principal),
}

impl Actor {
    /// The principal's audit id (`kind:subject`), or the id itself.
    pub fn audit_id(&self) -> String {
        match self {
            Actor::Id(id) => id.clone(),
            Actor::Principal(p) => p.audit_id(),
        }
    }
}

/// One audited change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// UUIDv7; the log keeps one record per id, so redelivery is harmless.
    pub id: Uuid,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The service that made the change (`billing`).
    pub service: String,
    /// The RPC (`CreatePaymentMethod`).
    pub method: String,
    /// The resource changed.
    pub resource: String,
    /// Its organization, if any.
    pub organization: Option<Uuid>,
    /// Who.
    pub actor: Actor,
    /// Why (operator verbs require one; empty otherwise).
    pub reason: String,
    /// What changed (never a secret).
    pub details: serde_json::Value,
}

/// Where a service's audit records go, inside the write transaction.
pub trait AuditSink: Send + Sync + 'static {
    /// Writes `records` as part of `txn`.
    fn write<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        records: Vec<AuditRecord>,
    ) -> BoxFuture<'a, Result<(), DbErr>>;
}

const LOCKS: &str = "kit_org_locks";
const REQUEST_IDS: &str = "kit_request_ids";

/// A service's write path: its database, where its audit records go, and a
/// signal raised after every commit (watchers and the outbox relay wait
/// on it). Cheap to clone.
#[derive(Clone)]
pub struct Writes {
    inner: Arc<WritesInner>,
}

struct WritesInner {
    db: DatabaseConnection,
    service: &'static str,
    sink: Box<dyn AuditSink>,
    committed: watch::Sender<u64>,
}

impl fmt::Debug for Writes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writes")
            .field("service", &self.inner.service)
            .finish()
    }
}

impl Writes {
    /// The write path of `service` over `db`, auditing into `sink`.
    pub fn new(db: DatabaseConnection, service: &'static str, sink: impl AuditSink) -> Self {
        let (committed, _) = watch::channel(0);
        Self {
            inner: Arc::new(WritesInner {
                db,
                service,
                sink: Box::new(sink),
                committed,
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// Changes after every commit of a write transaction.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.committed.subscribe()
    }

    /// Raises the commit signal (for writes made outside [`WriteTx`]).
    pub fn notify(&self) {
        self.inner.committed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A plain transaction, without the organization lock, request id or
    /// audit: for high-volume writes that are idempotent by their own key
    /// (usage events) and take whatever narrower lock they need.
    pub async fn unlocked(&self) -> Result<DatabaseTransaction, DbErr> {
        self.inner.db.begin().await
    }

    /// Opens a write transaction for `rpc` by `actor` on `scope` (the
    /// organization; an account for what has no organization yet): takes
    /// the scope's lock, then looks up `options.request_id` under it.
    pub async fn begin(
        &self,
        scope: Uuid,
        rpc: &Rpc,
        actor: Actor,
        options: WriteOptions,
    ) -> Result<WriteTx, DbErr> {
        let txn = self.inner.db.begin().await?;
        lock(&txn, scope).await?;
        let replayed = match &options.request_id {
            Some(rid) => find_request(&txn, scope, rpc.method, rid).await?,
            None => None,
        };
        Ok(WriteTx {
            txn,
            writes: self.clone(),
            scope,
            rpc: *rpc,
            actor,
            options,
            replayed,
            created: None,
            audit: Vec::new(),
        })
    }
}

/// An open write transaction; see the module docs. Dropping it without
/// [`WriteTx::commit`] rolls everything back.
pub struct WriteTx {
    txn: DatabaseTransaction,
    writes: Writes,
    scope: Uuid,
    rpc: Rpc,
    actor: Actor,
    options: WriteOptions,
    replayed: Option<String>,
    created: Option<String>,
    audit: Vec<AuditRecord>,
}

impl fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteTx")
            .field("scope", &self.scope)
            .field("method", &self.rpc.method)
            .field("options", &self.options)
            .finish()
    }
}

impl WriteTx {
    /// The transaction, for the service's store.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The id a previous attempt with the same `request_id` recorded with
    /// [`WriteTx::created`], if any: the caller returns that resource.
    pub fn replayed(&self) -> Option<&str> {
        self.replayed.as_deref()
    }

    /// [`WriteTx::replayed`] parsed as a UUID (`None` also when the stored
    /// id is not one, which only a manual edit could cause).
    pub fn replayed_id(&self) -> Option<Uuid> {
        self.replayed
            .as_deref()
            .and_then(|s| Uuid::parse_str(s).ok())
    }

    /// Records the id of what this request created, for retries with the
    /// same `request_id`.
    pub fn created(&mut self, id: impl ToString) {
        self.created = Some(id.to_string());
    }

    /// Whether this is a validate-only request.
    pub fn validate_only(&self) -> bool {
        self.options.validate_only
    }

    /// Audits a change of `resource` by this request's method.
    pub fn audit(&mut self, resource: impl Into<String>, details: serde_json::Value) {
        self.audit_as(self.rpc.method, resource, "", details);
    }

    /// Audits a change with the reason the caller gave.
    pub fn audit_with_reason(
        &mut self,
        resource: impl Into<String>,
        reason: &str,
        details: serde_json::Value,
    ) {
        self.audit_as(self.rpc.method, resource, reason, details);
    }

    /// Audits a change under another method name (a change this request
    /// caused as a side effect, e.g. `SpendingLimitReached`).
    pub fn audit_as(
        &mut self,
        method: &str,
        resource: impl Into<String>,
        reason: &str,
        details: serde_json::Value,
    ) {
        self.audit.push(AuditRecord {
            id: Uuid::now_v7(),
            time: Utc::now(),
            service: self.writes.inner.service.to_string(),
            method: method.to_string(),
            resource: resource.into(),
            organization: Some(self.scope),
            actor: self.actor.clone(),
            reason: reason.to_string(),
            details,
        });
    }

    /// Audits a change outside any organization (`organization` cleared).
    pub fn audit_unscoped(&mut self, resource: impl Into<String>, details: serde_json::Value) {
        self.audit(resource, details);
        if let Some(last) = self.audit.last_mut() {
            last.organization = None;
        }
    }

    /// Forgets everything the kit keeps for this transaction's scope, for a
    /// purge: its lock row and its request ids, plus the request ids that
    /// name the scope as what they created (an organization's
    /// `CreateOrganization`, recorded under its creator's account). The lock
    /// stays held until commit; a writer waiting on it then finds no row
    /// and takes a fresh one. Returns how many rows went.
    pub async fn forget_scope(&self) -> Result<u64, DbErr> {
        let scope = self.scope.to_string();
        let locks = Query::delete()
            .from_table(Alias::new(LOCKS))
            .and_where(Expr::col(Alias::new("scope_id")).eq(scope.as_str()))
            .to_owned();
        let ids = Query::delete()
            .from_table(Alias::new(REQUEST_IDS))
            .cond_where(
                Expr::col(Alias::new("scope_id"))
                    .eq(scope.as_str())
                    .or(Expr::col(Alias::new("resource")).eq(scope.as_str())),
            )
            .to_owned();
        let locks = self.txn.execute(&locks).await?.rows_affected();
        Ok(locks + self.txn.execute(&ids).await?.rows_affected())
    }

    /// Forgets the request ids (of any scope) that recorded `resource` as
    /// what they created: the resource is being purged, so a retry must
    /// not be answered with it. Returns how many went.
    pub async fn forget_created(&self, resource: &str) -> Result<u64, DbErr> {
        let stmt = Query::delete()
            .from_table(Alias::new(REQUEST_IDS))
            .and_where(Expr::col(Alias::new("resource")).eq(resource))
            .to_owned();
        Ok(self.txn.execute(&stmt).await?.rows_affected())
    }

    /// Writes the request id and audit records and commits; for
    /// `validate_only` rolls everything back instead. Raises the commit
    /// signal after a commit.
    pub async fn commit(self) -> Result<(), DbErr> {
        if self.options.validate_only {
            return self.txn.rollback().await;
        }
        if let (Some(rid), Some(created)) = (&self.options.request_id, &self.created) {
            remember_request(&self.txn, self.scope, self.rpc.method, rid, created).await?;
        }
        if !self.audit.is_empty() {
            self.writes.inner.sink.write(&self.txn, self.audit).await?;
        }
        self.txn.commit().await?;
        self.writes.notify();
        Ok(())
    }
}

/// Takes `scope`'s lock inside `conn` (held until commit or rollback).
async fn lock(conn: &DatabaseTransaction, scope: Uuid) -> Result<(), DbErr> {
    let seq = Alias::new("seq");
    let stmt = Query::insert()
        .into_table(Alias::new(LOCKS))
        .columns([Alias::new("scope_id"), seq.clone()])
        .values_panic([scope.to_string().into(), 0_i64.into()])
        .on_conflict(
            OnConflict::column(Alias::new("scope_id"))
                .value(seq.clone(), Expr::col((Alias::new(LOCKS), seq)).add(1))
                .to_owned(),
        )
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(())
}

async fn find_request(
    conn: &DatabaseTransaction,
    scope: Uuid,
    method: &str,
    request_id: &str,
) -> Result<Option<String>, DbErr> {
    let stmt = Query::select()
        .column(Alias::new("resource"))
        .from(Alias::new(REQUEST_IDS))
        .and_where(Expr::col(Alias::new("scope_id")).eq(scope.to_string()))
        .and_where(Expr::col(Alias::new("method")).eq(method))
        .and_where(Expr::col(Alias::new("request_id")).eq(request_id))
        .to_owned();
    match conn.query_one(&stmt).await? {
        Some(row) => Ok(Some(row.try_get::<String>("", "resource")?)),
        None => Ok(None),
    }
}

async fn remember_request(
    conn: &DatabaseTransaction,
    scope: Uuid,
    method: &str,
    request_id: &str,
    resource: &str,
) -> Result<(), DbErr> {
    let stmt = Query::insert()
        .into_table(Alias::new(REQUEST_IDS))
        .columns([
            Alias::new("scope_id"),
            Alias::new("method"),
            Alias::new("request_id"),
            Alias::new("resource"),
            Alias::new("create_time"),
        ])
        .values_panic([
            scope.to_string().into(),
            method.into(),
            request_id.into(),
            resource.into(),
            Utc::now().into(),
        ])
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(())
}

/// The kit's tables, created by every service's migrator: the lock rows,
/// the request ids, and the audit outbox.
pub mod migration {
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::schema::*;

    /// Creates `kit_org_locks`, `kit_request_ids` and `kit_audit_outbox`.
    /// Every service's migrator lists it once, before its own migrations
    /// that rely on the kit.
    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20261201_000001_service_kit"
        }
    }

    #[derive(DeriveIden)]
    enum KitOrgLocks {
        Table,
        ScopeId,
        Seq,
    }

    #[derive(DeriveIden)]
    enum KitRequestIds {
        Table,
        ScopeId,
        Method,
        RequestId,
        Resource,
        CreateTime,
    }

    #[derive(DeriveIden)]
    enum KitAuditOutbox {
        Table,
        Id,
        EventTime,
        Service,
        Method,
        Resource,
        OrganizationId,
        ActorKind,
        ActorSubject,
        ActorEmail,
        Reason,
        Details,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table(KitOrgLocks::Table)
                    .col(string_len(KitOrgLocks::ScopeId, 36).primary_key())
                    .col(big_integer(KitOrgLocks::Seq))
                    .to_owned(),
            )
            .await?;
            m.create_table(
                Table::create()
                    .table(KitRequestIds::Table)
                    .col(string_len(KitRequestIds::ScopeId, 36))
                    .col(string_len(KitRequestIds::Method, 64))
                    .col(string_len(KitRequestIds::RequestId, 36))
                    .col(string_len(KitRequestIds::Resource, 255))
                    .col(timestamp_with_time_zone(KitRequestIds::CreateTime))
                    .primary_key(
                        Index::create()
                            .col(KitRequestIds::ScopeId)
                            .col(KitRequestIds::Method)
                            .col(KitRequestIds::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
            m.create_table(
                Table::create()
                    .table(KitAuditOutbox::Table)
                    .col(string_len(KitAuditOutbox::Id, 36).primary_key())
                    .col(timestamp_with_time_zone(KitAuditOutbox::EventTime))
                    .col(string_len(KitAuditOutbox::Service, 64))
                    .col(string_len(KitAuditOutbox::Method, 64))
                    .col(text(KitAuditOutbox::Resource))
                    .col(string_len_null(KitAuditOutbox::OrganizationId, 36))
                    .col(string_len(KitAuditOutbox::ActorKind, 16))
                    .col(text(KitAuditOutbox::ActorSubject))
                    .col(text_null(KitAuditOutbox::ActorEmail))
                    .col(text(KitAuditOutbox::Reason))
                    .col(text(KitAuditOutbox::Details))
                    .to_owned(),
            )
            .await?;
            Ok(())
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                KitAuditOutbox::Table.into_iden(),
                KitRequestIds::Table.into_iden(),
                KitOrgLocks::Table.into_iden(),
            ] {
                m.drop_table(Table::drop().table(table).to_owned()).await?;
            }
            Ok(())
        }
    }
}
