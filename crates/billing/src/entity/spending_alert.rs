//! `spending_alerts`: a threshold crossed in a period; the primary key makes
//! each fire once.

use sea_orm::entity::prelude::*;

/// A spending alert row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spending_alerts")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// `YYYY-MM`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub period: String,
    /// Threshold in percent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub threshold_percent: i32,
    /// Spend when crossed, minor units.
    pub spend_minor: i64,
    /// When crossed.
    pub alert_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
