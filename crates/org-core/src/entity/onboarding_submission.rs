//! `onboarding_submissions`: each organization's latest submission for
//! verification.

use sea_orm::entity::prelude::*;

/// A submission.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "onboarding_submissions")]
pub struct Model {
    /// The organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// UUIDv7 of the submission: the review queue's order.
    pub submission_id: String,
    /// When it was submitted.
    pub submit_time: DateTimeUtc,
    /// Who submitted it (`account:{uuid}`).
    pub submitted_by: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
