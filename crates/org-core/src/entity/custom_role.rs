//! `custom_roles`: organization-defined permission bundles.

use sea_orm::entity::prelude::*;

/// A custom role row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_roles")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Role id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role_id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Permissions as a JSON array.
    pub permissions: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// Bumped on every change.
    pub version: i64,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
