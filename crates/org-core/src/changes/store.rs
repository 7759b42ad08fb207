//! Change feed storage, and the PostgreSQL LISTEN loop that wakes this
//! replica's watchers when another replica commits a change.
//!
//! PostgreSQL hands out sequence values in order but commits them in any
//! order, so every append first takes a transaction-scoped advisory lock:
//! appends (and so their commits) happen one after another across all
//! replicas. SQLite has a single writer, which gives the same order.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{
    AccessMode, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait as _,
};
use uuid::Uuid;

use super::{Change, Next};
use crate::entity::{policy_change, policy_feed_meta};
use crate::error::Result;
use crate::model::parse_stored_uuid;

/// PostgreSQL channel that wakes every replica's watchers after a commit.
pub const NOTIFY_CHANNEL: &str = "loopback_policy_changes";

/// Advisory lock key serialising feed appends on PostgreSQL.
const FEED_LOCK: i64 = 0x6c6f_6f70_6665_6564; // "loopfeed"

fn to_domain(m: policy_change::Model) -> Result<Change> {
    Ok(Change {
        revision: m.revision,
        organization: parse_stored_uuid(&m.organization_id)?,
        kind: m.kind,
        project: m.project_id.as_deref().map(parse_stored_uuid).transpose()?,
        change_time: m.change_time,
    })
}

/// Takes the feed's lock on PostgreSQL (held until commit or rollback; see
/// the module docs). SQLite's one writer needs none.
async fn lock_feed(conn: &impl ConnectionTrait) -> Result<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({FEED_LOCK})"))
            .await?;
    }
    Ok(())
}

/// Appends a change for `organization` (about `project`, if given).
pub async fn append(
    conn: &impl ConnectionTrait,
    organization: Uuid,
    project: Option<Uuid>,
    kind: &str,
) -> Result<()> {
    lock_feed(conn).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // Delivered to every replica's listener when (and only if) this
        // transaction commits.
        conn.execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    policy_change::Entity::insert(policy_change::ActiveModel {
        organization_id: Set(organization.to_string()),
        kind: Set(kind.to_string()),
        change_time: Set(Utc::now()),
        project_id: Set(project.map(|p| p.to_string())),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The highest revision committed so far (0 if none).
pub async fn latest(conn: &impl ConnectionTrait) -> Result<i64> {
    Ok(policy_change::Entity::find()
        .order_by_desc(policy_change::Column::Revision)
        .one(conn)
        .await?
        .map_or(0, |c| c.revision))
}

/// Revisions at or below this were compacted away.
pub async fn compacted_through(conn: &impl ConnectionTrait) -> Result<i64> {
    Ok(policy_feed_meta::Entity::find_by_id(1)
        .one(conn)
        .await?
        .map_or(0, |m| m.compacted_through))
}

/// Deletes changes older than `before`, keeping at least the newest one,
/// and raises the compaction watermark, in one transaction under the
/// feed's lock (so no append is in flight, and a watcher reading one
/// snapshot sees both or neither). Returns how many were removed.
pub async fn compact(db: &DatabaseConnection, before: chrono::DateTime<Utc>) -> Result<u64> {
    let txn = db.begin().await?;
    lock_feed(&txn).await?;
    let newest = latest(&txn).await?;
    let Some(last_old) = policy_change::Entity::find()
        .filter(policy_change::Column::ChangeTime.lt(before))
        .filter(policy_change::Column::Revision.lt(newest))
        .order_by_desc(policy_change::Column::Revision)
        .one(&txn)
        .await?
    else {
        return Ok(0);
    };
    policy_feed_meta::Entity::update_many()
        .col_expr(
            policy_feed_meta::Column::CompactedThrough,
            Expr::value(last_old.revision),
        )
        .filter(policy_feed_meta::Column::Id.eq(1))
        .filter(policy_feed_meta::Column::CompactedThrough.lt(last_old.revision))
        .exec(&txn)
        .await?;
    let deleted = policy_change::Entity::delete_many()
        .filter(policy_change::Column::Revision.lte(last_old.revision))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected)
}

/// Deletes the changes of `organization` (only those about `project`, if
/// given), under the feed's lock. Returns how many went.
pub async fn forget(
    conn: &impl ConnectionTrait,
    organization: Uuid,
    project: Option<Uuid>,
) -> Result<u64> {
    lock_feed(conn).await?;
    let mut delete = policy_change::Entity::delete_many()
        .filter(policy_change::Column::OrganizationId.eq(organization.to_string()));
    if let Some(project) = project {
        delete = delete.filter(policy_change::Column::ProjectId.eq(project.to_string()));
    }
    Ok(delete.exec(conn).await?.rows_affected)
}

/// See [`super::read_after`]: on PostgreSQL a read-only REPEATABLE READ
/// transaction; on SQLite (WAL) a transaction's reads share one snapshot
/// from its first read on.
pub async fn read_after(db: &DatabaseConnection, revision: i64, limit: u64) -> Result<Next> {
    let txn = if db.get_database_backend() == DbBackend::Postgres {
        db.begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?
    } else {
        db.begin().await?
    };
    let next = if revision < compacted_through(&txn).await? {
        Next::Compacted {
            latest: latest(&txn).await?,
        }
    } else {
        Next::Changes(after(&txn, revision, limit).await?)
    };
    txn.commit().await?;
    Ok(next)
}

/// Changes after `revision`, oldest first, at most `limit`.
pub async fn after(conn: &impl ConnectionTrait, revision: i64, limit: u64) -> Result<Vec<Change>> {
    policy_change::Entity::find()
        .filter(policy_change::Column::Revision.gt(revision))
        .order_by_asc(policy_change::Column::Revision)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// The latest revision touching `organization` (0 if none).
pub async fn latest_for(conn: &impl ConnectionTrait, organization: Uuid) -> Result<i64> {
    Ok(policy_change::Entity::find()
        .filter(policy_change::Column::OrganizationId.eq(organization.to_string()))
        .order_by_desc(policy_change::Column::Revision)
        .one(conn)
        .await?
        .map_or(0, |c| c.revision))
}

/// The PostgreSQL pool behind `db`, or `None` on SQLite (one process: the
/// in-process commit signal is enough).
pub fn postgres_pool(db: &DatabaseConnection) -> Option<PgPool> {
    (db.get_database_backend() == DbBackend::Postgres)
        .then(|| db.get_postgres_connection_pool().clone())
}

/// Calls `notify` whenever any replica commits a change (LISTEN on
/// [`NOTIFY_CHANNEL`]), reconnecting after failures, until the pool closes.
pub async fn listen(pool: PgPool, notify: impl Fn() + Send + 'static) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                // recv reconnects by itself; it errs only when the pool is closed.
                Ok(()) => {
                    while listener.recv().await.is_ok() {
                        notify();
                    }
                    if pool.is_closed() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN failed; retrying"),
            },
            Err(_) if pool.is_closed() => return,
            Err(e) => {
                tracing::warn!(error = %e, "policy change listener cannot connect; retrying")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
