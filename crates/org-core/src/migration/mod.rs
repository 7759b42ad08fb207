//! org-core's schema migrations, run at start-up and by `migrate`. A shipped
//! migration is never edited; changes are new migrations.

use sea_orm_migration::prelude::*;

mod m20261130_000001_initial;
mod m20261130_000002_people_and_access;
mod m20261130_000003_quotas_and_feed;
mod m20261201_000004_kit_request_ids;
mod m20261201_000005_project_bindings;
pub mod m20261201_000006_plans;
mod m20261201_000007_onboarding;

/// Applies org-core's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_initial::Migration),
            Box::new(m20261130_000002_people_and_access::Migration),
            Box::new(m20261130_000003_quotas_and_feed::Migration),
            // The service kit's tables (locks, request ids, audit outbox).
            Box::new(loopback_runtime::tx::migration::Migration),
            Box::new(m20261201_000004_kit_request_ids::Migration),
            Box::new(m20261201_000005_project_bindings::Migration),
            Box::new(m20261201_000006_plans::Migration),
            Box::new(m20261201_000007_onboarding::Migration),
        ]
    }

    fn migration_table_name() -> sea_orm::DynIden {
        "orgcore_migrations".into_iden()
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
