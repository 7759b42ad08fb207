//! gRPC adapter of `loopback.orgcore.v1.LimitRequestService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{LimitRequest, state};
use crate::access::require_operator;
use crate::convert::{opt_timestamp, timestamp};
use crate::grpc as g;
use crate::policy;
use crate::service::OrgCore;

/// Serves LimitRequestService.
#[derive(Debug, Clone)]
pub struct LimitRequestGrpc(pub OrgCore);

fn to_pb(r: LimitRequest) -> pb::LimitIncreaseRequest {
    let state = match r.state.as_str() {
        state::OPEN => pb::limit_increase_request::State::Open,
        state::APPROVED => pb::limit_increase_request::State::Approved,
        _ => pb::limit_increase_request::State::Denied,
    };
    pb::LimitIncreaseRequest {
        name: r.name(),
        limit: r.limit,
        requested_value: r.requested_value,
        current_value: r.current_value,
        justification: r.justification,
        state: state.into(),
        requester: r.requester,
        decided_by: r.decided_by.unwrap_or_default(),
        decision_reason: r.decision_reason.unwrap_or_default(),
        create_time: Some(timestamp(r.create_time)),
        decide_time: opt_timestamp(r.decide_time),
    }
}

fn request_name(v: &mut FieldViolations, name: &str) -> Option<(Uuid, Uuid)> {
    g::child_id(v, "name", name, "limitIncreaseRequests")
}

impl LimitRequestGrpc {
    async fn decide(
        &self,
        caller: crate::model::Caller,
        name: &str,
        reason: &str,
        approve: bool,
    ) -> Result<pb::LimitIncreaseRequest, Status> {
        require_operator(&caller)?;
        let mut v = FieldViolations::new();
        let ids = request_name(&mut v, name);
        v.check("reason", validation::reason(reason));
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        Ok(to_pb(
            self.0
                .decide_limit_request(&caller, org, id, approve, reason.trim())
                .await?,
        ))
    }
}

#[tonic::async_trait]
impl pb::limit_request_service_server::LimitRequestService for LimitRequestGrpc {
    async fn create_limit_increase_request(
        &self,
        request: Request<pb::CreateLimitIncreaseRequestRequest>,
    ) -> Result<Response<pb::CreateLimitIncreaseRequestResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        if req.limit_increase_request.is_none() {
            v.add("limit_increase_request", "is required");
        }
        let r = req.limit_increase_request.unwrap_or_default();
        if !policy::is_limit(&r.limit) {
            v.add("limit_increase_request.limit", "unknown limit");
        }
        if r.requested_value <= 0 {
            v.add("limit_increase_request.requested_value", "must be positive");
        }
        if r.justification.trim().is_empty() {
            v.add(
                "limit_increase_request.justification",
                "is required: say why the organization needs it",
            );
        } else {
            v.check(
                "limit_increase_request.justification",
                validation::bounded_text(&r.justification, validation::MAX_DESCRIPTION_CHARS),
            );
        }
        g::done(v)?;
        let created = self
            .0
            .create_limit_request(
                &caller,
                org.unwrap_or_default(),
                &r.limit,
                r.requested_value,
                r.justification.trim().to_string(),
                req.validate_only,
            )
            .await?;
        Ok(Response::new(pb::CreateLimitIncreaseRequestResponse {
            limit_increase_request: Some(to_pb(created)),
        }))
    }

    async fn list_limit_increase_requests(
        &self,
        request: Request<pb::ListLimitIncreaseRequestsRequest>,
    ) -> Result<Response<pb::ListLimitIncreaseRequestsResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = if req.parent.is_empty() {
            None
        } else {
            g::org_id(&mut v, "parent", &req.parent)
        };
        let only = match pb::limit_increase_request::State::try_from(req.state) {
            Ok(pb::limit_increase_request::State::Unspecified) => None,
            Ok(pb::limit_increase_request::State::Open) => Some(state::OPEN),
            Ok(pb::limit_increase_request::State::Approved) => Some(state::APPROVED),
            Ok(pb::limit_increase_request::State::Denied) => Some(state::DENIED),
            Err(_) => {
                v.add("state", "unknown state");
                None
            }
        };
        let query = format!(
            "limitRequests|{}|{}|{}",
            req.parent,
            req.state,
            caller.page_key()
        );
        let page = g::page(&mut v, req.page_size, &req.page_token, &query);
        g::done(v)?;
        let Some(page) = page else {
            return Err(Status::internal("validated fields missing"));
        };
        let (rows, next_page_token) = self.0.list_limit_requests(&caller, org, only, page).await?;
        Ok(Response::new(pb::ListLimitIncreaseRequestsResponse {
            limit_increase_requests: rows.into_iter().map(to_pb).collect(),
            next_page_token,
        }))
    }

    async fn approve_limit_increase_request(
        &self,
        request: Request<pb::ApproveLimitIncreaseRequestRequest>,
    ) -> Result<Response<pb::ApproveLimitIncreaseRequestResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let decided = self.decide(caller, &req.name, &req.reason, true).await?;
        Ok(Response::new(pb::ApproveLimitIncreaseRequestResponse {
            limit_increase_request: Some(decided),
        }))
    }

    async fn deny_limit_increase_request(
        &self,
        request: Request<pb::DenyLimitIncreaseRequestRequest>,
    ) -> Result<Response<pb::DenyLimitIncreaseRequestResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let decided = self.decide(caller, &req.name, &req.reason, false).await?;
        Ok(Response::new(pb::DenyLimitIncreaseRequestResponse {
            limit_increase_request: Some(decided),
        }))
    }
}
