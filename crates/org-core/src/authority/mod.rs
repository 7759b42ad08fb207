//! The authority: access decisions and organization policies for the other
//! services, answered from the one status table in [`crate::policy`].

pub mod grpc;

use loopback_runtime::auth::{Principal, PrincipalKind};
use uuid::Uuid;

use crate::access::{Permissions, account_permissions, require_service_or_operator};
use crate::catalog::Permission;
use crate::error::{Error, Result};
use crate::model::{Caller, Organization};
use crate::policy::{self, ActionClass, LifecycleState};
use crate::service::OrgCore;
use crate::{accounts, changes, organizations};

/// An organization's policy as the authority publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationPolicy {
    /// The organization (with effective capabilities).
    pub organization: Organization,
    /// Enabled deployment features.
    pub features: Vec<String>,
    /// Action classes the status table allows now.
    pub allowed_classes: Vec<ActionClass>,
    /// Latest change-feed revision of this organization.
    pub revision: i64,
}

/// The outcome of [`OrgCore::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Missing, deleted, or not a member.
    NotFound,
    /// A member without the permission.
    PermissionDenied,
    /// The status table forbids the class.
    EntityStatus(String),
    /// A hard spending limit is reached and the class is CREATE.
    SpendingLimit,
}

impl OrgCore {
    /// The policy of `org`, or `None` if it does not exist.
    pub async fn policy(&self, org: Uuid) -> Result<Option<OrganizationPolicy>> {
        let Some(organization) =
            organizations::store::load(self.db(), self.settings(), org).await?
        else {
            return Ok(None);
        };
        let revision = changes::latest_for(self.db(), org).await?;
        Ok(Some(OrganizationPolicy {
            allowed_classes: policy::allowed_classes(
                organization.verification_status,
                organization.state,
            ),
            organization,
            features: self.settings().features.clone(),
            revision,
        }))
    }

    /// GetOrganizationPolicy: services and operators only.
    pub async fn get_organization_policy(
        &self,
        caller: &Caller,
        org: Uuid,
    ) -> Result<OrganizationPolicy> {
        require_service_or_operator(caller)?;
        self.policy(org)
            .await?
            .ok_or_else(|| Error::NotFound(crate::model::organization_name(org)))
    }

    /// Decides whether `subject` may perform a `class` action needing
    /// `permission` in `org`; services and operators only.
    pub async fn authorize(
        &self,
        caller: &Caller,
        subject: &Principal,
        org: Uuid,
        permission: Permission,
        class: ActionClass,
    ) -> Result<(Decision, Option<OrganizationPolicy>)> {
        require_service_or_operator(caller)?;
        let Some(policy) = self.policy(org).await? else {
            return Ok((Decision::NotFound, None));
        };
        if policy.organization.state == LifecycleState::Deleted {
            return Ok((Decision::NotFound, None));
        }
        let permissions = match subject.kind {
            PrincipalKind::Operator => Some(Permissions::All),
            PrincipalKind::Service => Some(Permissions::Set(crate::catalog::service_permissions())),
            PrincipalKind::Account => {
                match accounts::store::find_by_subject(self.db(), &subject.subject).await? {
                    Some(account) => account_permissions(self.db(), &account, org).await?,
                    None => None,
                }
            }
        };
        let Some(permissions) = permissions else {
            return Ok((Decision::NotFound, None));
        };
        if !permissions.has(permission) {
            return Ok((Decision::PermissionDenied, Some(policy)));
        }
        let org_ref = &policy.organization;
        if !policy::allows(org_ref.verification_status, org_ref.state, class) {
            let message = policy::refusal_message(
                org_ref.verification_status,
                org_ref.state,
                class,
                permission,
            );
            return Ok((Decision::EntityStatus(message), Some(policy)));
        }
        if class == ActionClass::Create && crate::access::spending_blocked(org_ref) {
            return Ok((Decision::SpendingLimit, Some(policy)));
        }
        Ok((Decision::Allow, Some(policy)))
    }
}
