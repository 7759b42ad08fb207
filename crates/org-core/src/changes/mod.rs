//! The policy change feed: every policy-relevant write appends a change in
//! its own transaction; `WatchOrganizationPolicies` streams them by
//! revision. On SQLite (one process) the write path's commit signal wakes
//! watchers; on PostgreSQL every replica also hears a NOTIFY, and watchers
//! poll besides, so a lost signal only delays them.
//!
//! Revisions must become visible in order, or a watcher that has seen
//! revision 11 would never go back for a revision 10 that committed later;
//! [`store::append`] serialises appends for that. Gaps from rolled-back
//! transactions are harmless: readers ask for everything above their
//! revision.

pub mod store;

pub use store::{listen, postgres_pool};

use chrono::{DateTime, Utc};
use loopback_runtime::db::{Conn, DatabaseConnection};
use uuid::Uuid;

use crate::error::Result;
use crate::service::OrgCore;

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
    /// The organization moved to another plan, or its plan changed.
    pub const PLAN: &str = "plan";
    /// Soft-deleted.
    pub const DELETED: &str = "deleted";
    /// Undeleted.
    pub const UNDELETED: &str = "undeleted";
    /// Memberships, their organization or project roles, or custom roles
    /// changed.
    pub const MEMBERSHIP: &str = "membership";
    /// A project was created (the change names it).
    pub const PROJECT_CREATED: &str = "project_created";
    /// A project was soft-deleted, alone or with its organization.
    pub const PROJECT_DELETED: &str = "project_deleted";
    /// A soft-deleted project was restored, alone or with its organization.
    pub const PROJECT_UNDELETED: &str = "project_undeleted";
    /// A project was purged for good: services drop what they keep for it.
    pub const PROJECT_PURGED: &str = "project_purged";
    /// The organization was purged for good (after one `project_purged`
    /// per project it still had): services drop what they keep for it,
    /// except what law requires them to retain.
    pub const PURGED: &str = "purged";
}

/// One change on the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its revision (increasing, with gaps).
    pub revision: i64,
    /// The organization whose policy changed.
    pub organization: Uuid,
    /// What changed (see [`kind`]).
    pub kind: String,
    /// The project a `project_*` change is about.
    pub project: Option<Uuid>,
    /// When.
    pub change_time: DateTime<Utc>,
}

/// Appends a change for `organization` inside the write transaction
/// `conn`; watchers wake when it commits.
pub async fn append(conn: &impl Conn, organization: Uuid, kind: &str) -> Result<()> {
    store::append(conn, organization, None, kind).await
}

/// Appends a `project_*` change (see [`kind`]) about `project` of
/// `organization` inside the write transaction `conn`.
pub async fn append_project(
    conn: &impl Conn,
    organization: Uuid,
    project: Uuid,
    kind: &str,
) -> Result<()> {
    store::append(conn, organization, Some(project), kind).await
}

/// Appends `project_purged` for `project` of `organization`: call it in the
/// purge's write transaction, after the project's row and bindings went
/// (see `memberships::remove_project_bindings`).
pub async fn project_purged(conn: &impl Conn, organization: Uuid, project: Uuid) -> Result<()> {
    append_project(conn, organization, project, kind::PROJECT_PURGED).await
}

/// Appends `purged` for `organization`: call it in the purge's write
/// transaction, after its data went and [`forget_organization`], and after
/// `project_purged` for each project it still had.
pub async fn purged(conn: &impl Conn, organization: Uuid) -> Result<()> {
    append(conn, organization, kind::PURGED).await
}

/// Deletes the changes of `organization` still on the feed (it is being
/// purged; its `purged` change is appended after this and goes with
/// compaction). Watchers behind them simply do not see them: what they
/// were about is gone, and `purged` says so. Returns how many went.
pub async fn forget_organization(conn: &impl Conn, organization: Uuid) -> Result<u64> {
    store::forget(conn, organization, None).await
}

/// Deletes the changes about `project` of `organization` still on the feed
/// (it is being purged; `project_purged` follows). Returns how many went.
pub async fn forget_project(conn: &impl Conn, organization: Uuid, project: Uuid) -> Result<u64> {
    store::forget(conn, organization, Some(project)).await
}

/// The highest revision committed so far (0 if none).
pub async fn latest(conn: &impl Conn) -> Result<i64> {
    store::latest(conn).await
}

/// Revisions at or below this were compacted away.
pub async fn compacted_through(conn: &impl Conn) -> Result<i64> {
    store::compacted_through(conn).await
}

/// Changes after `revision`, oldest first, at most `limit`.
pub async fn after(conn: &impl Conn, revision: i64, limit: u64) -> Result<Vec<Change>> {
    store::after(conn, revision, limit).await
}

/// What a watcher at some revision reads next (see [`read_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The changes after the watcher's revision, oldest first (complete:
    /// none of them was compacted away).
    Changes(Vec<Change>),
    /// Changes after the watcher's revision were compacted away: it must
    /// resync, and continue from `latest`.
    Compacted {
        /// The feed's latest revision.
        latest: i64,
    },
}

/// Changes after `revision` (at most `limit`), or [`Next::Compacted`] when
/// the watermark has passed `revision`, read from one snapshot: a
/// compaction between the two reads cannot make a watcher skip changes
/// silently.
pub async fn read_after(db: &DatabaseConnection, revision: i64, limit: u64) -> Result<Next> {
    store::read_after(db, revision, limit).await
}

/// The latest revision touching `organization` (0 if none).
pub async fn latest_for(conn: &impl Conn, organization: Uuid) -> Result<i64> {
    store::latest_for(conn, organization).await
}

impl OrgCore {
    /// Deletes policy changes older than `retain` (keeping the newest) so
    /// the feed does not grow forever; watchers older than that resync.
    /// The feed compaction job runs it every `--feed-compaction-interval`
    /// with `--feed-retention`.
    pub async fn compact_changes(&self, retain: chrono::Duration) -> Result<u64> {
        store::compact(self.db(), Utc::now() - retain).await
    }
}
