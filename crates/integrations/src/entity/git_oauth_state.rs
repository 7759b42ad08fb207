//! `git_oauth_states`: A pending OAuth authorization: single use, bound to an organization and a caller.

use sea_orm::entity::prelude::*;

/// A `git_oauth_states` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "git_oauth_states")]
pub struct Model {
    /// SHA-256 (hex) of the state sent to the provider; the state itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// `github` or `gitlab`.
    pub provider: String,
    /// Audit id of the caller who began it.
    #[sea_orm(column_type = "Text")]
    pub caller: String,
    /// The connection being reconnected, if any.
    pub connection_id: Option<String>,
    /// Key id that sealed the PKCE verifier.
    pub verifier_key_id: String,
    /// The sealed PKCE verifier.
    #[sea_orm(column_type = "Text")]
    pub verifier_ciphertext: String,
    /// When it stops being accepted.
    pub expire_time: DateTimeUtc,
    /// When it was issued.
    pub create_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
