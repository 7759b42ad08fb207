//! `notification_channels`: Where an organization's alerts go.

use sea_orm::entity::prelude::*;

/// A `notification_channels` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_channels")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// EMAIL, WEBHOOK or SLACK.
    pub kind: String,
    /// Human name.
    pub display_name: String,
    /// EMAIL: the address.
    #[sea_orm(column_type = "Text")]
    pub email_address: Option<String>,
    /// WEBHOOK: the endpoint; SLACK: the endpoint masked.
    #[sea_orm(column_type = "Text")]
    pub url: Option<String>,
    /// Key id that sealed the secret.
    pub secret_key_id: Option<String>,
    /// WEBHOOK: the sealed signing secret; SLACK: the sealed URL.
    #[sea_orm(column_type = "Text")]
    pub secret_ciphertext: Option<String>,
    /// Event types taken, JSON array (empty: all).
    #[sea_orm(column_type = "Text")]
    pub event_types: String,
    /// Whether it receives events.
    pub enabled: bool,
    /// Bumped on every change (the etag).
    pub version: i64,
    /// Created.
    pub create_time: DateTimeUtc,
    /// Last changed.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
