//! Spending alerts reach people: a crossed threshold is written to
//! `spending_alert_outbox` in the same transaction that records the alert
//! (keyed by organization, period and threshold), and a billing job relays
//! the outbox to the integrations service's `Notify` with billing's service
//! token, backing off while it cannot be reached. The event id is derived
//! from the key, and Notify keeps one notification per id, so each
//! threshold is notified at least once and never twice — also when it was
//! crossed while integrations was down.

pub mod store;

use std::time::Duration;

use chrono::{DateTime, Utc};
use loopback_integrations_client::{Event, EventType, NotifyError};
use loopback_runtime::db::Conn;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Billing;
use crate::error::Result;

/// How often the outbox is polled when no alert wakes the relay.
const POLL: Duration = Duration::from_secs(1);
/// Longest wait between two attempts of one alert.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A crossed threshold waiting for the integrations service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    /// Organization.
    pub organization: Uuid,
    /// `YYYY-MM`.
    pub period: String,
    /// Threshold, percent.
    pub threshold_percent: i32,
    /// Spend when crossed.
    pub spend_minor: i64,
    /// The monthly limit then.
    pub limit_minor: i64,
    /// Its currency.
    pub currency: String,
    /// When crossed.
    pub alert_time: DateTime<Utc>,
    /// Failed attempts so far.
    pub attempts: i32,
}

impl PendingAlert {
    /// The notification's id: the outbox key, so a resend is the same event.
    pub fn event_id(&self) -> String {
        format!(
            "billing.spending/{}/{}/{}",
            self.organization, self.period, self.threshold_percent
        )
    }

    fn event(&self) -> Event {
        let mut e = Event::new(
            self.event_id(),
            EventType::SpendingThreshold,
            format!(
                "Spending reached {} % of the monthly limit ({})",
                self.threshold_percent, self.period
            ),
        );
        e.message = format!(
            "Spend this period is {} of a {} limit (minor units of {}).",
            self.spend_minor, self.limit_minor, self.currency
        );
        e.attributes = [
            ("period", self.period.clone()),
            ("threshold_percent", self.threshold_percent.to_string()),
            ("spend_minor", self.spend_minor.to_string()),
            ("limit_minor", self.limit_minor.to_string()),
            ("currency", self.currency.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        e.event_time = Some(self.alert_time);
        e
    }
}

impl Billing {
    /// Queues the notification of a crossed threshold, inside the
    /// transaction that records the alert.
    pub async fn queue_spending_alert(&self, conn: &impl Conn, alert: &PendingAlert) -> Result<()> {
        store::insert(conn, alert).await
    }

    /// Relays due alerts once; returns how many were delivered (or
    /// dropped as undeliverable).
    pub async fn relay_spending_alerts(&self) -> Result<usize> {
        let Some(notifier) = self.notifier() else {
            return Ok(0);
        };
        let mut done = 0;
        for alert in store::due(self.db(), Utc::now(), 50).await? {
            let organization = format!("organizations/{}", alert.organization);
            match notifier.notify(&organization, alert.event()).await {
                Ok(_) => {
                    store::delete(self.db(), &alert).await?;
                    done += 1;
                }
                Err(NotifyError::Refused(why)) => {
                    tracing::warn!(%organization, event = %alert.event_id(), %why, "spending alert refused by integrations; dropped");
                    store::delete(self.db(), &alert).await?;
                    done += 1;
                }
                Err(e) => {
                    let attempts = u32::try_from(alert.attempts).unwrap_or(0).min(16);
                    let delay = Duration::from_millis(250)
                        .saturating_mul(2u32.saturating_pow(attempts))
                        .min(MAX_BACKOFF);
                    let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    tracing::debug!(%organization, error = %e, retry_in = ?delay, "spending alert not delivered yet");
                    store::postpone(self.db(), &alert, next, &e.to_string()).await?;
                }
            }
        }
        Ok(done)
    }

    /// The relay job: after every commit of an alert, otherwise every
    /// second, until `shutdown`.
    pub async fn spending_alert_relay(self, shutdown: CancellationToken) {
        let mut committed = self.committed();
        loop {
            if let Err(e) = self.relay_spending_alerts().await {
                tracing::warn!(error = %e, "spending alert relay round failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = committed.changed() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
