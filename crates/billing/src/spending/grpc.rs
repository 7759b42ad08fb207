//! gRPC adapter of `loopback.billing.v1.SpendingLimitService`.

use loopback_org_core_client::ActionClass;
use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::Money;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::{auth, fields, validation};
use tonic::{Request, Response, Status};

use super::SpendingLimit;
use crate::Billing;

/// Serves SpendingLimitService.
#[derive(Debug, Clone)]
pub struct SpendingGrpc(pub Billing);

fn limit_to_pb(org: &str, l: SpendingLimit) -> pb::SpendingLimit {
    pb::SpendingLimit {
        name: format!("{org}/spendingLimit"),
        monthly_limit: Some(Money {
            currency_code: l.currency,
            amount_minor: l.limit_minor,
        }),
        alert_thresholds_percent: l.thresholds,
        hard: l.hard,
        update_time: Some(fields::timestamp(l.update_time)),
    }
}

#[tonic::async_trait]
impl pb::spending_limit_service_server::SpendingLimitService for SpendingGrpc {
    async fn set_spending_limit(
        &self,
        request: Request<pb::SetSpendingLimitRequest>,
    ) -> Result<Response<pb::SetSpendingLimitResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.spending_limit.is_none() {
            v.add("spending_limit", "is required");
        }
        let l = req.spending_limit.unwrap_or_default();
        let org_name = l.name.strip_suffix("/spendingLimit").unwrap_or("");
        let org = match validation::organization_name(org_name) {
            Ok(id) => Some(id),
            Err(_) => {
                v.add(
                    "spending_limit.name",
                    "must look like organizations/{id}/spendingLimit",
                );
                None
            }
        };
        let currency = &self.0.settings().price_book.currency;
        let amount = match &l.monthly_limit {
            Some(m) if m.amount_minor > 0 && m.currency_code == *currency => m.amount_minor,
            _ => {
                v.add(
                    "spending_limit.monthly_limit",
                    format!("must be a positive amount in {currency} minor units"),
                );
                0
            }
        };
        let mut thresholds = l.alert_thresholds_percent.clone();
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.len() > 10 || thresholds.iter().any(|t| !(1..=1000).contains(t)) {
            v.add(
                "spending_limit.alert_thresholds_percent",
                "at most 10 thresholds, each 1 to 1000 percent",
            );
        }
        fields::done(v)?;
        let Some(org) = org else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                org_name,
                "billing.spendingLimits.update",
                ActionClass::Setup,
                "SetSpendingLimit",
            )
            .await?;
        let stored = self
            .0
            .set_spending_limit(org, amount, thresholds, l.hard)
            .await?;
        Ok(Response::new(pb::SetSpendingLimitResponse {
            spending_limit: Some(limit_to_pb(org_name, stored)),
        }))
    }

    async fn get_spending_status(
        &self,
        request: Request<pb::GetSpendingStatusRequest>,
    ) -> Result<Response<pb::GetSpendingStatusResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = fields::org_id(&mut v, "organization", &req.organization);
        fields::done(v)?;
        let Some(org) = org else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                &req.organization,
                "billing.spendingLimits.get",
                ActionClass::Read,
                "GetSpendingStatus",
            )
            .await?;
        let s = self.0.spending_status(org).await?;
        let currency = self.0.settings().price_book.currency.clone();
        Ok(Response::new(pb::GetSpendingStatusResponse {
            period: s.period,
            spend: Some(Money {
                currency_code: currency.clone(),
                amount_minor: s.spend_minor,
            }),
            spending_limit: s.limit.map(|l| limit_to_pb(&req.organization, l)),
            alerts: s
                .alerts
                .into_iter()
                .map(|a| pb::SpendingAlert {
                    threshold_percent: a.threshold_percent,
                    spend_at_crossing: Some(Money {
                        currency_code: currency.clone(),
                        amount_minor: a.spend_minor,
                    }),
                    alert_time: Some(fields::timestamp(a.alert_time)),
                })
                .collect(),
            limit_reached: s.reached,
        }))
    }
}
