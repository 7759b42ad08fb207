//! `organizations`: one row per tenant.

use sea_orm::entity::prelude::*;

/// An organization row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    /// UUIDv7, hyphenated lower-case.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// `IN_SETUP`, `VERIFIED`, `PENDING`, `WAITLIST` or `BLOCKED`.
    pub verification_status: String,
    /// `ACTIVE`, `INACTIVE` or `DELETED`.
    pub state: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// Soft-delete time.
    pub delete_time: Option<DateTimeUtc>,
    /// Purge time of a soft-deleted organization.
    pub purge_time: Option<DateTimeUtc>,
    /// Bumped on every change; the etag.
    pub version: i64,
    /// Bumped by every transaction that must serialise with others on this
    /// organization (limit checks); not part of the etag.
    pub lock_seq: i64,
    /// The account that created it.
    pub creator_account_id: Option<String>,
    /// The creator's idempotency key.
    pub request_id: Option<String>,
    /// The organization's plan (`plans.id`).
    pub plan_id: String,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
