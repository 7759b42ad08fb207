//! `bundles`: A bundle definition.

use sea_orm::entity::prelude::*;

/// A `bundles` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bundles")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The project it belongs to (the bundle follows it: `crate::purge`).
    pub project_id: Option<String>,
    /// Human name.
    pub display_name: String,
    /// The linked repository.
    pub repository_id: String,
    /// Directory in the repository.
    #[sea_orm(column_type = "Text")]
    pub path: String,
    /// Build specification.
    #[sea_orm(column_type = "Text")]
    pub build_spec: String,
    /// `sha256:<hex>` of path and build spec.
    pub definition_digest: String,
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
