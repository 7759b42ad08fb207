//! `deliveries`: An event's delivery to one channel: the durable queue.

use sea_orm::entity::prelude::*;

/// A `deliveries` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The channel.
    pub channel_id: String,
    /// The event.
    pub event_id: String,
    /// The event's catalog key.
    pub event_type: String,
    /// PENDING, DELIVERED or FAILED.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (also the claim of a sender).
    pub next_attempt_time: DateTimeUtc,
    /// Queued.
    pub create_time: DateTimeUtc,
    /// Last changed.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
