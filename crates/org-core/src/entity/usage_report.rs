//! `usage_reports`: the latest usage each owning service reported.

use sea_orm::entity::prelude::*;

/// A usage report row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_reports")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// The limit key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub limit_key: String,
    /// Units in use.
    pub usage: i64,
    /// The reporter's revision.
    pub revision: i64,
    /// When it was reported.
    pub report_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
