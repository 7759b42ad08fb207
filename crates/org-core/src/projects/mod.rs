//! Projects: the required parent of workspaces and project-scoped resources.
//! Project-scoped RPCs authorize through [`OrgCore::authorize_project`]:
//! organization roles plus the roles held on the project. Creating,
//! deleting and restoring a project appends `project_*` changes to the
//! feed in the same transaction, so services follow the lifecycle in order.

pub mod grpc;
pub mod store;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess, ProjectAccess};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::Project;
use crate::organizations::check_etag;
use crate::policy::LifecycleState;
use crate::rpcs;
use crate::service::OrgCore;

/// The limit key projects count against.
pub const LIMIT: &str = "max_projects";

loopback_runtime::resource_name! {
    /// `organizations/{org}/projects/{id}`, parsed.
    pub struct ProjectName = "projects", id: Uuid;
}

/// What a new project is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProject {
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// CreateProject, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProject {
    /// The parent organization.
    pub organization: Uuid,
    /// The project.
    pub project: NewProject,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListProjects, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListProjects {
    /// The parent organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
    /// Include deleted projects (operators only).
    pub show_deleted: bool,
}

/// Fields an update may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New labels (replacing all).
    pub labels: Option<BTreeMap<String, String>>,
}

/// UpdateProject, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProject {
    /// The project.
    pub name: ProjectName,
    /// What changes.
    pub update: ProjectUpdate,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteProject, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteProject {
    /// The project.
    pub name: ProjectName,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// UndeleteProject, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeleteProject {
    /// The project.
    pub name: ProjectName,
    /// Check only.
    pub validate_only: bool,
}

/// Refuses with LIMIT_REACHED when one more project would exceed the limit.
fn check_limit(access: &OrgAccess, live: i64) -> Result<()> {
    let limit = access.organization.capabilities.limit(LIMIT);
    if live >= limit {
        return Err(Refusal::LimitReached {
            organization: access.organization.name(),
            limit: LIMIT.into(),
            limit_value: limit,
            usage: live,
        }
        .into());
    }
    Ok(())
}

/// One project of `org`, deleted or not (`None` once purged or when it
/// belongs to another organization).
pub async fn find(conn: &impl Conn, org: Uuid, id: Uuid) -> Result<Option<Project>> {
    store::find(conn, org, id).await
}

/// Live projects of `org`.
pub async fn count_live(conn: &impl Conn, org: Uuid) -> Result<i64> {
    store::count_live(conn, org).await
}

/// How many live projects `org` has, and the names of the first `n`.
pub async fn live_projects(conn: &impl Conn, org: Uuid, n: u64) -> Result<(i64, Vec<String>)> {
    let count = store::count_live(conn, org).await?;
    let first = store::first_live(conn, org, n).await?;
    Ok((count, first.iter().map(Project::name).collect()))
}

/// Soft-deletes every live project of `org` with it (they come back when
/// it is undeleted), appending one `project_deleted` change per project.
/// Call it under the organization's lock. Returns how many.
pub async fn delete_with_organization(
    conn: &impl Conn,
    org: Uuid,
    now: DateTime<Utc>,
    purge: DateTime<Utc>,
) -> Result<u64> {
    let taken = store::live_ids(conn, org).await?;
    let deleted = store::delete_all_live_with_organization(conn, org, now, purge).await?;
    for id in &taken {
        changes::append_project(conn, org, *id, kind::PROJECT_DELETED).await?;
    }
    Ok(deleted)
}

/// Restores the projects `org`'s deletion took, appending one
/// `project_undeleted` change per project. Call it under the
/// organization's lock. Returns how many.
pub async fn undelete_with_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    let taken = store::taken_with_organization_ids(conn, org).await?;
    let restored = store::undelete_taken_with_organization(conn, org).await?;
    for id in &taken {
        changes::append_project(conn, org, *id, kind::PROJECT_UNDELETED).await?;
    }
    Ok(restored)
}

/// Up to `limit` projects (organization, project) whose own purge time is
/// at or before `now`: soft-deleted on their own, in any organization
/// (deleting the organization later neither extends their retention nor
/// would undeleting it bring them back). Projects an organization's
/// deletion took are purged with their organization.
pub async fn due_for_purge(
    conn: &impl Conn,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    store::due_for_purge(conn, now, limit).await
}

/// Whether project `id` of `org` is still due for purge at `now` (read it
/// under the organization's lock before purging: it may have been
/// restored or purged meanwhile).
pub async fn is_due_for_purge(
    conn: &impl Conn,
    org: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    store::is_due_for_purge(conn, org, id, now).await
}

/// Deletes project `id` of `org` for good (call it inside the purge's write
/// transaction, after its bindings and invites went). Returns whether it
/// existed.
pub async fn purge(conn: &impl Conn, org: Uuid, id: Uuid) -> Result<bool> {
    store::delete(conn, org, id).await
}

/// Deletes every project of `org`, in any state, for good (the
/// organization is being purged: call it inside the purge's write
/// transaction, after its memberships went). Returns their ids in creation
/// order.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<Vec<Uuid>> {
    store::delete_all(conn, org).await
}

