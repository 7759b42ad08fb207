//! Onboarding and the legal profile: an invoice's bill-to (the
//! organization's legal profile copied when it is finalized, JSON; NULL on
//! drafts and on invoices finalized before), and `onboarding_reports`, the
//! payment-method facts waiting to be reported to org-core's onboarding
//! checklist. Every organization that already has a payment method starts
//! with a pending report, so the fact reaches org-core after the upgrade.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invoices {
    Table,
    BillTo,
}

#[derive(DeriveIden)]
enum OnboardingReports {
    Table,
    OrganizationId,
    Seq,
    ReportedSeq,
    UpdateTime,
}

#[derive(DeriveIden)]
enum PaymentMethods {
    Table,
    OrganizationId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Invoices::Table)
                .add_column(text_null(Invoices::BillTo))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OnboardingReports::Table)
                .col(string_len(OnboardingReports::OrganizationId, 36).primary_key())
                // Bumped by every payment method change of the organization
                // (the revision org-core orders reports by).
                .col(big_integer(OnboardingReports::Seq))
                // The highest seq org-core acknowledged.
                .col(big_integer(OnboardingReports::ReportedSeq))
                .col(timestamp_with_time_zone(OnboardingReports::UpdateTime))
                .to_owned(),
        )
        .await?;
        let existing = Query::select()
            .distinct()
            .column(PaymentMethods::OrganizationId)
            .expr(Expr::val(1_i64))
            .expr(Expr::val(0_i64))
            .expr(Expr::val(chrono::Utc::now()))
            .from(PaymentMethods::Table)
            .to_owned();
        let seed = Query::insert()
            .into_table(OnboardingReports::Table)
            .columns([
                OnboardingReports::OrganizationId,
                OnboardingReports::Seq,
                OnboardingReports::ReportedSeq,
                OnboardingReports::UpdateTime,
            ])
            .select_from(existing)
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        m.get_connection().execute(&seed).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OnboardingReports::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Invoices::Table)
                .drop_column(Invoices::BillTo)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
