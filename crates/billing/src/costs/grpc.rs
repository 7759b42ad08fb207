//! gRPC adapter of `loopback.billing.v1.CostService`.

use loopback_org_core_client::ActionClass;
use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::Money;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::{auth, fields};
use tonic::{Request, Response, Status};

use crate::Billing;
use crate::usage::period_of;

/// Serves CostService.
#[derive(Debug, Clone)]
pub struct CostGrpc(pub Billing);

/// Checks a `YYYY-MM` period.
pub fn valid_period(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && p[..4]
            .parse::<u32>()
            .is_ok_and(|y| (2000..=9999).contains(&y))
        && p[5..].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
}

#[tonic::async_trait]
impl pb::cost_service_server::CostService for CostGrpc {
    async fn get_cost_summary(
        &self,
        request: Request<pb::GetCostSummaryRequest>,
    ) -> Result<Response<pb::GetCostSummaryResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = fields::org_id(&mut v, "organization", &req.organization);
        let period = if req.period.is_empty() {
            period_of(chrono::Utc::now())
        } else {
            if !valid_period(&req.period) {
                v.add("period", "must be YYYY-MM");
            }
            req.period.clone()
        };
        fields::done(v)?;
        let Some(org) = org else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                &req.organization,
                "billing.costs.get",
                ActionClass::Read,
                "GetCostSummary",
            )
            .await?;
        let s = self
            .0
            .cost_summary(org, &period, req.group_by_project, req.group_by_meter)
            .await?;
        let money = |amount_minor: i64| Money {
            currency_code: s.currency.clone(),
            amount_minor,
        };
        Ok(Response::new(pb::GetCostSummaryResponse {
            period: s.period.clone(),
            lines: s
                .lines
                .iter()
                .map(|l| pb::CostLine {
                    project: if l.project.is_empty() {
                        String::new()
                    } else {
                        format!("{}/projects/{}", req.organization, l.project)
                    },
                    meter: l.meter.clone(),
                    quantity: l.quantity,
                    amount: Some(money(l.amount)),
                })
                .collect(),
            subtotal: Some(money(s.subtotal)),
            tax: Some(money(s.tax)),
            total: Some(money(s.total)),
            compute_time: Some(fields::timestamp(chrono::Utc::now())),
        }))
    }
}
