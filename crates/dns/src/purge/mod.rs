//! Following org-core's lifecycle: project zones follow their project, and
//! a purged organization leaves no dns data behind.
//!
//! A deleted project needs nothing here: its zones (and their records)
//! are NOT_FOUND while the authority client says the project is not live
//! ([`Dns::authorize_scope`]), and come back as they were when it is
//! restored. A purged project's zones go for good, with their records,
//! and so do the delegations to it (the records under them stay with
//! their organization zone); the organization's usage is recounted. A
//! purged organization loses everything dns holds for it: zones, records,
//! delegations, domains and their claims (so another organization may
//! verify the names), network bridges, usage counts, and the kit's lock
//! row and request ids. Both are audited (`PurgeProject`,
//! `PurgeOrganization`) as `service:dns`.
//!
//! How dns learns of purges: the lifecycle events of the authority client
//! (`project_purged`, `purged`), run by [`follow_lifecycle`]. Events are
//! delivered at most once and dns may be down when one is sent, so it
//! also reconciles — at start, on `Resync`/`Lagged`, after a failure and
//! every [`RECONCILE_INTERVAL`]: every project it holds zones of or
//! delegations to is checked with [`AuthorityClient::project`] (purged or
//! not found: purge it), and every organization it holds data for with
//! [`AuthorityClient::policy`] (NOT_FOUND: purge it), [`RECONCILE_BATCH`]
//! at a time.

use std::time::Duration;

#[cfg(doc)]
use loopback_org_core_client::{AuthorityClient, follow_lifecycle};
use loopback_org_core_client::{
    AuthorityDenied, AuthorityError, Cadence, LifecycleChange, LifecycleEvent, LifecycleFollower,
    ProjectLifecycle,
};
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Dns, bridges, delegations, domains, rpcs, usage, zones};

/// Organizations (or projects) checked per step of a reconciliation.
pub const RECONCILE_BATCH: u64 = 100;
/// How often dns reconciles without a reason to.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(3_600);
/// How soon a failed reconciliation is retried.
pub const RECONCILE_RETRY: Duration = Duration::from_secs(10);

/// When dns reconciles without being told to.
pub const CADENCE: Cadence = Cadence {
    interval: RECONCILE_INTERVAL,
    retry: RECONCILE_RETRY,
};

/// What a project purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedProject {
    /// Zones of the project (with their records).
    pub zones: u64,
    /// Delegations to the project or its workspaces.
    pub delegations: u64,
}

/// What an organization purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedOrganization {
    /// Zones, of every scope (with their records).
    pub zones: u64,
    /// Delegations.
    pub delegations: u64,
    /// Domains.
    pub domains: u64,
    /// Network bridges.
    pub bridges: u64,
    /// Usage counts.
    pub usage_reports: u64,
}

impl PurgedOrganization {
    /// Whether anything was deleted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn organization_id(name: &str) -> Option<Uuid> {
    name.strip_prefix("organizations/")
        .and_then(|id| Uuid::parse_str(id).ok())
}

fn project_ids(name: &str) -> Option<(Uuid, Uuid)> {
    let (org, project) = name.split_once("/projects/")?;
    Some((organization_id(org)?, Uuid::parse_str(project).ok()?))
}

impl Dns {
    /// Deletes the zones of `project` (purged by org-core) with their
    /// records and the delegations to it. Idempotent: a second call
    /// deletes and audits nothing.
    pub async fn purge_project(&self, org: Uuid, project: Uuid) -> Result<PurgedProject> {
        let mut tx = self.begin_own_write(org, &rpcs::PURGE_PROJECT).await?;
        let gone = zones::purge_project(tx.conn(), org, project).await?;
        for zone in &gone {
            tx.forget_created(&zone.id.to_string()).await?;
        }
        let purged = PurgedProject {
            zones: u64::try_from(gone.len()).unwrap_or(u64::MAX),
            delegations: delegations::purge_project(tx.conn(), org, project).await?,
        };
        if purged != PurgedProject::default() {
            tx.audit(
                format!("organizations/{org}/projects/{project}"),
                json!({
                    "zones": gone.iter().map(|z| z.name()).collect::<Vec<_>>(),
                    "delegations": purged.delegations,
                }),
            );
        }
        tx.commit().await?;
        if purged != PurgedProject::default() {
            tracing::info!(organization = %org, %project, ?purged, "deleted a purged project's dns data");
        }
        Ok(purged)
    }

