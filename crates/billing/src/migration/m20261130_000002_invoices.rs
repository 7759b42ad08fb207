//! Invoices, their lines, and the per-organization invoice counter (whose
//! row every invoice write transaction updates first, serialising them per
//! organization, and whose `last_number` makes invoice numbers gap-free).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    OrganizationId,
    Period,
    Status,
    Number,
    Currency,
    Subtotal,
    Tax,
    TaxRateBps,
    Total,
    CreateTime,
    UpdateTime,
    FinalizeTime,
    PaidTime,
    VoidTime,
    UncollectibleTime,
}

#[derive(DeriveIden)]
enum InvoiceLines {
    Table,
    InvoiceId,
    Position,
    Kind,
    ProjectId,
    Meter,
    Description,
    Quantity,
    UnitPrice,
    Amount,
}

#[derive(DeriveIden)]
enum InvoiceCounters {
    Table,
    OrganizationId,
    LastNumber,
    LockSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InvoiceCounters::Table)
                .col(string_len(InvoiceCounters::OrganizationId, 36).primary_key())
                .col(big_integer(InvoiceCounters::LastNumber))
                .col(big_integer(InvoiceCounters::LockSeq))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Invoices::Table)
                .col(string_len(Invoices::Id, 36).primary_key())
                .col(string_len(Invoices::OrganizationId, 36))
                .col(string_len(Invoices::Period, 7))
                .col(string_len(Invoices::Status, 16))
                .col(string_len_null(Invoices::Number, 32))
                .col(string_len(Invoices::Currency, 3))
                .col(big_integer(Invoices::Subtotal))
                .col(big_integer(Invoices::Tax))
                .col(integer(Invoices::TaxRateBps))
                .col(big_integer(Invoices::Total))
                .col(timestamp_with_time_zone(Invoices::CreateTime))
                .col(timestamp_with_time_zone(Invoices::UpdateTime))
                .col(timestamp_with_time_zone_null(Invoices::FinalizeTime))
                .col(timestamp_with_time_zone_null(Invoices::PaidTime))
                .col(timestamp_with_time_zone_null(Invoices::VoidTime))
                .col(timestamp_with_time_zone_null(Invoices::UncollectibleTime))
                .to_owned(),
        )
        .await?;
        // One invoice per organization and period.
        m.create_index(
            Index::create()
                .name("invoices_org_period")
                .table(Invoices::Table)
                .col(Invoices::OrganizationId)
                .col(Invoices::Period)
                .unique()
                .to_owned(),
        )
        .await?;
        // Numbers never repeat within an organization (NULL for drafts).
        m.create_index(
            Index::create()
                .name("invoices_org_number")
                .table(Invoices::Table)
                .col(Invoices::OrganizationId)
                .col(Invoices::Number)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("invoices_org_id")
                .table(Invoices::Table)
                .col(Invoices::OrganizationId)
                .col(Invoices::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InvoiceLines::Table)
                .col(string_len(InvoiceLines::InvoiceId, 36))
                .col(integer(InvoiceLines::Position))
                .col(string_len(InvoiceLines::Kind, 16))
                .col(string_len(InvoiceLines::ProjectId, 36))
                .col(string_len(InvoiceLines::Meter, 64))
                .col(string_len(InvoiceLines::Description, 300))
                .col(big_integer(InvoiceLines::Quantity))
                .col(big_integer(InvoiceLines::UnitPrice))
                .col(big_integer(InvoiceLines::Amount))
                .primary_key(
                    Index::create()
                        .col(InvoiceLines::InvoiceId)
                        .col(InvoiceLines::Position),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("invoice_lines_invoice")
                        .from(InvoiceLines::Table, InvoiceLines::InvoiceId)
                        .to(Invoices::Table, Invoices::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InvoiceLines::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Invoices::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(InvoiceCounters::Table).to_owned())
            .await?;
        Ok(())
    }
}
