//! Record storage. The data is stored as JSON of [`RecordData`]; owner and
//! type are columns, indexed as `(zone_id, owner, record_type, id)` and
//! `(zone_id, record_type, owner, id)` so list pages (keyset on owner,
//! type, id; optionally of one owner and/or type) read one index range
//! however large the zone.

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Record, RecordData, RecordType};
use crate::entity::record;
use crate::error::{Error, Result};

/// Rows per statement for multi-row inserts and `IN` lists.
const CHUNK: usize = 500;

fn to_record(m: record::Model) -> Result<Record> {
    let corrupt = |what: &str| Error::Corrupt(format!("record {}: {what}", m.id));
    let data: RecordData = serde_json::from_str(&m.data).map_err(|_| corrupt("data"))?;
    if data.record_type().as_str() != m.record_type {
        return Err(corrupt("type"));
    }
    Ok(Record {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        // Set from the zone by the domain (`records::in_zone_scope`).
        project: None,
        zone: Uuid::parse_str(&m.zone_id).map_err(|_| corrupt("zone"))?,
        owner: m.owner,
        ttl: m.ttl,
        data,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

fn to_row(r: &Record) -> Result<record::ActiveModel> {
    Ok(record::ActiveModel {
        id: Set(r.id.to_string()),
        zone_id: Set(r.zone.to_string()),
        organization_id: Set(r.organization.to_string()),
        owner: Set(r.owner.clone()),
        record_type: Set(r.record_type().as_str().to_string()),
        ttl: Set(r.ttl),
        data: Set(serde_json::to_string(&r.data)
            .map_err(|e| Error::Corrupt(format!("record {}: {e}", r.id)))?),
        version: Set(r.version),
        create_time: Set(r.create_time),
        update_time: Set(r.update_time),
    })
}

fn all(rows: Vec<record::Model>) -> Result<Vec<Record>> {
    rows.into_iter().map(to_record).collect()
}

/// One record of `org`'s zone `zone`.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    zone: Uuid,
    id: Uuid,
) -> Result<Option<Record>> {
    record::Entity::find_by_id(id.to_string())
        .filter(record::Column::OrganizationId.eq(org.to_string()))
        .filter(record::Column::ZoneId.eq(zone.to_string()))
        .one(conn)
        .await?
        .map(to_record)
        .transpose()
}

/// The records of `zone` among `ids`.
pub async fn find_many(
    conn: &impl ConnectionTrait,
    zone: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Record>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows = record::Entity::find()
            .filter(record::Column::ZoneId.eq(zone.to_string()))
            .filter(record::Column::Id.is_in(chunk.iter().map(Uuid::to_string)))
            .all(conn)
            .await?;
        out.extend(all(rows)?);
    }
    Ok(out)
}

/// Every record of `zone` at one of `owners`.
pub async fn at_owners(
    conn: &impl ConnectionTrait,
    zone: Uuid,
    owners: &[String],
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for chunk in owners.chunks(CHUNK) {
        let rows = record::Entity::find()
            .filter(record::Column::ZoneId.eq(zone.to_string()))
            .filter(record::Column::Owner.is_in(chunk.iter().cloned()))
            .all(conn)
            .await?;
        out.extend(all(rows)?);
    }
    Ok(out)
}

/// Every record of `org`'s zone `zone`, by owner, type and id.
pub async fn all_in_zone(
    conn: &impl ConnectionTrait,
    org: Uuid,
    zone: Uuid,
) -> Result<Vec<Record>> {
    let rows = record::Entity::find()
        .filter(record::Column::ZoneId.eq(zone.to_string()))
        .filter(record::Column::OrganizationId.eq(org.to_string()))
        .order_by_asc(record::Column::Owner)
        .order_by_asc(record::Column::RecordType)
        .order_by_asc(record::Column::Id)
        .all(conn)
        .await?;
    all(rows)
}

/// Up to `limit` records of `zone` after the (owner, type, id) key
/// `after`, optionally only of `owner` and/or `record_type`, by that key.
pub async fn page(
    conn: &impl ConnectionTrait,
    zone: Uuid,
    owner: Option<&str>,
    record_type: Option<RecordType>,
    after: Option<&(String, String, String)>,
    limit: u64,
) -> Result<Vec<Record>> {
    let mut q = record::Entity::find().filter(record::Column::ZoneId.eq(zone.to_string()));
    if let Some(owner) = owner {
        q = q.filter(record::Column::Owner.eq(owner));
    }
    if let Some(t) = record_type {
        q = q.filter(record::Column::RecordType.eq(t.as_str()));
    }
    if let Some((o, t, i)) = after {
        // The key's columns not fixed by a filter, compared as a row value
        // in the order of the index serving the query, so the page starts
        // with an index seek however deep it is.
        let mut columns = Vec::new();
        let mut values = Vec::new();
        if owner.is_none() {
            columns.push(Expr::col(record::Column::Owner));
            values.push(Expr::value(o.clone()));
        }
        if record_type.is_none() {
            columns.push(Expr::col(record::Column::RecordType));
            values.push(Expr::value(t.clone()));
        }
        columns.push(Expr::col(record::Column::Id));
        values.push(Expr::value(i.clone()));
        q = q.filter(Expr::tuple(columns).gt(Expr::tuple(values)));
    }
    let rows = q
        .order_by_asc(record::Column::Owner)
        .order_by_asc(record::Column::RecordType)
        .order_by_asc(record::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    all(rows)
}

/// Stores new records.
pub async fn insert_many(conn: &impl ConnectionTrait, records: &[Record]) -> Result<()> {
    for chunk in records.chunks(CHUNK) {
        let rows = chunk.iter().map(to_row).collect::<Result<Vec<_>>>()?;
        record::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Writes every field of `r`.
pub async fn update(conn: &impl ConnectionTrait, r: &Record) -> Result<()> {
    record::Entity::update(to_row(r)?).exec(conn).await?;
    Ok(())
}

/// Removes records of `zone`.
pub async fn delete_ids(conn: &impl ConnectionTrait, zone: Uuid, ids: &[Uuid]) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        record::Entity::delete_many()
            .filter(record::Column::ZoneId.eq(zone.to_string()))
            .filter(record::Column::Id.is_in(chunk.iter().map(Uuid::to_string)))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Removes every record of `zone`.
pub async fn delete_zone(conn: &impl ConnectionTrait, zone: Uuid) -> Result<()> {
    record::Entity::delete_many()
        .filter(record::Column::ZoneId.eq(zone.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes every record of an organization (it was purged).
pub async fn delete_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(record::Entity::delete_many()
        .filter(record::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}
