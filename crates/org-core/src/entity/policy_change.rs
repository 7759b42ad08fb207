//! `policy_changes`: the revisioned feed behind WatchOrganizationPolicies.

use sea_orm::entity::prelude::*;

/// One change to an organization's policy.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_changes")]
pub struct Model {
    /// Monotonically increasing revision.
    #[sea_orm(primary_key)]
    pub revision: i64,
    /// The organization.
    pub organization_id: String,
    /// What changed.
    pub kind: String,
    /// When.
    pub change_time: DateTimeUtc,
    /// The project a `project_*` change is about.
    pub project_id: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
