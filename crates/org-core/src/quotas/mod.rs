//! Quotas: reservations of limited units for platform services outside this
//! suite (hosts, workspaces), usage reports from the services that own a
//! limited resource, and usage/limit/headroom for every limit at once.

pub mod grpc;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, require_service_or_operator};
use crate::audit::{self, AuditRecord};
use crate::catalog;
use crate::entity::{quota_reservation, usage_report};
use crate::error::{Error, Result};
use crate::model::{Caller, organization_name};
use crate::policy::{self, ActionClass};
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
        format!(
            "organizations/{}/quotaReservations/{}",
            self.organization, self.request_id
        )
    }
}

fn to_domain(m: quota_reservation::Model) -> Result<Reservation> {
    let now = Utc::now();
    let state = match m.state.as_str() {
        state::RESERVED if m.expire_time <= now => state::EXPIRED,
        state::RESERVED => state::RESERVED,
        state::COMMITTED => state::COMMITTED,
        state::RELEASED => state::RELEASED,
        other => return Err(Error::Corrupt(format!("reservation state {other:?}"))),
    };
    Ok(Reservation {
        organization: crate::model::parse_stored_uuid(&m.organization_id)?,
        request_id: m.request_id,
        limit: m.limit_key,
        amount: m.amount,
        state,
        create_time: m.create_time,
        expire_time: m.expire_time,
    })
}

