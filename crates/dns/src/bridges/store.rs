//! Bridge storage; endpoints are stored as JSON.

use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Bridge, Endpoint};
use crate::entity::network_bridge;
use crate::error::{Error, Result};

fn to_bridge(m: network_bridge::Model) -> Result<Bridge> {
    let corrupt = |what: &str| Error::Corrupt(format!("network bridge {}: {what}", m.id));
    let endpoint = |json: &str| -> Result<Endpoint> {
        serde_json::from_str(json).map_err(|_| corrupt("endpoint"))
    };
    Ok(Bridge {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        endpoint_a: endpoint(&m.endpoint_a)?,
        endpoint_b: endpoint(&m.endpoint_b)?,
        state: m.state.parse().map_err(|_| corrupt("state"))?,
        display_name: m.display_name,
        state_reason: m.state_reason,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

fn to_row(b: &Bridge) -> Result<network_bridge::ActiveModel> {
    let json = |e: &Endpoint| {
        serde_json::to_string(e)
            .map_err(|e| Error::Corrupt(format!("network bridge {}: {e}", b.id)))
    };
    Ok(network_bridge::ActiveModel {
        id: Set(b.id.to_string()),
        organization_id: Set(b.organization.to_string()),
        display_name: Set(b.display_name.clone()),
        state: Set(b.state.as_str().to_string()),
        state_reason: Set(b.state_reason.clone()),
        endpoint_a: Set(json(&b.endpoint_a)?),
        endpoint_b: Set(json(&b.endpoint_b)?),
        version: Set(b.version),
        create_time: Set(b.create_time),
        update_time: Set(b.update_time),
    })
}

/// One bridge of `org`.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Bridge>> {
    network_bridge::Entity::find_by_id(id.to_string())
        .filter(network_bridge::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_bridge)
        .transpose()
}

/// Every bridge of `org` (in any state).
pub async fn all(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<Bridge>> {
    network_bridge::Entity::find()
        .filter(network_bridge::Column::OrganizationId.eq(org.to_string()))
        .order_by_asc(network_bridge::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(to_bridge)
        .collect()
}

/// How many bridges `org` has.
pub async fn count(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let n = network_bridge::Entity::find()
        .filter(network_bridge::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A page of `org`'s bridges in creation order.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<Bridge>> {
    let mut q = network_bridge::Entity::find()
        .filter(network_bridge::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(network_bridge::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(network_bridge::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_bridge)
        .collect()
}

/// Stores a new bridge.
pub async fn insert(conn: &impl ConnectionTrait, b: &Bridge) -> Result<()> {
    network_bridge::Entity::insert(to_row(b)?)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes every field of `b`.
pub async fn update(conn: &impl ConnectionTrait, b: &Bridge) -> Result<()> {
    network_bridge::Entity::update(to_row(b)?)
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes a bridge.
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    network_bridge::Entity::delete_many()
        .filter(network_bridge::Column::Id.eq(id.to_string()))
        .filter(network_bridge::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes every bridge of an organization (it was purged).
pub async fn delete_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(network_bridge::Entity::delete_many()
        .filter(network_bridge::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Distinct organizations holding bridges, after `after`, at most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = network_bridge::Entity::find()
        .select_only()
        .column(network_bridge::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        q = q.filter(network_bridge::Column::OrganizationId.gt(after.to_string()));
    }
    let rows: Vec<String> = q
        .order_by_asc(network_bridge::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.iter()
        .map(|o| Uuid::parse_str(o).map_err(|_| Error::Corrupt(format!("bridge org {o}"))))
        .collect()
}
