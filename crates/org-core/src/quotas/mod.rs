//! Quotas: reservations of limited units for platform services outside this
//! suite (hosts, workspaces), usage reports from the services that own a
//! limited resource, and usage/limit/headroom for every limit at once.
//!
//! A reservation is named by its `request_id`: that is the reservation's
//! own key (ReserveQuota with the same id answers the same reservation;
//! Commit and Release name it), not the write path's retry key.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, check_status, spending_blocked};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::organization_name;
use crate::organizations::{self, Override};
use crate::policy;
use crate::rpcs;
use crate::service::OrgCore;
use crate::{auth_providers, invites, memberships, projects, roles};

/// Reservation states as stored.
pub mod state {
    /// Held until it expires.
    pub const RESERVED: &str = "RESERVED";
    /// Permanent.
    pub const COMMITTED: &str = "COMMITTED";
    /// Given back.
    pub const RELEASED: &str = "RELEASED";
    /// Derived: RESERVED past its expire time.
    pub const EXPIRED: &str = "EXPIRED";
}

/// A reservation as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Organization.
    pub organization: Uuid,
    /// The caller's idempotency key.
    pub request_id: String,
    /// Limit key.
    pub limit: String,
    /// Units.
    pub amount: i64,
    /// Effective state (RESERVED past its expiry reads EXPIRED).
    pub state: &'static str,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Expiry of an uncommitted reservation.
    pub expire_time: DateTime<Utc>,
}

impl Reservation {
    /// `organizations/{org}/quotaReservations/{request_id}`.
    pub fn name(&self) -> String {
        ReservationName {
            organization: self.organization,
            request_id: self.request_id.clone(),
        }
        .to_string()
    }
}

/// `organizations/{org}/quotaReservations/{request_id}`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationName {
    /// The organization.
    pub organization: Uuid,
    /// The reservation's request id.
    pub request_id: String,
}

impl std::fmt::Display for ReservationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "organizations/{}/quotaReservations/{}",
            self.organization, self.request_id
        )
    }
}

/// ReserveQuota, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveQuota {
    /// The reservation (its organization and request id).
    pub name: ReservationName,
    /// A reservable limit key.
    pub limit: String,
    /// Units, 1 to 1000.
    pub amount: i64,
    /// How long an uncommitted reservation holds.
    pub ttl: Duration,
}

/// ReportUsage, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUsage {
    /// The organization.
    pub organization: Uuid,
    /// A known limit key.
    pub limit: String,
    /// Units in use.
    pub usage: i64,
    /// The reporter's revision; older reports are ignored.
    pub revision: i64,
}

/// SetSpendingLimitReached, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpendingLimitReached {
    /// The organization.
    pub organization: Uuid,
    /// Raise (true) or clear (false).
    pub reached: bool,
    /// Why, for the audit log (trimmed).
    pub reason: String,
}

/// GetOrganizationUsage, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetOrganizationUsage {
    /// The organization.
    pub organization: Uuid,
}

/// Usage of one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitUsage {
    /// Limit key.
    pub limit: String,
    /// Its value.
    pub limit_value: i64,
    /// Where the value comes from (deployment default, plan or override).
    pub limit_source: policy::Source,
    /// Units in use.
    pub usage: i64,
    /// True at or above the warning fraction.
    pub warning: bool,
    /// `org-core`, `reservations`, `reported` or `none`.
    pub source: &'static str,
}

/// What is in use of one limit, whatever its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Limit key.
    pub limit: String,
    /// Units in use.
    pub usage: i64,
    /// `org-core` (counted here), `reservations`, `reported` or `none`.
    pub source: &'static str,
}

