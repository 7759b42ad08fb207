//! Who may do what in which organization: caller resolution, membership and
//! permission lookup, and the status policy check, in that order (NOT_FOUND,
//! then PERMISSION_DENIED, then ENTITY_STATUS).

use std::collections::BTreeSet;

use chrono::Utc;
use loopback_runtime::auth::{Principal, PrincipalKind};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::catalog::{self, Permission};
use crate::entity::membership_role;
use crate::error::{Error, Result};
use crate::model::{Account, Caller, Organization};
use crate::policy::{self, ActionClass, LifecycleState};
use crate::service::OrgCore;
use crate::{accounts, organizations};

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
            return Err(Error::PermissionDenied(permission));
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
            return Err(Error::SpendingLimitReached(org.name()));
        }
        return Ok(());
    }
    Err(Error::EntityStatus {
        organization: org.name(),
        verification_status: org.verification_status.as_str().into(),
        state: org.state.as_str().into(),
        action: action.into(),
        message: policy::refusal_message(org.verification_status, org.state, class, action),
    })
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
            PrincipalKind::Account => {
                Caller::Account(accounts::store::ensure(self.db(), principal).await?)
            }
            PrincipalKind::Service => Caller::Service(principal.clone()),
            PrincipalKind::Operator => Caller::Operator(principal.clone()),
        })
    }

    /// Loads `org_id` as `caller` may see it: NOT_FOUND for missing,
    /// deleted (per `deleted`) or not-a-member.
    pub async fn org_access(
        &self,
        conn: &impl ConnectionTrait,
        caller: &Caller,
        org_id: Uuid,
        deleted: Deleted,
    ) -> Result<OrgAccess> {
        let not_found = || Error::NotFound(crate::model::organization_name(org_id));
        let organization = organizations::store::load(conn, self.settings(), org_id)
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
    conn: &impl ConnectionTrait,
    caller: &Caller,
    org_id: Uuid,
) -> Result<Option<Permissions>> {
    match caller {
        Caller::Operator(_) => Ok(Some(Permissions::All)),
        Caller::Service(_) => Ok(Some(Permissions::Set(catalog::service_permissions()))),
        Caller::Account(account) => account_permissions(conn, account, org_id).await,
    }
}

/// An account's permissions in an organization, `None` if not a member.
pub async fn account_permissions(
    conn: &impl ConnectionTrait,
    account: &Account,
    org_id: Uuid,
) -> Result<Option<Permissions>> {
    let roles = membership_role::Entity::find()
        .filter(membership_role::Column::OrganizationId.eq(org_id.to_string()))
        .filter(membership_role::Column::AccountId.eq(account.id.to_string()))
        .all(conn)
        .await?;
    if roles.is_empty() {
        return Ok(None);
    }
    let mut set = BTreeSet::new();
    for role in &roles {
        set.extend(crate::roles::store::role_permissions(conn, org_id, &role.role).await?);
    }
    Ok(Some(Permissions::Set(set)))
}

/// Requires the caller to be an operator.
pub fn require_operator(caller: &Caller) -> Result<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(Error::PrincipalKind("operator"))
    }
}

/// Requires the caller to be a service or an operator.
pub fn require_service_or_operator(caller: &Caller) -> Result<()> {
    match caller {
        Caller::Service(_) | Caller::Operator(_) => Ok(()),
        Caller::Account(_) => Err(Error::PrincipalKind("service or operator")),
    }
}
