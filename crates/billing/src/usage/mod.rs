//! Metered usage: events from platform services, counted once per
//! idempotency key (the primary key makes retries and races safe on SQLite
//! and PostgreSQL alike), each stored with the billing period it is billed
//! in (see [`Billing::record_usage`]).

pub mod grpc;
pub mod store;

use chrono::{DateTime, Datelike as _, Utc};
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::db::Conn;
use loopback_runtime::errors::{FieldViolations, Refusal};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Billing, rpcs};

/// A usage event, syntactically valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// Where the event is in its request (`event`, `events[3]`), so a
    /// refusal names the field.
    pub path: String,
    /// Organization.
    pub organization: Uuid,
    /// Project, if any.
    pub project: Option<Uuid>,
    /// Meter (must be in the price book).
    pub meter: String,
    /// Quantity.
    pub quantity: i64,
    /// When it happened.
    pub event_time: DateTime<Utc>,
    /// The reporter's idempotency key.
    pub idempotency_key: String,
}

/// BatchRecordUsage, validated per event: a bad event fails alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBatch {
    /// Each event, or what is wrong with it.
    pub events: Vec<Result<UsageEvent, FieldViolations>>,
}

/// The billing period (`YYYY-MM`, UTC) of a time.
pub fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// How often an event is retried when the period it was aimed at closes
/// under it (each retry aims at a later period, so this is never reached in
/// practice).
const MAX_PERIOD_RETRIES: usize = 24;

/// Deletes every usage event of `org` (the organization was purged: call it
/// inside billing's purge transaction, after
/// `invoices::purge_organization` took the usage lock). Events already
/// billed live on as the lines of the finalized invoices that are kept;
/// the rest would be billed to nobody. Returns how many went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations with usage events, in id order after `after`, at most
/// `limit` (for the purge reconciliation).
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

impl Billing {
    /// RecordUsage: records one event; false when its idempotency key was
    /// seen before. Services only; the organization must exist.
    pub async fn record_usage(&self, principal: &Principal, event: UsageEvent) -> Result<bool> {
        self.authorize(principal, &rpcs::RECORD_USAGE, event.organization)
            .await?;
        self.record_event(principal, &event).await
    }

    /// BatchRecordUsage: each event recorded on its own, in order; the
    /// answer says per event whether it was new, or why it was refused.
    pub async fn batch_record_usage(
        &self,
        principal: &Principal,
        batch: UsageBatch,
    ) -> Result<Vec<Result<bool>>> {
        let rpc = &rpcs::BATCH_RECORD_USAGE;
        // A caller of the wrong kind fails the whole batch, not each event.
        if principal.kind == PrincipalKind::Account {
            return Err(Refusal::PrincipalKind("service").into());
        }
        let mut outcomes = Vec::with_capacity(batch.events.len());
        for event in batch.events {
            let outcome = match event {
                Err(violations) => Err(Error::from(violations)),
                Ok(event) => match self.authorize(principal, rpc, event.organization).await {
                    Ok(_) => self.record_event(principal, &event).await,
                    Err(e) => Err(e),
                },
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Records an authorized event, then re-evaluates the organization's
    /// spending (a failed evaluation is retried by the periodic sweep).
    async fn record_event(&self, principal: &Principal, event: &UsageEvent) -> Result<bool> {
        if !self.settings().price_book.prices.contains_key(&event.meter) {
            return Err(Refusal::invalid(
                format!("{}.meter", event.path),
                format!(
                    "unknown meter {}: not in the price book",
                    loopback_runtime::errors::quote(&event.meter)
                ),
            )
            .into());
        }
        let recorded = self.insert_usage(&principal.audit_id(), event).await?;
        if recorded && let Err(err) = self.evaluate_spending(event.organization).await {
            tracing::warn!(organization = %event.organization, error = %err, "spending evaluation failed");
        }
        Ok(recorded)
    }

    /// Total quantity per (project, meter) of `org` in `period`, read
    /// through `conn` (e.g. inside the transaction finalizing an invoice).
    pub async fn usage_sums(
        &self,
        conn: &impl Conn,
        org: Uuid,
        period: &str,
    ) -> Result<Vec<(String, String, i64)>> {
        store::sums(conn, org, period).await
    }

    /// Stores an event; false when its idempotency key was seen before.
    ///
    /// The event is billed in its own period (the UTC month of its time)
    /// unless that period's invoice is no longer a draft; then in the next
    /// period that still has a draft (or no invoice yet), so a finalized
    /// invoice never changes and always equals its period's summary. The
    /// insert is guarded in the same statement by "that period is still
    /// open", and on PostgreSQL runs while holding the organization's
    /// invoices open (shared), so it cannot race a finalize.
    async fn insert_usage(&self, reporter: &str, e: &UsageEvent) -> Result<bool> {
        let own_period = period_of(e.event_time);
        for _ in 0..MAX_PERIOD_RETRIES {
            let period = self
                .billing_period(self.db(), e.organization, &own_period)
                .await?;
            let txn = self.unlocked_tx().await?;
            self.hold_invoices_open(&txn, e.organization).await?;
            let inserted = store::insert_if_period_open(&txn, e, &period, reporter).await?;
            if inserted == store::Inserted::Yes {
                txn.commit().await?;
                return Ok(true);
            }
            txn.rollback().await?;
            if inserted == store::Inserted::Duplicate {
                return Ok(false);
            }
            // The period closed since it was chosen: aim at the next one.
        }
        Err(Error::Corrupt(format!(
            "usage of {} for {own_period}: every period kept closing",
            e.organization
        )))
    }
}