    /// Deletes everything dns holds for `org` (purged by org-core); see
    /// the module docs. Idempotent.
    pub async fn purge_organization(&self, org: Uuid) -> Result<PurgedOrganization> {
        let mut tx = self.begin_own_write(org, &rpcs::PURGE_ORGANIZATION).await?;
        let conn = tx.conn();
        let purged = PurgedOrganization {
            delegations: delegations::purge_organization(conn, org).await?,
            zones: zones::purge_organization(conn, org).await?,
            domains: domains::purge_organization(conn, org).await?,
            bridges: bridges::purge_organization(conn, org).await?,
            usage_reports: usage::purge_organization(conn, org).await?,
        };
        tx.forget_scope().await?;
        if !purged.is_empty() {
            tx.audit(
                format!("organizations/{org}"),
                json!({
                    "zones": purged.zones,
                    "delegations": purged.delegations,
                    "domains": purged.domains,
                    "network_bridges": purged.bridges,
                    "usage_reports": purged.usage_reports,
                }),
            );
        }
        tx.commit().await?;
        if !purged.is_empty() {
            tracing::info!(organization = %org, ?purged, "deleted a purged organization's dns data");
        }
        Ok(purged)
    }

    /// Projects dns holds zones of or delegations to, in order after
    /// `after`, at most `limit`.
    async fn project_holders(
        &self,
        after: Option<(Uuid, Uuid)>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>> {
        let db = self.db();
        let mut all = zones::project_holders(db, after, limit).await?;
        all.extend(delegations::project_holders(db, after, limit).await?);
        all.sort();
        all.dedup();
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// Organizations dns holds data for, in order after `after`, at most
    /// `limit`.
    async fn holders(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
        let db = self.db();
        let mut all = zones::holders(db, after, limit).await?;
        all.extend(delegations::holders(db, after, limit).await?);
        all.extend(domains::holders(db, after, limit).await?);
        all.extend(bridges::holders(db, after, limit).await?);
        all.extend(usage::holders(db, after, limit).await?);
        all.sort();
        all.dedup();
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// Checks every project and organization dns holds data for against
    /// org-core and purges those it no longer knows (see the module docs).
    /// Returns how many projects and organizations were purged; stops at
    /// the first org-core cannot answer for.
    pub async fn reconcile_lifecycle(&self) -> Result<(u64, u64)> {
        let mut projects = 0;
        let mut after = None;
        loop {
            let batch = self.project_holders(after, RECONCILE_BATCH).await?;
            let Some(last) = batch.last().copied() else {
                break;
            };
            for (org, project) in batch {
                let name = format!("organizations/{org}/projects/{project}");
                match self.authority().project(&name).await? {
                    ProjectLifecycle::Purged | ProjectLifecycle::NotFound => {
                        self.purge_project(org, project).await?;
                        projects += 1;
                    }
                    ProjectLifecycle::Live | ProjectLifecycle::Deleted { .. } => {}
                }
            }
            after = Some(last);
        }
        let mut organizations = 0;
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
                    // Live, or deleted and not purged yet.
                    Ok(_) => {}
                    Err(AuthorityError::NotFound(_)) => {
                        self.purge_organization(org).await?;
                        organizations += 1;
                    }
                    Err(other) => return Err(AuthorityDenied::from(other).into()),
                }
            }
            after = Some(last);
        }
        Ok((projects, organizations))
    }
}

/// dns's lifecycle job, run by [`follow_lifecycle`]: a project or an
/// organization the feed says was purged loses its dns data at once;
/// reconciliation catches the purges dns missed.
pub struct LifecycleJob(pub Dns);

impl LifecycleFollower for LifecycleJob {
    type Error = Error;

    async fn on_event(&self, event: &LifecycleEvent) -> Result<()> {
        match event {
            LifecycleEvent::Project {
                project,
                change: LifecycleChange::Purged,
                ..
            } => {
                let (org, project) = project_ids(project).ok_or_else(|| {
                    Error::Corrupt(format!("the feed named {project:?} as purged"))
                })?;
                self.0.purge_project(org, project).await.map(drop)
            }
            LifecycleEvent::Organization {
                organization,
                change: LifecycleChange::Purged,
                ..
            } => {
                let org = organization_id(organization).ok_or_else(|| {
                    Error::Corrupt(format!("the feed named {organization:?} as purged"))
                })?;
                self.0.purge_organization(org).await.map(drop)
            }
            // Deleted and restored projects: their zones are hidden and
            // shown by the lifecycle the client caches; nothing to store.
            _ => Ok(()),
        }
    }

    async fn reconcile(&self) -> Result<()> {
        let (projects, organizations) = self.0.reconcile_lifecycle().await?;
        if projects + organizations > 0 {
            tracing::info!(
                projects,
                organizations,
                "reconciled purged projects and organizations"
            );
        }
        Ok(())
    }
}
