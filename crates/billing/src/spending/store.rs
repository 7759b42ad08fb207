//! Spending limit and alert storage.

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Alert, SpendingLimit};
use crate::entity::{spending_alert, spending_alert_outbox, spending_limit};
use crate::error::{Error, Result};

fn to_domain(m: spending_limit::Model) -> Result<SpendingLimit> {
    let thresholds: Vec<i32> = serde_json::from_str(&m.thresholds)
        .map_err(|e| Error::Corrupt(format!("spending thresholds: {e}")))?;
    Ok(SpendingLimit {
        organization: Uuid::parse_str(&m.organization_id)
            .map_err(|e| Error::Corrupt(format!("spending limit organization: {e}")))?,
        limit_minor: m.limit_minor,
        currency: m.currency,
        thresholds,
        hard: m.hard,
        update_time: m.update_time,
    })
}

/// The organization's limit, if any.
pub async fn get(conn: &impl ConnectionTrait, org: Uuid) -> Result<Option<SpendingLimit>> {
    spending_limit::Entity::find_by_id(org.to_string())
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Sets (or replaces) the organization's limit.
pub async fn put(conn: &impl ConnectionTrait, limit: &SpendingLimit) -> Result<()> {
    let org = limit.organization;
    let row = spending_limit::ActiveModel {
        organization_id: Set(org.to_string()),
        limit_minor: Set(limit.limit_minor),
        currency: Set(limit.currency.clone()),
        thresholds: Set(
            serde_json::to_string(&limit.thresholds).map_err(|e| Error::Corrupt(e.to_string()))?
        ),
        hard: Set(limit.hard),
        update_time: Set(limit.update_time),
    };
    spending_limit::Entity::delete_by_id(org.to_string())
        .exec(conn)
        .await?;
    spending_limit::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Records that `threshold` was crossed in `period`; false when it already
/// was (the primary key makes each fire once, whoever races).
pub async fn record_alert(
    conn: &impl ConnectionTrait,
    org: Uuid,
    period: &str,
    threshold: i32,
    spend: i64,
) -> Result<bool> {
    let inserted = spending_alert::Entity::insert(spending_alert::ActiveModel {
        organization_id: Set(org.to_string()),
        period: Set(period.to_string()),
        threshold_percent: Set(threshold),
        spend_minor: Set(spend),
        alert_time: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            spending_alert::Column::OrganizationId,
            spending_alert::Column::Period,
            spending_alert::Column::ThresholdPercent,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

/// The alerts of `period`, by threshold.
pub async fn alerts(conn: &impl ConnectionTrait, org: Uuid, period: &str) -> Result<Vec<Alert>> {
    Ok(spending_alert::Entity::find()
        .filter(spending_alert::Column::OrganizationId.eq(org.to_string()))
        .filter(spending_alert::Column::Period.eq(period))
        .order_by_asc(spending_alert::Column::ThresholdPercent)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| Alert {
            threshold_percent: a.threshold_percent,
            spend_minor: a.spend_minor,
            alert_time: a.alert_time,
        })
        .collect())
}

/// Deletes `org`'s spending limit and every alert it fired. Returns how
/// many rows went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    let limits = spending_limit::Entity::delete_many()
        .filter(spending_limit::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected;
    let alerts = spending_alert::Entity::delete_many()
        .filter(spending_alert::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected;
    // Undelivered alerts: there is nobody left to tell.
    let pending = spending_alert_outbox::Entity::delete_many()
        .filter(spending_alert_outbox::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(limits + alerts + pending)
}

/// Organizations with a spending limit or alerts, in id order after
/// `after`, at most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    let mut ids: Vec<String> = spending_limit::Entity::find()
        .select_only()
        .column(spending_limit::Column::OrganizationId)
        .filter(spending_limit::Column::OrganizationId.gt(after.as_str()))
        .order_by_asc(spending_limit::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    let alerted: Vec<String> = spending_alert::Entity::find()
        .select_only()
        .column(spending_alert::Column::OrganizationId)
        .distinct()
        .filter(spending_alert::Column::OrganizationId.gt(after.as_str()))
        .order_by_asc(spending_alert::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    ids.extend(alerted);
    ids.sort();
    ids.dedup();
    ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|_| Error::Corrupt(format!("spending organization {id:?}")))
        })
        .collect()
}

/// Every organization with a hard limit.
pub async fn organizations_with_hard_limits(conn: &impl ConnectionTrait) -> Result<Vec<Uuid>> {
    Ok(spending_limit::Entity::find()
        .filter(spending_limit::Column::Hard.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| Uuid::parse_str(&row.organization_id).ok())
        .collect())
}
