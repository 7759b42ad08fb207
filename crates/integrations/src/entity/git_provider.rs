//! `git_providers`: The OAuth application configured for a Git provider (operators).

use sea_orm::entity::prelude::*;

/// A `git_providers` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "git_providers")]
pub struct Model {
    /// `github` or `gitlab`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: String,
    /// OAuth client id.
    pub client_id: String,
    /// Key id that sealed the client secret.
    pub secret_key_id: Option<String>,
    /// The sealed client secret.
    #[sea_orm(column_type = "Text")]
    pub secret_ciphertext: Option<String>,
    /// Web base URL (authorize and token endpoints).
    #[sea_orm(column_type = "Text")]
    pub base_url: String,
    /// API base URL.
    #[sea_orm(column_type = "Text")]
    pub api_url: String,
    /// Where the provider sends the browser back.
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    /// Requested scopes, JSON array.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// Last configured.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
