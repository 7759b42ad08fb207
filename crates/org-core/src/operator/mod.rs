//! Operator verbs: verification status, lifecycle state and capability
//! overrides. Each needs a reason and is audited with it.

pub mod grpc;

use std::collections::BTreeMap;

use loopback_runtime::auth::Principal;
use loopback_runtime::authz::Rpc;
use loopback_runtime::tx::{WriteOptions, WriteTx};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, Permissions};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::{Caller, Organization, OrganizationView};
use crate::organizations::{self, Override};
use crate::plans::PlanName;
use crate::policy::{LifecycleState, VerificationStatus};
use crate::rpcs;
use crate::service::OrgCore;

/// What every operator verb carries besides its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorChange<T> {
    /// The organization.
    pub organization: Uuid,
    /// The change.
    pub change: T,
    /// Why, for the audit log (trimmed).
    pub reason: String,
    /// Check only.
    pub validate_only: bool,
}

/// SetVerificationStatus, validated.
pub type SetVerificationStatus = OperatorChange<VerificationStatus>;
/// SetOrganizationState, validated.
pub type SetOrganizationState = OperatorChange<LifecycleState>;
/// SetCapabilities, validated.
pub type SetCapabilities = OperatorChange<CapabilityChange>;

/// SetOrganizationPlan, validated.
pub type SetOrganizationPlan = OperatorChange<PlanAssignment>;

/// The plan an operator assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanAssignment {
    /// The plan.
    pub plan: PlanName,
    /// Assign it even when usage exceeds its limits.
    pub force: bool,
}

/// A capability change, already validated against the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityChange {
    /// Limit overrides to set.
    pub limits: BTreeMap<String, i64>,
    /// Flag overrides to set.
    pub flags: BTreeMap<String, bool>,
    /// Overrides to remove.
    pub reset: Vec<String>,
}

impl OrgCore {
    /// Opens an operator verb's write on `org`: operators only, and never
    /// on a deleted organization.
    async fn operator_write(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        org: Uuid,
        validate_only: bool,
    ) -> Result<(Caller, WriteTx, Organization)> {
        let caller = self.caller_of(principal, rpc).await?;
        let options = WriteOptions::validate_only(validate_only);
        let tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::ShowToOperators)
            .await?;
        if access.organization.state == LifecycleState::Deleted {
            return Err(Error::precondition(
                "ORGANIZATION_DELETED",
                format!(
                    "{} is deleted: undelete it first",
                    access.organization.name()
                ),
            ));
        }
        Ok((caller, tx, access.organization))
    }

    /// Commits an operator verb and shows the organization as it is now.
    async fn finish_operator_change(
        &self,
        tx: WriteTx,
        caller: &Caller,
        org: Uuid,
    ) -> Result<OrganizationView> {
        let org = self
            .load_organization(tx.conn(), org)
            .await?
            .ok_or_else(|| Error::not_found(crate::model::organization_name(org)))?;
        tx.commit().await?;
        Ok(organizations::view(org, &Permissions::All, caller))
    }

    /// Sets the verification status.
    pub async fn set_verification_status(
        &self,
        principal: &Principal,
        input: SetVerificationStatus,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::SET_VERIFICATION_STATUS;
        let (caller, mut tx, org) = self
            .operator_write(principal, rpc, input.organization, input.validate_only)
            .await?;
        let status = input.change;
        if org.verification_status != status {
            organizations::set_verification_status(tx.conn(), &org, status).await?;
            changes::append(tx.conn(), org.id, kind::VERIFICATION_STATUS).await?;
            tx.audit_with_reason(
                org.name(),
                &input.reason,
                json!({ "from": org.verification_status.as_str(), "to": status.as_str() }),
            );
        }
        self.finish_operator_change(tx, &caller, org.id).await
    }

    /// Sets the lifecycle state (ACTIVE or INACTIVE).
    pub async fn set_organization_state(
        &self,
        principal: &Principal,
        input: SetOrganizationState,
    ) -> Result<OrganizationView> {
        let state = input.change;
        if state == LifecycleState::Deleted {
            return Err(Error::invalid(
                "state",
                "use DeleteOrganization to delete an organization",
            ));
        }
        let rpc = &rpcs::SET_ORGANIZATION_STATE;
        let (caller, mut tx, org) = self
            .operator_write(principal, rpc, input.organization, input.validate_only)
            .await?;
        if org.state != state {
            organizations::set_state(tx.conn(), &org, state).await?;
            changes::append(tx.conn(), org.id, kind::STATE).await?;
            tx.audit_with_reason(
                org.name(),
                &input.reason,
                json!({ "from": org.state.as_str(), "to": state.as_str() }),
            );
        }
        self.finish_operator_change(tx, &caller, org.id).await
    }

    /// Sets or resets capability overrides.
    pub async fn set_capabilities(
        &self,
        principal: &Principal,
        input: SetCapabilities,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::SET_CAPABILITIES;
        let (caller, mut tx, org) = self
            .operator_write(principal, rpc, input.organization, input.validate_only)
            .await?;
        let change = &input.change;
        for key in &change.reset {
            organizations::set_override(tx.conn(), org.id, key, Override::Reset).await?;
        }
        for (key, value) in &change.limits {
            organizations::set_override(tx.conn(), org.id, key, Override::Limit(*value)).await?;
        }
        for (key, value) in &change.flags {
            organizations::set_override(tx.conn(), org.id, key, Override::Flag(*value)).await?;
        }
        // Bump the version so etags and caches see the change.
        organizations::touch(tx.conn(), &org).await?;
        changes::append(tx.conn(), org.id, kind::CAPABILITIES).await?;
        tx.audit_with_reason(
            org.name(),
            &input.reason,
            json!({
                "limits": change.limits,
                "flags": change.flags,
                "reset": change.reset,
                "before": { "limits": org.capabilities.limits, "flags": org.capabilities.flags },
            }),
        );
        self.finish_operator_change(tx, &caller, org.id).await
    }

    /// Assigns any plan to an organization. A downgrade below usage is
    /// refused naming every limit it would break, unless `force` is set
    /// (then the audit record lists the limits exceeded).
    pub async fn set_organization_plan(
        &self,
        principal: &Principal,
        input: SetOrganizationPlan,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::SET_ORGANIZATION_PLAN;
        let (caller, mut tx, org) = self
            .operator_write(principal, rpc, input.organization, input.validate_only)
            .await?;
        let assignment = &input.change;
        let plan = self.plan_for_move(&tx, &assignment.plan).await?;
        if plan.id != org.plan.id {
            let exceeded = self
                .move_to_plan(&mut tx, &org, &plan, !assignment.force)
                .await?;
            tx.audit_with_reason(
                org.name(),
                &input.reason,
                json!({
                    "from": org.plan.name(),
                    "to": plan.name(),
                    "force": assignment.force,
                    "exceeded": exceeded,
                }),
            );
        }
        self.finish_operator_change(tx, &caller, org.id).await
    }
}
