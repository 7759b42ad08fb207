//! Who may do what in which organization: caller resolution, then for each
//! RPC its row of [`crate::rpcs`] — the kind of caller it is for, NOT_FOUND
//! for what the caller may not see, the permission, and the status table, in
//! that order (NOT_FOUND, then PERMISSION_DENIED, then ENTITY_STATUS).
//!
//! Project scope: a member's organization roles apply everywhere in the
//! organization; roles held on one project grant, in that project only,
//! their project-scoped permissions ([`catalog::is_project_scoped`]). In a
//! project a caller holds the union of both. A project-only member (no
//! organization role) holds [`catalog::PROJECT_MEMBER`] at organization level
//! and sees only the projects they are bound to: every other project is
//! NOT_FOUND to them ([`OrgCore::authorize_project`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::authz::{Callers, Rpc};
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use uuid::Uuid;

use crate::catalog::{self, Permission};
use crate::error::{Error, Result};
use crate::model::{Account, Caller, Organization, Project, project_name};
use crate::policy::{self, ActionClass, LifecycleState};
use crate::projects::{self, ProjectName};
use crate::service::OrgCore;
use crate::{memberships, roles};

/// The permissions a caller holds in one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permissions {
    /// Operators: everything.
    All,
    /// The union of the caller's roles (or a service's fixed set).
    Set(BTreeSet<Permission>),
}

impl Permissions {
    /// True when `permission` is held.
    pub fn has(&self, permission: Permission) -> bool {
        match self {
            Permissions::All => true,
            Permissions::Set(set) => set.contains(permission),
        }
    }

    /// The union of the permissions of built-in `roles`.
    pub fn builtin<'a>(roles: impl IntoIterator<Item = &'a str>) -> Self {
        Permissions::Set(
            roles
                .into_iter()
                .filter_map(catalog::builtin_role)
                .flat_map(|perms| perms.iter().copied())
                .collect(),
        )
    }

    /// These permissions plus `more`.
    pub fn with(&self, more: &BTreeSet<Permission>) -> Self {
        match self {
            Permissions::All => Permissions::All,
            Permissions::Set(set) => Permissions::Set(set.union(more).copied().collect()),
        }
    }

    /// True when every one of `permissions` is held: nobody may grant a
    /// permission they do not hold themselves.
    pub fn covers<'a>(
        &self,
        permissions: impl IntoIterator<Item = &'a Permission>,
    ) -> Result<(), Permission> {
        for p in permissions {
            if !self.has(p) {
                return Err(p);
            }
        }
        Ok(())
    }
}

/// Which projects a caller reaches in one organization, and with what
/// beyond its organization-level permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectGrants {
    /// Organization-level permissions apply in every project, and every
    /// project is visible: operators, services, and members holding an
    /// organization role. False for project-only members, who see only the
    /// projects in `bound`.
    pub every_project: bool,
    /// Project → the project-scoped permissions of the roles held on it.
    pub bound: BTreeMap<Uuid, BTreeSet<Permission>>,
}

impl ProjectGrants {
    /// What operators and services reach: every project, no bindings.
    pub fn everywhere() -> Self {
        Self {
            every_project: true,
            bound: BTreeMap::new(),
        }
    }
}

/// What a caller holds in one organization: organization-level
/// permissions and project grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// Organization-level permissions (for a project-only member,
    /// [`catalog::PROJECT_MEMBER`]).
    pub permissions: Permissions,
    /// Projects and what is held in them.
    pub projects: ProjectGrants,
}

impl Grants {
    /// The permissions held in project `id`, or `None` when the project is
    /// not visible (a project-only member not bound to it): organization
    /// permissions plus the project-scoped permissions bound there.
    pub fn in_project(&self, id: Uuid) -> Option<Permissions> {
        let bound = self.projects.bound.get(&id);
        if !self.projects.every_project && bound.is_none() {
            return None;
        }
        Some(match bound {
            Some(more) => self.permissions.with(more),
            None => self.permissions.clone(),
        })
    }
}

/// An organization the caller can see, with the caller's permissions in it.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The organization.
    pub organization: Organization,
    /// The caller's organization-level permissions in it.
    pub permissions: Permissions,
    /// The projects the caller reaches, and its project roles.
    pub projects: ProjectGrants,
}

/// A project the caller can see, with the caller's permissions in it.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    /// The organization, as [`OrgAccess`].
    pub org: OrgAccess,
    /// The project (deleted only where the caller asked to see deleted).
    pub project: Project,
    /// Organization-level permissions plus those bound on this project.
    pub permissions: Permissions,
}

impl OrgAccess {
    /// The caller's permissions in project `id`; `None` when it may not
    /// see it.
    pub fn in_project(&self, id: Uuid) -> Option<Permissions> {
        Grants {
            permissions: self.permissions.clone(),
            projects: self.projects.clone(),
        }
        .in_project(id)
    }

