//! Authentication providers: per-organization OIDC or SAML identity
//! providers for logging in to Loopback (not Kubernetes OIDC). Gated by the
//! `sso_allowed` flag, counted against `max_auth_providers`; OIDC client
//! secrets are write-only and stored sealed with the secrets keyring.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::{FieldViolations, Refusal};
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::secrets::Keyring;
use loopback_runtime::tx::WriteOptions;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::error::{Error, Result};
use crate::organizations::check_etag;
use crate::rpcs;
use crate::service::OrgCore;

/// The flag that allows authentication providers.
pub const FLAG: &str = "sso_allowed";
/// The limit they count against.
pub const LIMIT: &str = "max_auth_providers";

/// Non-secret protocol settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProviderConfig {
    /// OpenID Connect.
    Oidc {
        /// Issuer URL.
        issuer_uri: String,
        /// OAuth client id.
        client_id: String,
        /// Scopes.
        scopes: Vec<String>,
    },
    /// SAML 2.0.
    Saml {
        /// Metadata URL (or empty).
        metadata_uri: String,
        /// Metadata document (or empty).
        metadata_xml: String,
        /// Our entity id.
        entity_id: String,
    },
}

impl ProviderConfig {
    /// `oidc` or `saml`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Oidc { .. } => "oidc",
            Self::Saml { .. } => "saml",
        }
    }
}

/// A provider as the API shows it: the secret itself never leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthProvider {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Display name.
    pub display_name: String,
    /// Protocol settings.
    pub config: ProviderConfig,
    /// Allowed email domains.
    pub allowed_email_domains: Vec<String>,
    /// Whether logins are accepted.
    pub enabled: bool,
    /// Whether a client secret is stored.
    pub has_client_secret: bool,
    /// When the client secret was last set.
    pub client_secret_update_time: Option<DateTime<Utc>>,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Version (etag).
    pub version: i64,
}

impl AuthProvider {
    /// `organizations/{org}/authProviders/{id}`.
    pub fn name(&self) -> String {
        provider_name(self.organization, self.id)
    }
}

/// `organizations/{org}/authProviders/{id}`.
pub fn provider_name(org: Uuid, id: Uuid) -> String {
    format!("organizations/{org}/authProviders/{id}")
}

/// The associated data binding a sealed secret to its row and field.
pub fn secret_aad(id: &str) -> String {
    format!("authProviders/{id}/client_secret")
}

/// One change to a provider's protocol settings (update_mask path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// `oidc.issuer_uri`.
    IssuerUri(String),
    /// `oidc.client_id`.
    ClientId(String),
    /// `oidc.scopes`.
    Scopes(Vec<String>),
    /// `saml.metadata_uri`.
    MetadataUri(String),
    /// `saml.metadata_xml`.
    MetadataXml(String),
    /// `saml.entity_id`.
    EntityId(String),
}

impl ConfigChange {
    /// Applies the change, or says why it does not fit the provider's kind.
    fn apply(self, config: &mut ProviderConfig) -> std::result::Result<(), String> {
        match (self, config) {
            (Self::IssuerUri(v), ProviderConfig::Oidc { issuer_uri, .. }) => *issuer_uri = v,
            (Self::ClientId(v), ProviderConfig::Oidc { client_id, .. }) => *client_id = v,
            (Self::Scopes(v), ProviderConfig::Oidc { scopes, .. }) => *scopes = v,
            (Self::MetadataUri(v), ProviderConfig::Saml { metadata_uri, .. }) => *metadata_uri = v,
            (Self::MetadataXml(v), ProviderConfig::Saml { metadata_xml, .. }) => *metadata_xml = v,
            (Self::EntityId(v), ProviderConfig::Saml { entity_id, .. }) => *entity_id = v,
            (_, config) => return Err(format!("this is a {} provider", config.kind())),
        }
        Ok(())
    }
}

/// What an IdP URL that is neither https nor allowed http must be.
pub const HTTPS_ONLY: &str = "must be an https URL (http only for loopback hosts in development)";

/// What a new provider is made of, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuthProvider {
    /// Display name.
    pub display_name: String,
    /// Protocol settings.
    pub config: ProviderConfig,
    /// OIDC client secret, if given.
    pub client_secret: Option<String>,
    /// Allowed email domains.
    pub allowed_email_domains: Vec<String>,
    /// Whether logins are accepted.
    pub enabled: bool,
}

