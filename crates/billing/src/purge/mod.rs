//! Purge: when org-core purges an organization for good, billing deletes
//! what it may and keeps what the law requires it to retain.
//!
//! Deleted: payment methods (the sealed processor tokens and IBANs are
//! columns of their rows), every usage event (those already billed live on
//! as the lines of the finalized invoices; the rest would be billed to
//! nobody), draft invoices with their lines, the invoice counter (no number
//! will ever be issued to the organization again), the spending limit and
//! its alerts, and the kit's lock row and request ids. Kept: finalized
//! invoices (open, paid, void, uncollectible) with their lines. The purge
//! is audited as `PurgeOrganization` by `service:billing` (through the
//! outbox, into the organization's audit log, which is never purged).
//!
//! A purged project leaves billing nothing to delete: usage is billed to
//! the organization, which still exists and owes it, so usage tagged with
//! the project stays and is invoiced as usual.
//!
//! How billing learns of a purge: the authority client's lifecycle events
//! (`purged` on the feed). They are delivered at most once, and billing may
//! be down when the purge happens, so billing also reconciles — at start,
//! on every `Resync` or `Lagged`, after a failure, and every
//! [`RECONCILE_INTERVAL`]: it asks org-core for the policy of every
//! organization it holds deletable data for, [`RECONCILE_BATCH`] at a time,
//! and purges those org-core no longer knows (NOT_FOUND; a deleted
//! organization not yet purged still has a policy). It trusts org-core's
//! NOT_FOUND, so billing must only ever be pointed at the org-core whose
//! organizations it bills.

use std::time::Duration;

#[cfg(doc)]
use loopback_org_core_client::follow_lifecycle;
use loopback_org_core_client::{
    AuthorityError, Cadence, LifecycleChange, LifecycleEvent, LifecycleFollower,
};
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Billing, invoices, payment_methods, rpcs, spending, usage};

/// Organizations checked per step of a reconciliation.
pub const RECONCILE_BATCH: u64 = 100;
/// How often billing reconciles even without a reason to (a safety net for
/// rows written while a purge ran).
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(3_600);
/// How soon a failed reconciliation (org-core unreachable) is retried.
pub const RECONCILE_RETRY: Duration = Duration::from_secs(10);

/// What billing deleted for a purged organization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Payment methods deleted.
    pub payment_methods: u64,
    /// Usage events deleted.
    pub usage_events: u64,
    /// Draft invoices deleted, and finalized ones kept.
    pub invoices: invoices::PurgedInvoices,
    /// Spending limit and alert rows deleted.
    pub spending_rows: u64,
}

impl Purged {
    /// Whether anything was deleted.
    pub fn is_empty(&self) -> bool {
        self.payment_methods == 0
            && self.usage_events == 0
            && self.invoices.drafts == 0
            && self.spending_rows == 0
    }
}

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Organizations billing holds data for that org-core still knows.
    pub kept: u64,
    /// Organizations org-core no longer knows, whose data went.
    pub purged: u64,
}

fn organization_id(name: &str) -> Option<Uuid> {
    name.strip_prefix("organizations/")
        .and_then(|id| Uuid::parse_str(id).ok())
}

impl Billing {
    /// Deletes what billing holds for `org`, which org-core purged, keeping
    /// its finalized invoices (see the module docs). Idempotent: a second
    /// call deletes nothing and audits nothing.
    pub async fn purge_organization(&self, org: Uuid) -> Result<Purged> {
        let mut tx = self.begin_own_write(org, &rpcs::PURGE_ORGANIZATION).await?;
        let conn = tx.conn();
        // First: it takes the usage lock, so no event is being recorded now.
        let invoices = invoices::purge_organization(conn, org).await?;
        let purged = Purged {
            invoices,
            usage_events: usage::purge_organization(conn, org).await?,
            payment_methods: payment_methods::purge_organization(conn, org).await?,
            spending_rows: spending::purge_organization(conn, org).await?,
        };
        tx.forget_scope().await?;
        if !purged.is_empty() {
            tx.audit(
                format!("organizations/{org}"),
                json!({
                    "payment_methods": purged.payment_methods,
                    "usage_events": purged.usage_events,
                    "draft_invoices": purged.invoices.drafts,
                    "finalized_invoices_kept": purged.invoices.finalized_kept,
                    "spending_rows": purged.spending_rows,
                }),
            );
        }
        tx.commit().await?;
        if !purged.is_empty() {
            tracing::info!(organization = %org, ?purged, "deleted a purged organization's billing data");
        }
        Ok(purged)
    }

    /// Organizations billing holds deletable data for, in id order after
    /// `after`, at most `limit`.
    async fn holders(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
        let db = self.db();
        let mut all = payment_methods::holders(db, after, limit).await?;
        all.extend(usage::holders(db, after, limit).await?);
        all.extend(invoices::holders(db, after, limit).await?);
        all.extend(spending::holders(db, after, limit).await?);
        all.sort();
        all.dedup();
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// Checks every organization billing holds deletable data for against
    /// org-core, [`RECONCILE_BATCH`] at a time, and purges those org-core no
    /// longer knows. Stops at the first organization org-core cannot answer
    /// for (unreachable): try again later.
    pub async fn reconcile_purged(&self) -> Result<Reconciled> {
        let mut done = Reconciled::default();
        let mut after = None;
        loop {
            let batch = self.holders(after, RECONCILE_BATCH).await?;
            let Some(last) = batch.last().copied() else {
                return Ok(done);
            };
            for org in batch {
                match self
                    .authority()
                    .policy(&format!("organizations/{org}"))
                    .await
                {
                    // Live, or deleted and not purged yet.
                    Ok(_) => done.kept += 1,
                    Err(AuthorityError::NotFound(_)) => {
                        self.purge_organization(org).await?;
                        done.purged += 1;
                    }
                    Err(other) => {
                        return Err(loopback_org_core_client::AuthorityDenied::from(other).into());
                    }
                }
            }
            after = Some(last);
        }
    }
}

/// Billing's purge job, run by [`follow_lifecycle`]: an organization the feed
/// says was purged loses its billing data at once; reconciliation catches
/// the purges billing missed.
pub struct PurgeFollower(pub Billing);

impl LifecycleFollower for PurgeFollower {
    type Error = Error;

    async fn on_event(&self, event: &LifecycleEvent) -> Result<()> {
        let LifecycleEvent::Organization {
            organization,
            change: LifecycleChange::Purged,
            ..
        } = event
        else {
            return Ok(());
        };
        let org = organization_id(organization)
            .ok_or_else(|| Error::Corrupt(format!("the feed named {organization:?} as purged")))?;
        self.0.purge_organization(org).await.map(drop)
    }

    async fn reconcile(&self) -> Result<()> {
        let done = self.0.reconcile_purged().await?;
        if done.purged > 0 {
            tracing::info!(
                purged = done.purged,
                kept = done.kept,
                "reconciled purged organizations"
            );
        }
        Ok(())
    }
}

/// When billing reconciles without being told to.
pub const CADENCE: Cadence = Cadence {
    interval: RECONCILE_INTERVAL,
    retry: RECONCILE_RETRY,
};
