//! `accounts`: people, created on their first authenticated call.

use sea_orm::entity::prelude::*;

/// An account row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Token subject; unique.
    pub subject: String,
    /// Lower-cased email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// First seen.
    pub create_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
