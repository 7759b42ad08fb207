//! Git storage: providers, pending authorizations, connections (tokens
//! only sealed) and linked repositories.

use chrono::{DateTime, Utc};
use loopback_runtime::db::is_unique_violation;
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::Sealed;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel as _, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    Connection, ConnectionState, GitConnectionName, PendingState, ProviderConfig, ProviderKind,
    Repository,
};
use crate::entity::{git_connection, git_oauth_state, git_provider, repository};
use crate::error::{Error, Result};

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(what.to_string())
}

fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| corrupt(format!("bad id {s:?}")))
}

fn sealed(key_id: &str, ciphertext: &str) -> Result<Sealed> {
    Sealed::from_stored(key_id, ciphertext).map_err(corrupt)
}

fn provider_to_domain(m: git_provider::Model) -> Result<ProviderConfig> {
    let secret = match (&m.secret_key_id, &m.secret_ciphertext) {
        (Some(k), Some(c)) => Some(sealed(k, c)?),
        _ => None,
    };
    Ok(ProviderConfig {
        kind: ProviderKind::parse(&m.provider).ok_or_else(|| corrupt("provider kind"))?,
        client_id: m.client_id,
        secret,
        base_url: m.base_url,
        api_url: m.api_url,
        redirect_uri: m.redirect_uri,
        scopes: serde_json::from_str(&m.scopes).map_err(corrupt)?,
        update_time: m.update_time,
    })
}

/// One provider's configuration.
pub async fn provider(
    conn: &impl ConnectionTrait,
    kind: ProviderKind,
) -> Result<Option<ProviderConfig>> {
    git_provider::Entity::find_by_id(kind.key().to_string())
        .one(conn)
        .await?
        .map(provider_to_domain)
        .transpose()
}

/// Every configured provider.
pub async fn providers(conn: &impl ConnectionTrait) -> Result<Vec<ProviderConfig>> {
    git_provider::Entity::find()
        .order_by_asc(git_provider::Column::Provider)
        .all(conn)
        .await?
        .into_iter()
        .map(provider_to_domain)
        .collect()
}

