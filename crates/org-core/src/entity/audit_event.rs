//! `audit_events`: who changed what, when, why.

use sea_orm::entity::prelude::*;

/// One audited change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// UUIDv7 (time-ordered).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// When.
    pub time: DateTimeUtc,
    /// Who: `kind:subject` of the principal.
    pub actor: String,
    /// Which service wrote it.
    pub service: String,
    /// The RPC, e.g. `SetVerificationStatus`.
    pub method: String,
    /// The resource changed.
    pub resource: String,
    /// The organization it belongs to.
    pub organization_id: Option<String>,
    /// The reason given (operator changes require one).
    pub reason: String,
    /// What changed, as JSON.
    pub details: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
