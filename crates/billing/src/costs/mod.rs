//! Cost summaries: usage × price book, in integer minor units, computed the
//! same way invoices will be (per project and meter, then summed), so the
//! two agree to the cent.

pub mod grpc;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::usage::period_of;
use crate::{Billing, rpcs};

/// GetCostSummary, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetCostSummary {
    /// The organization.
    pub organization: Uuid,
    /// `YYYY-MM`; `None` for the current period.
    pub period: Option<String>,
    /// One line per project.
    pub by_project: bool,
    /// One line per meter.
    pub by_meter: bool,
}

/// One priced line: a project (or none) and a meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostLine {
    /// Project id, empty for organization-level usage (or when not grouped).
    pub project: String,
    /// Meter (empty when not grouped).
    pub meter: String,
    /// Total quantity.
    pub quantity: i64,
    /// Cost in minor units.
    pub amount: i64,
}

/// A cost summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostSummary {
    /// The organization.
    pub organization: Uuid,
    /// When it was computed.
    pub compute_time: DateTime<Utc>,
    /// `YYYY-MM`.
    pub period: String,
    /// Lines.
    pub lines: Vec<CostLine>,
    /// Sum of all lines.
    pub subtotal: i64,
    /// Tax.
    pub tax: i64,
    /// Subtotal plus tax.
    pub total: i64,
    /// ISO 4217 currency.
    pub currency: String,
}

impl Billing {
    /// GetCostSummary: the cost of a period, grouped as asked.
    pub async fn get_cost_summary(
        &self,
        principal: &Principal,
        input: GetCostSummary,
    ) -> Result<CostSummary> {
        self.authorize(principal, &rpcs::GET_COST_SUMMARY, input.organization)
            .await?;
        let period = input.period.unwrap_or_else(|| period_of(Utc::now()));
        self.cost_summary(
            input.organization,
            &period,
            input.by_project,
            input.by_meter,
        )
        .await
    }

    /// The priced usage of `org` in `period`, per project and meter.
    pub async fn priced_usage(&self, org: Uuid, period: &str) -> Result<Vec<CostLine>> {
        self.priced_usage_on(self.db(), org, period).await
    }

    /// [`Self::priced_usage`] read through `conn` (e.g. inside the
    /// transaction that finalizes an invoice). Lines are sorted by project
    /// then meter.
    pub async fn priced_usage_on(
        &self,
        conn: &impl Conn,
        org: Uuid,
        period: &str,
    ) -> Result<Vec<CostLine>> {
        let rows = self.usage_sums(conn, org, period).await?;
        let book = &self.settings().price_book;
        let mut lines = rows
            .into_iter()
            .map(|(project, meter, quantity)| {
                let price = book.unit_price(&meter);
                let amount = quantity
                    .checked_mul(price)
                    .ok_or_else(|| Error::Corrupt(format!("cost of {meter} overflows")))?;
                Ok(CostLine {
                    project,
                    meter,
                    quantity,
                    amount,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        lines.sort_by(|a, b| (&a.project, &a.meter).cmp(&(&b.project, &b.meter)));
        Ok(lines)
    }

    /// Cost of a period, grouped as asked.
    async fn cost_summary(
        &self,
        org: Uuid,
        period: &str,
        by_project: bool,
        by_meter: bool,
    ) -> Result<CostSummary> {
        let base = self.priced_usage(org, period).await?;
        let mut grouped: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for line in &base {
            let key = (
                if by_project {
                    line.project.clone()
                } else {
                    String::new()
                },
                if by_meter {
                    line.meter.clone()
                } else {
                    String::new()
                },
            );
            let entry = grouped.entry(key).or_default();
            entry.0 += line.quantity;
            entry.1 += line.amount;
        }
        let lines: Vec<CostLine> = grouped
            .into_iter()
            .map(|((project, meter), (quantity, amount))| CostLine {
                project,
                meter,
                quantity,
                amount,
            })
            .collect();
        let subtotal: i64 = base.iter().map(|l| l.amount).sum();
        let book = &self.settings().price_book;
        let tax = book.tax(subtotal);
        Ok(CostSummary {
            organization: org,
            compute_time: Utc::now(),
            period: period.to_string(),
            lines,
            subtotal,
            tax,
            total: subtotal + tax,
            currency: book.currency.clone(),
        })
    }
}
