//! The policy change feed: every policy-relevant write appends a row to
//! `policy_changes` in its own transaction; `WatchOrganizationPolicies`
//! streams them by revision. On SQLite (one process) an in-process signal
//! wakes watchers; other replicas notice by polling.
//!
//! Revisions must become visible in order, or a watcher that has seen
//! revision 11 would never go back for a revision 10 that committed later.
//! PostgreSQL hands out sequence values in order but commits them in any
//! order, so every append first takes a transaction-scoped advisory lock:
//! appends (and so their commits) happen one after another across all
//! replicas. SQLite has a single writer, which gives the same order. Gaps
//! from rolled-back transactions are harmless: readers ask for everything
//! above their revision.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::{policy_change, policy_feed_meta};
use crate::error::Result;

/// Kinds of change on the feed.
pub mod kind {
    /// A new organization.
    pub const CREATED: &str = "created";
    /// Verification status changed.
    pub const VERIFICATION_STATUS: &str = "verification_status";
    /// Lifecycle state changed.
    pub const STATE: &str = "state";
    /// Capability overrides changed.
    pub const CAPABILITIES: &str = "capabilities";
    /// Soft-deleted.
    pub const DELETED: &str = "deleted";
    /// Undeleted.
    pub const UNDELETED: &str = "undeleted";
    /// Memberships or roles changed.
    pub const MEMBERSHIP: &str = "membership";
}

/// Appends a change for `organization` (commit the transaction, then call
/// [`crate::OrgCore::notify_changes`]).
pub async fn append(conn: &impl ConnectionTrait, organization: Uuid, kind: &str) -> Result<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        // Held until commit or rollback; see the module docs.
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({FEED_LOCK})"))
            .await?;
        // Delivered to every replica's listener when (and only if) this
        // transaction commits.
        conn.execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    policy_change::Entity::insert(policy_change::ActiveModel {
        organization_id: Set(organization.to_string()),
        kind: Set(kind.to_string()),
        change_time: Set(Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// PostgreSQL channel that wakes every replica's watchers after a commit.
pub const NOTIFY_CHANNEL: &str = "loopback_policy_changes";

/// Advisory lock key serialising feed appends on PostgreSQL.
const FEED_LOCK: i64 = 0x6c6f_6f70_6665_6564; // "loopfeed"

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
/// and raises the compaction watermark. Returns how many were removed.
pub async fn compact(conn: &impl ConnectionTrait, before: chrono::DateTime<Utc>) -> Result<u64> {
    let newest = latest(conn).await?;
    let Some(last_old) = policy_change::Entity::find()
        .filter(policy_change::Column::ChangeTime.lt(before))
        .filter(policy_change::Column::Revision.lt(newest))
        .order_by_desc(policy_change::Column::Revision)
        .one(conn)
        .await?
    else {
        return Ok(0);
    };
    // Raise the watermark first: a watcher starting in between gets a
    // resync rather than a silent gap.
    policy_feed_meta::Entity::update_many()
        .col_expr(
            policy_feed_meta::Column::CompactedThrough,
            Expr::value(last_old.revision),
        )
        .filter(policy_feed_meta::Column::Id.eq(1))
        .filter(policy_feed_meta::Column::CompactedThrough.lt(last_old.revision))
        .exec(conn)
        .await?;
    let deleted = policy_change::Entity::delete_many()
        .filter(policy_change::Column::Revision.lte(last_old.revision))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}

/// Changes after `revision`, oldest first, at most `limit`.
pub async fn after(
    conn: &impl ConnectionTrait,
    revision: i64,
    limit: u64,
) -> Result<Vec<policy_change::Model>> {
    Ok(policy_change::Entity::find()
        .filter(policy_change::Column::Revision.gt(revision))
        .order_by_asc(policy_change::Column::Revision)
        .limit(limit)
        .all(conn)
        .await?)
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