    /// Requires `permission` and that the status table allows `class`.
    pub fn require(&self, permission: Permission, class: ActionClass, action: &str) -> Result<()> {
        if !self.permissions.has(permission) {
            return Err(Error::permission_denied(permission));
        }
        // Who may see a deleted organization was decided when it was loaded
        // (operators only); reading it is then allowed.
        if class == ActionClass::Read && self.organization.state == LifecycleState::Deleted {
            return Ok(());
        }
        check_status(&self.organization, class, action)
    }
}

/// Refuses with ENTITY_STATUS when the status table forbids `class`.
pub fn check_status(org: &Organization, class: ActionClass, action: &str) -> Result<()> {
    if policy::allows(org.verification_status, org.state, class) {
        if class == ActionClass::Create && spending_blocked(org) {
            return Err(Refusal::SpendingLimitReached(org.name()).into());
        }
        return Ok(());
    }
    Err(Refusal::EntityStatus {
        organization: org.name(),
        verification_status: org.verification_status.as_str().into(),
        state: org.state.as_str().into(),
        action: action.into(),
        message: policy::refusal_message(org.verification_status, org.state, class, action),
    }
    .into())
}

/// True while billing says a hard spending limit is reached: create
/// actions are refused, existing resources keep running.
pub fn spending_blocked(org: &Organization) -> bool {
    org.capabilities
        .flags
        .get(policy::SPENDING_LIMIT_REACHED)
        .copied()
        .unwrap_or(false)
}

/// Whether deleted organizations may be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted is NOT_FOUND (normal use).
    Hide,
    /// Deleted is returned to operators only.
    ShowToOperators,
    /// Deleted is returned to anyone who can see the organization (Undelete).
    Show,
}

impl OrgCore {
    /// Resolves the principal of a call, creating an account on first use.
    pub async fn caller(&self, principal: &Principal) -> Result<Caller> {
        Ok(match principal.kind {
            PrincipalKind::Account => Caller::Account(self.ensure_account(principal).await?),
            PrincipalKind::Service => Caller::Service(principal.clone()),
            PrincipalKind::Operator => Caller::Operator(principal.clone()),
        })
    }

    /// The caller of `rpc`, checked against the kind of principal it is
    /// for: the first step of every org-core domain method.
    pub async fn caller_of(&self, principal: &Principal, rpc: &Rpc) -> Result<Caller> {
        let caller = self.caller(principal).await?;
        check_caller(&caller, rpc)?;
        Ok(caller)
    }

    /// Authorizes `rpc` for `caller` in `org`: NOT_FOUND when the caller
    /// may not see it (missing, deleted per `deleted`, not a member), then
    /// the row's permission and the status table's verdict on its class.
    /// Returns the organization with the caller's permissions in it.
    pub async fn authorize(
        &self,
        conn: &impl Conn,
        caller: &Caller,
        rpc: &Rpc,
        org: Uuid,
        deleted: Deleted,
    ) -> Result<OrgAccess> {
        check_caller(caller, rpc)?;
        let access = self.org_access(conn, caller, org, deleted).await?;
        if let Some(permission) = rpc.permission() {
            access.require(permission, rpc.class, rpc.method)?;
        }
        Ok(access)
    }

    /// Authorizes `rpc` on an organization that may be deleted (Undelete):
    /// NOT_FOUND and the permission as [`OrgCore::authorize`] checks them,
    /// but the status is left to the caller, which judges the organization
    /// as it would be once restored.
    pub async fn authorize_deleted(
        &self,
        conn: &impl Conn,
        caller: &Caller,
        rpc: &Rpc,
        org: Uuid,
    ) -> Result<OrgAccess> {
        check_caller(caller, rpc)?;
        let access = self.org_access(conn, caller, org, Deleted::Show).await?;
        if let Some(permission) = rpc.permission()
            && !access.permissions.has(permission)
        {
            return Err(Error::permission_denied(permission));
        }
        Ok(access)
    }

    /// Authorizes `rpc` on one project of an organization: NOT_FOUND when
    /// the organization is (as [`OrgCore::authorize`]), when the project is
    /// missing, deleted (per `deleted`; purged ones always) or of another
    /// organization, and when the caller is a project-only member not bound
    /// to it; then the row's permission among organization-level
    /// permissions plus the roles held on the project; then the status
    /// table's verdict on the organization for the row's class.
    pub async fn authorize_project(
        &self,
        conn: &impl Conn,
        caller: &Caller,
        rpc: &Rpc,
        name: ProjectName,
        deleted: Deleted,
    ) -> Result<ProjectAccess> {
        check_caller(caller, rpc)?;
        let org = self
            .org_access(conn, caller, name.organization, Deleted::Hide)
            .await?;
        let not_found = || Error::not_found(project_name(name.organization, name.id));
        let project = projects::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(not_found)?;
        if project.state == LifecycleState::Deleted {
            let visible = match deleted {
                Deleted::Hide => false,
                Deleted::ShowToOperators => caller.is_operator(),
                Deleted::Show => true,
            };
            let purged = project.purge_time.is_some_and(|t| t <= Utc::now());
            if !visible || purged {
                return Err(not_found());
            }
        }
        let permissions = org.in_project(project.id).ok_or_else(not_found)?;
        if let Some(permission) = rpc.permission()
            && !permissions.has(permission)
        {
            return Err(Error::permission_denied(permission));
        }
        // The organization is live here (deleted ones are NOT_FOUND above).
        check_status(&org.organization, rpc.class, rpc.method)?;
        Ok(ProjectAccess {
            org,
            project,
            permissions,
        })
    }

