//! gRPC adapter of `loopback.billing.v1.CostService`.

use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::Money;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::{CostSummary, GetCostSummary};
use crate::Billing;

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

impl TryFrom<pb::GetCostSummaryRequest> for GetCostSummary {
    type Error = FieldViolations;
    fn try_from(req: pb::GetCostSummaryRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let period = match req.period.as_str() {
            "" => Some(None),
            p if valid_period(p) => Some(Some(p.to_string())),
            _ => f.take("period", Err("must be YYYY-MM")),
        };
        let (organization, period) = f.finish((organization, period))?;
        Ok(Self {
            organization,
            period,
            by_project: req.group_by_project,
            by_meter: req.group_by_meter,
        })
    }
}

fn summary_to_pb(s: CostSummary) -> pb::GetCostSummaryResponse {
    let money = |amount_minor: i64| Money {
        currency_code: s.currency.clone(),
        amount_minor,
    };
    let project = |p: &str| match p {
        "" => String::new(),
        p => format!("organizations/{}/projects/{p}", s.organization),
    };
    pb::GetCostSummaryResponse {
        period: s.period.clone(),
        lines: s
            .lines
            .iter()
            .map(|l| pb::CostLine {
                project: project(&l.project),
                meter: l.meter.clone(),
                quantity: l.quantity,
                amount: Some(money(l.amount)),
            })
            .collect(),
        subtotal: Some(money(s.subtotal)),
        tax: Some(money(s.tax)),
        total: Some(money(s.total)),
        compute_time: Some(timestamp(s.compute_time)),
    }
}

#[tonic::async_trait]
impl pb::cost_service_server::CostService for CostGrpc {
    async fn get_cost_summary(
        &self,
        request: Request<pb::GetCostSummaryRequest>,
    ) -> Result<Response<pb::GetCostSummaryResponse>, Status> {
        unary(&self.0, request, Billing::get_cost_summary, summary_to_pb).await
    }
}
