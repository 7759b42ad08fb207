//! Spending alert outbox storage.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::PendingAlert;
use crate::entity::spending_alert_outbox as outbox;
use crate::error::{Error, Result};

/// Queues an alert (once per organization, period and threshold).
pub async fn insert(conn: &impl ConnectionTrait, a: &PendingAlert) -> Result<()> {
    outbox::Entity::insert(outbox::ActiveModel {
        organization_id: Set(a.organization.to_string()),
        period: Set(a.period.clone()),
        threshold_percent: Set(a.threshold_percent),
        spend_minor: Set(a.spend_minor),
        limit_minor: Set(a.limit_minor),
        currency: Set(a.currency.clone()),
        alert_time: Set(a.alert_time),
        attempts: Set(0),
        next_attempt_time: Set(a.alert_time),
        last_error: Set(String::new()),
    })
    .on_conflict(
        OnConflict::columns([
            outbox::Column::OrganizationId,
            outbox::Column::Period,
            outbox::Column::ThresholdPercent,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Alerts due by `now`, oldest first.
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<PendingAlert>> {
    outbox::Entity::find()
        .filter(outbox::Column::NextAttemptTime.lte(now))
        .order_by_asc(outbox::Column::AlertTime)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| {
            Ok(PendingAlert {
                organization: Uuid::parse_str(&m.organization_id)
                    .map_err(|e| Error::Corrupt(format!("alert outbox organization: {e}")))?,
                period: m.period,
                threshold_percent: m.threshold_percent,
                spend_minor: m.spend_minor,
                limit_minor: m.limit_minor,
                currency: m.currency,
                alert_time: m.alert_time,
                attempts: m.attempts,
            })
        })
        .collect()
}

fn key(a: &PendingAlert) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(outbox::Column::OrganizationId.eq(a.organization.to_string()))
        .add(outbox::Column::Period.eq(a.period.as_str()))
        .add(outbox::Column::ThresholdPercent.eq(a.threshold_percent))
}

/// Removes a delivered (or undeliverable) alert.
pub async fn delete(conn: &impl ConnectionTrait, a: &PendingAlert) -> Result<()> {
    outbox::Entity::delete_many()
        .filter(key(a))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn postpone(
    conn: &impl ConnectionTrait,
    a: &PendingAlert,
    next: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Attempts, Expr::value(a.attempts + 1))
        .col_expr(outbox::Column::NextAttemptTime, Expr::value(next))
        .col_expr(outbox::Column::LastError, Expr::value(error))
        .filter(key(a))
        .exec(conn)
        .await?;
    Ok(())
}