async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    request_id: &str,
) -> Result<Option<Reservation>> {
    quota_reservation::Entity::find_by_id((org.to_string(), request_id.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Units held against `limit`: committed plus unexpired reserved.
async fn reserved_usage(conn: &impl ConnectionTrait, org: Uuid, limit: &str) -> Result<i64> {
    let now = Utc::now();
    let rows = quota_reservation::Entity::find()
        .filter(quota_reservation::Column::OrganizationId.eq(org.to_string()))
        .filter(quota_reservation::Column::LimitKey.eq(limit))
        .filter(quota_reservation::Column::State.is_in([state::RESERVED, state::COMMITTED]))
        .all(conn)
        .await?;
    Ok(rows
        .iter()
        .filter(|r| r.state == state::COMMITTED || r.expire_time > now)
        .map(|r| r.amount)
        .sum())
}

/// Usage of one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitUsage {
    /// Limit key.
    pub limit: String,
    /// Its value.
    pub limit_value: i64,
    /// Units in use.
    pub usage: i64,
    /// True at or above the warning fraction.
    pub warning: bool,
    /// `org-core`, `reservations`, `reported` or `none`.
    pub source: &'static str,
}

impl OrgCore {
    /// Reserves units of a reservable limit, atomically under the
    /// organization's row lock; idempotent by `request_id`.
    pub async fn reserve_quota(
        &self,
        caller: &Caller,
        org: Uuid,
        limit: &str,
        amount: i64,
        request_id: &str,
        ttl: chrono::Duration,
    ) -> Result<Reservation> {
        require_service_or_operator(caller)?;
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        if let Some(existing) = find(&txn, org, request_id).await? {
            if existing.limit != limit || existing.amount != amount {
                return Err(Error::AlreadyExists(format!(
                    "{} was made for {} x{}: a request_id names one reservation",
                    existing.name(),
                    existing.limit,
                    existing.amount
                )));
            }
            return Ok(existing);
        }
        crate::access::check_status(&access.organization, ActionClass::Create, "ReserveQuota")?;
        let limit_value = access.organization.capabilities.limit(limit);
        let usage = reserved_usage(&txn, org, limit).await?;
        if usage + amount > limit_value {
            return Err(Error::LimitReached {
                organization: organization_name(org),
                limit: limit.into(),
                limit_value,
                usage,
            });
        }
        let now = Utc::now();
        quota_reservation::Entity::insert(quota_reservation::ActiveModel {
            organization_id: Set(org.to_string()),
            request_id: Set(request_id.to_string()),
            limit_key: Set(limit.to_string()),
            amount: Set(amount),
            state: Set(state::RESERVED.into()),
            create_time: Set(now),
            update_time: Set(now),
            expire_time: Set(now + ttl),
        })
        .exec_without_returning(&txn)
        .await?;
        let created = find(&txn, org, request_id)
            .await?
            .ok_or_else(|| Error::Corrupt("reservation vanished inside its transaction".into()))?;
        audit_reservation(&txn, caller, "ReserveQuota", &created).await?;
        self.finish(txn, false).await?;
        Ok(created)
    }

    async fn move_reservation(
        &self,
        caller: &Caller,
        org: Uuid,
        request_id: &str,
        commit: bool,
    ) -> Result<Reservation> {
        require_service_or_operator(caller)?;
        let txn = self.begin_locked(org).await?;
        self.org_access(&txn, caller, org, Deleted::Hide).await?;
        let name = format!("organizations/{org}/quotaReservations/{request_id}");
        let current = find(&txn, org, request_id)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let target = match (commit, current.state) {
            (true, state::COMMITTED) | (false, state::RELEASED) => return Ok(current),
            (true, state::RESERVED) => state::COMMITTED,
            (true, state::EXPIRED) => {
                return Err(Error::FailedPrecondition {
                    reason: "RESERVATION_EXPIRED",
                    message: format!(
                        "{name} expired at {}: reserve again",
                        current.expire_time.to_rfc3339()
                    ),
                });
            }
            (true, _) => {
                return Err(Error::FailedPrecondition {
                    reason: "RESERVATION_RELEASED",
                    message: format!("{name} was released: reserve again"),
                });
            }
            (false, _) => state::RELEASED,
        };
        quota_reservation::Entity::update_many()
            .col_expr(quota_reservation::Column::State, Expr::value(target))
            .col_expr(
                quota_reservation::Column::UpdateTime,
                Expr::value(Utc::now()),
            )
            .filter(quota_reservation::Column::OrganizationId.eq(org.to_string()))
            .filter(quota_reservation::Column::RequestId.eq(request_id))
            .exec(&txn)
            .await?;
        let moved = find(&txn, org, request_id)
            .await?
            .ok_or_else(|| Error::NotFound(name))?;
        audit_reservation(
            &txn,
            caller,
            if commit {
                "CommitQuota"
            } else {
                "ReleaseQuota"
            },
            &moved,
        )
        .await?;
        self.finish(txn, false).await?;
        Ok(moved)
    }

    /// Commits a reservation (idempotent).
    pub async fn commit_quota(
        &self,
        caller: &Caller,
        org: Uuid,
        request_id: &str,
    ) -> Result<Reservation> {
        self.move_reservation(caller, org, request_id, true).await
    }

    /// Releases a reservation (idempotent).
    pub async fn release_quota(
        &self,
        caller: &Caller,
        org: Uuid,
        request_id: &str,
    ) -> Result<Reservation> {
        self.move_reservation(caller, org, request_id, false).await
    }

    /// Stores a service's usage report if it is newer than the stored one.
    pub async fn report_usage(
        &self,
        caller: &Caller,
        org: Uuid,
        limit: &str,
        usage: i64,
        revision: i64,
    ) -> Result<bool> {
        require_service_or_operator(caller)?;
        let txn = self.begin_locked(org).await?;
        self.org_access(&txn, caller, org, Deleted::ShowToOperators)
            .await?;
        let existing = usage_report::Entity::find_by_id((org.to_string(), limit.to_string()))
            .one(&txn)
            .await?;
        let accepted = match existing {
            Some(r) if r.revision >= revision => false,
            Some(_) => {
                usage_report::Entity::update_many()
                    .col_expr(usage_report::Column::Usage, Expr::value(usage))
                    .col_expr(usage_report::Column::Revision, Expr::value(revision))
                    .col_expr(usage_report::Column::ReportTime, Expr::value(Utc::now()))
                    .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
                    .filter(usage_report::Column::LimitKey.eq(limit))
                    .filter(usage_report::Column::Revision.lt(revision))
                    .exec(&txn)
                    .await?
                    .rows_affected
                    == 1
            }
            None => {
                usage_report::Entity::insert(usage_report::ActiveModel {
                    organization_id: Set(org.to_string()),
                    limit_key: Set(limit.to_string()),
                    usage: Set(usage),
                    revision: Set(revision),
                    report_time: Set(Utc::now()),
                })
                .exec_without_returning(&txn)
                .await
                .map(|_| true)
                // A concurrent first report won; ours is not newer than it.
                .or_else(|e| {
                    if loopback_runtime::db::is_unique_violation(&e) {
                        Ok(false)
                    } else {
                        Err(e)
                    }
                })?
            }
        };
        self.finish(txn, false).await?;
        Ok(accepted)
    }

    /// Usage, limit and headroom for every limit of an organization.
    pub async fn organization_usage(&self, caller: &Caller, org: Uuid) -> Result<Vec<LimitUsage>> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(
            catalog::ORGANIZATIONS_GET,
            ActionClass::Read,
            "GetOrganizationUsage",
        )?;
        let db = self.db();
        let reports = usage_report::Entity::find()
            .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
            .all(db)
            .await?;
        let caps = &access.organization.capabilities;
        let mut out = Vec::new();
        for (key, _, _) in policy::LIMITS {
            let (usage, source) = match *key {
                projects::LIMIT => (projects::store::count_live(db, org).await?, "org-core"),
                invites::LIMIT => (
                    memberships::store::count(db, org).await?
                        + invites::store::count_pending(db, org, None).await?,
                    "org-core",
                ),
                roles::LIMIT => (roles::store::count(db, org).await?, "org-core"),
                auth_providers::LIMIT => (auth_providers::store::count(db, org).await?, "org-core"),
                k if policy::RESERVABLE_LIMITS.contains(&k) => {
                    (reserved_usage(db, org, k).await?, "reservations")
                }
                k => match reports.iter().find(|r| r.limit_key == k) {
                    Some(r) => (r.usage, "reported"),
                    None => (0, "none"),
                },
            };
            let limit_value = caps.limit(key);
            #[allow(clippy::cast_precision_loss)]
            let warning = limit_value > 0
                && usage as f64 >= self.settings().usage_warning_fraction * limit_value as f64
                || limit_value == 0 && usage > 0;
            out.push(LimitUsage {
                limit: key.to_string(),
                limit_value,
                usage,
                warning,
                source,
            });
        }
        out.sort_by(|a, b| a.limit.cmp(&b.limit));
        Ok(out)
    }

    /// Raises or clears the spending-limit flag billing owns; audited and on
    /// the change feed so every service's cache learns it. Returns whether
    /// anything changed.
    pub async fn set_spending_limit_reached(
        &self,
        caller: &Caller,
        org: Uuid,
        reached: bool,
        reason: &str,
    ) -> Result<bool> {
        require_service_or_operator(caller)?;
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        if crate::access::spending_blocked(&access.organization) == reached {
            return Ok(false);
        }
        let flag = policy::SPENDING_LIMIT_REACHED;
        org_store_set(&txn, org, flag, reached).await?;
        let version = access.organization.version;
        if !crate::organizations::store::save(
            &txn,
            org,
            version,
            crate::entity::organization::ActiveModel::default(),
        )
        .await?
        {
            return Err(Error::EtagMismatch(organization_name(org)));
        }
        crate::changes::append(&txn, org, crate::changes::kind::CAPABILITIES).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "SetSpendingLimitReached",
                resource: organization_name(org),
                organization: Some(org),
                reason,
                details: json!({ "reached": reached }),
            },
        )
        .await?;
        self.finish(txn, false).await?;
        Ok(true)
    }

    /// Deletes policy changes older than `retain` (keeping the newest) so
    /// the feed does not grow forever; watchers older than that resync.
    pub async fn compact_changes(&self, retain: chrono::Duration) -> Result<u64> {
        crate::changes::compact(self.db(), Utc::now() - retain).await
    }
}

/// Sets the flag override (reached) or removes it (default: not reached).
async fn org_store_set(
    conn: &impl ConnectionTrait,
    org: Uuid,
    flag: &str,
    reached: bool,
) -> Result<()> {
    let value = if reached { Some(true) } else { None };
    crate::organizations::store::set_override(conn, org, flag, None, value).await
}

/// Audits a reservation change.
async fn audit_reservation(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    method: &str,
    r: &Reservation,
) -> Result<()> {
    audit::record(
        conn,
        caller,
        AuditRecord {
            method,
            resource: r.name(),
            organization: Some(r.organization),
            reason: "",
            details: json!({ "limit": r.limit, "amount": r.amount, "state": r.state }),
        },
    )
    .await
}