impl OrgCore {
    /// Creates a project, enforcing `max_projects` atomically: the
    /// organization's lock serialises concurrent creates, so the count and
    /// the insert see one consistent world on SQLite and PostgreSQL.
    pub async fn create_project(
        &self,
        principal: &Principal,
        input: CreateProject,
    ) -> Result<Project> {
        let rpc = &rpcs::CREATE_PROJECT;
        let org = input.organization;
        let caller = self.caller(principal).await?;
        let mut tx = self.begin_write(org, rpc, &caller, input.write).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .project_in(
                    tx.conn(),
                    ProjectName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        check_limit(&access, store::count_live(tx.conn(), org).await?)?;
        let now = Utc::now();
        let project = Project {
            id: Uuid::now_v7(),
            organization_id: org,
            display_name: input.project.display_name,
            description: input.project.description,
            labels: input.project.labels,
            state: LifecycleState::Active,
            create_time: now,
            update_time: now,
            delete_time: None,
            purge_time: None,
            version: 1,
        };
        store::insert(tx.conn(), &project).await?;
        changes::append_project(tx.conn(), org, project.id, kind::PROJECT_CREATED).await?;
        tx.created(project.id);
        tx.audit(
            project.name(),
            json!({ "display_name": project.display_name }),
        );
        tx.commit().await?;
        Ok(project)
    }

    /// Reads one project (deleted ones only for operators).
    pub async fn get_project(&self, principal: &Principal, name: ProjectName) -> Result<Project> {
        let caller = self.caller(principal).await?;
        let access = self
            .authorize_project(
                self.db(),
                &caller,
                &rpcs::GET_PROJECT,
                name,
                Deleted::ShowToOperators,
            )
            .await?;
        Ok(access.project)
    }

    /// Lists an organization's projects: all of them for callers with an
    /// organization role, the projects they are bound to for project-only
    /// members.
    pub async fn list_projects(
        &self,
        principal: &Principal,
        input: ListProjects,
    ) -> Result<Page<Project>> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        let access = self
            .authorize(self.db(), &caller, &rpcs::LIST_PROJECTS, org, Deleted::Hide)
            .await?;
        if input.show_deleted && !caller.is_operator() {
            return Err(Error::invalid(
                "show_deleted",
                "only operators may list deleted projects",
            ));
        }
        let only: Option<Vec<Uuid>> = (!access.projects.every_project)
            .then(|| access.projects.bound.keys().copied().collect());
        let rows = store::list(
            self.db(),
            org,
            input.show_deleted,
            only.as_deref(),
            &input.page,
        )
        .await?;
        Ok(input.page.page(rows, |p| p.id.to_string()))
    }

    /// Updates a project.
    pub async fn update_project(
        &self,
        principal: &Principal,
        input: UpdateProject,
    ) -> Result<Project> {
        let rpc = &rpcs::UPDATE_PROJECT;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                &caller,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let project = self
            .authorize_project(tx.conn(), &caller, rpc, name, Deleted::Hide)
            .await?
            .project;
        check_etag(&project.name(), input.etag, project.version)?;
        if !store::update(tx.conn(), name.id, project.version, &input.update).await? {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        tx.audit(
            name.to_string(),
            json!({
                "display_name": input.update.display_name,
                "description": input.update.description,
                "labels": input.update.labels,
            }),
        );
        let updated = self.project_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Soft-deletes a project.
    pub async fn delete_project(
        &self,
        principal: &Principal,
        input: DeleteProject,
    ) -> Result<Project> {
        let rpc = &rpcs::DELETE_PROJECT;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                &caller,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let project = self
            .authorize_project(tx.conn(), &caller, rpc, name, Deleted::Hide)
            .await?
            .project;
        check_etag(&project.name(), input.etag, project.version)?;
        let now = Utc::now();
        let purge = now + self.settings().retention;
        if !store::set_deleted(tx.conn(), name.id, project.version, now, purge).await? {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        changes::append_project(tx.conn(), name.organization, name.id, kind::PROJECT_DELETED)
            .await?;
        tx.audit(name.to_string(), json!({}));
        let deleted = self.project_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Restores a soft-deleted project; it counts against `max_projects` again.
    pub async fn undelete_project(
        &self,
        principal: &Principal,
        input: UndeleteProject,
    ) -> Result<Project> {
        let rpc = &rpcs::UNDELETE_PROJECT;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                &caller,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let ProjectAccess {
            org: access,
            project,
            ..
        } = self
            .authorize_project(tx.conn(), &caller, rpc, name, Deleted::Show)
            .await?;
        if project.state != LifecycleState::Deleted {
            return Err(Error::precondition(
                "NOT_DELETED",
                format!("{name} is not deleted"),
            ));
        }
        check_limit(
            &access,
            store::count_live(tx.conn(), name.organization).await?,
        )?;
        if !store::set_active(tx.conn(), name.id, project.version).await? {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        changes::append_project(
            tx.conn(),
            name.organization,
            name.id,
            kind::PROJECT_UNDELETED,
        )
        .await?;
        tx.audit(name.to_string(), json!({}));
        let restored = self.project_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(restored)
    }

    /// A project as stored, deleted or not; NOT_FOUND when missing.
    async fn project_in(&self, conn: &impl Conn, name: ProjectName) -> Result<Project> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}
