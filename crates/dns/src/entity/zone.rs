//! `zones`: DNS zones.

use sea_orm::entity::prelude::*;

/// A zone row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zones")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The project of a project-scoped zone; `None` at organization scope.
    pub project_id: Option<String>,
    /// Apex, lower-case ASCII with a trailing dot.
    pub dns_name: String,
    /// Description.
    pub description: String,
    /// Default TTL of new records.
    pub default_ttl: i32,
    /// SOA serial (also the etag).
    pub serial: i64,
    /// Number of records.
    pub record_count: i64,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change of the zone or its records.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
