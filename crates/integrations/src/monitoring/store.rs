//! Monitoring source storage.

use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Source;
use crate::entity::monitoring_source;
use crate::error::{Error, Result};

fn to_domain(m: monitoring_source::Model) -> Result<Source> {
    let corrupt = |what: &str| Error::Corrupt(format!("monitoring source {}: {what}", m.id));
    Ok(Source {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        labels: serde_json::from_str(&m.labels).map_err(|_| corrupt("labels"))?,
        source_type: m.source_type,
        display_name: m.display_name,
        endpoint: m.endpoint,
        enabled: m.enabled,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

fn row(s: &Source) -> Result<monitoring_source::ActiveModel> {
    Ok(monitoring_source::ActiveModel {
        id: Set(s.id.to_string()),
        organization_id: Set(s.organization.to_string()),
        source_type: Set(s.source_type.clone()),
        display_name: Set(s.display_name.clone()),
        endpoint: Set(s.endpoint.clone()),
        labels: Set(serde_json::to_string(&s.labels).map_err(|e| Error::Corrupt(e.to_string()))?),
        enabled: Set(s.enabled),
        version: Set(s.version),
        create_time: Set(s.create_time),
        update_time: Set(s.update_time),
    })
}

/// Stores a new source.
pub async fn insert(conn: &impl ConnectionTrait, s: &Source) -> Result<()> {
    monitoring_source::Entity::insert(row(s)?)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes a source.
pub async fn update(conn: &impl ConnectionTrait, s: &Source) -> Result<()> {
    monitoring_source::Entity::update(row(s)?)
        .exec(conn)
        .await?;
    Ok(())
}

/// One source of `org`.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Source>> {
    monitoring_source::Entity::find_by_id(id.to_string())
        .filter(monitoring_source::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// A page of `org`'s sources in creation order.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<Source>> {
    let mut q = monitoring_source::Entity::find()
        .filter(monitoring_source::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(monitoring_source::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(monitoring_source::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Deletes a source.
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    monitoring_source::Entity::delete_many()
        .filter(monitoring_source::Column::Id.eq(id.to_string()))
        .filter(monitoring_source::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes every monitoring source of `org`; how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    crate::store::delete_of_organization::<monitoring_source::Entity>(
        conn,
        monitoring_source::Column::OrganizationId,
        org,
    )
    .await
}

/// Organizations with monitoring sources, in id order after `after`, at
/// most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    crate::store::organizations_of::<monitoring_source::Entity>(
        conn,
        monitoring_source::Column::OrganizationId,
        after,
        limit,
    )
    .await
}
