//! Plans: operator-defined bundles of limits, flags and features, and the
//! plan of every organization. The built-in `default` plan (the
//! deployment's defaults and every deployment feature) is seeded here, and
//! every existing organization is put on it, so nothing changes for them.

use chrono::Utc;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The id of the plan this migration seeds and puts every organization on.
pub const SEEDED_PLAN: &str = "default";

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
    DisplayName,
    Description,
    SelfServe,
    AllFeatures,
    Limits,
    Flags,
    Features,
    CreateTime,
    UpdateTime,
    Version,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    PlanId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Plans::Table)
                .col(string_len(Plans::Id, 63).primary_key())
                .col(string_len(Plans::DisplayName, 800))
                .col(text(Plans::Description))
                .col(boolean(Plans::SelfServe))
                .col(boolean(Plans::AllFeatures))
                .col(text(Plans::Limits))
                .col(text(Plans::Flags))
                .col(text(Plans::Features))
                .col(timestamp_with_time_zone(Plans::CreateTime))
                .col(timestamp_with_time_zone(Plans::UpdateTime))
                .col(big_integer(Plans::Version))
                .to_owned(),
        )
        .await?;
        let now = Utc::now();
        m.exec_stmt(
            Query::insert()
                .into_table(Plans::Table)
                .columns([
                    Plans::Id,
                    Plans::DisplayName,
                    Plans::Description,
                    Plans::SelfServe,
                    Plans::AllFeatures,
                    Plans::Limits,
                    Plans::Flags,
                    Plans::Features,
                    Plans::CreateTime,
                    Plans::UpdateTime,
                    Plans::Version,
                ])
                .values_panic([
                    SEEDED_PLAN.into(),
                    "Default".into(),
                    "The deployment's defaults: every limit and flag at its deployment default, every deployment feature.".into(),
                    false.into(),
                    true.into(),
                    "{}".into(),
                    "{}".into(),
                    "[]".into(),
                    now.into(),
                    now.into(),
                    1_i64.into(),
                ])
                .to_owned(),
        )
        .await?;
        // Every existing organization lands on the seeded plan, which
        // changes nothing about its capabilities or features.
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .add_column(string_len(Organizations::PlanId, 63).default(SEEDED_PLAN))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("organizations_plan")
                .table(Organizations::Table)
                .col(Organizations::PlanId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("organizations_plan")
                .table(Organizations::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .drop_column(Organizations::PlanId)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Plans::Table).to_owned())
            .await?;
        Ok(())
    }
}
