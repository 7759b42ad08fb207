//! `usage_reports`: each organization's usage of each limit dns owns, and
//! how far it has been reported to org-core.

use sea_orm::entity::prelude::*;

/// A usage row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_reports")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Limit key, e.g. `max_dns_zones`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub limit_key: String,
    /// Units in use.
    pub usage: i64,
    /// Grows with every new count.
    pub revision: i64,
    /// The revision org-core has taken.
    pub reported_revision: i64,
    /// When the count last changed.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
