//! `membership_roles`: the roles of a membership.

use sea_orm::entity::prelude::*;

/// One role held by one member.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "membership_roles")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    /// Role id (built-in name or custom role id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
