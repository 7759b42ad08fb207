//! Usage event storage: the guarded, idempotent insert and the per-period
//! sums that price costs and invoices.

use chrono::Utc;
use loopback_runtime::db::is_unique_violation;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::UsageEvent;
use crate::entity::{invoice, usage_event};
use crate::error::{Error, Result};

/// What [`insert_if_period_open`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The event is stored (commit the transaction).
    Yes,
    /// Its idempotency key was seen before (nothing written).
    Duplicate,
    /// `period`'s invoice is no longer a draft (nothing written).
    PeriodClosed,
}

/// Inserts the event into `period` only if that period's invoice is still a
/// draft (or not generated), in one statement.
pub async fn insert_if_period_open(
    conn: &impl ConnectionTrait,
    e: &UsageEvent,
    period: &str,
    reporter: &str,
) -> Result<Inserted> {
    let closed = Query::select()
        .expr(Expr::val(1))
        .from(invoice::Entity)
        .and_where(invoice::Column::OrganizationId.eq(e.organization.to_string()))
        .and_where(invoice::Column::Period.eq(period))
        .and_where(invoice::Column::Status.ne(crate::invoices::InvoiceStatus::Draft.as_str()))
        .to_owned();
    let insert = Query::insert()
        .into_table(usage_event::Entity)
        .columns([
            usage_event::Column::OrganizationId,
            usage_event::Column::IdempotencyKey,
            usage_event::Column::ProjectId,
            usage_event::Column::Meter,
            usage_event::Column::Quantity,
            usage_event::Column::EventTime,
            usage_event::Column::Period,
            usage_event::Column::RecordTime,
            usage_event::Column::Reporter,
        ])
        .select_from(
            Query::select()
                .exprs([
                    Expr::val(e.organization.to_string()),
                    Expr::val(e.idempotency_key.clone()),
                    Expr::val(e.project.map(|p| p.to_string()).unwrap_or_default()),
                    Expr::val(e.meter.clone()),
                    Expr::val(e.quantity),
                    Expr::val(e.event_time),
                    Expr::val(period.to_string()),
                    Expr::val(Utc::now()),
                    Expr::val(reporter.to_string()),
                ])
                .and_where(Expr::exists(closed).not())
                .to_owned(),
        )
        .map_err(|err| Error::Corrupt(format!("usage insert: {err}")))?
        .to_owned();
    match conn.execute(&insert).await {
        Ok(done) if done.rows_affected() == 1 => Ok(Inserted::Yes),
        Ok(_) => Ok(Inserted::PeriodClosed),
        Err(err) if is_unique_violation(&err) => Ok(Inserted::Duplicate),
        Err(err) => Err(err.into()),
    }
}

/// Deletes every usage event of `org`. Returns how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(usage_event::Entity::delete_many()
        .filter(usage_event::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Organizations with usage events, in id order after `after`, at most
/// `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = usage_event::Entity::find()
        .select_only()
        .column(usage_event::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        q = q.filter(usage_event::Column::OrganizationId.gt(after.to_string()));
    }
    let ids: Vec<String> = q
        .order_by_asc(usage_event::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|_| Error::Corrupt(format!("usage organization {id:?}")))
        })
        .collect()
}

/// Total quantity per (project, meter) of `org` in `period`.
pub async fn sums(
    conn: &impl ConnectionTrait,
    org: Uuid,
    period: &str,
) -> Result<Vec<(String, String, i64)>> {
    Ok(usage_event::Entity::find()
        .select_only()
        .column(usage_event::Column::ProjectId)
        .column(usage_event::Column::Meter)
        // SUM(bigint) is numeric on PostgreSQL: cast back to BIGINT for i64.
        .column_as(Expr::cust("CAST(SUM(quantity) AS BIGINT)"), "quantity")
        .filter(usage_event::Column::OrganizationId.eq(org.to_string()))
        .filter(usage_event::Column::Period.eq(period))
        .group_by(usage_event::Column::ProjectId)
        .group_by(usage_event::Column::Meter)
        .into_tuple()
        .all(conn)
        .await?)
}