/// Fields an update may change, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthProviderUpdate {
    /// Display name.
    pub display_name: Option<String>,
    /// Changes to the protocol settings.
    pub config_changes: Vec<ConfigChange>,
    /// New client secret (rotates it).
    pub client_secret: Option<String>,
    /// Allowed email domains.
    pub allowed_email_domains: Option<Vec<String>>,
    /// Enabled.
    pub enabled: Option<bool>,
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/authProviders/{id}`, parsed.
    pub struct AuthProviderName = "authProviders", id: Uuid;
}

/// CreateAuthProvider, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAuthProvider {
    /// The organization.
    pub organization: Uuid,
    /// The provider.
    pub provider: NewAuthProvider,
    /// Fields holding an http URL on a loopback host, which only a
    /// development deployment accepts (the adapter cannot know which this is).
    pub http_loopback_fields: Vec<String>,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListAuthProviders, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAuthProviders {
    /// The organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
}

/// UpdateAuthProvider, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAuthProvider {
    /// The provider.
    pub name: AuthProviderName,
    /// What changes.
    pub update: AuthProviderUpdate,
    /// See [`CreateAuthProvider::http_loopback_fields`].
    pub http_loopback_fields: Vec<String>,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteAuthProvider, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteAuthProvider {
    /// The provider.
    pub name: AuthProviderName,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// A client secret sealed for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The keyring key it is sealed under.
    pub key_id: String,
    /// The ciphertext, base64.
    pub ciphertext: String,
    /// When it was set.
    pub time: DateTime<Utc>,
}

/// A provider's stored changes (what [`AuthProviderUpdate`] becomes once
/// applied to the current settings and the secret is sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderChanges {
    /// Display name.
    pub display_name: Option<String>,
    /// The whole new protocol settings.
    pub config: Option<ProviderConfig>,
    /// Allowed email domains.
    pub allowed_email_domains: Option<Vec<String>>,
    /// Enabled.
    pub enabled: Option<bool>,
    /// The new sealed client secret.
    pub secret: Option<SealedSecret>,
}

fn require_sso(access: &OrgAccess) -> Result<()> {
    let allowed = access.organization.capabilities.flags.get(FLAG).copied();
    if allowed.unwrap_or(false) {
        return Ok(());
    }
    Err(Refusal::CapabilityDisabled {
        flag: FLAG.into(),
        message: format!(
            "single sign-on is not enabled for {}: ask your operator to enable {FLAG}",
            access.organization.name()
        ),
    }
    .into())
}

fn seal(keyring: &Keyring, id: Uuid, secret: &str) -> Result<SealedSecret> {
    let sealed = keyring
        .seal_str(secret, &secret_aad(&id.to_string()))
        .map_err(|e| Error::Corrupt(format!("sealing a client secret: {e}")))?;
    Ok(SealedSecret {
        key_id: sealed.key_id.clone(),
        ciphertext: sealed.ciphertext_b64(),
        time: Utc::now(),
    })
}

/// Number of providers of `org`.
pub async fn count(conn: &impl Conn, org: Uuid) -> Result<i64> {
    store::count(conn, org).await
}

/// Deletes every login provider of `org`, its sealed client secret with it
/// (the organization is being purged: call it inside the purge's write
/// transaction). Returns how many went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

impl OrgCore {
    /// Refuses http URLs on loopback hosts unless this is a development
    /// deployment that allows them.
    fn check_http_loopback(&self, fields: &[String]) -> Result<()> {
        if fields.is_empty() || self.settings().allow_http_loopback_idp {
            return Ok(());
        }
        let mut v = FieldViolations::new();
        for field in fields {
            v.add(field.as_str(), HTTPS_ONLY);
        }
        Err(v.into())
    }

    /// A provider, NOT_FOUND when missing.
    async fn provider_in(&self, conn: &impl Conn, name: AuthProviderName) -> Result<AuthProvider> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// Creates a provider.
    pub async fn create_auth_provider(
        &self,
        principal: &Principal,
        input: CreateAuthProvider,
    ) -> Result<AuthProvider> {
        self.check_http_loopback(&input.http_loopback_fields)?;
        let rpc = &rpcs::CREATE_AUTH_PROVIDER;
        let org = input.organization;
        let caller = self.caller(principal).await?;
        let mut tx = self.begin_write(org, rpc, &caller, input.write).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        require_sso(&access)?;
        if let Some(id) = tx.replayed_id() {
            let name = AuthProviderName {
                organization: org,
                id,
            };
            return self.provider_in(tx.conn(), name).await;
        }
        let used = store::count(tx.conn(), org).await?;
        let limit = access.organization.capabilities.limit(LIMIT);
        if used >= limit {
            return Err(Refusal::LimitReached {
                organization: access.organization.name(),
                limit: LIMIT.into(),
                limit_value: limit,
                usage: used,
            }
            .into());
        }
        let new = input.provider;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let secret = match &new.client_secret {
            Some(secret) => Some(seal(&self.settings().keyring, id, secret)?),
            None => None,
        };
        let provider = AuthProvider {
            id,
            organization: org,
            display_name: new.display_name,
            config: new.config,
            allowed_email_domains: new.allowed_email_domains,
            enabled: new.enabled,
            has_client_secret: secret.is_some(),
            client_secret_update_time: secret.as_ref().map(|s| s.time),
            create_time: now,
            update_time: now,
            version: 1,
        };
        store::insert(tx.conn(), &provider, secret.as_ref()).await?;
        tx.created(id);
        // Never the secret: only whether one was set.
        tx.audit(
            provider.name(),
            json!({ "kind": provider.config.kind(), "client_secret_set": secret.is_some() }),
        );
        let name = AuthProviderName {
            organization: org,
            id,
        };
        let created = self.provider_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// One provider.
    pub async fn get_auth_provider(
        &self,
        principal: &Principal,
        name: AuthProviderName,
    ) -> Result<AuthProvider> {
        let caller = self.caller(principal).await?;
        let rpc = &rpcs::GET_AUTH_PROVIDER;
        self.authorize(self.db(), &caller, rpc, name.organization, Deleted::Hide)
            .await?;
        self.provider_in(self.db(), name).await
    }

    /// Lists providers.
    pub async fn list_auth_providers(
        &self,
        principal: &Principal,
        input: ListAuthProviders,
    ) -> Result<Page<AuthProvider>> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        let rpc = &rpcs::LIST_AUTH_PROVIDERS;
        self.authorize(self.db(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let rows = store::list(self.db(), org, &input.page).await?;
        Ok(input.page.page(rows, |p| p.id.to_string()))
    }

    /// Updates a provider; a new client secret rotates the stored one.
    pub async fn update_auth_provider(
        &self,
        principal: &Principal,
        input: UpdateAuthProvider,
    ) -> Result<AuthProvider> {
        self.check_http_loopback(&input.http_loopback_fields)?;
        let rpc = &rpcs::UPDATE_AUTH_PROVIDER;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self
            .begin_write(name.organization, rpc, &caller, options)
            .await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, name.organization, Deleted::Hide)
            .await?;
        require_sso(&access)?;
        let current = self.provider_in(tx.conn(), name).await?;
        check_etag(&current.name(), input.etag, current.version)?;
        let update = input.update;
        let mut changes = ProviderChanges {
            display_name: update.display_name.clone(),
            allowed_email_domains: update.allowed_email_domains,
            enabled: update.enabled,
            ..Default::default()
        };
        if !update.config_changes.is_empty() {
            let mut config = current.config.clone();
            for change in update.config_changes.iter().cloned() {
                change.apply(&mut config).map_err(|e| {
                    Error::invalid("update_mask", format!("{e}: it has no such setting"))
                })?;
            }
            if let ProviderConfig::Saml {
                metadata_uri,
                metadata_xml,
                ..
            } = &config
                && metadata_uri.is_empty() == metadata_xml.is_empty()
            {
                return Err(Error::invalid(
                    "auth_provider.saml",
                    "set exactly one of metadata_uri and metadata_xml",
                ));
            }
            changes.config = Some(config);
        }
        if update.client_secret.is_some() && !matches!(current.config, ProviderConfig::Oidc { .. })
        {
            return Err(Error::invalid(
                "update_mask",
                "only OIDC providers have a client secret",
            ));
        }
        if let Some(secret) = &update.client_secret {
            changes.secret = Some(seal(&self.settings().keyring, name.id, secret)?);
        }
        if !store::update(tx.conn(), name.id, current.version, &changes).await? {
            return Err(Error::etag_mismatch(current.name()));
        }
        tx.audit(
            current.name(),
            json!({
                "display_name": update.display_name,
                "enabled": update.enabled,
                "config_changed": !update.config_changes.is_empty(),
                "client_secret_rotated": update.client_secret.is_some(),
            }),
        );
        let after = self.provider_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a provider.
    pub async fn delete_auth_provider(
        &self,
        principal: &Principal,
        input: DeleteAuthProvider,
    ) -> Result<AuthProvider> {
        let rpc = &rpcs::DELETE_AUTH_PROVIDER;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self
            .begin_write(name.organization, rpc, &caller, options)
            .await?;
        self.authorize(tx.conn(), &caller, rpc, name.organization, Deleted::Hide)
            .await?;
        let current = self.provider_in(tx.conn(), name).await?;
        check_etag(&current.name(), input.etag, current.version)?;
        store::delete(tx.conn(), name.id).await?;
        tx.audit(current.name(), json!({ "kind": current.config.kind() }));
        tx.commit().await?;
        Ok(current)
    }

    /// The decrypted client secret of a provider, for the login flow.
    pub async fn auth_provider_client_secret(&self, org: Uuid, id: Uuid) -> Result<Option<String>> {
        store::client_secret(self.db(), &self.settings().keyring, org, id).await
    }
}
