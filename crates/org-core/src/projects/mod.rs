//! Projects: the required parent of workspaces and project-scoped resources.

pub mod grpc;
pub mod store;

use std::collections::BTreeMap;

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::audit::{self, AuditRecord};
use crate::catalog;
use crate::entity::project;
use crate::error::{Error, Result};
use crate::model::{Caller, Project, project_name};
use crate::organizations::check_etag;
use crate::policy::{ActionClass, LifecycleState};
use crate::service::OrgCore;

/// The limit key projects count against.
pub const LIMIT: &str = "max_projects";

/// What a new project is made of, already validated.
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Fields an update may change.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New labels (replacing all).
    pub labels: Option<BTreeMap<String, String>>,
}

/// Refuses with LIMIT_REACHED when one more project would exceed the limit.
fn check_limit(access: &OrgAccess, live: i64) -> Result<()> {
    let limit = access.organization.capabilities.limit(LIMIT);
    if live >= limit {
        return Err(Error::LimitReached {
            organization: access.organization.name(),
            limit: LIMIT.into(),
            limit_value: limit,
            usage: live,
        });
    }
    Ok(())
}

impl OrgCore {
    /// Creates a project, enforcing `max_projects` atomically: the
    /// organization's row lock serialises concurrent creates, so the count
    /// and the insert see one consistent world on SQLite and PostgreSQL.
    pub async fn create_project(
        &self,
        caller: &Caller,
        org: Uuid,
        new: NewProject,
        request_id: Option<String>,
        validate_only: bool,
    ) -> Result<Project> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(
            catalog::PROJECTS_CREATE,
            ActionClass::Create,
            "CreateProject",
        )?;
        if let Some(rid) = &request_id
            && let Some(existing) = store::find_by_request(&txn, org, rid).await?
        {
            return Ok(existing);
        }
        check_limit(&access, store::count_live(&txn, org).await?)?;
        let now = Utc::now();
        let project = Project {
            id: Uuid::now_v7(),
            organization_id: org,
            display_name: new.display_name,
            description: new.description,
            labels: new.labels,
            state: LifecycleState::Active,
            create_time: now,
            update_time: now,
            delete_time: None,
            purge_time: None,
            version: 1,
        };
        store::insert(&txn, &project, request_id).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "CreateProject",
                resource: project.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "display_name": project.display_name }),
            },
        )
        .await?;
        self.finish(txn, validate_only).await?;
        Ok(project)
    }

    /// Reads one project (deleted ones only for operators).
    pub async fn get_project(&self, caller: &Caller, org: Uuid, id: Uuid) -> Result<Project> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::PROJECTS_GET, ActionClass::Read, "GetProject")?;
        let project = store::find(self.db(), org, id)
            .await?
            .filter(|p| p.state != LifecycleState::Deleted || caller.is_operator())
            .ok_or_else(|| Error::NotFound(project_name(org, id)))?;
        Ok(project)
    }

    /// Lists an organization's projects.
    pub async fn list_projects(
        &self,
        caller: &Caller,
        org: Uuid,
        page: PageRequest,
        show_deleted: bool,
    ) -> Result<(Vec<Project>, String)> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::PROJECTS_LIST, ActionClass::Read, "ListProjects")?;
        if show_deleted && !caller.is_operator() {
            return Err(Error::invalid(
                "show_deleted",
                "only operators may list deleted projects",
            ));
        }
        let rows = store::list(self.db(), org, show_deleted, &page).await?;
        Ok(page.finish(rows, |p| p.id.to_string()))
    }

    /// Loads a live project for a change, checking permission, status and etag.
    async fn project_for_change(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        (permission, action): (catalog::Permission, &str),
        etag: Option<i64>,
    ) -> Result<Project> {
        let access = self.org_access(txn, caller, org, Deleted::Hide).await?;
        access.require(permission, ActionClass::Operate, action)?;
        let project = store::find(txn, org, id)
            .await?
            .filter(|p| p.state != LifecycleState::Deleted)
            .ok_or_else(|| Error::NotFound(project_name(org, id)))?;
        check_etag(&project.name(), etag, project.version)?;
        Ok(project)
    }

    /// Updates a project.
    pub async fn update_project(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        update: ProjectUpdate,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<Project> {
        let txn = self.begin_locked(org).await?;
        let project = self
            .project_for_change(
                &txn,
                caller,
                org,
                id,
                (catalog::PROJECTS_UPDATE, "UpdateProject"),
                etag,
            )
            .await?;
        let mut changes = project::ActiveModel::default();
        if let Some(v) = &update.display_name {
            changes.display_name = Set(v.clone());
        }
        if let Some(v) = &update.description {
            changes.description = Set(v.clone());
        }
        if let Some(v) = &update.labels {
            changes.labels = Set(store::labels_json(v));
        }
        if !store::save(&txn, id, project.version, changes).await? {
            return Err(Error::EtagMismatch(project.name()));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UpdateProject",
                resource: project.name(),
                organization: Some(org),
                reason: "",
                details: json!({
                    "display_name": update.display_name,
                    "description": update.description,
                    "labels": update.labels,
                }),
            },
        )
        .await?;
        let updated = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(project.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(updated)
    }

    /// Soft-deletes a project.
    pub async fn delete_project(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<Project> {
        let txn = self.begin_locked(org).await?;
        let project = self
            .project_for_change(
                &txn,
                caller,
                org,
                id,
                (catalog::PROJECTS_DELETE, "DeleteProject"),
                etag,
            )
            .await?;
        let now = Utc::now();
        let changes = project::ActiveModel {
            state: Set(LifecycleState::Deleted.as_str().into()),
            delete_time: Set(Some(now)),
            purge_time: Set(Some(now + self.settings().retention)),
            deleted_with_organization: Set(false),
            ..Default::default()
        };
        if !store::save(&txn, id, project.version, changes).await? {
            return Err(Error::EtagMismatch(project.name()));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "DeleteProject",
                resource: project.name(),
                organization: Some(org),
                reason: "",
                details: json!({}),
            },
        )
        .await?;
        let deleted = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(project.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(deleted)
    }

    /// Restores a soft-deleted project; it counts against `max_projects` again.
    pub async fn undelete_project(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        validate_only: bool,
    ) -> Result<Project> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(
            catalog::PROJECTS_UNDELETE,
            ActionClass::Create,
            "UndeleteProject",
        )?;
        let name = project_name(org, id);
        let project = store::find(&txn, org, id)
            .await?
            .filter(|p| p.purge_time.is_none_or(|t| t > Utc::now()))
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        if project.state != LifecycleState::Deleted {
            return Err(Error::FailedPrecondition {
                reason: "NOT_DELETED",
                message: format!("{name} is not deleted"),
            });
        }
        check_limit(&access, store::count_live(&txn, org).await?)?;
        let none: Option<chrono::DateTime<Utc>> = None;
        let changes = project::ActiveModel {
            state: Set(LifecycleState::Active.as_str().into()),
            delete_time: Set(none),
            purge_time: Set(none),
            ..Default::default()
        };
        if !store::save(&txn, id, project.version, changes).await? {
            return Err(Error::EtagMismatch(name));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UndeleteProject",
                resource: project.name(),
                organization: Some(org),
                reason: "",
                details: json!({}),
            },
        )
        .await?;
        let restored = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(project.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(restored)
    }
}
