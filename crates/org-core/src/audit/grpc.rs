//! gRPC adapter of `loopback.orgcore.v1.AuditService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::validation::MAX_REASON_CHARS;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    AppendAuditEvents, AuditEvent, AuditFilter, ListAuditEvents, MAX_APPEND, ReportedActor,
    ReportedRecord,
};
use crate::convert::principal_from_pb;
use crate::paging::caller_page;
use crate::service::OrgCore;

/// Serves AuditService.
#[derive(Debug, Clone)]
pub struct AuditGrpc(pub OrgCore);

/// Longest actor, in bytes (the log's column).
const MAX_ACTOR: usize = 300;
/// Longest resource name, in bytes (the log's column).
const MAX_RESOURCE: usize = 512;
/// Longest method name, in characters (the log's column).
const MAX_METHOD: usize = 128;
/// Largest `details_json`, in bytes.
const MAX_DETAILS: usize = 64 * 1024;

fn event_to_pb(e: AuditEvent) -> pb::AuditEvent {
    let (name, organization) = match e.organization {
        Some(o) => (
            format!("organizations/{o}/auditEvents/{}", e.id),
            format!("organizations/{o}"),
        ),
        None => (format!("auditEvents/{}", e.id), String::new()),
    };
    pb::AuditEvent {
        name,
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

impl TryFrom<pb::ListAuditEventsRequest> for ListAuditEvents {
    type Error = FieldViolations;
    fn try_from(req: pb::ListAuditEventsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.optional_organization("parent", &req.parent);
        if req.actor.len() > MAX_ACTOR {
            f.add("actor", format!("must be at most {MAX_ACTOR} characters"));
        }
        if req.resource.len() > MAX_RESOURCE {
            f.add(
                "resource",
                format!("must be at most {MAX_RESOURCE} characters"),
            );
        }
        let start = f.time("start_time", req.start_time);
        let end = f.time("end_time", req.end_time);
        if let (Some(Some(s)), Some(Some(e))) = (start, end)
            && e <= s
        {
            f.add("end_time", "must be after start_time");
        }
        let query = format!(
            "audit|{}|{}|{}|{:?}|{:?}",
            req.parent,
            req.actor,
            req.resource,
            start.flatten(),
            end.flatten()
        );
        let page = caller_page(&mut f, req.page_size, &req.page_token, &query);
        let (organization, start, end, page) = f.finish((organization, start, end, page))?;
        Ok(Self {
            filter: AuditFilter {
                organization,
                actor: (!req.actor.is_empty()).then_some(req.actor),
                resource: (!req.resource.is_empty()).then_some(req.resource),
                start,
                end,
            },
            page,
        })
    }
}

/// Required text of at most `max` characters.
fn required_text(f: &mut Fields, field: &str, value: String, max: usize) -> Option<String> {
    if value.trim().is_empty() {
        return f.required(field, None);
    }
    f.text(field, &value, max)
}

/// A JSON object of bounded size.
fn details(f: &mut Fields, field: &str, json: &str) -> Option<serde_json::Value> {
    if json.len() > MAX_DETAILS {
        return f.take(field, Err(format!("must be at most {MAX_DETAILS} bytes")));
    }
    let object = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .filter(serde_json::Value::is_object);
    f.take(field, object.ok_or("must be a JSON object"))
}

/// Who made a recorded change: a principal or an actor id.
fn actor(
    f: &mut Fields,
    at: &str,
    actor: Option<pb::audit_record::Actor>,
) -> Option<ReportedActor> {
    match actor {
        Some(pb::audit_record::Actor::Principal(p)) => {
            principal_from_pb(f, &format!("{at}.principal"), Some(p)).map(ReportedActor::Principal)
        }
        Some(pb::audit_record::Actor::ActorId(id)) => {
            required_text(f, &format!("{at}.actor_id"), id, MAX_ACTOR).map(ReportedActor::Id)
        }
        None => f.take(&format!("{at}.actor"), Err("set principal or actor_id")),
    }
}

/// One reported record, each bad field named under `records[i]`.
fn record(f: &mut Fields, i: usize, r: pb::AuditRecord) -> Option<ReportedRecord> {
    let at = format!("records[{i}]");
    let id = f.take(
        &format!("{at}.id"),
        Uuid::parse_str(&r.id).map_err(|_| "must be a UUID"),
    );
    let time = f.required(&format!("{at}.event_time"), r.event_time);
    let time = f.time(&format!("{at}.event_time"), time).flatten();
    let method = required_text(f, &format!("{at}.method"), r.method, MAX_METHOD);
    let resource = f.take(
        &format!("{at}.resource"),
        match r.resource.len() {
            0 => Err("is required".to_string()),
            n if n > MAX_RESOURCE => Err(format!("must be at most {MAX_RESOURCE} characters")),
            _ => Ok(r.resource),
        },
    );
    let organization = f.optional_organization(&format!("{at}.organization"), &r.organization);
    let actor = actor(f, &at, r.actor);
    let reason = f.text(&format!("{at}.reason"), &r.reason, MAX_REASON_CHARS);
    let details = details(f, &format!("{at}.details_json"), &r.details_json);
    Some(ReportedRecord {
        id: id?,
        time: time?,
        method: method?,
        resource: resource?,
        organization: organization?,
        actor: actor?,
        reason: reason?,
        details: details?,
    })
}

impl TryFrom<pb::AppendAuditEventsRequest> for AppendAuditEvents {
    type Error = FieldViolations;
    fn try_from(req: pb::AppendAuditEventsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let records = match req.records.len() {
            0 => f.required("records", None),
            n if n > MAX_APPEND => f.take("records", Err(format!("at most {MAX_APPEND} records"))),
            _ => {
                let parsed: Vec<_> = (req.records.into_iter().enumerate())
                    .map(|(i, r)| record(&mut f, i, r))
                    .collect();
                parsed.into_iter().collect::<Option<Vec<_>>>()
            }
        };
        Ok(Self {
            records: f.finish(records)?,
        })
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditGrpc {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        unary(&self.0, request, OrgCore::list_audit_events, |page| {
            let page = page.map(event_to_pb);
            pb::ListAuditEventsResponse {
                audit_events: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn append_audit_events(
        &self,
        request: Request<pb::AppendAuditEventsRequest>,
    ) -> Result<Response<pb::AppendAuditEventsResponse>, Status> {
        unary(&self.0, request, OrgCore::append_audit_events, |n| {
            pb::AppendAuditEventsResponse {
                appended: i32::try_from(n).unwrap_or(i32::MAX),
            }
        })
        .await
    }
}
