//! Create retries are now recognised by the service kit's `kit_request_ids`
//! table: copy the request ids payment methods were created with, so a
//! retry that spans the upgrade still finds its payment method.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO kit_request_ids (scope_id, method, request_id, resource, create_time) \
                 SELECT organization_id, 'CreatePaymentMethod', request_id, id, create_time \
                 FROM payment_methods WHERE request_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DELETE FROM kit_request_ids WHERE method = 'CreatePaymentMethod'")
            .await?;
        Ok(())
    }
}
