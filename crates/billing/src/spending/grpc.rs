//! gRPC adapter of `loopback.billing.v1.SpendingLimitService`.

use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::Money;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::{GetSpendingStatus, SetSpendingLimit, SpendingLimit, SpendingStatus};
use crate::Billing;

/// Serves SpendingLimitService.
#[derive(Debug, Clone)]
pub struct SpendingGrpc(pub Billing);

fn limit_to_pb(l: SpendingLimit) -> pb::SpendingLimit {
    pb::SpendingLimit {
        name: format!("organizations/{}/spendingLimit", l.organization),
        monthly_limit: Some(Money {
            currency_code: l.currency,
            amount_minor: l.limit_minor,
        }),
        alert_thresholds_percent: l.thresholds,
        hard: l.hard,
        update_time: Some(timestamp(l.update_time)),
    }
}

fn status_to_pb(s: SpendingStatus) -> pb::GetSpendingStatusResponse {
    let money = |amount_minor: i64| Money {
        currency_code: s.currency.clone(),
        amount_minor,
    };
    pb::GetSpendingStatusResponse {
        period: s.period,
        spend: Some(money(s.spend_minor)),
        spending_limit: s.limit.map(limit_to_pb),
        alerts: s
            .alerts
            .into_iter()
            .map(|a| pb::SpendingAlert {
                threshold_percent: a.threshold_percent,
                spend_at_crossing: Some(money(a.spend_minor)),
                alert_time: Some(timestamp(a.alert_time)),
            })
            .collect(),
        limit_reached: s.reached,
    }
}

impl TryFrom<pb::SetSpendingLimitRequest> for SetSpendingLimit {
    type Error = FieldViolations;
    fn try_from(req: pb::SetSpendingLimitRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let l = f.message("spending_limit", req.spending_limit);
        let org_name = l.name.strip_suffix("/spendingLimit").unwrap_or("");
        let organization = f.take(
            "spending_limit.name",
            validation::organization_name(org_name)
                .map_err(|_| "must look like organizations/{id}/spendingLimit"),
        );
        let monthly = l.monthly_limit.unwrap_or_default();
        // The amount and thresholds are checked by the domain, against the
        // price book's currency, all in one answer.
        Ok(Self {
            organization: f.finish(organization)?,
            currency: monthly.currency_code,
            limit_minor: monthly.amount_minor,
            thresholds: l.alert_thresholds_percent,
            hard: l.hard,
        })
    }
}

impl TryFrom<pb::GetSpendingStatusRequest> for GetSpendingStatus {
    type Error = FieldViolations;
    fn try_from(req: pb::GetSpendingStatusRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
        })
    }
}

#[tonic::async_trait]
impl pb::spending_limit_service_server::SpendingLimitService for SpendingGrpc {
    async fn set_spending_limit(
        &self,
        request: Request<pb::SetSpendingLimitRequest>,
    ) -> Result<Response<pb::SetSpendingLimitResponse>, Status> {
        unary(&self.0, request, Billing::set_spending_limit, |l| {
            pb::SetSpendingLimitResponse {
                spending_limit: Some(limit_to_pb(l)),
            }
        })
        .await
    }

    async fn get_spending_status(
        &self,
        request: Request<pb::GetSpendingStatusRequest>,
    ) -> Result<Response<pb::GetSpendingStatusResponse>, Status> {
        unary(&self.0, request, Billing::get_spending_status, status_to_pb).await
    }
}
