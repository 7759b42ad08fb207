//! Spending limits: a monthly limit per organization with alert thresholds
//! that fire once per period each (the alert's primary key makes that hold
//! under concurrent ingestion), and a **hard** limit that, once reached,
//! makes org-core refuse create actions everywhere (SPENDING_LIMIT_REACHED)
//! until the next period or a raised limit.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::alerts::PendingAlert;
use crate::error::{Error, Result};
use crate::usage::period_of;
use crate::{Billing, rpcs};

/// SetSpendingLimit, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpendingLimit {
    /// The organization.
    pub organization: Uuid,
    /// The monthly limit's currency, as given.
    pub currency: String,
    /// The monthly limit in minor units, as given.
    pub limit_minor: i64,
    /// Alert thresholds in percent, as given.
    pub thresholds: Vec<i32>,
    /// Blocks create actions once reached.
    pub hard: bool,
}

/// Most alert thresholds on one limit.
const MAX_THRESHOLDS: usize = 10;

/// GetSpendingStatus, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSpendingStatus {
    /// The organization.
    pub organization: Uuid,
}

/// An organization's spending limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendingLimit {
    /// The organization.
    pub organization: Uuid,
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
    /// The organization.
    pub organization: Uuid,
    /// The price book's currency.
    pub currency: String,
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

/// Deletes `org`'s spending limit and alerts (the organization was purged:
/// call it inside billing's purge transaction). Returns how many rows went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations with a spending limit or alerts, in id order after
/// `after`, at most `limit` (for the purge reconciliation).
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

impl Billing {
    /// SetSpendingLimit: sets the limit, then re-evaluates (a raised limit
    /// unblocks at once).
    pub async fn set_spending_limit(
        &self,
        principal: &Principal,
        input: SetSpendingLimit,
    ) -> Result<SpendingLimit> {
        let rpc = &rpcs::SET_SPENDING_LIMIT;
        let org = input.organization;
        let currency = &self.settings().price_book.currency;
        let mut bad = FieldViolations::new();
        if input.limit_minor <= 0 || input.currency != *currency {
            bad.add(
                "spending_limit.monthly_limit",
                format!("must be a positive amount in {currency} minor units"),
            );
        }
        let mut thresholds = input.thresholds;
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.len() > MAX_THRESHOLDS || thresholds.iter().any(|t| !(1..=1000).contains(t)) {
            bad.add(
                "spending_limit.alert_thresholds_percent",
                format!("at most {MAX_THRESHOLDS} thresholds, each 1 to 1000 percent"),
            );
        }
        bad.into_result()?;
        self.authorize(principal, rpc, org).await?;
        let limit = SpendingLimit {
            organization: org,
            limit_minor: input.limit_minor,
            currency: currency.clone(),
            thresholds,
            hard: input.hard,
            update_time: Utc::now(),
        };
        let mut tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        store::put(tx.conn(), &limit).await?;
        tx.audit(
            format!("organizations/{org}/spendingLimit"),
            json!({
                "monthly_limit_minor": limit.limit_minor,
                "currency": limit.currency,
                "alert_thresholds_percent": limit.thresholds,
                "hard": limit.hard,
            }),
        );
        tx.commit().await?;
        self.evaluate_spending(org).await?;
        store::get(self.db(), org)
            .await?
            .ok_or_else(|| Error::Corrupt("spending limit vanished".into()))
    }

    /// GetSpendingStatus: spend, limit and alerts of the current period.
    pub async fn get_spending_status(
        &self,
        principal: &Principal,
        input: GetSpendingStatus,
    ) -> Result<SpendingStatus> {
        self.authorize(principal, &rpcs::GET_SPENDING_STATUS, input.organization)
            .await?;
        self.spending_status(input.organization).await
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
        let Some(limit) = store::get(self.db(), org).await? else {
            return Ok(Vec::new());
        };
        let (period, spend) = self.current_spend(org).await?;
        let mut fired = Vec::new();
        for &t in &limit.thresholds {
            if i128::from(spend) * 100 < i128::from(limit.limit_minor) * i128::from(t) {
                continue;
            }
            // The alert and its notification's outbox row commit together.
            let tx = self.unlocked_tx().await?;
            if store::record_alert(&tx, org, &period, t, spend).await? {
                let alert = PendingAlert {
                    organization: org,
                    period: period.clone(),
                    threshold_percent: t,
                    spend_minor: spend,
                    limit_minor: limit.limit_minor,
                    currency: limit.currency.clone(),
                    alert_time: Utc::now(),
                    attempts: 0,
                };
                self.queue_spending_alert(&tx, &alert).await?;
                tx.commit().await?;
                self.notify_committed();
                tracing::info!(organization = %org, period = %period, threshold_percent = t, spend, "spending threshold crossed");
                fired.push(t);
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
                .map_err(loopback_org_core_client::AuthorityDenied::from)?;
        }
        Ok(fired)
    }

    /// Spend, limit and alerts of the current period.
    async fn spending_status(&self, org: Uuid) -> Result<SpendingStatus> {
        let limit = store::get(self.db(), org).await?;
        let (period, spend_minor) = self.current_spend(org).await?;
        let alerts = store::alerts(self.db(), org, &period).await?;
        let reached = limit
            .as_ref()
            .is_some_and(|l| l.hard && spend_minor >= l.limit_minor);
        Ok(SpendingStatus {
            organization: org,
            currency: self.settings().price_book.currency.clone(),
            period,
            spend_minor,
            limit,
            alerts,
            reached,
        })
    }

    /// Re-evaluates every organization with a hard limit (a new period
    /// starts unblocked). Run periodically as one of billing's jobs.
    pub async fn sweep_spending(&self) -> Result<()> {
        for org in store::organizations_with_hard_limits(self.db()).await? {
            if let Err(e) = self.evaluate_spending(org).await {
                tracing::warn!(organization = %org, error = %e, "spending sweep failed");
            }
        }
        Ok(())
    }
}
