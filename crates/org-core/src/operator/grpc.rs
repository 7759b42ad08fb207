//! gRPC adapter of `loopback.orgcore.v1.OperatorService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::Fields;
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::{
    CapabilityChange, OperatorChange, PlanAssignment, SetCapabilities, SetOrganizationPlan,
    SetOrganizationState, SetVerificationStatus,
};
use crate::convert::reason;
use crate::organizations::grpc::organization_to_pb;
use crate::plans::grpc::plan_name;
use crate::policy::{self, LifecycleState, VerificationStatus};
use crate::service::OrgCore;

/// Serves OperatorService.
#[derive(Debug, Clone)]
pub struct OperatorGrpc(pub OrgCore);

impl TryFrom<pb::SetVerificationStatusRequest> for SetVerificationStatus {
    type Error = FieldViolations;
    fn try_from(req: pb::SetVerificationStatusRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.organization("name", &req.name);
        let status = f.take(
            "verification_status",
            VerificationStatus::from_pb(req.verification_status)
                .ok_or("must be one of IN_SETUP, VERIFIED, PENDING, WAITLIST, BLOCKED"),
        );
        let reason = reason(&mut f, &req.reason);
        let (organization, change, reason) = f.finish((name, status, reason))?;
        Ok(OperatorChange {
            organization,
            change,
            reason,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::SetOrganizationStateRequest> for SetOrganizationState {
    type Error = FieldViolations;
    fn try_from(req: pb::SetOrganizationStateRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let state = LifecycleState::from_pb(req.state)
            .filter(|s| *s != LifecycleState::Deleted)
            .ok_or("must be STATE_ACTIVE or STATE_INACTIVE (delete with DeleteOrganization)");
        let name = f.organization("name", &req.name);
        let state = f.take("state", state);
        let reason = reason(&mut f, &req.reason);
        let (organization, change, reason) = f.finish((name, state, reason))?;
        Ok(OperatorChange {
            organization,
            change,
            reason,
            validate_only: req.validate_only,
        })
    }
}

/// Limits, flags and resets checked against the catalog, each bad key named.
fn capability_change(
    f: &mut Fields,
    capabilities: Option<tpb::Capabilities>,
    reset_keys: Vec<String>,
) -> CapabilityChange {
    let mut change = CapabilityChange::default();
    let (limits, flags) = match capabilities {
        Some(c) => (c.limits, c.flags),
        None => Default::default(),
    };
    for (key, value) in limits {
        if !policy::is_limit(&key) {
            f.add(format!("capabilities.limits[{key}]"), "unknown limit");
        } else if value < 0 {
            f.add(
                format!("capabilities.limits[{key}]"),
                "must be zero or positive",
            );
        } else {
            change.limits.insert(key, value);
        }
    }
    for (key, value) in flags {
        if policy::is_flag(&key) {
            change.flags.insert(key, value);
        } else {
            f.add(format!("capabilities.flags[{key}]"), "unknown flag");
        }
    }
    for (i, key) in reset_keys.into_iter().enumerate() {
        if policy::is_limit(&key) || policy::is_flag(&key) {
            change.reset.push(key);
        } else {
            f.add(
                format!("reset_keys[{i}]"),
                format!("unknown limit or flag {}", quote(&key)),
            );
        }
    }
    change
}

impl TryFrom<pb::SetCapabilitiesRequest> for SetCapabilities {
    type Error = FieldViolations;
    fn try_from(req: pb::SetCapabilitiesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("name", &req.name);
        let reason = reason(&mut f, &req.reason);
        let change = capability_change(&mut f, req.capabilities, req.reset_keys);
        let nothing =
            change.limits.is_empty() && change.flags.is_empty() && change.reset.is_empty();
        if f.is_clean() && nothing {
            f.add(
                "capabilities",
                "set at least one limit or flag, or name a key in reset_keys",
            );
        }
        let (organization, reason) = f.finish((organization, reason))?;
        Ok(OperatorChange {
            organization,
            change,
            reason,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::SetOrganizationPlanRequest> for SetOrganizationPlan {
    type Error = FieldViolations;
    fn try_from(req: pb::SetOrganizationPlanRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("name", &req.name);
        let plan = plan_name(&mut f, "plan", &req.plan);
        let reason = reason(&mut f, &req.reason);
        let (organization, plan, reason) = f.finish((organization, plan, reason))?;
        Ok(OperatorChange {
            organization,
            change: PlanAssignment {
                plan,
                force: req.force,
            },
            reason,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::operator_service_server::OperatorService for OperatorGrpc {
    async fn set_verification_status(
        &self,
        request: Request<pb::SetVerificationStatusRequest>,
    ) -> Result<Response<pb::SetVerificationStatusResponse>, Status> {
        unary(&self.0, request, OrgCore::set_verification_status, |o| {
            pb::SetVerificationStatusResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn set_organization_state(
        &self,
        request: Request<pb::SetOrganizationStateRequest>,
    ) -> Result<Response<pb::SetOrganizationStateResponse>, Status> {
        unary(&self.0, request, OrgCore::set_organization_state, |o| {
            pb::SetOrganizationStateResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn set_organization_plan(
        &self,
        request: Request<pb::SetOrganizationPlanRequest>,
    ) -> Result<Response<pb::SetOrganizationPlanResponse>, Status> {
        unary(&self.0, request, OrgCore::set_organization_plan, |o| {
            pb::SetOrganizationPlanResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn set_capabilities(
        &self,
        request: Request<pb::SetCapabilitiesRequest>,
    ) -> Result<Response<pb::SetCapabilitiesResponse>, Status> {
        unary(&self.0, request, OrgCore::set_capabilities, |o| {
            pb::SetCapabilitiesResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }
}
