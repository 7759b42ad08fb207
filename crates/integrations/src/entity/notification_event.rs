//! `notification_events`: An event notified once per organization and id.

use sea_orm::entity::prelude::*;

/// A `notification_events` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_events")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// The sender's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    /// Catalog key.
    pub event_type: String,
    /// Summary.
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    /// Details.
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// Attributes, JSON object.
    #[sea_orm(column_type = "Text")]
    pub attributes: String,
    /// When it happened.
    pub event_time: DateTimeUtc,
    /// When it was notified.
    pub create_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
