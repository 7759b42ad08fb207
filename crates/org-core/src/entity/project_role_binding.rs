//! `project_role_bindings`: roles a member holds on one project.

use sea_orm::entity::prelude::*;

/// One role held by one member on one project.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project_role_bindings")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Project (of that organization).
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// Account (a member of the organization).
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    /// Role id (built-in name other than `owner`, or custom role id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
