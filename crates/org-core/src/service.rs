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
    /// Runs pending migrations, then builds the service.
    pub async fn open(db: DatabaseConnection, settings: Settings) -> Result<Self> {
        migrate(&db).await?;
        let core = Self::new(db, settings);
        core.listen_for_other_replicas();
        Ok(core)
    }

    /// On PostgreSQL, wakes this replica's watchers when any replica commits
    /// a policy change (LISTEN/NOTIFY; the table stays the truth and
    /// watchers still poll, so a lost notification only delays them).
    fn listen_for_other_replicas(&self) {
        if self.db().get_database_backend() != sea_orm::DbBackend::Postgres {
            return;
        }
        let pool = self.db().get_postgres_connection_pool().clone();
        let changes = self.inner.changes.clone();
        tokio::spawn(async move {
            loop {
                match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(crate::changes::NOTIFY_CHANNEL).await
                    {
                        // recv reconnects by itself; it errs only when the pool is closed.
                        Ok(()) => {
                            while listener.recv().await.is_ok() {
                                changes.send_modify(|n| *n = n.wrapping_add(1));
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
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }

    /// Builds the service over an already-migrated database.
    pub fn new(db: DatabaseConnection, settings: Settings) -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                db,
                settings,
                changes,
                shutdown: tokio_util::sync::CancellationToken::new(),
            }),
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

    /// Ends every open watch stream (the server is stopping).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Cancelled when [`Self::shutdown`] is called.
    pub fn shutdown_token(&self) -> tokio_util::sync::CancellationToken {
        self.inner.shutdown.clone()
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

    /// Opens a write transaction that first takes `org`'s row lock, so
    /// every write to one organization runs one after another (a row lock
    /// on PostgreSQL; on SQLite the first statement takes the write lock, so
    /// no transaction has to upgrade a read lock and fail with BUSY).
    /// NOT_FOUND when the organization does not exist.
    pub(crate) async fn begin_locked(&self, org: uuid::Uuid) -> Result<DatabaseTransaction> {
        let txn = self.begin().await?;
        if !crate::organizations::store::lock(&txn, org).await? {
            return Err(crate::error::Error::NotFound(
                crate::model::organization_name(org),
            ));
        }
        Ok(txn)
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
