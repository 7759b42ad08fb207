//! gRPC adapter of `loopback.orgcore.v1.QuotaService`.

use chrono::Duration;
use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::{
    GetOrganizationUsage, LimitUsage, ReportUsage, Reservation, ReservationName, ReserveQuota,
    SetSpendingLimitReached, state,
};
use crate::convert::{reason, source_to_pb};
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

fn usage_to_pb(l: LimitUsage) -> pb::LimitUsage {
    pb::LimitUsage {
        headroom: (l.limit_value - l.usage).max(0),
        limit: l.limit,
        limit_value: l.limit_value,
        usage: l.usage,
        warning: l.warning,
        source: l.source.into(),
        limit_source: source_to_pb(l.limit_source).into(),
    }
}

/// `organizations/{org}/quotaReservations/{request_id}` in `name`.
fn reservation_name(name: &str) -> Result<ReservationName, FieldViolations> {
    let mut f = Fields::new();
    let name = f
        .child("name", name, "quotaReservations")
        .map(|(organization, rid)| ReservationName {
            organization,
            request_id: rid.to_string(),
        });
    f.finish(name)
}

/// A number that must lie in `range`.
fn within(
    f: &mut Fields,
    field: &str,
    value: i64,
    range: std::ops::RangeInclusive<i64>,
    description: &str,
) -> Option<i64> {
    f.take(
        field,
        range.contains(&value).then_some(value).ok_or(description),
    )
}

impl TryFrom<pb::ReserveQuotaRequest> for ReserveQuota {
    type Error = FieldViolations;
    fn try_from(req: pb::ReserveQuotaRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let reservable = policy::RESERVABLE_LIMITS.contains(&req.limit.as_str());
        let limit = f.take(
            "limit",
            reservable.then_some(req.limit).ok_or_else(|| {
                format!(
                    "must be one of {} (other limits are enforced by their own service)",
                    policy::RESERVABLE_LIMITS.join(", ")
                )
            }),
        );
        let amount = within(
            &mut f,
            "amount",
            req.amount,
            1..=1000,
            "must be between 1 and 1000",
        );
        let request_id = match f.request_id("request_id", &req.request_id) {
            Some(None) => f.take("request_id", Err("is required: it names the reservation")),
            parsed => parsed.flatten(),
        };
        let ttl = match req.ttl_seconds {
            0 => Some(Duration::seconds(300)),
            n => {
                let bounds = "must be between 1 and 86400 (0 for 300)";
                within(&mut f, "ttl_seconds", n.into(), 1..=86_400, bounds).map(Duration::seconds)
            }
        };
        let (organization, limit, amount, request_id, ttl) =
            f.finish((organization, limit, amount, request_id, ttl))?;
        Ok(Self {
            name: ReservationName {
                organization,
                request_id,
            },
            limit,
            amount,
            ttl,
        })
    }
}

impl TryFrom<pb::CommitQuotaRequest> for ReservationName {
    type Error = FieldViolations;
    fn try_from(req: pb::CommitQuotaRequest) -> Result<Self, FieldViolations> {
        reservation_name(&req.name)
    }
}

impl TryFrom<pb::ReleaseQuotaRequest> for ReservationName {
    type Error = FieldViolations;
    fn try_from(req: pb::ReleaseQuotaRequest) -> Result<Self, FieldViolations> {
        reservation_name(&req.name)
    }
}

impl TryFrom<pb::ReportUsageRequest> for ReportUsage {
    type Error = FieldViolations;
    fn try_from(req: pb::ReportUsageRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let known = policy::is_limit(&req.limit);
        let limit = f.take("limit", known.then_some(req.limit).ok_or("unknown limit"));
        let positive = "must be zero or positive";
        let usage = within(&mut f, "usage", req.usage, 0..=i64::MAX, positive);
        let revision = within(&mut f, "revision", req.revision, 0..=i64::MAX, positive);
        let (organization, limit, usage, revision) =
            f.finish((organization, limit, usage, revision))?;
        Ok(Self {
            organization,
            limit,
            usage,
            revision,
        })
    }
}

impl TryFrom<pb::SetSpendingLimitReachedRequest> for SetSpendingLimitReached {
    type Error = FieldViolations;
    fn try_from(req: pb::SetSpendingLimitReachedRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let reason = reason(&mut f, &req.reason);
        let (organization, reason) = f.finish((organization, reason))?;
        Ok(Self {
            organization,
            reached: req.reached,
            reason,
        })
    }
}

impl TryFrom<pb::GetOrganizationUsageRequest> for GetOrganizationUsage {
    type Error = FieldViolations;
    fn try_from(req: pb::GetOrganizationUsageRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
        })
    }
}

#[tonic::async_trait]
impl pb::quota_service_server::QuotaService for QuotaGrpc {
    async fn reserve_quota(
        &self,
        request: Request<pb::ReserveQuotaRequest>,
    ) -> Result<Response<pb::ReserveQuotaResponse>, Status> {
        unary(&self.0, request, OrgCore::reserve_quota, |r| {
            pb::ReserveQuotaResponse {
                reservation: Some(reservation_to_pb(r)),
            }
        })
        .await
    }

    async fn commit_quota(
        &self,
        request: Request<pb::CommitQuotaRequest>,
    ) -> Result<Response<pb::CommitQuotaResponse>, Status> {
        unary(&self.0, request, OrgCore::commit_quota, |r| {
            pb::CommitQuotaResponse {
                reservation: Some(reservation_to_pb(r)),
            }
        })
        .await
    }

    async fn release_quota(
        &self,
        request: Request<pb::ReleaseQuotaRequest>,
    ) -> Result<Response<pb::ReleaseQuotaResponse>, Status> {
        unary(&self.0, request, OrgCore::release_quota, |r| {
            pb::ReleaseQuotaResponse {
                reservation: Some(reservation_to_pb(r)),
            }
        })
        .await
    }

    async fn report_usage(
        &self,
        request: Request<pb::ReportUsageRequest>,
    ) -> Result<Response<pb::ReportUsageResponse>, Status> {
        unary(&self.0, request, OrgCore::report_usage, |accepted| {
            pb::ReportUsageResponse { accepted }
        })
        .await
    }

    async fn set_spending_limit_reached(
        &self,
        request: Request<pb::SetSpendingLimitReachedRequest>,
    ) -> Result<Response<pb::SetSpendingLimitReachedResponse>, Status> {
        unary(
            &self.0,
            request,
            OrgCore::set_spending_limit_reached,
            |changed| pb::SetSpendingLimitReachedResponse { changed },
        )
        .await
    }

    async fn get_organization_usage(
        &self,
        request: Request<pb::GetOrganizationUsageRequest>,
    ) -> Result<Response<pb::GetOrganizationUsageResponse>, Status> {
        unary(&self.0, request, OrgCore::organization_usage, |u| {
            pb::GetOrganizationUsageResponse {
                limits: u.limits.into_iter().map(usage_to_pb).collect(),
                warning_fraction: u.warning_fraction,
            }
        })
        .await
    }
}
