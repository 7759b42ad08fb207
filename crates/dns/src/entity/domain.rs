//! `domains`: domain registration records.

use sea_orm::entity::prelude::*;

/// A domain row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "domains")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Lower-case ASCII registrable name, no trailing dot.
    pub domain_name: String,
    /// Registrar (may be empty).
    pub registrar: String,
    /// Registration time.
    pub registration_time: Option<DateTimeUtc>,
    /// Expiry time.
    pub expire_time: Option<DateTimeUtc>,
    /// Auto-renewal.
    pub auto_renew: bool,
    /// `PENDING_VERIFICATION`, `VERIFIED` or `EXPIRED`.
    pub state: String,
    /// The TXT value proving ownership.
    pub verification_token: String,
    /// Last successful verification.
    pub verify_time: Option<DateTimeUtc>,
    /// Bumped on every change (the etag).
    pub version: i64,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
