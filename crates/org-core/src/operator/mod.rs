//! Operator verbs: verification status, lifecycle state and capability
//! overrides. Each needs a reason and is audited with it.

pub mod grpc;

use std::collections::BTreeMap;

use sea_orm::ActiveValue::Set;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, require_operator};
use crate::audit::{self, AuditRecord};
use crate::changes::{self, kind};
use crate::entity::organization;
use crate::error::{Error, Result};
use crate::model::{Caller, Organization, OrganizationView};
use crate::organizations::{allowed_actions, store};
use crate::policy::{LifecycleState, VerificationStatus};
use crate::service::OrgCore;

/// A capability change, already validated against the catalog.
#[derive(Debug, Clone, Default)]
pub struct CapabilityChange {
    /// Limit overrides to set.
    pub limits: BTreeMap<String, i64>,
    /// Flag overrides to set.
    pub flags: BTreeMap<String, bool>,
    /// Overrides to remove.
    pub reset: Vec<String>,
}

impl OrgCore {
    async fn operator_target(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Organization> {
        require_operator(caller)?;
        let access = self
            .org_access(txn, caller, id, Deleted::ShowToOperators)
            .await?;
        if access.organization.state == LifecycleState::Deleted {
            return Err(Error::FailedPrecondition {
                reason: "ORGANIZATION_DELETED",
                message: format!(
                    "{} is deleted: undelete it first",
                    access.organization.name()
                ),
            });
        }
        Ok(access.organization)
    }

    async fn finish_operator_change(
        &self,
        txn: sea_orm::DatabaseTransaction,
        caller: &Caller,
        id: Uuid,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        let org = store::load(&txn, self.settings(), id)
            .await?
            .ok_or_else(|| Error::NotFound(crate::model::organization_name(id)))?;
        self.finish(txn, validate_only).await?;
        let allowed_actions =
            allowed_actions(&org, &crate::access::Permissions::All, caller.is_operator());
        Ok(OrganizationView {
            organization: org,
            allowed_actions,
        })
    }

    /// Sets the verification status.
    pub async fn set_verification_status(
        &self,
        caller: &Caller,
        id: Uuid,
        status: VerificationStatus,
        reason: &str,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        let txn = self.begin_locked(id).await?;
        let org = self.operator_target(&txn, caller, id).await?;
        if org.verification_status != status {
            let changes = organization::ActiveModel {
                verification_status: Set(status.as_str().into()),
                ..Default::default()
            };
            if !store::save(&txn, id, org.version, changes).await? {
                return Err(Error::EtagMismatch(org.name()));
            }
            changes::append(&txn, id, kind::VERIFICATION_STATUS).await?;
            audit::record(
                &txn,
                caller,
                AuditRecord {
                    method: "SetVerificationStatus",
                    resource: org.name(),
                    organization: Some(id),
                    reason,
                    details: json!({ "from": org.verification_status.as_str(), "to": status.as_str() }),
                },
            )
            .await?;
        }
        self.finish_operator_change(txn, caller, id, validate_only)
            .await
    }

    /// Sets the lifecycle state (ACTIVE or INACTIVE).
    pub async fn set_organization_state(
        &self,
        caller: &Caller,
        id: Uuid,
        state: LifecycleState,
        reason: &str,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        if state == LifecycleState::Deleted {
            return Err(Error::invalid(
                "state",
                "use DeleteOrganization to delete an organization",
            ));
        }
        let txn = self.begin_locked(id).await?;
        let org = self.operator_target(&txn, caller, id).await?;
        if org.state != state {
            let changes = organization::ActiveModel {
                state: Set(state.as_str().into()),
                ..Default::default()
            };
            if !store::save(&txn, id, org.version, changes).await? {
                return Err(Error::EtagMismatch(org.name()));
            }
            changes::append(&txn, id, kind::STATE).await?;
            audit::record(
                &txn,
                caller,
                AuditRecord {
                    method: "SetOrganizationState",
                    resource: org.name(),
                    organization: Some(id),
                    reason,
                    details: json!({ "from": org.state.as_str(), "to": state.as_str() }),
                },
            )
            .await?;
        }
        self.finish_operator_change(txn, caller, id, validate_only)
            .await
    }

    /// Sets or resets capability overrides.
    pub async fn set_capabilities(
        &self,
        caller: &Caller,
        id: Uuid,
        change: CapabilityChange,
        reason: &str,
        validate_only: bool,
    ) -> Result<OrganizationView> {
        let txn = self.begin_locked(id).await?;
        let org = self.operator_target(&txn, caller, id).await?;
        for key in &change.reset {
            store::set_override(&txn, id, key, None, None).await?;
        }
        for (key, value) in &change.limits {
            store::set_override(&txn, id, key, Some(*value), None).await?;
        }
        for (key, value) in &change.flags {
            store::set_override(&txn, id, key, None, Some(*value)).await?;
        }
        // Bump the version so etags and caches see the change.
        if !store::save(&txn, id, org.version, organization::ActiveModel::default()).await? {
            return Err(Error::EtagMismatch(org.name()));
        }
        changes::append(&txn, id, kind::CAPABILITIES).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "SetCapabilities",
                resource: org.name(),
                organization: Some(id),
                reason,
                details: json!({
                    "limits": change.limits,
                    "flags": change.flags,
                    "reset": change.reset,
                    "before": { "limits": org.capabilities.limits, "flags": org.capabilities.flags },
                }),
            },
        )
        .await?;
        self.finish_operator_change(txn, caller, id, validate_only)
            .await
    }
}
