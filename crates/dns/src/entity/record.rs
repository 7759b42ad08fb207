//! `records`: DNS records.

use sea_orm::entity::prelude::*;

/// A record row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "records")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Zone.
    pub zone_id: String,
    /// Organization (the zone's).
    pub organization_id: String,
    /// Owner name, lower-case ASCII with a trailing dot.
    pub owner: String,
    /// `A`, `AAAA`, `CNAME`, `MX`, `TXT`, `NS`, `SRV` or `CAA`.
    pub record_type: String,
    /// TTL in seconds.
    pub ttl: i32,
    /// The data in canonical presentation form.
    pub data: String,
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
