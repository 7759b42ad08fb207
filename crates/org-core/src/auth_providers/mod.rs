//! Authentication providers: per-organization OIDC or SAML identity
//! providers for logging in to Loopback (not Kubernetes OIDC). Gated by the
//! `sso_allowed` flag, counted against `max_auth_providers`; OIDC client
//! secrets are write-only and stored sealed with the secrets keyring.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::secrets::Keyring;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::audit::{self, AuditRecord};
use crate::catalog;
use crate::entity::auth_provider;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::organizations::check_etag;
use crate::policy::ActionClass;
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
pub fn secret_aad(id: Uuid) -> String {
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

/// A create or update, already validated.
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    /// Display name.
    pub display_name: Option<String>,
    /// Protocol settings (create only).
    pub config: Option<ProviderConfig>,
    /// Changes to the protocol settings (update only).
    pub config_changes: Vec<ConfigChange>,
    /// New client secret (rotates it).
    pub client_secret: Option<String>,
    /// Allowed email domains.
    pub allowed_email_domains: Option<Vec<String>>,
    /// Enabled.
    pub enabled: Option<bool>,
}

fn require_sso(access: &OrgAccess) -> Result<()> {
    if access
        .organization
        .capabilities
        .flags
        .get(FLAG)
        .copied()
        .unwrap_or(false)
    {
        Ok(())
    } else {
        Err(Error::CapabilityDisabled {
            flag: FLAG,
            message: format!(
                "single sign-on is not enabled for {}: ask your operator to enable {FLAG}",
                access.organization.name()
            ),
        })
    }
}

fn seal(keyring: &Keyring, id: Uuid, secret: &str) -> Result<(String, String)> {
    let sealed = keyring
        .seal_str(secret, &secret_aad(id))
        .map_err(|e| Error::Corrupt(format!("sealing a client secret: {e}")))?;
    Ok((sealed.key_id.clone(), sealed.ciphertext_b64()))
}

