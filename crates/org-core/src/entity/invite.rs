//! `invites`: invitations by email.

use sea_orm::entity::prelude::*;

/// An invite row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invites")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Lower-cased email.
    pub email: String,
    /// Role ids as a JSON array.
    pub roles: String,
    /// `PENDING`, `ACCEPTED`, `REVOKED` or `EXPIRED`.
    pub state: String,
    /// SHA-256 (hex) of the current token; the token itself is never stored.
    pub token_hash: String,
    /// Audit id of who invited.
    pub inviter: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// When the current token expires.
    pub expire_time: DateTimeUtc,
    /// Account that accepted.
    pub accepted_by: Option<String>,
    /// Bumped on every change.
    pub version: i64,
    /// Project roles as a JSON array of `{project, roles}` (`None` before
    /// project roles existed, meaning none).
    pub project_roles: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
