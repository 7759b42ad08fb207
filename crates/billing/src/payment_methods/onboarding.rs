//! Telling org-core's onboarding checklist whether an organization has a
//! payment method (the `payment_method` item).
//!
//! Every committed create or delete marks the organization's fact pending
//! in `onboarding_reports`, in the same transaction, at the next revision.
//! Right after the commit billing reports it once; whatever is still
//! pending then (org-core was down, the call failed) the onboarding job
//! reports every few seconds until org-core acknowledges it, so the fact
//! arrives however long org-core was away. A report states the current
//! fact (read after the revision), and org-core ignores reports older than
//! the one it has, so reports crossing on the way cannot turn it back.

use loopback_org_core_client::{AuthorityError, PAYMENT_METHOD_ITEM};
use uuid::Uuid;

use super::store;
use crate::Billing;
use crate::error::{Error, Result};

/// Pending facts reported per run of the job.
const BATCH: u64 = 100;

impl Billing {
    /// Reports `org`'s fact now if it is pending (right after a commit).
    /// A failure is left to the job.
    pub(crate) async fn report_payment_method_now(&self, org: Uuid) {
        if let Err(e) = self.report_pending(Some(org)).await {
            tracing::debug!(error = %e, %org, "payment method fact not reported yet; the job retries");
        }
    }

    /// Reports every pending fact, oldest first; returns how many org-core
    /// acknowledged. Stops at the first one org-core cannot take (it stays
    /// pending for the next run).
    pub async fn report_onboarding(&self) -> Result<usize> {
        self.report_pending(None).await
    }

    async fn report_pending(&self, only: Option<Uuid>) -> Result<usize> {
        let pending = store::pending_reports(self.db(), only, BATCH).await?;
        let mut reported = 0;
        for (org, revision) in pending {
            // The fact is read after its revision, so it is at least that new.
            let has_payment_method = store::count(self.db(), org).await? > 0;
            let organization = format!("organizations/{org}");
            match self
                .authority()
                .report_onboarding_item(
                    &organization,
                    PAYMENT_METHOD_ITEM,
                    has_payment_method,
                    revision,
                )
                .await
            {
                Ok(_) => {}
                // Gone (deleted, purged): there is nobody to tell.
                Err(AuthorityError::NotFound(_)) => {}
                Err(AuthorityError::Rejected(why)) => {
                    tracing::warn!(%organization, %why, "org-core rejected a payment method fact; not retrying");
                }
                Err(AuthorityError::Unavailable(cause)) => {
                    return Err(Error::Denied(
                        loopback_org_core_client::AuthorityDenied::Unavailable(cause),
                    ));
                }
            }
            store::acknowledge(self.db(), org, revision).await?;
            reported += 1;
        }
        Ok(reported)
    }
}
