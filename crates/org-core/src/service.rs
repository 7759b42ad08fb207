//! [`OrgCore`]: the domain service shared by every gRPC adapter of org-core.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait as _};
use sea_orm_migration::MigratorTrait as _;
use tokio::sync::watch;

use crate::config::Settings;
use crate::error::Result;
use crate::migration::Migrator;

/// org-core's state: its database, settings and the change-feed signal.
/// Cheap to clone.
#[derive(Clone)]
pub struct OrgCore {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    settings: Settings,
    /// Bumped after every commit that appended to the change feed, so
    /// in-process watchers wake at once.
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for OrgCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgCore").field("settings", &self.inner.settings).finish()
    }
}

impl OrgCore {
    /// Runs pending migrations, then builds the service.
    pub async fn open(db: DatabaseConnection, settings: Settings) -> Result<Self> {
        migrate(&db).await?;
        Ok(Self::new(db, settings))
    }

    /// Builds the service over an already-migrated database.
    pub fn new(db: DatabaseConnection, settings: Settings) -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner { db, settings, changes }),
        }
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Wakes in-process watchers after a commit that appended changes.
    pub fn notify_changes(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever [`Self::notify_changes`] is called.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }
}

impl OrgCore {
    /// Opens a transaction.
    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction> {
        Ok(self.db().begin().await?)
    }

    /// Ends a write transaction: with `validate_only` everything it did is
    /// rolled back (so validate-only runs every real check and writes
    /// nothing); otherwise it commits and wakes change-feed watchers.
    pub(crate) async fn finish(&self, txn: DatabaseTransaction, validate_only: bool) -> Result<()> {
        if validate_only {
            txn.rollback().await?;
        } else {
            txn.commit().await?;
            self.notify_changes();
        }
        Ok(())
    }
}

/// Applies org-core's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}
