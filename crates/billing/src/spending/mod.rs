//! Spending limits: a monthly limit per organization with alert thresholds
//! that fire once per period each (the alert's primary key makes that hold
//! under concurrent ingestion), and a **hard** limit that, once reached,
//! makes org-core refuse create actions everywhere (SPENDING_LIMIT_REACHED)
//! until the next period or a raised limit.

pub mod grpc;

use chrono::{DateTime, Utc};
use loopback_runtime::db::is_unique_violation;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::Billing;
use crate::entity::{spending_alert, spending_limit};
use crate::error::{Error, Result};
use crate::usage::period_of;

/// An organization's spending limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendingLimit {
    /// Monthly limit, minor units.
    pub limit_minor: i64,
    /// Currency.
    pub currency: String,
    /// Alert thresholds in percent, ascending.
    pub thresholds: Vec<i32>,
    /// Blocks create actions once reached.
    pub hard: bool,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

/// A crossed threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Threshold, percent.
    pub threshold_percent: i32,
    /// Spend when crossed.
    pub spend_minor: i64,
    /// When.
    pub alert_time: DateTime<Utc>,
}

/// Spend, limit and alerts of the current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendingStatus {
    /// `YYYY-MM`.
    pub period: String,
    /// Spend before tax, minor units.
    pub spend_minor: i64,
    /// The limit, if set.
    pub limit: Option<SpendingLimit>,
    /// Alerts this period.
    pub alerts: Vec<Alert>,
    /// Hard limit reached.
    pub reached: bool,
}

fn to_domain(m: spending_limit::Model) -> Result<SpendingLimit> {
    let thresholds: Vec<i32> = serde_json::from_str(&m.thresholds)
        .map_err(|e| Error::Corrupt(format!("spending thresholds: {e}")))?;
    Ok(SpendingLimit {
        limit_minor: m.limit_minor,
        currency: m.currency,
        thresholds,
        hard: m.hard,
        update_time: m.update_time,
    })
}

impl Billing {
    /// The organization's limit, if any.
    pub async fn spending_limit(&self, org: Uuid) -> Result<Option<SpendingLimit>> {
        spending_limit::Entity::find_by_id(org.to_string())
            .one(self.db())
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Sets the limit, then re-evaluates (a raised limit unblocks at once).
    pub async fn set_spending_limit(
        &self,
        org: Uuid,
        limit_minor: i64,
        thresholds: Vec<i32>,
        hard: bool,
    ) -> Result<SpendingLimit> {
        let row = spending_limit::ActiveModel {
            organization_id: Set(org.to_string()),
            limit_minor: Set(limit_minor),
            currency: Set(self.settings().price_book.currency.clone()),
            thresholds: Set(
                serde_json::to_string(&thresholds).map_err(|e| Error::Corrupt(e.to_string()))?
            ),
            hard: Set(hard),
            update_time: Set(Utc::now()),
        };
        spending_limit::Entity::delete_by_id(org.to_string())
            .exec(self.db())
            .await?;
        spending_limit::Entity::insert(row)
            .exec_without_returning(self.db())
            .await?;
        self.evaluate_spending(org).await?;
        self.spending_limit(org)
            .await?
            .ok_or_else(|| Error::Corrupt("spending limit vanished".into()))
    }

    /// Spend of the current period so far, before tax.
    pub async fn current_spend(&self, org: Uuid) -> Result<(String, i64)> {
        let period = period_of(Utc::now());
        let spend = self
            .priced_usage(org, &period)
            .await?
            .iter()
            .map(|l| l.amount)
            .sum();
        Ok((period, spend))
    }

    /// Records newly crossed thresholds (each once per period) and raises or
    /// clears the hard-limit flag at org-core. Returns the thresholds that
    /// fired now.
    pub async fn evaluate_spending(&self, org: Uuid) -> Result<Vec<i32>> {
        let Some(limit) = self.spending_limit(org).await? else {
            return Ok(Vec::new());
        };
        let (period, spend) = self.current_spend(org).await?;
        let mut fired = Vec::new();
        for &t in &limit.thresholds {
            if i128::from(spend) * 100 < i128::from(limit.limit_minor) * i128::from(t) {
                continue;
            }
            let inserted = spending_alert::Entity::insert(spending_alert::ActiveModel {
                organization_id: Set(org.to_string()),
                period: Set(period.clone()),
                threshold_percent: Set(t),
                spend_minor: Set(spend),
                alert_time: Set(Utc::now()),
            })
            .exec_without_returning(self.db())
            .await;
            match inserted {
                Ok(_) => {
                    // Notification channels arrive with the integrations service.
                    tracing::info!(organization = %org, period = %period, threshold_percent = t, spend, "spending threshold crossed");
                    fired.push(t);
                }
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let reached = limit.hard && spend >= limit.limit_minor;
        let organization = format!("organizations/{org}");
        let flagged = self
            .authority()
            .cached_policy(&organization)
            .map(|p| p.flag(loopback_org_core_client::SPENDING_LIMIT_REACHED_FLAG));
        if flagged != Some(reached) {
            let reason = format!(
                "period {period}: spend {spend} of limit {} {} (hard: {})",
                limit.limit_minor, limit.currency, limit.hard
            );
            self.authority()
                .set_spending_limit_reached(&organization, reached, &reason)
                .await
                .map_err(|e| Error::Authority(e.into()))?;
        }
        Ok(fired)
    }

    /// Spend, limit and alerts of the current period.
    pub async fn spending_status(&self, org: Uuid) -> Result<SpendingStatus> {
        let limit = self.spending_limit(org).await?;
        let (period, spend_minor) = self.current_spend(org).await?;
        let alerts = spending_alert::Entity::find()
            .filter(spending_alert::Column::OrganizationId.eq(org.to_string()))
            .filter(spending_alert::Column::Period.eq(period.as_str()))
            .order_by_asc(spending_alert::Column::ThresholdPercent)
            .all(self.db())
            .await?
            .into_iter()
            .map(|a| Alert {
                threshold_percent: a.threshold_percent,
                spend_minor: a.spend_minor,
                alert_time: a.alert_time,
            })
            .collect();
        let reached = limit
            .as_ref()
            .is_some_and(|l| l.hard && spend_minor >= l.limit_minor);
        Ok(SpendingStatus {
            period,
            spend_minor,
            limit,
            alerts,
            reached,
        })
    }

    /// Re-evaluates every organization with a hard limit (a new period
    /// starts unblocked). Run periodically by [`Billing::open`].
    pub async fn sweep_spending(&self) -> Result<()> {
        let hard = spending_limit::Entity::find()
            .filter(spending_limit::Column::Hard.eq(true))
            .all(self.db())
            .await?;
        for row in hard {
            if let Ok(org) = Uuid::parse_str(&row.organization_id)
                && let Err(e) = self.evaluate_spending(org).await
            {
                tracing::warn!(organization = %org, error = %e, "spending sweep failed");
            }
        }
        Ok(())
    }
}
