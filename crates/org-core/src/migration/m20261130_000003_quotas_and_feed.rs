//! Quota reservations, usage reports, limit increase requests and the
//! change feed's compaction watermark.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum QuotaReservations {
    Table,
    OrganizationId,
    RequestId,
    LimitKey,
    Amount,
    State,
    CreateTime,
    UpdateTime,
    ExpireTime,
}

#[derive(DeriveIden)]
enum UsageReports {
    Table,
    OrganizationId,
    LimitKey,
    Usage,
    Revision,
    ReportTime,
}

#[derive(DeriveIden)]
enum LimitIncreaseRequests {
    Table,
    Id,
    OrganizationId,
    LimitKey,
    RequestedValue,
    CurrentValue,
    Justification,
    State,
    Requester,
    DecidedBy,
    DecisionReason,
    CreateTime,
    DecideTime,
}

#[derive(DeriveIden)]
enum PolicyFeedMeta {
    Table,
    Id,
    CompactedThrough,
}

fn fk(
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Organizations::Table, Organizations::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(QuotaReservations::Table)
                .col(string_len(QuotaReservations::OrganizationId, 36))
                .col(string_len(QuotaReservations::RequestId, 36))
                .col(string_len(QuotaReservations::LimitKey, 64))
                .col(big_integer(QuotaReservations::Amount))
                .col(string_len(QuotaReservations::State, 16))
                .col(timestamp_with_time_zone(QuotaReservations::CreateTime))
                .col(timestamp_with_time_zone(QuotaReservations::UpdateTime))
                .col(timestamp_with_time_zone(QuotaReservations::ExpireTime))
                .primary_key(
                    Index::create()
                        .col(QuotaReservations::OrganizationId)
                        .col(QuotaReservations::RequestId),
                )
                .foreign_key(&mut fk(
                    QuotaReservations::Table,
                    QuotaReservations::OrganizationId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("quota_reservations_org_limit_state")
                .table(QuotaReservations::Table)
                .col(QuotaReservations::OrganizationId)
                .col(QuotaReservations::LimitKey)
                .col(QuotaReservations::State)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsageReports::Table)
                .col(string_len(UsageReports::OrganizationId, 36))
                .col(string_len(UsageReports::LimitKey, 64))
                .col(big_integer(UsageReports::Usage))
                .col(big_integer(UsageReports::Revision))
                .col(timestamp_with_time_zone(UsageReports::ReportTime))
                .primary_key(
                    Index::create()
                        .col(UsageReports::OrganizationId)
                        .col(UsageReports::LimitKey),
                )
                .foreign_key(&mut fk(UsageReports::Table, UsageReports::OrganizationId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LimitIncreaseRequests::Table)
                .col(string_len(LimitIncreaseRequests::Id, 36).primary_key())
                .col(string_len(LimitIncreaseRequests::OrganizationId, 36))
                .col(string_len(LimitIncreaseRequests::LimitKey, 64))
                .col(big_integer(LimitIncreaseRequests::RequestedValue))
                .col(big_integer(LimitIncreaseRequests::CurrentValue))
                .col(text(LimitIncreaseRequests::Justification))
                .col(string_len(LimitIncreaseRequests::State, 16))
                .col(string_len(LimitIncreaseRequests::Requester, 300))
                .col(string_len_null(LimitIncreaseRequests::DecidedBy, 300))
                .col(text_null(LimitIncreaseRequests::DecisionReason))
                .col(timestamp_with_time_zone(LimitIncreaseRequests::CreateTime))
                .col(timestamp_with_time_zone_null(
                    LimitIncreaseRequests::DecideTime,
                ))
                .foreign_key(&mut fk(
                    LimitIncreaseRequests::Table,
                    LimitIncreaseRequests::OrganizationId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PolicyFeedMeta::Table)
                .col(integer(PolicyFeedMeta::Id).primary_key())
                .col(big_integer(PolicyFeedMeta::CompactedThrough))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(PolicyFeedMeta::Table)
                .columns([PolicyFeedMeta::Id, PolicyFeedMeta::CompactedThrough])
                .values_panic([1.into(), 0i64.into()])
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PolicyFeedMeta::Table.into_iden(),
            LimitIncreaseRequests::Table.into_iden(),
            UsageReports::Table.into_iden(),
            QuotaReservations::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
