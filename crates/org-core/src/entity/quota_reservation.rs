//! `quota_reservations`: units of a limit held for platform services.

use sea_orm::entity::prelude::*;

/// A reservation row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quota_reservations")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// The caller's idempotency key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    /// The limit key.
    pub limit_key: String,
    /// Units.
    pub amount: i64,
    /// `RESERVED`, `COMMITTED` or `RELEASED`.
    pub state: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// When a RESERVED row stops counting.
    pub expire_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
