//! `limit_increase_requests`: asks for higher limits.

use sea_orm::entity::prelude::*;

/// A limit increase request row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "limit_increase_requests")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The limit key.
    pub limit_key: String,
    /// Value asked for.
    pub requested_value: i64,
    /// Value when asked.
    pub current_value: i64,
    /// Why.
    pub justification: String,
    /// `OPEN`, `APPROVED` or `DENIED`.
    pub state: String,
    /// Audit id of the requester.
    pub requester: String,
    /// Audit id of the deciding operator.
    pub decided_by: Option<String>,
    /// The operator's reason.
    pub decision_reason: Option<String>,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Decision time.
    pub decide_time: Option<DateTimeUtc>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
