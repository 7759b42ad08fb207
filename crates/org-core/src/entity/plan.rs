//! `plans`: operator-defined bundles of limits, flags and features.

use sea_orm::entity::prelude::*;

/// A plan row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    /// The caller-chosen id (`plans/{id}`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Owners and admins may choose it themselves.
    pub self_serve: bool,
    /// Includes every deployment feature (`features` is then empty).
    pub all_features: bool,
    /// Limits the plan sets, as a JSON object of key to value.
    pub limits: String,
    /// Flags the plan sets, as a JSON object of key to value.
    pub flags: String,
    /// Included features, as a JSON array.
    pub features: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// Bumped on every change; the etag.
    pub version: i64,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
