//! Following org-core's lifecycle: integrations hides, restores and deletes
//! what it holds as organizations and projects come and go.
//!
//! - **A project deleted**: its bundles and everything under them
//!   (environments, revisions, deployments, operations) are hidden at once —
//!   they are authorized in the project's scope, which org-core answers
//!   NOT_FOUND for a deleted project (`crate::bundles`) — and their
//!   unfinished operations are ended: queued ones (and their deployments)
//!   are CANCELLED, running ones are flagged and their worker hears it at its
//!   next report ([`Integrations::cancel_project_operations`]).
//! - **Restored**: the bundles are back as they were (the cancelled
//!   operations stay cancelled: redeploy to resume). Hidden bundles still
//!   count against `max_bundles`, since they may come back.
//! - **Purged**: its bundles are deleted for good with their environments,
//!   variables (sealed secret values with them), revisions, deployments and
//!   operations, audited as `PurgeProject` by `service:integrations`.
//!   `max_bundles` is counted from the bundles themselves in each create, so
//!   the deletion is the recount.
//! - **An organization purged**: everything integrations holds of it goes
//!   (Git connections with their sealed tokens, pending OAuth states, linked
//!   repositories, bundles and all under them, operations, monitoring
//!   sources, notification channels with their sealed secrets,
//!   notifications, deliveries and attempts, and the kit's lock row and
//!   request ids), audited as `PurgeOrganization` by `service:integrations`
//!   (through the outbox into the organization's audit log, which org-core
//!   never purges). Nothing is kept: integrations holds nothing the law
//!   requires to retain.
//!
//! Events arrive through the authority client at most once, and
//! integrations may be down when they are sent, so the follower
//! ([`LifecycleFollower`], run by
//! `loopback_org_core_client::follow_lifecycle`) also reconciles — at start,
//! on `Resync` and `Lagged`, after a failure and every
//! [`RECONCILE_INTERVAL`]: every organization integrations holds rows of is
//! checked against org-core (`GetOrganizationPolicy`: NOT_FOUND means
//! purged), then every project its bundles belong to (`GetProjectState`:
//! deleted → end its operations; purged or unknown → purge). Like billing,
//! it trusts org-core's NOT_FOUND, so integrations must only be pointed at
//! the org-core whose organizations it serves.

use std::time::Duration;

use loopback_org_core_client::{
    AuthorityDenied, AuthorityError, Cadence, LifecycleChange, LifecycleEvent, LifecycleFollower,
    ProjectLifecycle,
};
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Integrations, bundles, git, monitoring, notifications, operations, rpcs};

/// Organizations (or projects) checked per step of a reconciliation.
pub const RECONCILE_BATCH: u64 = 100;
/// How often integrations reconciles even without a reason to (a safety
/// net for rows written while a purge ran).
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(3_600);
/// How soon a failed reconciliation (org-core unreachable) is retried.
pub const RECONCILE_RETRY: Duration = Duration::from_secs(10);

/// When integrations reconciles without being told to.
pub const CADENCE: Cadence = Cadence {
    interval: RECONCILE_INTERVAL,
    retry: RECONCILE_RETRY,
};

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Organizations org-core no longer knows, whose rows went.
    pub organizations_purged: u64,
    /// Projects org-core purged (or no longer knows), whose bundles went.
    pub projects_purged: u64,
    /// Operations ended because their project is deleted.
    pub operations_cancelled: u64,
}

fn organization_id(name: &str) -> Option<Uuid> {
    name.strip_prefix("organizations/")
        .and_then(|id| Uuid::parse_str(id).ok())
}

fn project_ids(name: &str) -> Option<(Uuid, Uuid)> {
    let rest = name.strip_prefix("organizations/")?;
    let (org, project) = rest.split_once("/projects/")?;
    Some((Uuid::parse_str(org).ok()?, Uuid::parse_str(project).ok()?))
}

impl Integrations {
    /// Deletes everything integrations holds of `org`, which org-core
    /// purged (see the module docs); how many rows went. Idempotent: a
    /// second call deletes nothing and audits nothing.
    pub async fn purge_organization(&self, org: Uuid) -> Result<u64> {
        let mut tx = self.begin_own_write(org, &rpcs::PURGE_ORGANIZATION).await?;
        let conn = tx.conn();
        let git = git::purge_organization(conn, org).await?;
        let bundles = bundles::purge_organization(conn, org).await?;
        let operations = operations::purge_organization(conn, org).await?;
        let monitoring = monitoring::purge_organization(conn, org).await?;
        let notifications = notifications::purge_organization(conn, org).await?;
        let total = git + bundles + operations + monitoring + notifications;
        tx.forget_scope().await?;
        if total > 0 {
            tx.audit(
                format!("organizations/{org}"),
                json!({
                    "git_rows": git,
                    "bundle_rows": bundles,
                    "operations": operations,
                    "monitoring_sources": monitoring,
                    "notification_rows": notifications,
                }),
            );
        }
        tx.commit().await?;
        if total > 0 {
            tracing::info!(organization = %org, rows = total, "deleted a purged organization's integrations data");
        }
        Ok(total)
    }

