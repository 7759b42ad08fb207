//! gRPC adapter of `loopback.orgcore.v1.AuditService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use tonic::{Request, Response, Status};

use super::AuditFilter;
use crate::convert::timestamp;
use crate::entity::audit_event;
use crate::grpc as g;
use crate::service::OrgCore;

/// Serves AuditService.
#[derive(Debug, Clone)]
pub struct AuditGrpc(pub OrgCore);

fn event_to_pb(e: audit_event::Model) -> pb::AuditEvent {
    let organization = e
        .organization_id
        .map(|o| format!("organizations/{o}"))
        .unwrap_or_default();
    pb::AuditEvent {
        name: if organization.is_empty() {
            format!("auditEvents/{}", e.id)
        } else {
            format!("{organization}/auditEvents/{}", e.id)
        },
        event_time: Some(timestamp(e.time)),
        actor: e.actor,
        service: e.service,
        method: e.method,
        resource: e.resource,
        organization,
        reason: e.reason,
        details_json: e.details,
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditGrpc {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let organization = if req.parent.is_empty() {
            None
        } else {
            g::org_id(&mut v, "parent", &req.parent)
        };
        if req.actor.len() > 300 {
            v.add("actor", "must be at most 300 characters");
        }
        if req.resource.len() > 512 {
            v.add("resource", "must be at most 512 characters");
        }
        let start = loopback_runtime::fields::time(&mut v, "start_time", req.start_time);
        let end = loopback_runtime::fields::time(&mut v, "end_time", req.end_time);
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            v.add("end_time", "must be after start_time");
        }
        let query = format!(
            "audit|{}|{}|{}|{:?}|{:?}|{}",
            req.parent,
            req.actor,
            req.resource,
            start,
            end,
            caller.page_key()
        );
        let page = g::page(&mut v, req.page_size, &req.page_token, &query);
        g::done(v)?;
        let Some(page) = page else {
            return Err(Status::internal("validated fields missing"));
        };
        let filter = AuditFilter {
            organization,
            actor: (!req.actor.is_empty()).then_some(req.actor),
            resource: (!req.resource.is_empty()).then_some(req.resource),
            start,
            end,
        };
        let (events, next_page_token) = self.0.list_audit_events(&caller, filter, page).await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events: events.into_iter().map(event_to_pb).collect(),
            next_page_token,
        }))
    }
}
