//! Metered usage: events from platform services, counted once per
//! idempotency key (the primary key makes retries and races safe on SQLite
//! and PostgreSQL alike).

pub mod grpc;

use chrono::{DateTime, Datelike as _, Utc};
use loopback_runtime::db::is_unique_violation;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::Billing;
use crate::entity::usage_event;
use crate::error::Result;

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

impl Billing {
    /// Records an event; false when its idempotency key was seen before.
    pub async fn record_usage(&self, reporter: &str, e: &UsageEvent) -> Result<bool> {
        let inserted = usage_event::Entity::insert(usage_event::ActiveModel {
            organization_id: Set(e.organization.to_string()),
            idempotency_key: Set(e.idempotency_key.clone()),
            project_id: Set(e.project.map(|p| p.to_string()).unwrap_or_default()),
            meter: Set(e.meter.clone()),
            quantity: Set(e.quantity),
            event_time: Set(e.event_time),
            period: Set(period_of(e.event_time)),
            record_time: Set(Utc::now()),
            reporter: Set(reporter.to_string()),
        })
        .exec_without_returning(self.db())
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(err) if is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}
