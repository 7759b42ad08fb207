//! `delivery_attempts`: One attempt of a delivery.

use sea_orm::entity::prelude::*;

/// A `delivery_attempts` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The delivery.
    pub delivery_id: String,
    /// Organization.
    pub organization_id: String,
    /// 1 for the first.
    pub attempt: i32,
    /// When.
    pub attempt_time: DateTimeUtc,
    /// Whether the channel accepted it.
    pub succeeded: bool,
    /// HTTP status (0 if none).
    pub http_status: i32,
    /// Milliseconds.
    pub latency_ms: i64,
    /// What went wrong.
    #[sea_orm(column_type = "Text")]
    pub error: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
