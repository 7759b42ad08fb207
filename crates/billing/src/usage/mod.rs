//! Metered usage: events from platform services, counted once per
//! idempotency key (the primary key makes retries and races safe on SQLite
//! and PostgreSQL alike), each stored with the billing period it is billed
//! in (see [`Billing::record_usage`]).

pub mod grpc;

use chrono::{DateTime, Datelike as _, Utc};
use loopback_runtime::db::is_unique_violation;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
use uuid::Uuid;

use crate::entity::usage_event;
use crate::error::{Error, Result};
use crate::{Billing, invoices};

/// A validated usage event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// Organization.
    pub organization: Uuid,
    /// Project, if any.
    pub project: Option<Uuid>,
    /// Meter (in the price book).
    pub meter: String,
    /// Quantity.
    pub quantity: i64,
    /// When it happened.
    pub event_time: DateTime<Utc>,
    /// The reporter's idempotency key.
    pub idempotency_key: String,
}

/// The billing period (`YYYY-MM`, UTC) of a time.
pub fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// How often an event is retried when the period it was aimed at closes
/// under it (each retry aims at a later period, so this is never reached in
/// practice).
const MAX_PERIOD_RETRIES: usize = 24;

impl Billing {
    /// Records an event; false when its idempotency key was seen before.
    ///
    /// The event is billed in its own period (the UTC month of its time)
    /// unless that period's invoice is no longer a draft; then in the next
    /// period that still has a draft (or no invoice yet), so a finalized
    /// invoice never changes and always equals its period's cost summary.
    /// The insert is guarded in the same statement by "that period is still
    /// open", and on PostgreSQL runs under the organization's invoice lock
    /// taken shared, so it cannot race a finalize.
    pub async fn record_usage(&self, reporter: &str, e: &UsageEvent) -> Result<bool> {
        let own_period = period_of(e.event_time);
        for _ in 0..MAX_PERIOD_RETRIES {
            let period = self
                .billing_period(self.db(), e.organization, &own_period)
                .await?;
            let txn = self.db().begin().await?;
            invoices::store::lock_shared(&txn, e.organization).await?;
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
                            Expr::val(period.clone()),
                            Expr::val(Utc::now()),
                            Expr::val(reporter.to_string()),
                        ])
                        .and_where(
                            Expr::exists(invoices::store::period_closed(e.organization, &period))
                                .not(),
                        )
                        .to_owned(),
                )
                .map_err(|err| Error::Corrupt(format!("usage insert: {err}")))?
                .to_owned();
            match txn.execute(&insert).await {
                Ok(done) if done.rows_affected() == 1 => {
                    txn.commit().await?;
                    return Ok(true);
                }
                // The period closed since it was chosen: aim at the next one.
                Ok(_) => txn.rollback().await?,
                Err(err) if is_unique_violation(&err) => {
                    txn.rollback().await?;
                    return Ok(false);
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::Corrupt(format!(
            "usage of {} for {own_period}: every period kept closing",
            e.organization
        )))
    }
}
