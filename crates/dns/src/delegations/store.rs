//! Delegation storage.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Delegation;
use crate::entity::delegation;
use crate::error::{Error, Result};

fn to_delegation(m: delegation::Model) -> Result<Delegation> {
    let corrupt = |what: &str| Error::Corrupt(format!("delegation {}: {what}", m.id));
    Ok(Delegation {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        zone: Uuid::parse_str(&m.zone_id).map_err(|_| corrupt("zone"))?,
        project: Uuid::parse_str(&m.project_id).map_err(|_| corrupt("project"))?,
        workspace: m.workspace_id,
        pattern: m.pattern,
        description: m.description,
        create_time: m.create_time,
    })
}

fn all(rows: Vec<delegation::Model>) -> Result<Vec<Delegation>> {
    rows.into_iter().map(to_delegation).collect()
}

/// Stores a new delegation.
pub async fn insert(conn: &impl ConnectionTrait, d: &Delegation) -> Result<()> {
    delegation::Entity::insert(delegation::ActiveModel {
        id: Set(d.id.to_string()),
        organization_id: Set(d.organization.to_string()),
        zone_id: Set(d.zone.to_string()),
        pattern: Set(d.pattern.clone()),
        project_id: Set(d.project.to_string()),
        workspace_id: Set(d.workspace.clone()),
        description: Set(d.description.clone()),
        create_time: Set(d.create_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// One delegation of `org`'s zone `zone`.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    zone: Uuid,
    id: Uuid,
) -> Result<Option<Delegation>> {
    delegation::Entity::find_by_id(id.to_string())
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .filter(delegation::Column::ZoneId.eq(zone.to_string()))
        .one(conn)
        .await?
        .map(to_delegation)
        .transpose()
}

/// Every delegation of a zone, by pattern.
pub async fn in_zone(
    conn: &impl ConnectionTrait,
    org: Uuid,
    zone: Uuid,
) -> Result<Vec<Delegation>> {
    all(delegation::Entity::find()
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .filter(delegation::Column::ZoneId.eq(zone.to_string()))
        .order_by_asc(delegation::Column::Pattern)
        .order_by_asc(delegation::Column::Id)
        .all(conn)
        .await?)
}

/// A page of a zone's delegations after the (pattern, id) key `after`.
pub async fn page(
    conn: &impl ConnectionTrait,
    org: Uuid,
    zone: Uuid,
    after: Option<(&str, &str)>,
    limit: u64,
) -> Result<Vec<Delegation>> {
    use sea_orm::Condition;
    let mut q = delegation::Entity::find()
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .filter(delegation::Column::ZoneId.eq(zone.to_string()));
    if let Some((pattern, id)) = after {
        q = q.filter(
            Condition::any()
                .add(delegation::Column::Pattern.gt(pattern))
                .add(
                    Condition::all()
                        .add(delegation::Column::Pattern.eq(pattern))
                        .add(delegation::Column::Id.gt(id)),
                ),
        );
    }
    all(q
        .order_by_asc(delegation::Column::Pattern)
        .order_by_asc(delegation::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Removes one delegation.
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    delegation::Entity::delete_many()
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .filter(delegation::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes a zone's delegations (the zone is being deleted).
pub async fn delete_zone(conn: &impl ConnectionTrait, org: Uuid, zone: Uuid) -> Result<u64> {
    Ok(delegation::Entity::delete_many()
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .filter(delegation::Column::ZoneId.eq(zone.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Removes the delegations to a project (or its workspaces).
pub async fn delete_project(conn: &impl ConnectionTrait, org: Uuid, project: Uuid) -> Result<u64> {
    Ok(delegation::Entity::delete_many()
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .filter(delegation::Column::ProjectId.eq(project.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Removes every delegation of an organization.
pub async fn delete_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(delegation::Entity::delete_many()
        .filter(delegation::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Distinct (organization, project) pairs delegations point to, after
/// `after`, at most `limit`.
pub async fn projects(
    conn: &impl ConnectionTrait,
    after: Option<(Uuid, Uuid)>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    use sea_orm::Condition;
    let mut q = delegation::Entity::find()
        .select_only()
        .column(delegation::Column::OrganizationId)
        .column(delegation::Column::ProjectId)
        .distinct();
    if let Some((org, project)) = after {
        q = q.filter(
            Condition::any()
                .add(delegation::Column::OrganizationId.gt(org.to_string()))
                .add(
                    Condition::all()
                        .add(delegation::Column::OrganizationId.eq(org.to_string()))
                        .add(delegation::Column::ProjectId.gt(project.to_string())),
                ),
        );
    }
    let rows: Vec<(String, String)> = q
        .order_by_asc(delegation::Column::OrganizationId)
        .order_by_asc(delegation::Column::ProjectId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|(o, p)| {
            Ok((
                Uuid::parse_str(&o).map_err(|_| Error::Corrupt(format!("delegation org {o}")))?,
                Uuid::parse_str(&p)
                    .map_err(|_| Error::Corrupt(format!("delegation project {p}")))?,
            ))
        })
        .collect()
}

/// Distinct organizations holding delegations, after `after`, at most
/// `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = delegation::Entity::find()
        .select_only()
        .column(delegation::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        q = q.filter(delegation::Column::OrganizationId.gt(after.to_string()));
    }
    let rows: Vec<String> = q
        .order_by_asc(delegation::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.iter()
        .map(|o| Uuid::parse_str(o).map_err(|_| Error::Corrupt(format!("delegation org {o}"))))
        .collect()
}
