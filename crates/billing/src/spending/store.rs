//! Spending limit and alert storage.

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{Alert, SpendingLimit};
use crate::entity::{spending_alert, spending_limit};
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
