//! `spending_limits`: one monthly limit per organization.

use sea_orm::entity::prelude::*;

/// A spending limit row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spending_limits")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Monthly limit in minor units.
    pub limit_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Alert thresholds (percent) as a JSON array.
    pub thresholds: String,
    /// Whether reaching the limit blocks create actions.
    pub hard: bool,
    /// Last change.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
