//! Quota reservation and usage report storage.

use chrono::{DateTime, Utc};
use loopback_runtime::db::is_unique_violation;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{Reservation, state};
use crate::entity::{quota_reservation, usage_report};
use crate::error::{Error, Result};
use crate::model::parse_stored_uuid;

fn to_domain(m: quota_reservation::Model) -> Result<Reservation> {
    let now = Utc::now();
    let state = match m.state.as_str() {
        state::RESERVED if m.expire_time <= now => state::EXPIRED,
        state::RESERVED => state::RESERVED,
        state::COMMITTED => state::COMMITTED,
        state::RELEASED => state::RELEASED,
        other => return Err(Error::Corrupt(format!("reservation state {other:?}"))),
    };
    Ok(Reservation {
        organization: parse_stored_uuid(&m.organization_id)?,
        request_id: m.request_id,
        limit: m.limit_key,
        amount: m.amount,
        state,
        create_time: m.create_time,
        expire_time: m.expire_time,
    })
}

/// The reservation `request_id` names in `org`.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    request_id: &str,
) -> Result<Option<Reservation>> {
    quota_reservation::Entity::find_by_id((org.to_string(), request_id.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Deletes every reservation and usage report of `org`. Returns how many
/// rows went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    let reservations = quota_reservation::Entity::delete_many()
        .filter(quota_reservation::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected;
    let reports = usage_report::Entity::delete_many()
        .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(reservations + reports)
}

/// Units held against `limit`: committed plus unexpired reserved.
pub async fn reserved_usage(conn: &impl ConnectionTrait, org: Uuid, limit: &str) -> Result<i64> {
    let now = Utc::now();
    let rows = quota_reservation::Entity::find()
        .filter(quota_reservation::Column::OrganizationId.eq(org.to_string()))
        .filter(quota_reservation::Column::LimitKey.eq(limit))
        .filter(quota_reservation::Column::State.is_in([state::RESERVED, state::COMMITTED]))
        .all(conn)
        .await?;
    Ok(rows
        .iter()
        .filter(|r| r.state == state::COMMITTED || r.expire_time > now)
        .map(|r| r.amount)
        .sum())
}

/// Inserts a new RESERVED reservation.
pub async fn insert(
    conn: &impl ConnectionTrait,
    org: Uuid,
    request_id: &str,
    limit: &str,
    amount: i64,
    expire_time: DateTime<Utc>,
) -> Result<()> {
    let now = Utc::now();
    quota_reservation::Entity::insert(quota_reservation::ActiveModel {
        organization_id: Set(org.to_string()),
        request_id: Set(request_id.to_string()),
        limit_key: Set(limit.to_string()),
        amount: Set(amount),
        state: Set(state::RESERVED.into()),
        create_time: Set(now),
        update_time: Set(now),
        expire_time: Set(expire_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Moves a reservation to `target`.
pub async fn set_state(
    conn: &impl ConnectionTrait,
    org: Uuid,
    request_id: &str,
    target: &str,
) -> Result<()> {
    quota_reservation::Entity::update_many()
        .col_expr(quota_reservation::Column::State, Expr::value(target))
        .col_expr(
            quota_reservation::Column::UpdateTime,
            Expr::value(Utc::now()),
        )
        .filter(quota_reservation::Column::OrganizationId.eq(org.to_string()))
        .filter(quota_reservation::Column::RequestId.eq(request_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The latest reported usage of every reported limit of `org`.
pub async fn reported_usage(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<(String, i64)>> {
    Ok(usage_report::Entity::find()
        .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.limit_key, r.usage))
        .collect())
}

/// Stores a usage report if it is newer than the stored one. Returns
/// whether it was.
pub async fn report_usage(
    conn: &impl ConnectionTrait,
    org: Uuid,
    limit: &str,
    usage: i64,
    revision: i64,
) -> Result<bool> {
    let existing = usage_report::Entity::find_by_id((org.to_string(), limit.to_string()))
        .one(conn)
        .await?;
    Ok(match existing {
        Some(r) if r.revision >= revision => false,
        Some(_) => {
            usage_report::Entity::update_many()
                .col_expr(usage_report::Column::Usage, Expr::value(usage))
                .col_expr(usage_report::Column::Revision, Expr::value(revision))
                .col_expr(usage_report::Column::ReportTime, Expr::value(Utc::now()))
                .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
                .filter(usage_report::Column::LimitKey.eq(limit))
                .filter(usage_report::Column::Revision.lt(revision))
                .exec(conn)
                .await?
                .rows_affected
                == 1
        }
        None => usage_report::Entity::insert(usage_report::ActiveModel {
            organization_id: Set(org.to_string()),
            limit_key: Set(limit.to_string()),
            usage: Set(usage),
            revision: Set(revision),
            report_time: Set(Utc::now()),
        })
        .exec_without_returning(conn)
        .await
        .map(|_| true)
        // A concurrent first report won; ours is not newer than it.
        .or_else(|e| {
            if is_unique_violation(&e) {
                Ok(false)
            } else {
                Err(e)
            }
        })?,
    })
}
