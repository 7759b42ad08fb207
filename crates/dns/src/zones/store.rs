//! Zone storage.

use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{Scope, Zone};
use crate::entity::zone;
use crate::error::{Error, Result};

fn to_zone(m: zone::Model) -> Result<Zone> {
    let corrupt = |what: &str| Error::Corrupt(format!("zone {}: {what}", m.id));
    Ok(Zone {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        project: m
            .project_id
            .as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| corrupt("project"))?,
        dns_name: m.dns_name,
        description: m.description,
        default_ttl: m.default_ttl,
        serial: m.serial,
        record_count: m.record_count,
        nameservers: Vec::new(),
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

fn to_row(z: &Zone) -> zone::ActiveModel {
    zone::ActiveModel {
        id: Set(z.id.to_string()),
        organization_id: Set(z.organization.to_string()),
        project_id: Set(z.project.map(|p| p.to_string())),
        dns_name: Set(z.dns_name.clone()),
        description: Set(z.description.clone()),
        default_ttl: Set(z.default_ttl),
        serial: Set(z.serial),
        record_count: Set(z.record_count),
        create_time: Set(z.create_time),
        update_time: Set(z.update_time),
    }
}

/// One zone of `org`.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Zone>> {
    zone::Entity::find_by_id(id.to_string())
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_zone)
        .transpose()
}

/// `org`'s zone with that apex.
pub async fn find_by_dns_name(
    conn: &impl ConnectionTrait,
    org: Uuid,
    dns_name: &str,
) -> Result<Option<Zone>> {
    zone::Entity::find()
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .filter(zone::Column::DnsName.eq(dns_name))
        .one(conn)
        .await?
        .map(to_zone)
        .transpose()
}

/// How many zones `org` has.
pub async fn count(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let n = zone::Entity::find()
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The most records one of `org`'s zones holds (0 without zones).
pub async fn max_record_count(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let fullest = zone::Entity::find()
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .order_by_desc(zone::Column::RecordCount)
        .one(conn)
        .await?;
    Ok(fullest.map_or(0, |z| z.record_count))
}

/// Stores a new zone.
pub async fn insert(conn: &impl ConnectionTrait, z: &Zone) -> Result<()> {
    zone::Entity::insert(to_row(z))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes every field of `z`.
pub async fn update(conn: &impl ConnectionTrait, z: &Zone) -> Result<()> {
    zone::Entity::update(to_row(z)).exec(conn).await?;
    Ok(())
}

/// Removes a zone (its records go first, see `records`).
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    zone::Entity::delete_many()
        .filter(zone::Column::Id.eq(id.to_string()))
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of one scope's zones by apex: the organization's
/// organization-scope zones, or one project's.
pub async fn list(
    conn: &impl ConnectionTrait,
    scope: Scope,
    page: &PageRequest,
) -> Result<Vec<Zone>> {
    let mut q = zone::Entity::find()
        .filter(zone::Column::OrganizationId.eq(scope.organization.to_string()));
    q = match scope.project {
        Some(project) => q.filter(zone::Column::ProjectId.eq(project.to_string())),
        None => q.filter(zone::Column::ProjectId.is_null()),
    };
    if let Some(after) = &page.after {
        q = q.filter(zone::Column::DnsName.gt(after.as_str()));
    }
    q.order_by_asc(zone::Column::DnsName)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_zone)
        .collect()
}

/// A read-only transaction seeing one snapshot throughout (REPEATABLE
/// READ on PostgreSQL; a SQLite read transaction is one by itself).
pub async fn snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    })
}

/// A project's zones (to purge them).
pub async fn in_project(
    conn: &impl ConnectionTrait,
    org: Uuid,
    project: Uuid,
) -> Result<Vec<Zone>> {
    zone::Entity::find()
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .filter(zone::Column::ProjectId.eq(project.to_string()))
        .all(conn)
        .await?
        .into_iter()
        .map(to_zone)
        .collect()
}

/// Every zone of an organization (to purge them).
pub async fn in_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<Zone>> {
    zone::Entity::find()
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .all(conn)
        .await?
        .into_iter()
        .map(to_zone)
        .collect()
}

/// Distinct (organization, project) pairs of project zones, after
/// `after`, at most `limit`.
pub async fn projects(
    conn: &impl ConnectionTrait,
    after: Option<(Uuid, Uuid)>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    use sea_orm::Condition;
    let mut q = zone::Entity::find()
        .select_only()
        .column(zone::Column::OrganizationId)
        .column(zone::Column::ProjectId)
        .filter(zone::Column::ProjectId.is_not_null())
        .distinct();
    if let Some((org, project)) = after {
        q = q.filter(
            Condition::any()
                .add(zone::Column::OrganizationId.gt(org.to_string()))
                .add(
                    Condition::all()
                        .add(zone::Column::OrganizationId.eq(org.to_string()))
                        .add(zone::Column::ProjectId.gt(project.to_string())),
                ),
        );
    }
    let rows: Vec<(String, Option<String>)> = q
        .order_by_asc(zone::Column::OrganizationId)
        .order_by_asc(zone::Column::ProjectId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    let corrupt = |v: &str| Error::Corrupt(format!("zone scope {v}"));
    rows.into_iter()
        .filter_map(|(o, p)| p.map(|p| (o, p)))
        .map(|(o, p)| {
            Ok((
                Uuid::parse_str(&o).map_err(|_| corrupt(&o))?,
                Uuid::parse_str(&p).map_err(|_| corrupt(&p))?,
            ))
        })
        .collect()
}

/// Distinct organizations holding zones, after `after`, at most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = zone::Entity::find()
        .select_only()
        .column(zone::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        q = q.filter(zone::Column::OrganizationId.gt(after.to_string()));
    }
    let rows: Vec<String> = q
        .order_by_asc(zone::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.iter()
        .map(|o| Uuid::parse_str(o).map_err(|_| Error::Corrupt(format!("zone org {o}"))))
        .collect()
}

/// Removes every zone of an organization (it was purged).
pub async fn delete_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(zone::Entity::delete_many()
        .filter(zone::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}
