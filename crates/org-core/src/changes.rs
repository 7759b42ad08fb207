//! The policy change feed: every policy-relevant write appends a row to
//! `policy_changes` in its own transaction; `WatchOrganizationPolicies`
//! streams them by revision. On SQLite (one process) an in-process signal
//! wakes watchers; other replicas notice by polling.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::entity::policy_change;
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

/// Changes after `revision`, oldest first, at most `limit`.
pub async fn after(conn: &impl ConnectionTrait, revision: i64, limit: u64) -> Result<Vec<policy_change::Model>> {
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
