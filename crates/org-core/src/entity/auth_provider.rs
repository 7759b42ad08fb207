//! `auth_providers`: per-organization login identity providers.

use sea_orm::entity::prelude::*;

/// An auth provider row. The OIDC client secret is stored only encrypted
/// (key id beside the ciphertext).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_providers")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Display name.
    pub display_name: String,
    /// `oidc` or `saml`.
    pub kind: String,
    /// Non-secret settings as JSON.
    pub config: String,
    /// Allowed email domains as a JSON array.
    pub allowed_email_domains: String,
    /// Whether logins are accepted.
    pub enabled: bool,
    /// Key id that sealed the client secret.
    pub client_secret_key_id: Option<String>,
    /// The sealed client secret (base64url).
    pub client_secret_ciphertext: Option<String>,
    /// When the client secret was last set.
    pub client_secret_update_time: Option<DateTimeUtc>,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// Bumped on every change.
    pub version: i64,
    /// Idempotency key of the create.
    pub request_id: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
