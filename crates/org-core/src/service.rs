//! [`OrgCore`]: the domain service shared by every gRPC adapter of org-core,
//! and its place in the service kit.

use std::sync::Arc;

use loopback_runtime::db::DatabaseConnection;
use loopback_runtime::tx::{Actor, WriteOptions, WriteTx, Writes};
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::Settings;
use crate::error::Result;
use crate::model::Caller;

/// The service name org-core's audit records carry.
pub const SERVICE: &str = "org-core";

/// org-core's state: its database and write path, settings, and the
/// change-feed signal. Cheap to clone.
#[derive(Clone)]
pub struct OrgCore {
    inner: Arc<Inner>,
}

struct Inner {
    writes: Writes,
    settings: Settings,
    /// Cancelled when the server stops, ending watch streams.
    shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for OrgCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgCore")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl OrgCore {
    /// Builds the service over an already-migrated database and, on
    /// PostgreSQL, starts listening for other replicas' policy changes.
    pub fn open(db: DatabaseConnection, settings: Settings) -> Self {
        let core = Self::new(db, settings);
        core.listen_for_other_replicas();
        core
    }

    /// On PostgreSQL, wakes this replica's watchers when any replica commits
    /// a policy change (LISTEN/NOTIFY; the table stays the truth and
    /// watchers still poll, so a lost notification only delays them).
    fn listen_for_other_replicas(&self) {
        if let Some(pool) = crate::changes::postgres_pool(self.db()) {
            let writes = self.inner.writes.clone();
            tokio::spawn(crate::changes::listen(pool, move || writes.notify()));
        }
    }

    /// Builds the service over an already-migrated database.
    pub fn new(db: DatabaseConnection, settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                writes: Writes::new(db, SERVICE, crate::audit::AuditLog),
                settings,
                shutdown: tokio_util::sync::CancellationToken::new(),
            }),
        }
    }

    /// The database (for reads; writes go through [`OrgCore::begin_write`]).
    pub fn db(&self) -> &DatabaseConnection {
        self.inner.writes.db()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Wakes in-process watchers (after a commit that appended changes,
    /// or when another replica's NOTIFY arrives).
    pub fn notify_changes(&self) {
        self.inner.writes.notify();
    }

    /// Ends every open watch stream (the server is stopping).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Cancelled when [`Self::shutdown`] is called.
    pub fn shutdown_token(&self) -> tokio_util::sync::CancellationToken {
        self.inner.shutdown.clone()
    }

    /// A receiver that changes after every committed write.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.writes.subscribe()
    }

    /// Opens the write transaction of `rpc` on organization `org` (or, for
    /// what has no organization yet, the caller's account): takes the
    /// organization's lock and looks up the request id under it. Every
    /// org-core write goes through here; see `loopback_runtime::tx`.
    pub async fn begin_write(
        &self,
        org: Uuid,
        rpc: &loopback_runtime::authz::Rpc,
        caller: &Caller,
        options: WriteOptions,
    ) -> Result<WriteTx> {
        Ok(self
            .inner
            .writes
            .begin(org, rpc, Actor::Id(caller.audit_id()), options)
            .await?)
    }
}

impl OrgCore {
    /// Opens a write transaction org-core makes by itself (the purge job)
    /// on `org`: the organization's lock, no request id, audited as
    /// [`SYSTEM_ACTOR`].
    pub async fn begin_system_write(
        &self,
        org: Uuid,
        rpc: &loopback_runtime::authz::Rpc,
    ) -> Result<WriteTx> {
        Ok(self
            .inner
            .writes
            .begin(
                org,
                rpc,
                Actor::Id(SYSTEM_ACTOR.into()),
                WriteOptions::plain(),
            )
            .await?)
    }
}

/// Who org-core's own writes (the purge job) are by, in the audit log.
pub const SYSTEM_ACTOR: &str = "service:org-core";

/// Applies org-core's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Ok(crate::migration::migrate(db).await?)
}
