//! Onboarding: each organization's legal profile, the checklist facts other
//! services report (billing's `payment_method`), and submissions for
//! verification (the operators' review queue). New tables only: the
//! `organizations` table is not altered.

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
enum OrganizationProfiles {
    Table,
    OrganizationId,
    LegalName,
    AddressLines,
    City,
    PostalCode,
    Region,
    Country,
    TaxId,
    BillingEmail,
    Version,
    UpdateTime,
}

#[derive(DeriveIden)]
enum OnboardingItems {
    Table,
    OrganizationId,
    Item,
    Complete,
    Revision,
    Reporter,
    UpdateTime,
}

#[derive(DeriveIden)]
enum OnboardingSubmissions {
    Table,
    OrganizationId,
    SubmissionId,
    SubmitTime,
    SubmittedBy,
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
                .table(OrganizationProfiles::Table)
                .col(string_len(OrganizationProfiles::OrganizationId, 36).primary_key())
                .col(text(OrganizationProfiles::LegalName))
                // A JSON array of strings.
                .col(text(OrganizationProfiles::AddressLines))
                .col(text(OrganizationProfiles::City))
                .col(string_len(OrganizationProfiles::PostalCode, 32))
                .col(text(OrganizationProfiles::Region))
                .col(string_len(OrganizationProfiles::Country, 2))
                .col(string_len(OrganizationProfiles::TaxId, 64))
                .col(string_len(OrganizationProfiles::BillingEmail, 320))
                .col(big_integer(OrganizationProfiles::Version))
                .col(timestamp_with_time_zone(OrganizationProfiles::UpdateTime))
                .foreign_key(&mut fk(
                    OrganizationProfiles::Table,
                    OrganizationProfiles::OrganizationId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OnboardingItems::Table)
                .col(string_len(OnboardingItems::OrganizationId, 36))
                .col(string_len(OnboardingItems::Item, 64))
                .col(boolean(OnboardingItems::Complete))
                .col(big_integer(OnboardingItems::Revision))
                .col(string_len(OnboardingItems::Reporter, 300))
                .col(timestamp_with_time_zone(OnboardingItems::UpdateTime))
                .primary_key(
                    Index::create()
                        .col(OnboardingItems::OrganizationId)
                        .col(OnboardingItems::Item),
                )
                .foreign_key(&mut fk(
                    OnboardingItems::Table,
                    OnboardingItems::OrganizationId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OnboardingSubmissions::Table)
                .col(string_len(OnboardingSubmissions::OrganizationId, 36).primary_key())
                // UUIDv7 of the latest submission: the queue's order and
                // page key.
                .col(string_len(OnboardingSubmissions::SubmissionId, 36))
                .col(timestamp_with_time_zone(OnboardingSubmissions::SubmitTime))
                .col(string_len(OnboardingSubmissions::SubmittedBy, 300))
                .foreign_key(&mut fk(
                    OnboardingSubmissions::Table,
                    OnboardingSubmissions::OrganizationId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("onboarding_submissions_submission_id")
                .table(OnboardingSubmissions::Table)
                .col(OnboardingSubmissions::SubmissionId)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OnboardingSubmissions::Table.into_iden(),
            OnboardingItems::Table.into_iden(),
            OrganizationProfiles::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
