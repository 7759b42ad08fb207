//! `monitoring_sources`: A monitoring source of an organization.

use sea_orm::entity::prelude::*;

/// A `monitoring_sources` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "monitoring_sources")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// A catalog type.
    pub source_type: String,
    /// Human name.
    pub display_name: String,
    /// What it probes or scrapes.
    #[sea_orm(column_type = "Text")]
    pub endpoint: String,
    /// Labels, JSON object.
    #[sea_orm(column_type = "Text")]
    pub labels: String,
    /// Whether it runs.
    pub enabled: bool,
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
