//! The integrations service's schema migrations. New changes are new files.

use sea_orm_migration::prelude::*;

mod m20261202_000001_initial;

/// Applies the integrations service's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            // The service kit's tables (locks, request ids, audit outbox).
            Box::new(loopback_runtime::tx::migration::Migration),
            Box::new(m20261202_000001_initial::Migration),
        ]
    }

    fn migration_table_name() -> sea_orm::DynIden {
        "integrations_migrations".into_iden()
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
