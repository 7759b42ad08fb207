//! The outbox of spending alerts: one row per (organization, period,
//! threshold) written with the alert, until the integrations service has
//! accepted the notification.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SpendingAlertOutbox {
    Table,
    OrganizationId,
    Period,
    ThresholdPercent,
    SpendMinor,
    LimitMinor,
    Currency,
    AlertTime,
    Attempts,
    NextAttemptTime,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SpendingAlertOutbox::Table)
                .col(string_len(SpendingAlertOutbox::OrganizationId, 36))
                .col(string_len(SpendingAlertOutbox::Period, 7))
                .col(integer(SpendingAlertOutbox::ThresholdPercent))
                .col(big_integer(SpendingAlertOutbox::SpendMinor))
                .col(big_integer(SpendingAlertOutbox::LimitMinor))
                .col(string_len(SpendingAlertOutbox::Currency, 3))
                .col(timestamp_with_time_zone(SpendingAlertOutbox::AlertTime))
                .col(integer(SpendingAlertOutbox::Attempts))
                .col(timestamp_with_time_zone(
                    SpendingAlertOutbox::NextAttemptTime,
                ))
                .col(text(SpendingAlertOutbox::LastError))
                .primary_key(
                    Index::create()
                        .col(SpendingAlertOutbox::OrganizationId)
                        .col(SpendingAlertOutbox::Period)
                        .col(SpendingAlertOutbox::ThresholdPercent),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SpendingAlertOutbox::Table).to_owned())
            .await
    }
}
