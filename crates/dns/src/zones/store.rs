//! Zone storage.

use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::Zone;
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

/// A page of `org`'s zones by apex.
pub async fn list(conn: &impl ConnectionTrait, org: Uuid, page: &PageRequest) -> Result<Vec<Zone>> {
    let mut q = zone::Entity::find().filter(zone::Column::OrganizationId.eq(org.to_string()));
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
