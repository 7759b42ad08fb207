//! Following the organization and project lifecycle: the loop every service
//! that keeps organization or project data runs, so it hides, restores and
//! deletes that data as org-core's feed says.
//!
//! Lifecycle events reach a client at most once, and the service may be
//! down when one is sent, so an event alone is never enough: the follower
//! also reconciles — at start, on every `Resync` or `Lagged`, after a
//! failed event or reconciliation, and every [`Cadence::interval`] —
//! checking what it holds against org-core ([`crate::AuthorityClient::policy`]
//! answers NOT_FOUND for a purged organization, [`crate::AuthorityClient::project`]
//! says whether a project is live, deleted or purged).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::LifecycleEvent;

/// What a service does with lifecycle events.
pub trait LifecycleFollower: Send + Sync {
    /// Why handling an event or reconciling failed (logged; retried).
    type Error: Display + Send;

    /// Acts on one organization or project event (never `Resync`: that
    /// calls [`Self::reconcile`]). Ignoring events it has no data for is
    /// the common case.
    fn on_event(
        &self,
        event: &LifecycleEvent,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Checks everything the service holds against org-core and acts on
    /// what changed while nobody was listening.
    fn reconcile(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// How often [`follow_lifecycle`] reconciles without a reason to, and how
/// soon after a failure.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// The safety net: reconcile this often anyway.
    pub interval: Duration,
    /// Retry this soon after a failed event or reconciliation (org-core
    /// unreachable, a database error).
    pub retry: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3_600),
            retry: Duration::from_secs(10),
        }
    }
}

/// Runs `follower` over `events` until `shutdown`: reconciles first, then
/// hands it each organization and project event, reconciling on `Resync`,
/// `Lagged`, failures and every `cadence.interval`. Subscribe `events`
/// ([`crate::AuthorityClient::subscribe_lifecycle`]) before anything else
/// reads the data, so nothing between the subscription and the first
/// reconciliation is missed.
pub async fn follow_lifecycle<F: LifecycleFollower>(
    follower: F,
    mut events: broadcast::Receiver<LifecycleEvent>,
    cadence: Cadence,
    shutdown: CancellationToken,
) {
    let mut reconcile_at = Instant::now();
    loop {
        if reconcile_at <= Instant::now() {
            reconcile_at = match follower.reconcile().await {
                Ok(()) => Instant::now() + cadence.interval,
                Err(error) => {
                    tracing::warn!(%error, "reconciling with org-core's lifecycle failed; retrying");
                    Instant::now() + cadence.retry
                }
            };
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(reconcile_at) => {}
            event = events.recv() => match event {
                // Events may have been missed: check everything now.
                Ok(LifecycleEvent::Resync { .. }) | Err(RecvError::Lagged(_)) => {
                    reconcile_at = Instant::now();
                }
                Ok(event) => {
                    if let Err(error) = follower.on_event(&event).await {
                        tracing::warn!(?event, %error, "acting on a lifecycle event failed; reconciling soon");
                        reconcile_at = reconcile_at.min(Instant::now() + cadence.retry);
                    }
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}
