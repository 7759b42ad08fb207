//! `revisions`: An immutable bundle revision.

use sea_orm::entity::prelude::*;

/// A `revisions` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revisions")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The bundle.
    pub bundle_id: String,
    /// Commit SHA-1, lower-case hex.
    pub commit_sha: String,
    /// The bundle's definition digest then.
    pub definition_digest: String,
    /// The bundle's path then.
    #[sea_orm(column_type = "Text")]
    pub path: String,
    /// The bundle's build spec then.
    #[sea_orm(column_type = "Text")]
    pub build_spec: String,
    /// Its BUILD operation.
    pub build_operation_id: String,
    /// Created.
    pub create_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
