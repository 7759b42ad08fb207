//! Organizations: create, read, list, update, soft delete and undelete.

pub mod grpc;
pub mod store;

use chrono::Utc;
use loopback_runtime::db::is_unique_violation;
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, Permissions};
use crate::audit::{self, AuditRecord};
use crate::catalog::{self, roles};
use crate::changes::{self, kind};
use crate::entity::{organization, project};
use crate::error::{Error, Result};
use crate::model::{Caller, Organization, OrganizationView, project_name};
use crate::policy::{self, ActionClass, LifecycleState, VerificationStatus};
use crate::service::OrgCore;
use crate::{memberships, projects};

/// Fields an update may change.
#[derive(Debug, Clone, Default)]
pub struct OrganizationUpdate {
    /// New display name.
    pub display_name: Option<String>,
}

/// A list request, already validated.
#[derive(Debug, Clone)]
pub struct ListOrganizations {
    /// Page size and position.
    pub page: PageRequest,
    /// Include deleted (operators only).
    pub show_deleted: bool,
    /// Filter by verification status.
    pub verification_status: Option<VerificationStatus>,
    /// Filter by state.
    pub state: Option<LifecycleState>,
}

/// The verbs `caller` may apply to `org` now.
pub fn allowed_actions(
    org: &Organization,
    permissions: &Permissions,
    operator: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if org.state == LifecycleState::Deleted {
        if permissions.has(catalog::ORGANIZATIONS_UNDELETE)
            && policy::allows(
                org.verification_status,
                LifecycleState::Active,
                ActionClass::Setup,
            )
        {
            out.push("undelete".to_string());
        }
        return out;
    }
    let verbs = [
        ("update", catalog::ORGANIZATIONS_UPDATE, ActionClass::Setup),
        ("delete", catalog::ORGANIZATIONS_DELETE, ActionClass::Setup),
        (
            "create_project",
            catalog::PROJECTS_CREATE,
            ActionClass::Create,
        ),
    ];
    for (verb, permission, class) in verbs {
        if permissions.has(permission) && policy::allows(org.verification_status, org.state, class)
        {
            out.push(verb.to_string());
        }
    }
    if operator {
        out.extend(["set_verification_status", "set_state", "set_capabilities"].map(String::from));
    }
    out
}

fn view(org: Organization, permissions: &Permissions, caller: &Caller) -> OrganizationView {
    let allowed_actions = allowed_actions(&org, permissions, caller.is_operator());
    OrganizationView {
        organization: org,
        allowed_actions,
    }
}

/// Refuses with ABORTED when an etag was given and does not match.
pub fn check_etag(name: &str, expected: Option<i64>, current: i64) -> Result<()> {
    match expected {
        Some(v) if v != current => Err(Error::EtagMismatch(name.to_string())),
        _ => Ok(()),
    }
}