/// Deletes every quota reservation and usage report of `org` (the
/// organization is being purged: call it inside the purge's write
/// transaction). Returns how many rows went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// What `org` uses of every limit in the catalog, sorted by key: counted
/// here (projects, members plus pending invites, custom roles, auth
/// providers), reserved (hosts, workspaces) or reported by the service
/// that owns the resource. GetOrganizationUsage and plan moves both answer
/// from this.
pub async fn usage_counts(conn: &impl Conn, org: Uuid) -> Result<Vec<Usage>> {
    let reports = store::reported_usage(conn, org).await?;
    let mut out = Vec::new();
    for (key, _, _) in policy::LIMITS {
        let (usage, source) = match *key {
            projects::LIMIT => (projects::count_live(conn, org).await?, "org-core"),
            invites::LIMIT => (
                memberships::count(conn, org).await?
                    + invites::count_pending(conn, org, None).await?,
                "org-core",
            ),
            roles::LIMIT => (roles::count(conn, org).await?, "org-core"),
            auth_providers::LIMIT => (auth_providers::count(conn, org).await?, "org-core"),
            k if policy::RESERVABLE_LIMITS.contains(&k) => {
                (store::reserved_usage(conn, org, k).await?, "reservations")
            }
            k => match reports.iter().find(|(limit, _)| limit == k) {
                Some((_, usage)) => (*usage, "reported"),
                None => (0, "none"),
            },
        };
        out.push(Usage {
            limit: key.to_string(),
            usage,
            source,
        });
    }
    out.sort_by(|a, b| a.limit.cmp(&b.limit));
    Ok(out)
}

/// Every limit's usage, and the fraction at which usage warns.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationUsage {
    /// By limit key.
    pub limits: Vec<LimitUsage>,
    /// The deployment's warning fraction.
    pub warning_fraction: f64,
}

impl OrgCore {
    /// Reserves units of a reservable limit, atomically under the
    /// organization's lock; idempotent by `request_id`.
    pub async fn reserve_quota(
        &self,
        principal: &Principal,
        input: ReserveQuota,
    ) -> Result<Reservation> {
        let rpc = &rpcs::RESERVE_QUOTA;
        let org = input.name.organization;
        let rid = &input.name.request_id;
        let caller = self.caller_of(principal, rpc).await?;
        let mut tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        if let Some(existing) = store::find(tx.conn(), org, rid).await? {
            if existing.limit != input.limit || existing.amount != input.amount {
                return Err(Error::already_exists(format!(
                    "{} was made for {} x{}: a request_id names one reservation",
                    existing.name(),
                    existing.limit,
                    existing.amount
                )));
            }
            return Ok(existing);
        }
        check_status(&access.organization, rpc.class, rpc.method)?;
        let limit_value = access.organization.capabilities.limit(&input.limit);
        let usage = store::reserved_usage(tx.conn(), org, &input.limit).await?;
        if usage + input.amount > limit_value {
            return Err(Refusal::LimitReached {
                organization: organization_name(org),
                limit: input.limit,
                limit_value,
                usage,
            }
            .into());
        }
        let expire = Utc::now() + input.ttl;
        store::insert(tx.conn(), org, rid, &input.limit, input.amount, expire).await?;
        let created = store::find(tx.conn(), org, rid)
            .await?
            .ok_or_else(|| Error::Corrupt("reservation vanished inside its transaction".into()))?;
        tx.audit(
            created.name(),
            json!({ "limit": created.limit, "amount": created.amount, "state": created.state }),
        );
        tx.commit().await?;
        Ok(created)
    }

    /// Commits a reservation (idempotent).
    pub async fn commit_quota(
        &self,
        principal: &Principal,
        name: ReservationName,
    ) -> Result<Reservation> {
        self.move_reservation(principal, name, true).await
    }

    /// Releases a reservation (idempotent).
    pub async fn release_quota(
        &self,
        principal: &Principal,
        name: ReservationName,
    ) -> Result<Reservation> {
        self.move_reservation(principal, name, false).await
    }

