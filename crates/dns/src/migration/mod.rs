//! dns's schema migrations. Shipped migrations are never edited: a change
//! is a new file.

use sea_orm_migration::prelude::*;

mod m20261215_000001_initial;
mod m20261220_000002_delegations;

/// Applies dns's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            // The service kit's tables (locks, request ids, audit outbox).
            Box::new(loopback_runtime::tx::migration::Migration),
            Box::new(m20261215_000001_initial::Migration),
            Box::new(m20261220_000002_delegations::Migration),
        ]
    }

    fn migration_table_name() -> sea_orm::DynIden {
        "dns_migrations".into_iden()
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
