//! Spending limits and the alerts they raise (one per threshold and period).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SpendingLimits {
    Table,
    OrganizationId,
    LimitMinor,
    Currency,
    Thresholds,
    Hard,
    UpdateTime,
}

#[derive(DeriveIden)]
enum SpendingAlerts {
    Table,
    OrganizationId,
    Period,
    ThresholdPercent,
    SpendMinor,
    AlertTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SpendingLimits::Table)
                .col(string_len(SpendingLimits::OrganizationId, 36).primary_key())
                .col(big_integer(SpendingLimits::LimitMinor))
                .col(string_len(SpendingLimits::Currency, 3))
                .col(text(SpendingLimits::Thresholds))
                .col(boolean(SpendingLimits::Hard))
                .col(timestamp_with_time_zone(SpendingLimits::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SpendingAlerts::Table)
                .col(string_len(SpendingAlerts::OrganizationId, 36))
                .col(string_len(SpendingAlerts::Period, 7))
                .col(integer(SpendingAlerts::ThresholdPercent))
                .col(big_integer(SpendingAlerts::SpendMinor))
                .col(timestamp_with_time_zone(SpendingAlerts::AlertTime))
                .primary_key(
                    Index::create()
                        .col(SpendingAlerts::OrganizationId)
                        .col(SpendingAlerts::Period)
                        .col(SpendingAlerts::ThresholdPercent),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SpendingAlerts::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SpendingLimits::Table).to_owned())
            .await?;
        Ok(())
    }
}
