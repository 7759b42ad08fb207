//! Authentication provider storage, and re-sealing secrets under the newest key.

use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::{Keyring, Sealed};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{AuthProvider, ProviderConfig, secret_aad};
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

/// The provider created in `org` with `request_id`.
pub async fn find_by_request(
    conn: &impl ConnectionTrait,
    org: Uuid,
    request_id: &str,
) -> Result<Option<AuthProvider>> {
    auth_provider::Entity::find()
        .filter(auth_provider::Column::OrganizationId.eq(org.to_string()))
        .filter(auth_provider::Column::RequestId.eq(request_id))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
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
        .open_str(&sealed, &secret_aad(id))
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("auth provider {id} secret: {e}")))
}

/// Re-seals every client secret not under the keyring's newest key.
/// Returns (re-sealed, already current). Fails without writing a row it
/// cannot open.
pub async fn rotate_secrets(conn: &impl ConnectionTrait, keyring: &Keyring) -> Result<(u64, u64)> {
    let rows = auth_provider::Entity::find()
        .filter(auth_provider::Column::ClientSecretCiphertext.is_not_null())
        .all(conn)
        .await?;
    let (mut rotated, mut current) = (0, 0);
    for m in rows {
        let Some(sealed) = sealed_of(&m)? else {
            continue;
        };
        if !keyring.needs_rotation(&sealed) {
            current += 1;
            continue;
        }
        let id = parse_stored_uuid(&m.id)?;
        let resealed = keyring
            .reseal(&sealed, secret_aad(id).as_bytes())
            .map_err(|e| Error::Corrupt(format!("auth provider {id} secret: {e}")))?;
        auth_provider::Entity::update_many()
            .set(auth_provider::ActiveModel {
                client_secret_key_id: Set(Some(resealed.key_id.clone())),
                client_secret_ciphertext: Set(Some(resealed.ciphertext_b64())),
                ..Default::default()
            })
            .filter(auth_provider::Column::Id.eq(m.id.clone()))
            .exec(conn)
            .await?;
        rotated += 1;
    }
    Ok((rotated, current))
}
