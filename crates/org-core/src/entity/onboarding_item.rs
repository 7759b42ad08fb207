//! `onboarding_items`: checklist facts other services report.

use sea_orm::entity::prelude::*;

/// A reported fact.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "onboarding_items")]
pub struct Model {
    /// The organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// The item key (`payment_method`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub item: String,
    /// Whether it is complete.
    pub complete: bool,
    /// The reporter's revision of the fact.
    pub revision: i64,
    /// Who reported it (`service:billing`).
    pub reporter: String,
    /// When it was last reported with a change.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