impl OrgCore {
    /// Creates a provider.
    pub async fn create_auth_provider(
        &self,
        caller: &Caller,
        org: Uuid,
        input: ProviderInput,
        request_id: Option<String>,
        validate_only: bool,
    ) -> Result<AuthProvider> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(
            catalog::AUTH_PROVIDERS_CREATE,
            ActionClass::Setup,
            "CreateAuthProvider",
        )?;
        require_sso(&access)?;
        if let Some(rid) = &request_id
            && let Some(existing) = store::find_by_request(&txn, org, rid).await?
        {
            return Ok(existing);
        }
        let used = store::count(&txn, org).await?;
        let limit = access.organization.capabilities.limit(LIMIT);
        if used >= limit {
            return Err(Error::LimitReached {
                organization: access.organization.name(),
                limit: LIMIT.into(),
                limit_value: limit,
                usage: used,
            });
        }
        let config = input
            .config
            .ok_or_else(|| Error::invalid("auth_provider.config", "set oidc or saml"))?;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let (key_id, ciphertext, secret_time) = match &input.client_secret {
            Some(secret) => {
                let (k, c) = seal(&self.settings().keyring, id, secret)?;
                (Some(k), Some(c), Some(now))
            }
            None => (None, None, None),
        };
        auth_provider::Entity::insert(auth_provider::ActiveModel {
            id: Set(id.to_string()),
            organization_id: Set(org.to_string()),
            display_name: Set(input.display_name.unwrap_or_default()),
            kind: Set(config.kind().into()),
            config: Set(serde_json::to_string(&config).map_err(|e| Error::Corrupt(e.to_string()))?),
            allowed_email_domains: Set(serde_json::to_string(
                &input.allowed_email_domains.unwrap_or_default(),
            )
            .map_err(|e| Error::Corrupt(e.to_string()))?),
            enabled: Set(input.enabled.unwrap_or(false)),
            client_secret_key_id: Set(key_id),
            client_secret_ciphertext: Set(ciphertext),
            client_secret_update_time: Set(secret_time),
            create_time: Set(now),
            update_time: Set(now),
            version: Set(1),
            request_id: Set(request_id),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "CreateAuthProvider",
                resource: provider_name(org, id),
                organization: Some(org),
                reason: "",
                // Never the secret: only whether one was set.
                details: json!({ "kind": config.kind(), "client_secret_set": input.client_secret.is_some() }),
            },
        )
        .await?;
        let created = store::find(&txn, org, id).await?.ok_or_else(|| {
            Error::Corrupt("auth provider vanished inside its transaction".into())
        })?;
        self.finish(txn, validate_only).await?;
        Ok(created)
    }

    /// One provider.
    pub async fn get_auth_provider(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
    ) -> Result<AuthProvider> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(
            catalog::AUTH_PROVIDERS_GET,
            ActionClass::Read,
            "GetAuthProvider",
        )?;
        store::find(self.db(), org, id)
            .await?
            .ok_or_else(|| Error::NotFound(provider_name(org, id)))
    }

    /// Lists providers.
    pub async fn list_auth_providers(
        &self,
        caller: &Caller,
        org: Uuid,
        page: loopback_runtime::pagination::PageRequest,
    ) -> Result<(Vec<AuthProvider>, String)> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(
            catalog::AUTH_PROVIDERS_LIST,
            ActionClass::Read,
            "ListAuthProviders",
        )?;
        let rows = store::list(self.db(), org, &page).await?;
        Ok(page.finish(rows, |p| p.id.to_string()))
    }

    /// Updates a provider; a new client secret rotates the stored one.
    pub async fn update_auth_provider(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        input: ProviderInput,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<AuthProvider> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(
            catalog::AUTH_PROVIDERS_UPDATE,
            ActionClass::Setup,
            "UpdateAuthProvider",
        )?;
        require_sso(&access)?;
        let current = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(provider_name(org, id)))?;
        check_etag(&current.name(), etag, current.version)?;
        let mut changes = auth_provider::ActiveModel::default();
        if let Some(v) = &input.display_name {
            changes.display_name = Set(v.clone());
        }
        if !input.config_changes.is_empty() {
            let mut config = current.config.clone();
            for change in input.config_changes.iter().cloned() {
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
            changes.config =
                Set(serde_json::to_string(&config).map_err(|e| Error::Corrupt(e.to_string()))?);
        }
        if input.client_secret.is_some() && !matches!(current.config, ProviderConfig::Oidc { .. }) {
            return Err(Error::invalid(
                "update_mask",
                "only OIDC providers have a client secret",
            ));
        }
        if let Some(v) = &input.allowed_email_domains {
            changes.allowed_email_domains =
                Set(serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))?);
        }
        if let Some(v) = input.enabled {
            changes.enabled = Set(v);
        }
        if let Some(secret) = &input.client_secret {
            let (k, c) = seal(&self.settings().keyring, id, secret)?;
            changes.client_secret_key_id = Set(Some(k));
            changes.client_secret_ciphertext = Set(Some(c));
            changes.client_secret_update_time = Set(Some(Utc::now()));
        }
        changes.version = Set(current.version + 1);
        changes.update_time = Set(Utc::now());
        let updated = auth_provider::Entity::update_many()
            .set(changes)
            .filter(auth_provider::Column::Id.eq(id.to_string()))
            .filter(auth_provider::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(Error::EtagMismatch(current.name()));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UpdateAuthProvider",
                resource: current.name(),
                organization: Some(org),
                reason: "",
                details: json!({
                    "display_name": input.display_name,
                    "enabled": input.enabled,
                    "config_changed": !input.config_changes.is_empty(),
                    "client_secret_rotated": input.client_secret.is_some(),
                }),
            },
        )
        .await?;
        let after = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(current.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(after)
    }

    /// Deletes a provider.
    pub async fn delete_auth_provider(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<AuthProvider> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(
            catalog::AUTH_PROVIDERS_DELETE,
            ActionClass::Setup,
            "DeleteAuthProvider",
        )?;
        let current = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(provider_name(org, id)))?;
        check_etag(&current.name(), etag, current.version)?;
        auth_provider::Entity::delete_many()
            .filter(auth_provider::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "DeleteAuthProvider",
                resource: current.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "kind": current.config.kind() }),
            },
        )
        .await?;
        self.finish(txn, validate_only).await?;
        Ok(current)
    }

    /// The decrypted client secret of a provider, for the login flow.
    pub async fn auth_provider_client_secret(&self, org: Uuid, id: Uuid) -> Result<Option<String>> {
        store::client_secret(self.db(), &self.settings().keyring, org, id).await
    }
}
