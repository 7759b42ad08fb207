//! gRPC adapter of `loopback.billing.v1.UsageService`.

use chrono::{Datelike as _, Duration, TimeZone as _, Utc};
use loopback_proto::billing::v1 as pb;
use loopback_runtime::auth::{self, PrincipalKind};
use loopback_runtime::errors::{self, FieldViolations};
use loopback_runtime::{fields, validation};
use tonic::{Request, Response, Status};

use super::UsageEvent;
use crate::Billing;

/// Serves UsageService.
#[derive(Debug, Clone)]
pub struct UsageGrpc(pub Billing);

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;
/// Largest quantity of one event.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000;

fn require_service(principal: &auth::Principal) -> Result<(), Status> {
    match principal.kind {
        PrincipalKind::Service | PrincipalKind::Operator => Ok(()),
        PrincipalKind::Account => Err(errors::principal_kind_denied("service")),
    }
}

impl UsageGrpc {
    /// Validates one event (`prefix` is its path in the request).
    fn event(
        &self,
        v: &mut FieldViolations,
        prefix: &str,
        e: &pb::UsageEvent,
    ) -> Option<UsageEvent> {
        let organization = fields::org_id(v, &format!("{prefix}.organization"), &e.organization);
        let project = if e.project.is_empty() {
            None
        } else {
            match validation::child_name(&e.project, "projects") {
                Ok((org, project)) if Some(org) == organization => Some(project),
                Ok(_) => {
                    v.add(
                        format!("{prefix}.project"),
                        "must belong to the event's organization",
                    );
                    None
                }
                Err(err) => {
                    v.add(format!("{prefix}.project"), err);
                    None
                }
            }
        };
        if !self.0.settings().price_book.prices.contains_key(&e.meter) {
            v.add(
                format!("{prefix}.meter"),
                format!("unknown meter {:?}: not in the price book", e.meter),
            );
        }
        if !(0..=MAX_QUANTITY).contains(&e.quantity) {
            v.add(format!("{prefix}.quantity"), "must be between 0 and 1e12");
        }
        if e.idempotency_key.is_empty()
            || e.idempotency_key.len() > 128
            || e.idempotency_key.chars().any(char::is_control)
        {
            v.add(
                format!("{prefix}.idempotency_key"),
                "must be 1 to 128 printable characters",
            );
        }
        let now = Utc::now();
        let start_of_previous_month = {
            let first = Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
            let prev = first - Duration::days(1);
            Utc.with_ymd_and_hms(prev.year(), prev.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(prev)
        };
        let event_time = fields::time(v, &format!("{prefix}.event_time"), e.event_time);
        match event_time {
            Some(t) if t > now + Duration::minutes(5) => {
                v.add(format!("{prefix}.event_time"), "is in the future")
            }
            Some(t) if t < start_of_previous_month => v.add(
                format!("{prefix}.event_time"),
                "is before the previous billing period",
            ),
            None if e.event_time.is_none() => v.add(format!("{prefix}.event_time"), "is required"),
            _ => {}
        }
        Some(UsageEvent {
            organization: organization?,
            project,
            meter: e.meter.clone(),
            quantity: e.quantity,
            event_time: event_time?,
            idempotency_key: e.idempotency_key.clone(),
        })
    }

    /// Checks the organization exists and records the event.
    async fn record(&self, reporter: &str, e: &UsageEvent) -> Result<bool, Status> {
        let org = fields::org_name(e.organization);
        // Usage already happened: no status gate, but the organization must exist.
        let policy = self
            .0
            .authority()
            .policy(&org)
            .await
            .map_err(Status::from)?;
        if policy.state == loopback_org_core_client::State::Deleted {
            return Err(errors::not_found(&org));
        }
        let recorded = self.0.record_usage(reporter, e).await?;
        if recorded && let Err(err) = self.0.evaluate_spending(e.organization).await {
            // The event is recorded; the periodic sweep retries the evaluation.
            tracing::warn!(organization = %e.organization, error = %err, "spending evaluation failed");
        }
        Ok(recorded)
    }
}

#[tonic::async_trait]
impl pb::usage_service_server::UsageService for UsageGrpc {
    async fn record_usage(
        &self,
        request: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::RecordUsageResponse>, Status> {
        let principal = auth::principal(&request)?;
        require_service(&principal)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.event.is_none() {
            v.add("event", "is required");
        }
        let event = self.event(&mut v, "event", &req.event.unwrap_or_default());
        fields::done(v)?;
        let Some(event) = event else {
            return Err(Status::internal("validated fields missing"));
        };
        let recorded = self.record(&principal.audit_id(), &event).await?;
        Ok(Response::new(pb::RecordUsageResponse { recorded }))
    }

    async fn batch_record_usage(
        &self,
        request: Request<pb::BatchRecordUsageRequest>,
    ) -> Result<Response<pb::BatchRecordUsageResponse>, Status> {
        let principal = auth::principal(&request)?;
        require_service(&principal)?;
        let req = request.into_inner();
        if req.events.is_empty() || req.events.len() > MAX_BATCH {
            let mut v = FieldViolations::new();
            v.add("events", format!("must hold 1 to {MAX_BATCH} events"));
            fields::done(v)?;
        }
        let reporter = principal.audit_id();
        let mut results = Vec::with_capacity(req.events.len());
        for (i, e) in req.events.iter().enumerate() {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            let mut v = FieldViolations::new();
            let event = self.event(&mut v, &format!("events[{i}]"), e);
            let outcome = match (fields::done(v), event) {
                (Err(status), _) => Err(status),
                (Ok(()), None) => Err(Status::internal("validated fields missing")),
                (Ok(()), Some(event)) => self.record(&reporter, &event).await,
            };
            results.push(match outcome {
                Ok(recorded) => pb::UsageEventResult {
                    index,
                    code: 0,
                    message: String::new(),
                    recorded,
                },
                Err(status) => pb::UsageEventResult {
                    index,
                    code: status.code() as i32,
                    message: status.message().to_string(),
                    recorded: false,
                },
            });
        }
        Ok(Response::new(pb::BatchRecordUsageResponse { results }))
    }
}
