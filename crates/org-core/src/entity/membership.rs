//! `memberships`: which accounts belong to which organizations.

use sea_orm::entity::prelude::*;

/// A membership row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    /// Join time.
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
