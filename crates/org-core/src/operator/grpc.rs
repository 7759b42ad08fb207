//! gRPC adapter of `loopback.orgcore.v1.OperatorService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::CapabilityChange;
use crate::access::require_operator;
use crate::convert::{state_from_pb, status_from_pb};
use crate::grpc as g;
use crate::organizations::grpc::organization_to_pb;
use crate::policy::{self, LifecycleState};
use crate::service::OrgCore;

/// Serves OperatorService.
#[derive(Debug, Clone)]
pub struct OperatorGrpc(pub OrgCore);

#[tonic::async_trait]
impl pb::operator_service_server::OperatorService for OperatorGrpc {
    async fn set_verification_status(
        &self,
        request: Request<pb::SetVerificationStatusRequest>,
    ) -> Result<Response<pb::SetVerificationStatusResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        require_operator(&caller)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = g::org_id(&mut v, "name", &req.name);
        let status = status_from_pb(req.verification_status);
        if status.is_none() {
            v.add(
                "verification_status",
                "must be one of IN_SETUP, VERIFIED, PENDING, WAITLIST, BLOCKED",
            );
        }
        v.check("reason", validation::reason(&req.reason));
        g::done(v)?;
        let (Some(id), Some(status)) = (id, status) else {
            return Err(Status::internal("validated fields missing"));
        };
        let view = self
            .0
            .set_verification_status(&caller, id, status, req.reason.trim(), req.validate_only)
            .await?;
        Ok(Response::new(pb::SetVerificationStatusResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }

    async fn set_organization_state(
        &self,
        request: Request<pb::SetOrganizationStateRequest>,
    ) -> Result<Response<pb::SetOrganizationStateResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        require_operator(&caller)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = g::org_id(&mut v, "name", &req.name);
        let state = state_from_pb(req.state).filter(|s| *s != LifecycleState::Deleted);
        if state.is_none() {
            v.add(
                "state",
                "must be STATE_ACTIVE or STATE_INACTIVE (delete with DeleteOrganization)",
            );
        }
        v.check("reason", validation::reason(&req.reason));
        g::done(v)?;
        let (Some(id), Some(state)) = (id, state) else {
            return Err(Status::internal("validated fields missing"));
        };
        let view = self
            .0
            .set_organization_state(&caller, id, state, req.reason.trim(), req.validate_only)
            .await?;
        Ok(Response::new(pb::SetOrganizationStateResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }

    async fn set_capabilities(
        &self,
        request: Request<pb::SetCapabilitiesRequest>,
    ) -> Result<Response<pb::SetCapabilitiesResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        require_operator(&caller)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = g::org_id(&mut v, "name", &req.name);
        v.check("reason", validation::reason(&req.reason));
        let caps = req.capabilities.unwrap_or_default();
        let mut change = CapabilityChange::default();
        for (key, value) in caps.limits {
            if !policy::is_limit(&key) {
                v.add(format!("capabilities.limits[{key}]"), "unknown limit");
            } else if value < 0 {
                v.add(
                    format!("capabilities.limits[{key}]"),
                    "must be zero or positive",
                );
            } else {
                change.limits.insert(key, value);
            }
        }
        for (key, value) in caps.flags {
            if policy::is_flag(&key) {
                change.flags.insert(key, value);
            } else {
                v.add(format!("capabilities.flags[{key}]"), "unknown flag");
            }
        }
        for (i, key) in req.reset_keys.into_iter().enumerate() {
            if policy::is_limit(&key) || policy::is_flag(&key) {
                change.reset.push(key);
            } else {
                v.add(
                    format!("reset_keys[{i}]"),
                    format!("unknown limit or flag {key:?}"),
                );
            }
        }
        if v.is_empty()
            && change.limits.is_empty()
            && change.flags.is_empty()
            && change.reset.is_empty()
        {
            v.add(
                "capabilities",
                "set at least one limit or flag, or name a key in reset_keys",
            );
        }
        g::done(v)?;
        let Some(id) = id else {
            return Err(Status::internal("validated fields missing"));
        };
        let view = self
            .0
            .set_capabilities(&caller, id, change, req.reason.trim(), req.validate_only)
            .await?;
        Ok(Response::new(pb::SetCapabilitiesResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }
}
