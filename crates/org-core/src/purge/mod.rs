//! Purge: organizations and projects past their `purge_time` are removed for
//! good by a background job, every `--purge-interval`.
//!
//! An organization's purge removes, in one write transaction under its
//! lock, everything org-core holds for it — memberships with their
//! organization and project roles, invites, custom roles, login providers
//! (their sealed secrets are columns of the rows), quota reservations and
//! usage reports, limit increase requests, its projects, capability
//! overrides, the kit's lock row and request ids, its changes still on the
//! feed, and the organization row (its plan is a column of it). In the same
//! transaction it appends `project_purged` for each project it still had
//! (in creation order), then `purged`, and records `PurgeOrganization` in
//! the audit log. A project deleted on its own is purged the same way after
//! its own retention: its role bindings (a member left with no role stops
//! being one), its roles in invites, its request ids and changes, the row;
//! then `project_purged` and `PurgeProject`.
//!
//! What stays: the audit log (it is never purged, so operators can still
//! read what happened to a purged organization) and accounts (a person's
//! login, not the organization's data; only their memberships go). Other
//! services follow `purged` on the feed and delete what they hold, except
//! what law requires them to keep (billing keeps finalized invoices).
//!
//! Safe on any number of replicas: each purge re-reads its organization or
//! project under the organization's lock, so a second purger finds it gone
//! (or restored) and does nothing. A run purges at most [`BATCH`]
//! organizations and [`BATCH`] projects, each in its own transaction.

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::error::Result;
use crate::model::{organization_name, project_name};
use crate::policy::LifecycleState;
use crate::service::OrgCore;
use crate::{
    auth_providers, changes, invites, limit_requests, memberships, onboarding, organizations,
    projects, quotas, roles, rpcs,
};

/// Most organizations, and most projects, one run of the purge job
/// removes; the rest wait for the next run.
pub const BATCH: u64 = 100;

/// What one run of the purge job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeRun {
    /// Organizations removed.
    pub organizations: u64,
    /// Projects (deleted on their own) removed.
    pub projects: u64,
    /// Purges that failed (logged; retried next run).
    pub failed: u64,
}

impl OrgCore {
    /// One run of the purge job: removes up to [`BATCH`] organizations and
    /// [`BATCH`] projects whose purge time has passed. A failed purge is
    /// logged and counted, and the others go on.
    pub async fn purge_due(&self) -> Result<PurgeRun> {
        let now = Utc::now();
        let mut run = PurgeRun::default();
        for org in organizations::due_for_purge(self.db(), now, BATCH).await? {
            match self.purge_organization(org).await {
                Ok(true) => run.organizations += 1,
                Ok(false) => {}
                Err(error) => {
                    run.failed += 1;
                    tracing::warn!(organization = %org, %error, "purging an organization failed; retrying next run");
                }
            }
        }
        for (org, project) in projects::due_for_purge(self.db(), now, BATCH).await? {
            match self.purge_project(org, project).await {
                Ok(true) => run.projects += 1,
                Ok(false) => {}
                Err(error) => {
                    run.failed += 1;
                    tracing::warn!(organization = %org, project = %project, %error, "purging a project failed; retrying next run");
                }
            }
        }
        Ok(run)
    }

    /// Removes `org` and everything org-core holds for it, if it is
    /// (still) deleted and past its purge time; see the module docs.
    /// Returns whether it did.
    pub async fn purge_organization(&self, org: Uuid) -> Result<bool> {
        let mut tx = self
            .begin_system_write(org, &rpcs::PURGE_ORGANIZATION)
            .await?;
        // Under the lock: another replica may have purged it already, or
        // someone undeleted it since it was found.
        let Some(found) = self.load_organization(tx.conn(), org).await? else {
            return Ok(false);
        };
        let due = found.state == LifecycleState::Deleted
            && found.purge_time.is_some_and(|t| t <= Utc::now());
        if !due {
            return Ok(false);
        }
        let conn = tx.conn();
        let members = memberships::purge_organization(conn, org).await?;
        let invites = invites::purge_organization(conn, org).await?;
        let custom_roles = roles::purge_organization(conn, org).await?;
        let auth_providers = auth_providers::purge_organization(conn, org).await?;
        let quota_rows = quotas::purge_organization(conn, org).await?;
        let limit_requests = limit_requests::purge_organization(conn, org).await?;
        let onboarding_rows = onboarding::purge_organization(conn, org).await?;
        let purged_projects = projects::purge_organization(conn, org).await?;
        organizations::purge(conn, org).await?;
        // The kit's lock row and request ids (its projects' and providers'
        // creates are scoped to it; its own create names it).
        tx.forget_scope().await?;
        let conn = tx.conn();
        changes::forget_organization(conn, org).await?;
        for project in &purged_projects {
            changes::project_purged(conn, org, *project).await?;
        }
        changes::purged(conn, org).await?;
        tx.audit(
            organization_name(org),
            json!({
                "display_name": found.display_name,
                "delete_time": found.delete_time,
                "projects": purged_projects.len(),
                "members": members,
                "invites": invites,
                "custom_roles": custom_roles,
                "auth_providers": auth_providers,
                "quota_rows": quota_rows,
                "limit_requests": limit_requests,
                "onboarding_rows": onboarding_rows,
            }),
        );
        tx.commit().await?;
        tracing::info!(organization = %org, projects = purged_projects.len(), "purged an organization");
        Ok(true)
    }

    /// Removes `project` of `org` if it is (still) deleted on its own and
    /// past its purge time; see the module docs. Returns whether it did.
    pub async fn purge_project(&self, org: Uuid, project: Uuid) -> Result<bool> {
        let mut tx = self.begin_system_write(org, &rpcs::PURGE_PROJECT).await?;
        if !projects::is_due_for_purge(tx.conn(), org, project, Utc::now()).await? {
            return Ok(false);
        }
        let conn = tx.conn();
        let bindings = memberships::remove_project_bindings(conn, org, project).await?;
        let invites = invites::remove_project(conn, org, project).await?;
        projects::purge(conn, org, project).await?;
        tx.forget_created(&project.to_string()).await?;
        let conn = tx.conn();
        changes::forget_project(conn, org, project).await?;
        changes::project_purged(conn, org, project).await?;
        tx.audit(
            project_name(org, project),
            json!({ "bindings": bindings, "invites": invites }),
        );
        tx.commit().await?;
        tracing::info!(organization = %org, %project, "purged a project");
        Ok(true)
    }
}
