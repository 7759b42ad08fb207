//! `repositories`: A repository linked through a connection.

use sea_orm::entity::prelude::*;

/// A `repositories` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repositories")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The Git connection.
    pub connection_id: String,
    /// Path at the provider.
    pub full_name: String,
    /// Default branch.
    pub default_branch: String,
    /// Linked.
    pub create_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
