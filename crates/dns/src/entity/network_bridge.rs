//! `network_bridges`: bridges between network segments.

use sea_orm::entity::prelude::*;

/// A bridge row; the endpoints are JSON.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "network_bridges")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Display name.
    pub display_name: String,
    /// `PROVISIONING`, `ACTIVE`, `DELETING` or `FAILED`.
    pub state: String,
    /// Why it failed.
    pub state_reason: String,
    /// Endpoint A, JSON.
    pub endpoint_a: String,
    /// Endpoint B, JSON.
    pub endpoint_b: String,
    /// Bumped on every change (the etag).
    pub version: i64,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
