//! Operation storage: the queue and its leases. Claims, renewals and ends
//! are compare-and-set updates on the state and lease id.

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait as _,
};
use uuid::Uuid;

use super::{OpKind, OpState, Operation};
use crate::bundles::Visible;
use crate::entity::{bundle, deployment, operation, revision};
use crate::error::{Error, Result};

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("operations: {what}"))
}

fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| corrupt(format!("bad id {s:?}")))
}

fn to_domain(m: operation::Model) -> Result<Operation> {
    Ok(Operation {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        kind: OpKind::parse(&m.kind).ok_or_else(|| corrupt("kind"))?,
        target: uuid(&m.target_id)?,
        state: OpState::parse(&m.state).ok_or_else(|| corrupt("state"))?,
        progress: m.progress,
        logs_url: m.logs_url,
        error_message: m.error_message,
        cancel_requested: m.cancel_requested,
        attempt: m.attempt,
        lease_id: m.lease_id.as_deref().map(uuid).transpose()?,
        lease_expire_time: m.lease_expire_time,
        lease_seconds: m.lease_seconds,
        create_time: m.create_time,
        update_time: m.update_time,
        end_time: m.end_time,
    })
}

/// Stores a new operation.
pub async fn insert(conn: &impl ConnectionTrait, o: &Operation) -> Result<()> {
    operation::Entity::insert(operation::ActiveModel {
        id: Set(o.id.to_string()),
        organization_id: Set(o.organization.to_string()),
        kind: Set(o.kind.as_str().to_string()),
        target_id: Set(o.target.to_string()),
        state: Set(o.state.as_str().to_string()),
        progress: Set(o.progress),
        logs_url: Set(o.logs_url.clone()),
        error_message: Set(o.error_message.clone()),
        cancel_requested: Set(o.cancel_requested),
        attempt: Set(o.attempt),
        worker: Set(None),
        lease_id: Set(None),
        lease_expire_time: Set(None),
        lease_seconds: Set(0),
        create_time: Set(o.create_time),
        update_time: Set(o.update_time),
        end_time: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// One operation of `org`.
pub async fn operation(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Operation>> {
    operation::Entity::find_by_id(id.to_string())
        .filter(operation::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Which operations of `org` work for bundles `v` lets through: builds of
/// their revisions and deploys of their deployments.
fn visible_operations(org: Uuid, v: &Visible) -> Condition {
    let mut bundles = Condition::any();
    if v.organization {
        bundles = bundles.add(bundle::Column::ProjectId.is_null());
    }
    if !v.projects.is_empty() {
        bundles =
            bundles.add(bundle::Column::ProjectId.is_in(v.projects.iter().map(Uuid::to_string)));
    }
    if !v.organization && v.projects.is_empty() {
        return Condition::all().add(Expr::cust("1 = 0"));
    }
    let bundle_ids = bundle::Entity::find()
        .select_only()
        .column(bundle::Column::Id)
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .filter(bundles)
        .into_query();
    let revision_ids = revision::Entity::find()
        .select_only()
        .column(revision::Column::Id)
        .filter(revision::Column::OrganizationId.eq(org.to_string()))
        .filter(revision::Column::BundleId.in_subquery(bundle_ids))
        .into_query();
    let deployment_ids = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Id)
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .filter(deployment::Column::RevisionId.in_subquery(revision_ids.clone()))
        .into_query();
    Condition::any()
        .add(
            Condition::all()
                .add(operation::Column::Kind.eq(OpKind::Build.as_str()))
                .add(operation::Column::TargetId.in_subquery(revision_ids)),
        )
        .add(
            Condition::all()
                .add(operation::Column::Kind.eq(OpKind::Deploy.as_str()))
                .add(operation::Column::TargetId.in_subquery(deployment_ids)),
        )
}

/// A page of `org`'s operations for bundles `visible` lets through,
/// newest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    visible: &Visible,
    page: &PageRequest,
) -> Result<Vec<Operation>> {
    let mut q = operation::Entity::find()
        .filter(operation::Column::OrganizationId.eq(org.to_string()))
        .filter(visible_operations(org, visible));
    if let Some(after) = &page.after {
        q = q.filter(operation::Column::Id.lt(after.as_str()));
    }
    q.order_by_desc(operation::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// The oldest claimable operation: queued, or running on an expired lease
/// (and not being cancelled).
pub async fn next_claimable(
    conn: &impl ConnectionTrait,
    kinds: &[OpKind],
    now: DateTime<Utc>,
) -> Result<Option<Operation>> {
    let mut q = operation::Entity::find().filter(
        Condition::any()
            .add(operation::Column::State.eq(OpState::Queued.as_str()))
            .add(
                Condition::all()
                    .add(operation::Column::State.eq(OpState::Running.as_str()))
                    .add(operation::Column::LeaseExpireTime.lt(now))
                    .add(operation::Column::CancelRequested.eq(false)),
            ),
    );
    if !kinds.is_empty() {
        q = q.filter(operation::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
    }
    q.order_by_asc(operation::Column::CreateTime)
        .order_by_asc(operation::Column::Id)
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

fn same_lease(lease: Option<Uuid>) -> Condition {
    match lease {
        Some(l) => Condition::all().add(operation::Column::LeaseId.eq(l.to_string())),
        None => Condition::all().add(operation::Column::LeaseId.is_null()),
    }
}

/// Claims `op` if it is still as read (state and lease): true when this
/// claim won.
pub async fn try_claim(
    conn: &impl ConnectionTrait,
    op: &Operation,
    worker: &str,
    lease_id: Uuid,
    expire: DateTime<Utc>,
    lease_seconds: i32,
) -> Result<bool> {
    let done = operation::Entity::update_many()
        .col_expr(
            operation::Column::State,
            Expr::value(OpState::Running.as_str()),
        )
        .col_expr(operation::Column::Worker, Expr::value(worker))
        .col_expr(
            operation::Column::LeaseId,
            Expr::value(lease_id.to_string()),
        )
        .col_expr(operation::Column::LeaseExpireTime, Expr::value(expire))
        .col_expr(operation::Column::LeaseSeconds, Expr::value(lease_seconds))
        .col_expr(
            operation::Column::Attempt,
            Expr::col(operation::Column::Attempt).add(1),
        )
        .col_expr(operation::Column::UpdateTime, Expr::value(Utc::now()))
        .filter(operation::Column::Id.eq(op.id.to_string()))
        .filter(operation::Column::State.eq(op.state.as_str()))
        .filter(same_lease(op.lease_id))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Renews a lease with the worker's progress; false when the lease is no
/// longer the worker's.
pub async fn renew(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lease: Uuid,
    progress: i32,
    logs_url: Option<&str>,
    expire: DateTime<Utc>,
) -> Result<bool> {
    let mut q = operation::Entity::update_many()
        .col_expr(operation::Column::Progress, Expr::value(progress))
        .col_expr(operation::Column::LeaseExpireTime, Expr::value(expire))
        .col_expr(operation::Column::UpdateTime, Expr::value(Utc::now()));
    if let Some(url) = logs_url {
        q = q.col_expr(operation::Column::LogsUrl, Expr::value(url));
    }
    let done = q
        .filter(operation::Column::Id.eq(id.to_string()))
        .filter(operation::Column::State.eq(OpState::Running.as_str()))
        .filter(operation::Column::LeaseId.eq(lease.to_string()))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Ends a running operation held by `lease`; false when it is not.
pub async fn finish(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lease: Uuid,
    state: OpState,
    error: &str,
    logs_url: Option<&str>,
) -> Result<bool> {
    let now = Utc::now();
    let mut q = operation::Entity::update_many()
        .col_expr(operation::Column::State, Expr::value(state.as_str()))
        .col_expr(operation::Column::ErrorMessage, Expr::value(error))
        .col_expr(operation::Column::UpdateTime, Expr::value(now))
        .col_expr(operation::Column::EndTime, Expr::value(Some(now)));
    if state == OpState::Succeeded {
        q = q.col_expr(operation::Column::Progress, Expr::value(100));
    }
    if let Some(url) = logs_url {
        q = q.col_expr(operation::Column::LogsUrl, Expr::value(url));
    }
    let done = q
        .filter(operation::Column::Id.eq(id.to_string()))
        .filter(operation::Column::State.eq(OpState::Running.as_str()))
        .filter(operation::Column::LeaseId.eq(lease.to_string()))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Cancels a queued operation; false when it is no longer queued.
pub async fn cancel_queued(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let now = Utc::now();
    let done = operation::Entity::update_many()
        .col_expr(
            operation::Column::State,
            Expr::value(OpState::Cancelled.as_str()),
        )
        .col_expr(operation::Column::UpdateTime, Expr::value(now))
        .col_expr(operation::Column::EndTime, Expr::value(Some(now)))
        .filter(operation::Column::Id.eq(id.to_string()))
        .filter(operation::Column::State.eq(OpState::Queued.as_str()))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Flags a running operation for cancellation.
pub async fn request_cancel(conn: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    operation::Entity::update_many()
        .col_expr(operation::Column::CancelRequested, Expr::value(true))
        .col_expr(operation::Column::UpdateTime, Expr::value(Utc::now()))
        .filter(operation::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Running operations whose lease expired.
pub async fn expired(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<Operation>> {
    operation::Entity::find()
        .filter(operation::Column::State.eq(OpState::Running.as_str()))
        .filter(operation::Column::LeaseExpireTime.lt(now))
        .limit(500)
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Puts an operation whose lease expired back in the queue; false when
/// its lease changed meanwhile.
pub async fn requeue(conn: &impl ConnectionTrait, id: Uuid, lease: Uuid) -> Result<bool> {
    let done = operation::Entity::update_many()
        .col_expr(
            operation::Column::State,
            Expr::value(OpState::Queued.as_str()),
        )
        .col_expr(
            operation::Column::LeaseId,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            operation::Column::Worker,
            Expr::value(Option::<String>::None),
        )
        .col_expr(operation::Column::UpdateTime, Expr::value(Utc::now()))
        .filter(operation::Column::Id.eq(id.to_string()))
        .filter(operation::Column::State.eq(OpState::Running.as_str()))
        .filter(operation::Column::LeaseId.eq(lease.to_string()))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Deletes every operation of `org`; how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    crate::store::delete_of_organization::<operation::Entity>(
        conn,
        operation::Column::OrganizationId,
        org,
    )
    .await
}

/// Organizations with operations, in id order after `after`, at most
/// `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    crate::store::organizations_of::<operation::Entity>(
        conn,
        operation::Column::OrganizationId,
        after,
        limit,
    )
    .await
}

/// Deletes `org`'s operations working on `targets` (revisions and
/// deployments being purged); how many went.
pub async fn delete_for_targets(
    conn: &impl ConnectionTrait,
    org: Uuid,
    targets: &[Uuid],
) -> Result<u64> {
    let mut n = 0;
    for chunk in targets.chunks(500) {
        n += operation::Entity::delete_many()
            .filter(operation::Column::OrganizationId.eq(org.to_string()))
            .filter(operation::Column::TargetId.is_in(chunk.iter().map(Uuid::to_string)))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(n)
}

/// `org`'s unfinished operations (queued or running, no cancel asked for
/// yet) of bundles `visible` lets through.
pub async fn unfinished(
    conn: &impl ConnectionTrait,
    org: Uuid,
    visible: &Visible,
) -> Result<Vec<Operation>> {
    operation::Entity::find()
        .filter(operation::Column::OrganizationId.eq(org.to_string()))
        .filter(visible_operations(org, visible))
        .filter(
            operation::Column::State.is_in([OpState::Queued.as_str(), OpState::Running.as_str()]),
        )
        .filter(operation::Column::CancelRequested.eq(false))
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
