//! `git_connections`: An organization's connection to a provider account; tokens sealed.

use sea_orm::entity::prelude::*;

/// A `git_connections` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "git_connections")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// `github` or `gitlab`.
    pub provider: String,
    /// Provider account login.
    #[sea_orm(column_type = "Text")]
    pub account_login: String,
    /// Provider account id.
    pub account_id: String,
    /// `ACTIVE` or `AUTHORIZATION_REQUIRED`.
    pub state: String,
    /// Why re-authorization is needed.
    #[sea_orm(column_type = "Text")]
    pub state_reason: String,
    /// Key id that sealed the access token.
    pub access_key_id: String,
    /// The sealed access token.
    #[sea_orm(column_type = "Text")]
    pub access_ciphertext: String,
    /// Key id that sealed the refresh token.
    pub refresh_key_id: Option<String>,
    /// The sealed refresh token, if the provider gave one.
    #[sea_orm(column_type = "Text")]
    pub refresh_ciphertext: Option<String>,
    /// When the access token expires.
    pub token_expire_time: Option<DateTimeUtc>,
    /// Bumped on every change.
    pub version: i64,
    /// Created.
    pub create_time: DateTimeUtc,
    /// Last changed.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
