//! gRPC adapter of `loopback.billing.v1.UsageService`.

use chrono::{Datelike as _, Duration, TimeZone as _, Utc};
use loopback_proto::billing::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::Fields;
use loopback_runtime::rpc::unary;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::{UsageBatch, UsageEvent};
use crate::Billing;
use crate::error::status_of;

/// Serves UsageService.
#[derive(Debug, Clone)]
pub struct UsageGrpc(pub Billing);

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;
/// Largest quantity of one event.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000;

/// The first instant of the month before the current one: older usage is
/// refused (it would belong to an invoice long closed).
fn start_of_previous_month() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    let first = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let prev = first - Duration::days(1);
    Utc.with_ymd_and_hms(prev.year(), prev.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(prev)
}

/// Parses one event; `path` is where it is in the request.
fn event(path: &str, e: &pb::UsageEvent) -> Result<UsageEvent, FieldViolations> {
    let mut f = Fields::new();
    let field = |name: &str| format!("{path}.{name}");
    let organization = f.organization(&field("organization"), &e.organization);
    let project = match validation::child_name(&e.project, "projects") {
        _ if e.project.is_empty() => Some(None),
        Ok((org, project)) if Some(org) == organization => Some(Some(project)),
        Ok(_) => f.take(
            &field("project"),
            Err("must belong to the event's organization"),
        ),
        Err(err) => f.take(&field("project"), Err(err)),
    };
    let meter_ok = !e.meter.is_empty()
        && e.meter.len() <= 64
        && e.meter
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
    let meter = f.take(
        &field("meter"),
        if meter_ok {
            Ok(e.meter.clone())
        } else {
            Err(format!(
                "unknown meter {}: not in the price book",
                loopback_runtime::errors::quote(&e.meter)
            ))
        },
    );
    if !(0..=MAX_QUANTITY).contains(&e.quantity) {
        f.add(field("quantity"), "must be between 0 and 1e12");
    }
    if e.idempotency_key.is_empty()
        || e.idempotency_key.len() > 128
        || e.idempotency_key.chars().any(char::is_control)
    {
        f.add(
            field("idempotency_key"),
            "must be 1 to 128 printable characters",
        );
    }
    let event_time = match f.time(&field("event_time"), e.event_time) {
        Some(None) => f.take(&field("event_time"), Err("is required")),
        Some(Some(t)) if t > Utc::now() + Duration::minutes(5) => {
            f.take(&field("event_time"), Err("is in the future"))
        }
        Some(Some(t)) if t < start_of_previous_month() => f.take(
            &field("event_time"),
            Err("is before the previous billing period"),
        ),
        Some(Some(t)) => Some(t),
        None => None,
    };
    let (organization, project, meter, event_time) =
        f.finish((organization, project, meter, event_time))?;
    Ok(UsageEvent {
        path: path.to_string(),
        organization,
        project,
        meter,
        quantity: e.quantity,
        event_time,
        idempotency_key: e.idempotency_key.clone(),
    })
}

impl TryFrom<pb::RecordUsageRequest> for UsageEvent {
    type Error = FieldViolations;
    fn try_from(req: pb::RecordUsageRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let e = f.message("event", req.event);
        let parsed = event("event", &e);
        match (f.into_result(), parsed) {
            (Ok(()), parsed) => parsed,
            (Err(mut missing), Err(bad)) => {
                missing.extend(bad);
                Err(missing)
            }
            (Err(missing), Ok(_)) => Err(missing),
        }
    }
}

impl TryFrom<pb::BatchRecordUsageRequest> for UsageBatch {
    type Error = FieldViolations;
    fn try_from(req: pb::BatchRecordUsageRequest) -> Result<Self, FieldViolations> {
        if req.events.is_empty() || req.events.len() > MAX_BATCH {
            return Err(FieldViolations::single(
                "events",
                format!("must hold 1 to {MAX_BATCH} events"),
            ));
        }
        Ok(Self {
            events: req
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| event(&format!("events[{i}]"), e))
                .collect(),
        })
    }
}

/// One result per event, in order: recorded (or seen before), or why not.
fn results_to_pb(outcomes: Vec<crate::Result<bool>>) -> pb::BatchRecordUsageResponse {
    let results = outcomes.into_iter().enumerate().map(|(i, outcome)| {
        let index = i32::try_from(i).unwrap_or(i32::MAX);
        match outcome {
            Ok(recorded) => pb::UsageEventResult {
                index,
                code: 0,
                message: String::new(),
                recorded,
            },
            Err(err) => {
                let (code, message) = status_of(err);
                pb::UsageEventResult {
                    index,
                    code,
                    message,
                    recorded: false,
                }
            }
        }
    });
    pb::BatchRecordUsageResponse {
        results: results.collect(),
    }
}

#[tonic::async_trait]
impl pb::usage_service_server::UsageService for UsageGrpc {
    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::RecordUsageResponse>, Status> {
        unary(&self.0, request, Billing::record_usage, |recorded| {
            pb::RecordUsageResponse { recorded }
        })
        .await
    }

    async fn batch_record_usage(
        &self,
        request: Request<pb::BatchRecordUsageRequest>,
    ) -> Result<Response<pb::BatchRecordUsageResponse>, Status> {
        unary(&self.0, request, Billing::batch_record_usage, results_to_pb).await
    }
}
