//! Domain and claim storage.

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Domain, DomainName, DomainState};
use crate::entity::{domain, domain_claim};
use crate::error::{Error, Result};

fn to_domain(m: domain::Model) -> Result<Domain> {
    let corrupt = |what: &str| Error::Corrupt(format!("domain {}: {what}", m.id));
    Ok(Domain {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        state: m.state.parse().map_err(|_| corrupt("state"))?,
        domain_name: m.domain_name,
        registrar: m.registrar,
        registration_time: m.registration_time,
        expire_time: m.expire_time,
        auto_renew: m.auto_renew,
        verification_token: m.verification_token,
        verify_time: m.verify_time,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

fn to_row(d: &Domain) -> domain::ActiveModel {
    domain::ActiveModel {
        id: Set(d.id.to_string()),
        organization_id: Set(d.organization.to_string()),
        domain_name: Set(d.domain_name.clone()),
        registrar: Set(d.registrar.clone()),
        registration_time: Set(d.registration_time),
        expire_time: Set(d.expire_time),
        auto_renew: Set(d.auto_renew),
        state: Set(d.state.as_str().to_string()),
        verification_token: Set(d.verification_token.clone()),
        verify_time: Set(d.verify_time),
        version: Set(d.version),
        create_time: Set(d.create_time),
        update_time: Set(d.update_time),
    }
}

/// One domain of `org`.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Domain>> {
    domain::Entity::find_by_id(id.to_string())
        .filter(domain::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// `org`'s domain of that name.
pub async fn find_by_name(
    conn: &impl ConnectionTrait,
    org: Uuid,
    domain_name: &str,
) -> Result<Option<Domain>> {
    domain::Entity::find()
        .filter(domain::Column::OrganizationId.eq(org.to_string()))
        .filter(domain::Column::DomainName.eq(domain_name))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Stores a new domain.
pub async fn insert(conn: &impl ConnectionTrait, d: &Domain) -> Result<()> {
    domain::Entity::insert(to_row(d))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes every field of `d`.
pub async fn update(conn: &impl ConnectionTrait, d: &Domain) -> Result<()> {
    domain::Entity::update(to_row(d)).exec(conn).await?;
    Ok(())
}

/// Removes a domain.
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    domain::Entity::delete_many()
        .filter(domain::Column::Id.eq(id.to_string()))
        .filter(domain::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of `org`'s domains by name.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    state: Option<DomainState>,
    page: &PageRequest,
) -> Result<Vec<Domain>> {
    let mut q = domain::Entity::find().filter(domain::Column::OrganizationId.eq(org.to_string()));
    if let Some(state) = state {
        q = q.filter(domain::Column::State.eq(state.as_str()));
    }
    if let Some(after) = &page.after {
        q = q.filter(domain::Column::DomainName.gt(after.as_str()));
    }
    q.order_by_asc(domain::Column::DomainName)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Domains not yet EXPIRED whose registration expired by `now`.
pub async fn expired_live(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Vec<DomainName>> {
    domain::Entity::find()
        .filter(domain::Column::State.is_in([
            DomainState::PendingVerification.as_str(),
            DomainState::Verified.as_str(),
        ]))
        .filter(domain::Column::ExpireTime.lte(now))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| {
            let d = to_domain(m)?;
            Ok(DomainName {
                organization: d.organization,
                id: d.id,
            })
        })
        .collect()
}

/// The organization holding a verified name, if any.
pub async fn claim_holder(conn: &impl ConnectionTrait, domain_name: &str) -> Result<Option<Uuid>> {
    domain_claim::Entity::find_by_id(domain_name.to_string())
        .one(conn)
        .await?
        .map(|c| {
            Uuid::parse_str(&c.organization_id)
                .map_err(|_| Error::Corrupt(format!("claim of {domain_name}")))
        })
        .transpose()
}

/// Claims `domain_name` for `org` (its domain `id`); false when another
/// organization holds it. A concurrent claim by another organization waits
/// for it (the primary key), so exactly one wins.
pub async fn claim(
    conn: &impl ConnectionTrait,
    domain_name: &str,
    org: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let row = domain_claim::ActiveModel {
        domain_name: Set(domain_name.to_string()),
        organization_id: Set(org.to_string()),
        domain_id: Set(id.to_string()),
        claim_time: Set(now),
    };
    domain_claim::Entity::insert(row)
        .on_conflict(
            OnConflict::column(domain_claim::Column::DomainName)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    let holder = domain_claim::Entity::find_by_id(domain_name.to_string())
        .one(conn)
        .await?;
    Ok(holder
        .is_some_and(|c| c.organization_id == org.to_string() && c.domain_id == id.to_string()))
}

/// Frees `domain_name` if domain `id` holds it.
pub async fn release_claim(conn: &impl ConnectionTrait, domain_name: &str, id: Uuid) -> Result<()> {
    domain_claim::Entity::delete_many()
        .filter(domain_claim::Column::DomainName.eq(domain_name))
        .filter(domain_claim::Column::DomainId.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes every domain and claim of an organization (it was purged);
/// returns how many domains went.
pub async fn delete_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    domain_claim::Entity::delete_many()
        .filter(domain_claim::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(domain::Entity::delete_many()
        .filter(domain::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Distinct organizations holding domains or claims, after `after`, at
/// most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut d = domain::Entity::find()
        .select_only()
        .column(domain::Column::OrganizationId)
        .distinct();
    let mut c = domain_claim::Entity::find()
        .select_only()
        .column(domain_claim::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        d = d.filter(domain::Column::OrganizationId.gt(after.to_string()));
        c = c.filter(domain_claim::Column::OrganizationId.gt(after.to_string()));
    }
    let mut rows: Vec<String> = d
        .order_by_asc(domain::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.extend(
        c.order_by_asc(domain_claim::Column::OrganizationId)
            .limit(limit)
            .into_tuple::<String>()
            .all(conn)
            .await?,
    );
    rows.iter()
        .map(|o| Uuid::parse_str(o).map_err(|_| Error::Corrupt(format!("domain org {o}"))))
        .collect()
}
