//! billing's schema migrations.

use sea_orm_migration::prelude::*;

mod m20261130_000001_initial;
mod m20261130_000002_invoices;
mod m20261130_000003_spending;
mod m20261201_000004_request_ids;
mod m20261201_000005_bill_to;
mod m20261202_000010_spending_alert_outbox;

/// Applies billing's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_initial::Migration),
            Box::new(m20261130_000002_invoices::Migration),
            Box::new(m20261130_000003_spending::Migration),
            // The service kit's tables (locks, request ids, audit outbox).
            Box::new(loopback_runtime::tx::migration::Migration),
            Box::new(m20261201_000004_request_ids::Migration),
            Box::new(m20261201_000005_bill_to::Migration),
            Box::new(m20261202_000010_spending_alert_outbox::Migration),
        ]
    }

    fn migration_table_name() -> sea_orm::DynIden {
        "billing_migrations".into_iden()
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