    /// Loads `org_id` as `caller` may see it: NOT_FOUND for missing,
    /// deleted (per `deleted`) or not-a-member.
    pub async fn org_access(
        &self,
        conn: &impl Conn,
        caller: &Caller,
        org_id: Uuid,
        deleted: Deleted,
    ) -> Result<OrgAccess> {
        let not_found = || Error::not_found(crate::model::organization_name(org_id));
        let organization = self
            .load_organization(conn, org_id)
            .await?
            .ok_or_else(not_found)?;
        if organization.state == LifecycleState::Deleted {
            let visible = match deleted {
                Deleted::Hide => false,
                Deleted::ShowToOperators => caller.is_operator(),
                Deleted::Show => true,
            };
            let purged = organization.purge_time.is_some_and(|t| t <= Utc::now());
            if !visible || purged {
                return Err(not_found());
            }
        }
        let grants = grants_of(conn, caller, org_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(OrgAccess {
            organization,
            permissions: grants.permissions,
            projects: grants.projects,
        })
    }
}

/// The caller's organization-level permissions in `org_id`, or `None` when
/// the caller is an account that is not a member.
pub async fn permissions_of(
    conn: &impl Conn,
    caller: &Caller,
    org_id: Uuid,
) -> Result<Option<Permissions>> {
    Ok(grants_of(conn, caller, org_id)
        .await?
        .map(|g| g.permissions))
}

/// What the caller holds in `org_id`, or `None` when the caller is an
/// account that is not a member.
pub async fn grants_of(conn: &impl Conn, caller: &Caller, org_id: Uuid) -> Result<Option<Grants>> {
    let everywhere = |permissions| Grants {
        permissions,
        projects: ProjectGrants::everywhere(),
    };
    match caller {
        Caller::Operator(_) => Ok(Some(everywhere(Permissions::All))),
        Caller::Service(_) => Ok(Some(everywhere(Permissions::Set(
            catalog::service_permissions(),
        )))),
        Caller::Account(account) => account_grants(conn, account, org_id).await,
    }
}

/// An account's grants in an organization, `None` if not a member: the
/// union of its organization roles' permissions, and per project the
/// project-scoped permissions of the roles it holds there. A member without
/// an organization role (project-only) holds [`catalog::PROJECT_MEMBER`]
/// at organization level and reaches only its projects.
pub async fn account_grants(
    conn: &impl Conn,
    account: &Account,
    org_id: Uuid,
) -> Result<Option<Grants>> {
    let role_ids = memberships::role_ids(conn, org_id, account.id).await?;
    let bindings = memberships::project_roles(conn, org_id, account.id).await?;
    if role_ids.is_empty() && bindings.is_empty() {
        return Ok(None);
    }
    // Role permissions, looked up once per role id.
    let mut cache: BTreeMap<&str, BTreeSet<Permission>> = BTreeMap::new();
    for role in role_ids
        .iter()
        .chain(bindings.iter().flat_map(|b| b.roles.iter()))
    {
        if !cache.contains_key(role.as_str()) {
            let permissions = roles::permissions_of(conn, org_id, role).await?;
            cache.insert(role.as_str(), permissions);
        }
    }
    let mut organization: BTreeSet<Permission> = role_ids
        .iter()
        .flat_map(|r| cache[r.as_str()].iter().copied())
        .collect();
    if role_ids.is_empty() {
        organization.extend(catalog::PROJECT_MEMBER);
    }
    let bound = bindings
        .iter()
        .map(|b| {
            let scoped = b
                .roles
                .iter()
                .flat_map(|r| cache[r.as_str()].iter().copied())
                .filter(|p| catalog::is_project_scoped(p))
                .collect();
            (b.project, scoped)
        })
        .collect();
    Ok(Some(Grants {
        permissions: Permissions::Set(organization),
        projects: ProjectGrants {
            every_project: !role_ids.is_empty(),
            bound,
        },
    }))
}

/// Refuses a caller of the wrong kind for `rpc` (operators may call
/// everything a service may).
pub fn check_caller(caller: &Caller, rpc: &Rpc) -> Result<()> {
    match (rpc.callers, caller) {
        (Callers::Operators, Caller::Operator(_)) => Ok(()),
        (Callers::Operators, _) => Err(Error::principal_kind("operator")),
        (Callers::Services, Caller::Service(_) | Caller::Operator(_)) => Ok(()),
        (Callers::Services, Caller::Account(_)) => {
            Err(Error::principal_kind("service or operator"))
        }
        (Callers::Accounts, Caller::Account(_)) => Ok(()),
        (Callers::Accounts, _) => Err(Error::principal_kind("account")),
        (Callers::Permission(_) | Callers::Anyone, _) => Ok(()),
    }
}

/// Requires the caller to be an operator.
pub fn require_operator(caller: &Caller) -> Result<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(Error::principal_kind("operator"))
    }
}
