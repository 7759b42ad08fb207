//! Cost summaries: usage × price book, in integer minor units, computed the
//! same way invoices will be (per project and meter, then summed), so the
//! two agree to the cent.

pub mod grpc;

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::Billing;
use crate::entity::usage_event;
use crate::error::{Error, Result};

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
    /// The priced usage of `org` in `period`, per project and meter.
    pub async fn priced_usage(&self, org: Uuid, period: &str) -> Result<Vec<CostLine>> {
        self.priced_usage_on(self.db(), org, period).await
    }

    /// [`Self::priced_usage`] read through `conn` (e.g. inside the
    /// transaction that finalizes an invoice). Lines are sorted by project
    /// then meter.
    pub async fn priced_usage_on(
        &self,
        conn: &impl ConnectionTrait,
        org: Uuid,
        period: &str,
    ) -> Result<Vec<CostLine>> {
        let rows: Vec<(String, String, i64)> = usage_event::Entity::find()
            .select_only()
            .column(usage_event::Column::ProjectId)
            .column(usage_event::Column::Meter)
            // SUM(bigint) is numeric on PostgreSQL: cast back to BIGINT for i64.
            .column_as(Expr::cust("CAST(SUM(quantity) AS BIGINT)"), "quantity")
            .filter(usage_event::Column::OrganizationId.eq(org.to_string()))
            .filter(usage_event::Column::Period.eq(period))
            .group_by(usage_event::Column::ProjectId)
            .group_by(usage_event::Column::Meter)
            .into_tuple()
            .all(conn)
            .await?;
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
    pub async fn cost_summary(
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
            period: period.to_string(),
            lines,
            subtotal,
            tax,
            total: subtotal + tax,
            currency: book.currency.clone(),
        })
    }
}
