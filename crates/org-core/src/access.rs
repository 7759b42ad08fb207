//! Who may do what in which organization: caller resolution, then for each
//! RPC its row of [`crate::rpcs`] — the kind of caller it is for, NOT_FOUND
//! for what the caller may not see, the permission, and the status table, in
//! that order (NOT_FOUND, then PERMISSION_DENIED, then ENTITY_STATUS).

use std::collections::BTreeSet;

use chrono::Utc;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::authz::{Callers, Rpc};
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use uuid::Uuid;

use crate::catalog::{self, Permission};
use crate::error::{Error, Result};
use crate::model::{Account, Caller, Organization};
use crate::policy::{self, ActionClass, LifecycleState};
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

/// An organization the caller can see, with the caller's permissions in it.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The organization.
    pub organization: Organization,
    /// The caller's permissions in it.
    pub permissions: Permissions,
}

impl OrgAccess {
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
        let permissions = permissions_of(conn, caller, org_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(OrgAccess {
            organization,
            permissions,
        })
    }
}

/// The caller's permissions in `org_id`, or `None` when the caller is an
/// account that is not a member.
pub async fn permissions_of(
    conn: &impl Conn,
    caller: &Caller,
    org_id: Uuid,
) -> Result<Option<Permissions>> {
    match caller {
        Caller::Operator(_) => Ok(Some(Permissions::All)),
        Caller::Service(_) => Ok(Some(Permissions::Set(catalog::service_permissions()))),
        Caller::Account(account) => account_permissions(conn, account, org_id).await,
    }
}

/// An account's permissions in an organization, `None` if not a member:
/// the union of its roles' permissions.
pub async fn account_permissions(
    conn: &impl Conn,
    account: &Account,
    org_id: Uuid,
) -> Result<Option<Permissions>> {
    let role_ids = memberships::role_ids(conn, org_id, account.id).await?;
    if role_ids.is_empty() {
        return Ok(None);
    }
    let mut set = BTreeSet::new();
    for role in &role_ids {
        set.extend(roles::permissions_of(conn, org_id, role).await?);
    }
    Ok(Some(Permissions::Set(set)))
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
