//! `environments`: An environment of a bundle.

use sea_orm::entity::prelude::*;

/// A `environments` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "environments")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The bundle.
    pub bundle_id: String,
    /// Human name.
    pub display_name: String,
    /// Bumped on every change (the etag).
    pub version: i64,
    /// Created.
    pub create_time: DateTimeUtc,
    /// Last changed.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
