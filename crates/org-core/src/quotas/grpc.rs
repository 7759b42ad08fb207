//! gRPC adapter of `loopback.orgcore.v1.QuotaService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Reservation, state};
use crate::convert::timestamp;
use crate::grpc as g;
use crate::policy;
use crate::service::OrgCore;

/// Serves QuotaService.
#[derive(Debug, Clone)]
pub struct QuotaGrpc(pub OrgCore);

fn reservation_to_pb(r: Reservation) -> pb::QuotaReservation {
    let state = match r.state {
        state::RESERVED => pb::quota_reservation::State::Reserved,
        state::COMMITTED => pb::quota_reservation::State::Committed,
        state::RELEASED => pb::quota_reservation::State::Released,
        _ => pb::quota_reservation::State::Expired,
    };
    pb::QuotaReservation {
        name: r.name(),
        limit: r.limit,
        amount: r.amount,
        state: state.into(),
        create_time: Some(timestamp(r.create_time)),
        expire_time: Some(timestamp(r.expire_time)),
    }
}

/// Parses `organizations/{org}/quotaReservations/{request_id}`.
fn reservation_name(v: &mut FieldViolations, name: &str) -> Option<(Uuid, String)> {
    match validation::child_name(name, "quotaReservations") {
        Ok((org, rid)) => Some((org, rid.to_string())),
        Err(e) => {
            v.add("name", e);
            None
        }
    }
}

#[tonic::async_trait]
impl pb::quota_service_server::QuotaService for QuotaGrpc {
    async fn reserve_quota(
        &self,
        request: Request<pb::ReserveQuotaRequest>,
    ) -> Result<Response<pb::ReserveQuotaResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "organization", &req.organization);
        if !policy::RESERVABLE_LIMITS.contains(&req.limit.as_str()) {
            v.add(
                "limit",
                format!(
                    "must be one of {} (other limits are enforced by their own service)",
                    policy::RESERVABLE_LIMITS.join(", ")
                ),
            );
        }
        if !(1..=1000).contains(&req.amount) {
            v.add("amount", "must be between 1 and 1000");
        }
        let request_id = match validation::request_id(&req.request_id) {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                v.add("request_id", "is required: it names the reservation");
                None
            }
            Err(e) => {
                v.add("request_id", e);
                None
            }
        };
        let ttl = match req.ttl_seconds {
            0 => chrono::Duration::seconds(300),
            n @ 1..=86_400 => chrono::Duration::seconds(i64::from(n)),
            _ => {
                v.add("ttl_seconds", "must be between 1 and 86400 (0 for 300)");
                chrono::Duration::seconds(300)
            }
        };
        g::done(v)?;
        let (Some(org), Some(request_id)) = (org, request_id) else {
            return Err(Status::internal("validated fields missing"));
        };
        let r = self
            .0
            .reserve_quota(&caller, org, &req.limit, req.amount, &request_id, ttl)
            .await?;
        Ok(Response::new(pb::ReserveQuotaResponse {
            reservation: Some(reservation_to_pb(r)),
        }))
    }

    async fn commit_quota(
        &self,
        request: Request<pb::CommitQuotaRequest>,
    ) -> Result<Response<pb::CommitQuotaResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let mut v = FieldViolations::new();
        let name = reservation_name(&mut v, &request.get_ref().name);
        g::done(v)?;
        let (org, rid) = name.unwrap_or_default();
        let r = self.0.commit_quota(&caller, org, &rid).await?;
        Ok(Response::new(pb::CommitQuotaResponse {
            reservation: Some(reservation_to_pb(r)),
        }))
    }

    async fn release_quota(
        &self,
        request: Request<pb::ReleaseQuotaRequest>,
    ) -> Result<Response<pb::ReleaseQuotaResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let mut v = FieldViolations::new();
        let name = reservation_name(&mut v, &request.get_ref().name);
        g::done(v)?;
        let (org, rid) = name.unwrap_or_default();
        let r = self.0.release_quota(&caller, org, &rid).await?;
        Ok(Response::new(pb::ReleaseQuotaResponse {
            reservation: Some(reservation_to_pb(r)),
        }))
    }

    async fn report_usage(
        &self,
        request: Request<pb::ReportUsageRequest>,
    ) -> Result<Response<pb::ReportUsageResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "organization", &req.organization);
        if !policy::is_limit(&req.limit) {
            v.add("limit", "unknown limit");
        }
        if req.usage < 0 {
            v.add("usage", "must be zero or positive");
        }
        if req.revision < 0 {
            v.add("revision", "must be zero or positive");
        }
        g::done(v)?;
        let accepted = self
            .0
            .report_usage(
                &caller,
                org.unwrap_or_default(),
                &req.limit,
                req.usage,
                req.revision,
            )
            .await?;
        Ok(Response::new(pb::ReportUsageResponse { accepted }))
    }

    async fn set_spending_limit_reached(
        &self,
        request: Request<pb::SetSpendingLimitReachedRequest>,
    ) -> Result<Response<pb::SetSpendingLimitReachedResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "organization", &req.organization);
        v.check("reason", validation::reason(&req.reason));
        g::done(v)?;
        let changed = self
            .0
            .set_spending_limit_reached(
                &caller,
                org.unwrap_or_default(),
                req.reached,
                req.reason.trim(),
            )
            .await?;
        Ok(Response::new(pb::SetSpendingLimitReachedResponse {
            changed,
        }))
    }

    async fn get_organization_usage(
        &self,
        request: Request<pb::GetOrganizationUsageRequest>,
    ) -> Result<Response<pb::GetOrganizationUsageResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "organization", &request.get_ref().organization);
        g::done(v)?;
        let limits = self
            .0
            .organization_usage(&caller, org.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::GetOrganizationUsageResponse {
            limits: limits
                .into_iter()
                .map(|l| pb::LimitUsage {
                    headroom: (l.limit_value - l.usage).max(0),
                    limit: l.limit,
                    limit_value: l.limit_value,
                    usage: l.usage,
                    warning: l.warning,
                    source: l.source.into(),
                })
                .collect(),
            warning_fraction: self.0.settings().usage_warning_fraction,
        }))
    }
}