    async fn move_reservation(
        &self,
        principal: &Principal,
        name: ReservationName,
        commit: bool,
    ) -> Result<Reservation> {
        let rpc = if commit {
            &rpcs::COMMIT_QUOTA
        } else {
            &rpcs::RELEASE_QUOTA
        };
        let org = name.organization;
        let caller = self.caller_of(principal, rpc).await?;
        let mut tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        self.authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let current = store::find(tx.conn(), org, &name.request_id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        let target = match (commit, current.state) {
            // Already there: nothing to write or audit.
            (true, state::COMMITTED) | (false, state::RELEASED) => return Ok(current),
            (true, state::RESERVED) => state::COMMITTED,
            (true, state::EXPIRED) => {
                return Err(Error::precondition(
                    "RESERVATION_EXPIRED",
                    format!(
                        "{name} expired at {}: reserve again",
                        current.expire_time.to_rfc3339()
                    ),
                ));
            }
            (true, _) => {
                return Err(Error::precondition(
                    "RESERVATION_RELEASED",
                    format!("{name} was released: reserve again"),
                ));
            }
            (false, _) => state::RELEASED,
        };
        store::set_state(tx.conn(), org, &name.request_id, target).await?;
        let moved = store::find(tx.conn(), org, &name.request_id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        tx.audit(
            moved.name(),
            json!({ "limit": moved.limit, "amount": moved.amount, "state": moved.state }),
        );
        tx.commit().await?;
        Ok(moved)
    }

    /// Stores a service's usage report if it is newer than the stored one.
    pub async fn report_usage(&self, principal: &Principal, input: ReportUsage) -> Result<bool> {
        let rpc = &rpcs::REPORT_USAGE;
        let org = input.organization;
        let caller = self.caller_of(principal, rpc).await?;
        let tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        self.authorize(tx.conn(), &caller, rpc, org, Deleted::ShowToOperators)
            .await?;
        let accepted =
            store::report_usage(tx.conn(), org, &input.limit, input.usage, input.revision).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    /// Usage, limit and headroom for every limit of an organization.
    pub async fn organization_usage(
        &self,
        principal: &Principal,
        input: GetOrganizationUsage,
    ) -> Result<OrganizationUsage> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        let rpc = &rpcs::GET_ORGANIZATION_USAGE;
        let access = self
            .authorize(self.db(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let caps = &access.organization.capabilities;
        let sources = &access.organization.capability_sources;
        let warning_fraction = self.settings().usage_warning_fraction;
        let mut limits = Vec::new();
        for Usage {
            limit,
            usage,
            source,
        } in usage_counts(self.db(), org).await?
        {
            let limit_value = caps.limit(&limit);
            #[allow(clippy::cast_precision_loss)]
            let warning = limit_value > 0 && usage as f64 >= warning_fraction * limit_value as f64
                || limit_value == 0 && usage > 0;
            limits.push(LimitUsage {
                limit_source: sources
                    .limits
                    .get(&limit)
                    .copied()
                    .unwrap_or(policy::Source::Deployment),
                limit,
                limit_value,
                usage,
                warning,
                source,
            });
        }
        limits.sort_by(|a, b| a.limit.cmp(&b.limit));
        Ok(OrganizationUsage {
            limits,
            warning_fraction,
        })
    }

    /// Raises or clears the spending-limit flag billing owns; audited and on
    /// the change feed so every service's cache learns it. Returns whether
    /// anything changed.
    pub async fn set_spending_limit_reached(
        &self,
        principal: &Principal,
        input: SetSpendingLimitReached,
    ) -> Result<bool> {
        let rpc = &rpcs::SET_SPENDING_LIMIT_REACHED;
        let org = input.organization;
        let caller = self.caller_of(principal, rpc).await?;
        let mut tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        if spending_blocked(&access.organization) == input.reached {
            return Ok(false);
        }
        // Reached is an override; cleared is the default (not reached).
        let value = if input.reached {
            Override::Flag(true)
        } else {
            Override::Reset
        };
        let flag = policy::SPENDING_LIMIT_REACHED;
        organizations::set_override(tx.conn(), org, flag, value).await?;
        organizations::touch(tx.conn(), &access.organization).await?;
        changes::append(tx.conn(), org, kind::CAPABILITIES).await?;
        tx.audit_with_reason(
            organization_name(org),
            &input.reason,
            json!({ "reached": input.reached }),
        );
        tx.commit().await?;
        Ok(true)
    }
}
