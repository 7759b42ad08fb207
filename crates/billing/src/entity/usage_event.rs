//! `usage_events`: metered usage, one row per idempotency key.

use sea_orm::entity::prelude::*;

/// A usage event row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_events")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// The reporter's idempotency key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    /// Project id, or empty.
    pub project_id: String,
    /// Meter.
    pub meter: String,
    /// Quantity.
    pub quantity: i64,
    /// When it happened.
    pub event_time: DateTimeUtc,
    /// Billing period `YYYY-MM` of `event_time`.
    pub period: String,
    /// When it was recorded.
    pub record_time: DateTimeUtc,
    /// Who reported it.
    pub reporter: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