/// Creates or replaces a provider's configuration.
pub async fn put_provider(conn: &impl ConnectionTrait, p: &ProviderConfig) -> Result<()> {
    git_provider::Entity::delete_by_id(p.kind.key().to_string())
        .exec(conn)
        .await?;
    git_provider::Entity::insert(git_provider::ActiveModel {
        provider: Set(p.kind.key().to_string()),
        client_id: Set(p.client_id.clone()),
        secret_key_id: Set(p.secret.as_ref().map(|s| s.key_id.clone())),
        secret_ciphertext: Set(p.secret.as_ref().map(Sealed::ciphertext_b64)),
        base_url: Set(p.base_url.clone()),
        api_url: Set(p.api_url.clone()),
        redirect_uri: Set(p.redirect_uri.clone()),
        scopes: Set(serde_json::to_string(&p.scopes).map_err(corrupt)?),
        update_time: Set(p.update_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Stores a pending authorization.
pub async fn insert_state(conn: &impl ConnectionTrait, s: &PendingState) -> Result<()> {
    git_oauth_state::Entity::insert(git_oauth_state::ActiveModel {
        id: Set(s.id.clone()),
        organization_id: Set(s.organization.to_string()),
        provider: Set(s.provider.key().to_string()),
        caller: Set(s.caller.clone()),
        connection_id: Set(s.connection.map(|c| c.to_string())),
        verifier_key_id: Set(s.verifier.key_id.clone()),
        verifier_ciphertext: Set(s.verifier.ciphertext_b64()),
        expire_time: Set(s.expire_time),
        create_time: Set(Utc::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Takes a pending authorization: returns it and deletes it, for exactly
/// one caller however many race with the same state. Expired ones are
/// swept on the way.
pub async fn take_state(conn: &impl ConnectionTrait, id: &str) -> Result<Option<PendingState>> {
    git_oauth_state::Entity::delete_many()
        .filter(git_oauth_state::Column::ExpireTime.lt(Utc::now() - chrono::Duration::days(1)))
        .exec(conn)
        .await?;
    let Some(m) = git_oauth_state::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let deleted = git_oauth_state::Entity::delete_by_id(id.to_string())
        .exec(conn)
        .await?;
    if deleted.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Some(PendingState {
        organization: uuid(&m.organization_id)?,
        provider: ProviderKind::parse(&m.provider).ok_or_else(|| corrupt("state provider"))?,
        caller: m.caller,
        connection: m.connection_id.as_deref().map(uuid).transpose()?,
        verifier: sealed(&m.verifier_key_id, &m.verifier_ciphertext)?,
        expire_time: m.expire_time,
        id: m.id,
    }))
}

fn connection_to_domain(m: git_connection::Model) -> Result<Connection> {
    Ok(Connection {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        provider: ProviderKind::parse(&m.provider).ok_or_else(|| corrupt("connection provider"))?,
        account_login: m.account_login,
        account_id: m.account_id,
        state: ConnectionState::parse(&m.state).ok_or_else(|| corrupt("connection state"))?,
        state_reason: m.state_reason,
        token_expire_time: m.token_expire_time,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

/// Stores a new connection with its sealed tokens.
pub async fn insert_connection(
    conn: &impl ConnectionTrait,
    c: &Connection,
    access: &Sealed,
    refresh: Option<&Sealed>,
) -> Result<()> {
    git_connection::Entity::insert(git_connection::ActiveModel {
        id: Set(c.id.to_string()),
        organization_id: Set(c.organization.to_string()),
        provider: Set(c.provider.key().to_string()),
        account_login: Set(c.account_login.clone()),
        account_id: Set(c.account_id.clone()),
        state: Set(c.state.as_str().to_string()),
        state_reason: Set(c.state_reason.clone()),
        access_key_id: Set(access.key_id.clone()),
        access_ciphertext: Set(access.ciphertext_b64()),
        refresh_key_id: Set(refresh.map(|r| r.key_id.clone())),
        refresh_ciphertext: Set(refresh.map(Sealed::ciphertext_b64)),
        token_expire_time: Set(c.token_expire_time),
        version: Set(c.version),
        create_time: Set(c.create_time),
        update_time: Set(c.update_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Writes a connection's fields and, when given, its new tokens.
pub async fn update_connection(
    conn: &impl ConnectionTrait,
    c: &Connection,
    tokens: Option<(&Sealed, Option<&Sealed>)>,
) -> Result<()> {
    let Some(row) = git_connection::Entity::find_by_id(c.id.to_string())
        .one(conn)
        .await?
    else {
        return Err(Error::not_found(c.name().to_string()));
    };
    let mut row = row.into_active_model();
    row.account_login = Set(c.account_login.clone());
    row.account_id = Set(c.account_id.clone());
    row.state = Set(c.state.as_str().to_string());
    row.state_reason = Set(c.state_reason.clone());
    row.token_expire_time = Set(c.token_expire_time);
    row.version = Set(c.version);
    row.update_time = Set(c.update_time);
    if let Some((access, refresh)) = tokens {
        row.access_key_id = Set(access.key_id.clone());
        row.access_ciphertext = Set(access.ciphertext_b64());
        row.refresh_key_id = Set(refresh.map(|r| r.key_id.clone()));
        row.refresh_ciphertext = Set(refresh.map(Sealed::ciphertext_b64));
    }
    git_connection::Entity::update(row).exec(conn).await?;
    Ok(())
}

/// One connection of `org`.
pub async fn connection(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Connection>> {
    git_connection::Entity::find_by_id(id.to_string())
        .filter(git_connection::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(connection_to_domain)
        .transpose()
}

/// A connection's sealed access and refresh tokens.
pub async fn tokens(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<(Sealed, Option<Sealed>)>> {
    let Some(m) = git_connection::Entity::find_by_id(id.to_string())
        .filter(git_connection::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let access = sealed(&m.access_key_id, &m.access_ciphertext)?;
    let refresh = match (&m.refresh_key_id, &m.refresh_ciphertext) {
        (Some(k), Some(c)) => Some(sealed(k, c)?),
        _ => None,
    };
    Ok(Some((access, refresh)))
}

/// A page of `org`'s connections in creation order.
pub async fn list_connections(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<Connection>> {
    let mut q = git_connection::Entity::find()
        .filter(git_connection::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(git_connection::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(git_connection::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(connection_to_domain)
        .collect()
}

/// Active connections with a refresh token whose access token expires
/// before `before`.
pub async fn expiring_connections(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<Vec<GitConnectionName>> {
    git_connection::Entity::find()
        .filter(git_connection::Column::State.eq(ConnectionState::Active.as_str()))
        .filter(git_connection::Column::RefreshCiphertext.is_not_null())
        .filter(git_connection::Column::TokenExpireTime.lt(before))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| {
            Ok(GitConnectionName {
                organization: uuid(&m.organization_id)?,
                id: uuid(&m.id)?,
            })
        })
        .collect()
}

/// Deletes a connection.
pub async fn delete_connection(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    git_connection::Entity::delete_many()
        .filter(git_connection::Column::Id.eq(id.to_string()))
        .filter(git_connection::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// How many repositories are linked through a connection.
pub async fn repositories_of_connection(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<u64> {
    Ok(repository::Entity::find()
        .filter(repository::Column::OrganizationId.eq(org.to_string()))
        .filter(repository::Column::ConnectionId.eq(id.to_string()))
        .count(conn)
        .await?)
}

fn repository_to_domain(m: repository::Model) -> Result<Repository> {
    Ok(Repository {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        connection: uuid(&m.connection_id)?,
        full_name: m.full_name,
        default_branch: m.default_branch,
        create_time: m.create_time,
    })
}

/// Links a repository; false when it is already linked through that
/// connection.
pub async fn insert_repository(conn: &impl ConnectionTrait, r: &Repository) -> Result<bool> {
    let inserted = repository::Entity::insert(repository::ActiveModel {
        id: Set(r.id.to_string()),
        organization_id: Set(r.organization.to_string()),
        connection_id: Set(r.connection.to_string()),
        full_name: Set(r.full_name.clone()),
        default_branch: Set(r.default_branch.clone()),
        create_time: Set(r.create_time),
    })
    .exec_without_returning(conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// One repository of `org`.
pub async fn repository(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Repository>> {
    repository::Entity::find_by_id(id.to_string())
        .filter(repository::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(repository_to_domain)
        .transpose()
}

/// A page of `org`'s repositories in creation order.
pub async fn list_repositories(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<Repository>> {
    let mut q =
        repository::Entity::find().filter(repository::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(repository::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(repository::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(repository_to_domain)
        .collect()
}

/// Unlinks a repository.
pub async fn delete_repository(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    repository::Entity::delete_many()
        .filter(repository::Column::Id.eq(id.to_string()))
        .filter(repository::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes every pending authorization, connection (with its sealed
/// tokens) and linked repository of `org`; how many rows went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    use crate::store::delete_of_organization as delete;
    Ok(
        delete::<repository::Entity>(conn, repository::Column::OrganizationId, org).await?
            + delete::<git_connection::Entity>(conn, git_connection::Column::OrganizationId, org)
                .await?
            + delete::<git_oauth_state::Entity>(conn, git_oauth_state::Column::OrganizationId, org)
                .await?,
    )
}

/// Organizations with Git rows, in id order after `after`, at most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    use crate::store::organizations_of as of;
    let mut all =
        of::<git_oauth_state::Entity>(conn, git_oauth_state::Column::OrganizationId, after, limit)
            .await?;
    all.extend(
        of::<git_connection::Entity>(conn, git_connection::Column::OrganizationId, after, limit)
            .await?,
    );
    all.extend(
        of::<repository::Entity>(conn, repository::Column::OrganizationId, after, limit).await?,
    );
    Ok(all)
}
