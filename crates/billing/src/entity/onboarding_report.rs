//! `onboarding_reports`: each organization's payment-method fact and how
//! far org-core has acknowledged it.

use sea_orm::entity::prelude::*;

/// A report row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "onboarding_reports")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Bumped by every payment method change: the report's revision.
    pub seq: i64,
    /// The highest `seq` org-core acknowledged; pending while below `seq`.
    pub reported_seq: i64,
    /// Last change.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
