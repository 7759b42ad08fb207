//! Authentication provider storage. Client secrets are stored sealed; the
//! service kit's `rotate-secrets` re-seals them (see `OrgCore`'s sealed
//! columns in `lib.rs`).

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::{Keyring, Sealed};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{AuthProvider, ProviderChanges, ProviderConfig, SealedSecret, secret_aad};
use crate::entity::auth_provider;
use crate::error::{Error, Result};
use crate::model::parse_stored_uuid;

fn to_domain(m: auth_provider::Model) -> Result<AuthProvider> {
    let config: ProviderConfig = serde_json::from_str(&m.config)
        .map_err(|e| Error::Corrupt(format!("auth provider {} config: {e}", m.id)))?;
    let allowed_email_domains: Vec<String> = serde_json::from_str(&m.allowed_email_domains)
        .map_err(|e| Error::Corrupt(format!("auth provider {} domains: {e}", m.id)))?;
    Ok(AuthProvider {
        id: parse_stored_uuid(&m.id)?,
        organization: parse_stored_uuid(&m.organization_id)?,
        display_name: m.display_name,
        config,
        allowed_email_domains,
        enabled: m.enabled,
        has_client_secret: m.client_secret_ciphertext.is_some(),
        client_secret_update_time: m.client_secret_update_time,
        create_time: m.create_time,
        update_time: m.update_time,
        version: m.version,
    })
}

/// One provider of `org`.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<AuthProvider>> {
    auth_provider::Entity::find_by_id(id.to_string())
        .filter(auth_provider::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Inserts a new provider, with its sealed client secret if any.
pub async fn insert(
    conn: &impl ConnectionTrait,
    p: &AuthProvider,
    secret: Option<&SealedSecret>,
) -> Result<()> {
    auth_provider::Entity::insert(auth_provider::ActiveModel {
        id: Set(p.id.to_string()),
        organization_id: Set(p.organization.to_string()),
        display_name: Set(p.display_name.clone()),
        kind: Set(p.config.kind().into()),
        config: Set(json(&p.config)?),
        allowed_email_domains: Set(json(&p.allowed_email_domains)?),
        enabled: Set(p.enabled),
        client_secret_key_id: Set(secret.map(|s| s.key_id.clone())),
        client_secret_ciphertext: Set(secret.map(|s| s.ciphertext.clone())),
        client_secret_update_time: Set(secret.map(|s| s.time)),
        create_time: Set(p.create_time),
        update_time: Set(p.update_time),
        version: Set(p.version),
        // Retries are recognised by the service kit's request ids now.
        request_id: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Writes `changes` if the provider is still at `expected_version`.
/// Returns false on a concurrent change.
pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    changes: &ProviderChanges,
) -> Result<bool> {
    let mut row = auth_provider::ActiveModel::default();
    if let Some(v) = &changes.display_name {
        row.display_name = Set(v.clone());
    }
    if let Some(config) = &changes.config {
        row.config = Set(json(config)?);
    }
    if let Some(v) = &changes.allowed_email_domains {
        row.allowed_email_domains = Set(json(v)?);
    }
    if let Some(v) = changes.enabled {
        row.enabled = Set(v);
    }
    if let Some(secret) = &changes.secret {
        row.client_secret_key_id = Set(Some(secret.key_id.clone()));
        row.client_secret_ciphertext = Set(Some(secret.ciphertext.clone()));
        row.client_secret_update_time = Set(Some(secret.time));
    }
    row.version = Set(expected_version + 1);
    row.update_time = Set(Utc::now());
    let updated = auth_provider::Entity::update_many()
        .set(row)
        .filter(auth_provider::Column::Id.eq(id.to_string()))
        .filter(auth_provider::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Deletes a provider.
pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    auth_provider::Entity::delete_many()
        .filter(auth_provider::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes every provider of `org` (their sealed client secrets are
/// columns of the rows). Returns how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(auth_provider::Entity::delete_many()
        .filter(auth_provider::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Number of providers of `org`.
pub async fn count(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let n = auth_provider::Entity::find()
        .filter(auth_provider::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A page of providers in creation order.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<AuthProvider>> {
    let mut q = auth_provider::Entity::find()
        .filter(auth_provider::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(auth_provider::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(auth_provider::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

fn sealed_of(m: &auth_provider::Model) -> Result<Option<Sealed>> {
    match (&m.client_secret_key_id, &m.client_secret_ciphertext) {
        (Some(kid), Some(ct)) => Sealed::from_stored(kid, ct)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("auth provider {} secret: {e}", m.id))),
        _ => Ok(None),
    }
}

/// The decrypted client secret of a provider.
pub async fn client_secret(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    org: Uuid,
    id: Uuid,
) -> Result<Option<String>> {
    let Some(m) = auth_provider::Entity::find_by_id(id.to_string())
        .filter(auth_provider::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let Some(sealed) = sealed_of(&m)? else {
        return Ok(None);
    };
    keyring
        .open_str(&sealed, &secret_aad(&id.to_string()))
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("auth provider {id} secret: {e}")))
}
