//! `operations`: A build or deploy operation, leased to workers.

use sea_orm::entity::prelude::*;

/// A `operations` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operations")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// BUILD or DEPLOY.
    pub kind: String,
    /// The revision (BUILD) or deployment (DEPLOY).
    pub target_id: String,
    /// QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED.
    pub state: String,
    /// 0 to 100.
    pub progress: i32,
    /// Where the logs are.
    #[sea_orm(column_type = "Text")]
    pub logs_url: String,
    /// Why it failed.
    #[sea_orm(column_type = "Text")]
    pub error_message: String,
    /// A cancel was asked for while running.
    pub cancel_requested: bool,
    /// Claims so far.
    pub attempt: i32,
    /// The worker holding the lease.
    #[sea_orm(column_type = "Text")]
    pub worker: Option<String>,
    /// The current lease.
    pub lease_id: Option<String>,
    /// When the lease ends.
    pub lease_expire_time: Option<DateTimeUtc>,
    /// How long each report renews the lease for.
    pub lease_seconds: i32,
    /// Created.
    pub create_time: DateTimeUtc,
    /// Last changed.
    pub update_time: DateTimeUtc,
    /// Ended.
    pub end_time: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