impl OrgCore {
    /// Creates an organization owned by the calling account.
    pub async fn create_organization(
        &self,
        caller: &Caller,
        display_name: String,
        request_id: Option<String>,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        let Caller::Account(account) = caller else {
            return Err(Error::PrincipalKind("account"));
        };
        if let Some(rid) = &request_id
            && let Some(existing) = store::find_by_request(self.db(), account.id, rid).await?
        {
            return self
                .get_organization(caller, crate::model::parse_stored_uuid(&existing.id)?)
                .await;
        }
        let now = Utc::now();
        let id = Uuid::now_v7();
        let txn = self.begin().await?;
        let inserted = organization::Entity::insert(organization::ActiveModel {
            id: Set(id.to_string()),
            display_name: Set(display_name.clone()),
            verification_status: Set(VerificationStatus::InSetup.as_str().into()),
            state: Set(LifecycleState::Active.as_str().into()),
            create_time: Set(now),
            update_time: Set(now),
            delete_time: Set(None),
            purge_time: Set(None),
            version: Set(1),
            lock_seq: Set(0),
            creator_account_id: Set(Some(account.id.to_string())),
            request_id: Set(request_id.clone()),
        })
        .exec_without_returning(&txn)
        .await;
        match (inserted, &request_id) {
            (Ok(_), _) => {}
            // A concurrent retry with the same request_id won the race.
            (Err(e), Some(rid)) if is_unique_violation(&e) => {
                drop(txn);
                let existing = store::find_by_request(self.db(), account.id, rid)
                    .await?
                    .ok_or(Error::Db(e))?;
                return self
                    .get_organization(caller, crate::model::parse_stored_uuid(&existing.id)?)
                    .await;
            }
            (Err(e), _) => return Err(e.into()),
        }
        memberships::store::add(&txn, id, account.id, &[roles::OWNER]).await?;
        changes::append(&txn, id, kind::CREATED).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "CreateOrganization",
                resource: crate::model::organization_name(id),
                organization: Some(id),
                reason: "",
                details: json!({ "display_name": display_name }),
            },
        )
        .await?;
        let org = store::load(&txn, self.settings(), id)
            .await?
            .ok_or_else(|| Error::Corrupt("organization vanished inside its transaction".into()))?;
        self.finish(txn, validate_only).await?;
        Ok(view(org, &Permissions::builtin([roles::OWNER]), caller))
    }

    /// Reads one organization.
    pub async fn get_organization(&self, caller: &Caller, id: Uuid) -> Result<OrganizationView> {
        let access = self
            .org_access(self.db(), caller, id, Deleted::ShowToOperators)
            .await?;
        access.require(
            catalog::ORGANIZATIONS_GET,
            ActionClass::Read,
            "GetOrganization",
        )?;
        Ok(view(access.organization, &access.permissions, caller))
    }

    /// Lists the caller's organizations (operators: all).
    pub async fn list_organizations(
        &self,
        caller: &Caller,
        request: ListOrganizations,
    ) -> Result<(Vec<OrganizationView>, String)> {
        let filter = store::ListFilter {
            member: match caller {
                Caller::Account(a) => Some(a.id),
                Caller::Operator(_) => None,
                Caller::Service(_) => return Err(Error::PrincipalKind("account or operator")),
            },
            include_deleted: request.show_deleted,
            verification_status: request.verification_status,
            state: request.state,
        };
        if request.show_deleted && !caller.is_operator() {
            return Err(Error::invalid(
                "show_deleted",
                "only operators may list deleted organizations",
            ));
        }
        let rows = store::list(self.db(), &filter, &request.page).await?;
        let (rows, next) = request.page.finish(rows, |r| r.id.clone());
        let orgs = store::to_domain_many(self.db(), self.settings(), rows).await?;
        let mut out = Vec::with_capacity(orgs.len());
        for org in orgs {
            let permissions = crate::access::permissions_of(self.db(), caller, org.id)
                .await?
                .unwrap_or(Permissions::Set(Default::default()));
            out.push(view(org, &permissions, caller));
        }
        Ok((out, next))
    }

    /// Updates the organization's profile.
    pub async fn update_organization(
        &self,
        caller: &Caller,
        id: Uuid,
        update: OrganizationUpdate,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        let txn = self.begin_locked(id).await?;
        let access = self.org_access(&txn, caller, id, Deleted::Hide).await?;
        access.require(
            catalog::ORGANIZATIONS_UPDATE,
            ActionClass::Setup,
            "UpdateOrganization",
        )?;
        let org = &access.organization;
        check_etag(&org.name(), etag, org.version)?;
        let mut changes = organization::ActiveModel::default();
        if let Some(name) = &update.display_name {
            changes.display_name = Set(name.clone());
        }
        if !store::save(&txn, id, org.version, changes).await? {
            return Err(Error::EtagMismatch(org.name()));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UpdateOrganization",
                resource: org.name(),
                organization: Some(id),
                reason: "",
                details: json!({ "display_name": update.display_name }),
            },
        )
        .await?;
        let updated = store::load(&txn, self.settings(), id)
            .await?
            .ok_or_else(|| Error::NotFound(org.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(view(updated, &access.permissions, caller))
    }

    /// Soft-deletes an organization; with `force` its live projects go with it.
    pub async fn delete_organization(
        &self,
        caller: &Caller,
        id: Uuid,
        etag: Option<i64>,
        force: bool,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        // The row lock serialises with concurrent project creates, so none
        // sneaks in after the live-project check.
        let txn = self.begin_locked(id).await?;
        let access = self.org_access(&txn, caller, id, Deleted::Hide).await?;
        access.require(
            catalog::ORGANIZATIONS_DELETE,
            ActionClass::Setup,
            "DeleteOrganization",
        )?;
        let org = &access.organization;
        check_etag(&org.name(), etag, org.version)?;
        let live = project::Entity::find()
            .filter(project::Column::OrganizationId.eq(id.to_string()))
            .filter(project::Column::State.eq(LifecycleState::Active.as_str()));
        let live_count = live.clone().count(&txn).await?;
        if live_count > 0 && !force {
            let examples: Vec<String> = live
                .order_by_asc(project::Column::Id)
                .limit(3)
                .all(&txn)
                .await?
                .iter()
                .filter_map(|p| Uuid::parse_str(&p.id).ok().map(|pid| project_name(id, pid)))
                .collect();
            return Err(Error::FailedPrecondition {
                reason: "ORGANIZATION_HAS_PROJECTS",
                message: format!(
                    "{} still has {live_count} live project(s) (e.g. {}): delete them first, or set force to delete them with it",
                    org.name(),
                    examples.join(", ")
                ),
            });
        }
        let now = Utc::now();
        let purge = now + self.settings().retention;
        let taken = if live_count > 0 {
            projects::store::delete_all_live_with_organization(&txn, id, now, purge).await?
        } else {
            0
        };
        let changes = organization::ActiveModel {
            state: Set(LifecycleState::Deleted.as_str().into()),
            delete_time: Set(Some(now)),
            purge_time: Set(Some(purge)),
            ..Default::default()
        };
        if !store::save(&txn, id, org.version, changes).await? {
            return Err(Error::EtagMismatch(org.name()));
        }
        changes::append(&txn, id, kind::DELETED).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "DeleteOrganization",
                resource: org.name(),
                organization: Some(id),
                reason: "",
                details: json!({ "force": force, "projects_deleted": taken }),
            },
        )
        .await?;
        let deleted = store::load(&txn, self.settings(), id)
            .await?
            .ok_or_else(|| Error::NotFound(org.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(view(deleted, &access.permissions, caller))
    }

    /// Restores a soft-deleted organization and exactly the projects its
    /// deletion took.
    pub async fn undelete_organization(
        &self,
        caller: &Caller,
        id: Uuid,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        let txn = self.begin_locked(id).await?;
        let access = self.org_access(&txn, caller, id, Deleted::Show).await?;
        let org = &access.organization;
        if !access.permissions.has(catalog::ORGANIZATIONS_UNDELETE) {
            return Err(Error::PermissionDenied(catalog::ORGANIZATIONS_UNDELETE));
        }
        if org.state != LifecycleState::Deleted {
            return Err(Error::FailedPrecondition {
                reason: "NOT_DELETED",
                message: format!("{} is not deleted", org.name()),
            });
        }
        // Judge the status as if the organization were active again.
        let as_active = Organization {
            state: LifecycleState::Active,
            ..org.clone()
        };
        crate::access::check_status(&as_active, ActionClass::Setup, "UndeleteOrganization")?;
        let restored_projects = projects::store::undelete_taken_with_organization(&txn, id).await?;
        let changes = organization::ActiveModel {
            state: Set(LifecycleState::Active.as_str().into()),
            delete_time: Set(None),
            purge_time: Set(None),
            ..Default::default()
        };
        if !store::save(&txn, id, org.version, changes).await? {
            return Err(Error::EtagMismatch(org.name()));
        }
        changes::append(&txn, id, kind::UNDELETED).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UndeleteOrganization",
                resource: org.name(),
                organization: Some(id),
                reason: "",
                details: json!({ "projects_restored": restored_projects }),
            },
        )
        .await?;
        let restored = store::load(&txn, self.settings(), id)
            .await?
            .ok_or_else(|| Error::NotFound(org.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(view(restored, &access.permissions, caller))
    }
}
