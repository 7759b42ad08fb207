//! gRPC adapter of `loopback.orgcore.v1.LimitRequestService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::validation::MAX_DESCRIPTION_CHARS;
use tonic::{Request, Response, Status};

use super::{CreateLimitRequest, DecideLimitRequest, LimitRequest, ListLimitRequests, state};
use crate::convert::reason;
use crate::paging::caller_page;
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

/// A request state filter: `None` inside for UNSPECIFIED.
fn state_filter(f: &mut Fields, value: i32) -> Option<Option<&'static str>> {
    let only = match pb::limit_increase_request::State::try_from(value) {
        Ok(pb::limit_increase_request::State::Unspecified) => Ok(None),
        Ok(pb::limit_increase_request::State::Open) => Ok(Some(state::OPEN)),
        Ok(pb::limit_increase_request::State::Approved) => Ok(Some(state::APPROVED)),
        Ok(pb::limit_increase_request::State::Denied) => Ok(Some(state::DENIED)),
        Err(_) => Err("unknown state"),
    };
    f.take("state", only)
}

/// The request named and the operator's reason.
fn decision(name: &str, reason_text: &str) -> Result<DecideLimitRequest, FieldViolations> {
    let mut f = Fields::new();
    let ids = f.child("name", name, "limitIncreaseRequests");
    let reason = reason(&mut f, reason_text);
    let ((organization, id), reason) = f.finish((ids, reason))?;
    Ok(DecideLimitRequest {
        organization,
        id,
        reason,
    })
}

/// A justification: required, bounded, trimmed.
fn justification(f: &mut Fields, value: &str) -> Option<String> {
    let field = "limit_increase_request.justification";
    if value.trim().is_empty() {
        let required = "is required: say why the organization needs it";
        return f.take(field, Err(required));
    }
    f.text(field, value, MAX_DESCRIPTION_CHARS)
        .map(|j| j.trim().to_string())
}

impl TryFrom<pb::CreateLimitIncreaseRequestRequest> for CreateLimitRequest {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateLimitIncreaseRequestRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let r = f.message("limit_increase_request", req.limit_increase_request);
        let known = policy::is_limit(&r.limit);
        let limit = f.take(
            "limit_increase_request.limit",
            known.then_some(r.limit).ok_or("unknown limit"),
        );
        let positive = r.requested_value > 0;
        let requested_value = f.take(
            "limit_increase_request.requested_value",
            positive
                .then_some(r.requested_value)
                .ok_or("must be positive"),
        );
        let justification = justification(&mut f, &r.justification);
        let (organization, limit, requested_value, justification) =
            f.finish((organization, limit, requested_value, justification))?;
        Ok(Self {
            organization,
            limit,
            requested_value,
            justification,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ListLimitIncreaseRequestsRequest> for ListLimitRequests {
    type Error = FieldViolations;
    fn try_from(req: pb::ListLimitIncreaseRequestsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.optional_organization("parent", &req.parent);
        let state = state_filter(&mut f, req.state);
        let query = format!("limitRequests|{}|{}", req.parent, req.state);
        let page = caller_page(&mut f, req.page_size, &req.page_token, &query);
        let (organization, state, page) = f.finish((organization, state, page))?;
        Ok(Self {
            organization,
            state,
            page,
        })
    }
}

impl TryFrom<pb::ApproveLimitIncreaseRequestRequest> for DecideLimitRequest {
    type Error = FieldViolations;
    fn try_from(req: pb::ApproveLimitIncreaseRequestRequest) -> Result<Self, FieldViolations> {
        decision(&req.name, &req.reason)
    }
}

impl TryFrom<pb::DenyLimitIncreaseRequestRequest> for DecideLimitRequest {
    type Error = FieldViolations;
    fn try_from(req: pb::DenyLimitIncreaseRequestRequest) -> Result<Self, FieldViolations> {
        decision(&req.name, &req.reason)
    }
}

#[tonic::async_trait]
impl pb::limit_request_service_server::LimitRequestService for LimitRequestGrpc {
    async fn create_limit_increase_request(
        &self,
        request: Request<pb::CreateLimitIncreaseRequestRequest>,
    ) -> Result<Response<pb::CreateLimitIncreaseRequestResponse>, Status> {
        unary(&self.0, request, OrgCore::create_limit_request, |r| {
            pb::CreateLimitIncreaseRequestResponse {
                limit_increase_request: Some(to_pb(r)),
            }
        })
        .await
    }

    async fn list_limit_increase_requests(
        &self,
        request: Request<pb::ListLimitIncreaseRequestsRequest>,
    ) -> Result<Response<pb::ListLimitIncreaseRequestsResponse>, Status> {
        unary(&self.0, request, OrgCore::list_limit_requests, |page| {
            let page = page.map(to_pb);
            pb::ListLimitIncreaseRequestsResponse {
                limit_increase_requests: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn approve_limit_increase_request(
        &self,
        request: Request<pb::ApproveLimitIncreaseRequestRequest>,
    ) -> Result<Response<pb::ApproveLimitIncreaseRequestResponse>, Status> {
        unary(&self.0, request, OrgCore::approve_limit_request, |r| {
            pb::ApproveLimitIncreaseRequestResponse {
                limit_increase_request: Some(to_pb(r)),
            }
        })
        .await
    }

    async fn deny_limit_increase_request(
        &self,
        request: Request<pb::DenyLimitIncreaseRequestRequest>,
    ) -> Result<Response<pb::DenyLimitIncreaseRequestResponse>, Status> {
        unary(&self.0, request, OrgCore::deny_limit_request, |r| {
            pb::DenyLimitIncreaseRequestResponse {
                limit_increase_request: Some(to_pb(r)),
            }
        })
        .await
    }
}
