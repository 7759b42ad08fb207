//! `spending_alert_outbox`: a crossed threshold waiting to be notified
//! through the integrations service.

use sea_orm::entity::prelude::*;

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spending_alert_outbox")]
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
    /// The monthly limit then, minor units.
    pub limit_minor: i64,
    /// Its currency.
    pub currency: String,
    /// When crossed.
    pub alert_time: DateTimeUtc,
    /// Failed deliveries so far.
    pub attempts: i32,
    /// When to try next.
    pub next_attempt_time: DateTimeUtc,
    /// The last failure.
    #[sea_orm(column_type = "Text")]
    pub last_error: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