    /// Deletes the bundles of `project` of `org`, which org-core purged,
    /// with everything under them and their operations; how many bundles
    /// went. Idempotent.
    pub async fn purge_project(&self, org: Uuid, project: Uuid) -> Result<u64> {
        let mut tx = self.begin_own_write(org, &rpcs::PURGE_PROJECT).await?;
        let purged = bundles::purge_project(tx.conn(), org, project).await?;
        let targets: Vec<Uuid> = purged
            .revisions
            .iter()
            .chain(&purged.deployments)
            .copied()
            .collect();
        let operations = operations::delete_for_targets(tx.conn(), org, &targets).await?;
        // A retried create must not answer with something purged.
        for id in purged
            .bundles
            .iter()
            .chain(&purged.environments)
            .chain(&purged.revisions)
            .chain(&purged.deployments)
        {
            tx.forget_created(&id.to_string()).await?;
        }
        let n = u64::try_from(purged.bundles.len()).unwrap_or(u64::MAX);
        if n > 0 {
            tx.audit(
                bundles::project_name(org, project),
                json!({
                    "bundles": n,
                    "environments": purged.environments.len(),
                    "variables": purged.variables,
                    "revisions": purged.revisions.len(),
                    "deployments": purged.deployments.len(),
                    "operations": operations,
                }),
            );
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Organizations integrations holds rows of, in id order after `after`,
    /// at most `limit`.
    async fn holders(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
        let db = self.db();
        let mut all = git::holders(db, after, limit).await?;
        all.extend(bundles::holders(db, after, limit).await?);
        all.extend(operations::holders(db, after, limit).await?);
        all.extend(monitoring::holders(db, after, limit).await?);
        all.extend(notifications::holders(db, after, limit).await?);
        all.sort();
        all.dedup();
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// Checks what integrations holds against org-core (see the module
    /// docs). Stops at the first question org-core cannot answer
    /// (unreachable): try again later.
    pub async fn reconcile_lifecycle(&self) -> Result<Reconciled> {
        let mut done = Reconciled::default();
        let mut after = None;
        loop {
            let batch = self.holders(after, RECONCILE_BATCH).await?;
            let Some(last) = batch.last().copied() else {
                break;
            };
            for org in batch {
                match self
                    .authority()
                    .policy(&format!("organizations/{org}"))
                    .await
                {
                    Ok(_) => {}
                    Err(AuthorityError::NotFound(_)) => {
                        self.purge_organization(org).await?;
                        done.organizations_purged += 1;
                    }
                    Err(other) => return Err(AuthorityDenied::from(other).into()),
                }
            }
            after = Some(last);
        }
        let mut after = None;
        loop {
            let batch = bundles::projects_held(self.db(), after, RECONCILE_BATCH).await?;
            let Some(last) = batch.last().copied() else {
                break;
            };
            for (org, project) in batch {
                match self
                    .authority()
                    .project(&bundles::project_name(org, project))
                    .await?
                {
                    ProjectLifecycle::Live => {}
                    ProjectLifecycle::Deleted { .. } => {
                        done.operations_cancelled +=
                            self.cancel_project_operations(org, project).await?;
                    }
                    ProjectLifecycle::Purged | ProjectLifecycle::NotFound => {
                        self.purge_project(org, project).await?;
                        done.projects_purged += 1;
                    }
                }
            }
            after = Some(last);
        }
        Ok(done)
    }
}

/// Integrations' lifecycle job, run by
/// `loopback_org_core_client::follow_lifecycle`.
pub struct PurgeFollower(pub Integrations);

impl LifecycleFollower for PurgeFollower {
    type Error = Error;

    async fn on_event(&self, event: &LifecycleEvent) -> Result<()> {
        let corrupt = |name: &str| Error::Corrupt(format!("the feed named {name:?}"));
        match event {
            LifecycleEvent::Organization {
                organization,
                change: LifecycleChange::Purged,
                ..
            } => {
                let org = organization_id(organization).ok_or_else(|| corrupt(organization))?;
                self.0.purge_organization(org).await.map(drop)
            }
            LifecycleEvent::Project {
                project, change, ..
            } => {
                let (org, id) = project_ids(project).ok_or_else(|| corrupt(project))?;
                match change {
                    LifecycleChange::Purged => self.0.purge_project(org, id).await.map(drop),
                    LifecycleChange::Deleted => {
                        self.0.cancel_project_operations(org, id).await.map(drop)
                    }
                    LifecycleChange::Created | LifecycleChange::Undeleted => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    async fn reconcile(&self) -> Result<()> {
        let done = self.0.reconcile_lifecycle().await?;
        if done != Reconciled::default() {
            tracing::info!(?done, "reconciled with org-core's lifecycle");
        }
        Ok(())
    }
}
