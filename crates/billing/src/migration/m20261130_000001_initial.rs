//! Payment methods and usage events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PaymentMethods {
    Table,
    Id,
    OrganizationId,
    Kind,
    SecretKeyId,
    SecretCiphertext,
    CardBrand,
    CardLast4,
    CardExpMonth,
    CardExpYear,
    IbanMasked,
    AccountHolder,
    MandateReference,
    MandateSignatureTime,
    IsDefault,
    CreateTime,
    RequestId,
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    OrganizationId,
    IdempotencyKey,
    ProjectId,
    Meter,
    Quantity,
    EventTime,
    Period,
    RecordTime,
    Reporter,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PaymentMethods::Table)
                .col(string_len(PaymentMethods::Id, 36).primary_key())
                .col(string_len(PaymentMethods::OrganizationId, 36))
                .col(string_len(PaymentMethods::Kind, 16))
                .col(string_len(PaymentMethods::SecretKeyId, 128))
                .col(text(PaymentMethods::SecretCiphertext))
                .col(string_len_null(PaymentMethods::CardBrand, 32))
                .col(string_len_null(PaymentMethods::CardLast4, 4))
                .col(integer_null(PaymentMethods::CardExpMonth))
                .col(integer_null(PaymentMethods::CardExpYear))
                .col(string_len_null(PaymentMethods::IbanMasked, 64))
                .col(string_len_null(PaymentMethods::AccountHolder, 800))
                .col(string_len_null(PaymentMethods::MandateReference, 35))
                .col(timestamp_with_time_zone_null(
                    PaymentMethods::MandateSignatureTime,
                ))
                .col(boolean(PaymentMethods::IsDefault))
                .col(timestamp_with_time_zone(PaymentMethods::CreateTime))
                .col(string_len_null(PaymentMethods::RequestId, 36))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("payment_methods_org_request_id")
                .table(PaymentMethods::Table)
                .col(PaymentMethods::OrganizationId)
                .col(PaymentMethods::RequestId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsageEvents::Table)
                .col(string_len(UsageEvents::OrganizationId, 36))
                .col(string_len(UsageEvents::IdempotencyKey, 128))
                .col(string_len(UsageEvents::ProjectId, 36))
                .col(string_len(UsageEvents::Meter, 64))
                .col(big_integer(UsageEvents::Quantity))
                .col(timestamp_with_time_zone(UsageEvents::EventTime))
                .col(string_len(UsageEvents::Period, 7))
                .col(timestamp_with_time_zone(UsageEvents::RecordTime))
                .col(string_len(UsageEvents::Reporter, 300))
                .primary_key(
                    Index::create()
                        .col(UsageEvents::OrganizationId)
                        .col(UsageEvents::IdempotencyKey),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("usage_events_org_period")
                .table(UsageEvents::Table)
                .col(UsageEvents::OrganizationId)
                .col(UsageEvents::Period)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UsageEvents::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(PaymentMethods::Table).to_owned())
            .await?;
        Ok(())
    }
}
