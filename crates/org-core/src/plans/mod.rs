//! Plans: operator-defined bundles of limits, flags and deployment
//! features. Every organization has one; its effective capabilities are the
//! deployment defaults, then its plan, then its own overrides, and it may
//! use the deployment features its plan includes.
//!
//! Operators create, change and delete plans and assign any plan
//! (`OperatorService.SetOrganizationPlan`); owners and admins choose a
//! self-serve plan (`ChangePlan`). Moving to a plan whose limits are below
//! the organization's usage is refused with every broken limit named.
//!
//! The deployment's default plan (`--default-plan`) always exists: the
//! migration seeds `default` (no capabilities of its own, every feature),
//! and start-up creates the configured one if it is missing. It cannot be
//! deleted.
//!
//! Visibility: operators and services see every plan; accounts see the
//! self-serve plans and the plans of their organizations. Any other plan is
//! NOT_FOUND to them (a custom plan may be named after its customer).

pub mod grpc;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::{PreconditionViolation, Refusal, quote};
use loopback_runtime::pagination::Page;
use loopback_runtime::tx::{WriteOptions, WriteTx};
use serde_json::json;
use uuid::Uuid;

use crate::access::Deleted;
use crate::catalog;
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::{Caller, Organization, OrganizationView, PlanRef, plan_name};
use crate::organizations::{self, check_etag};
use crate::paging::CallerPage;
use crate::policy::{Capabilities, PlanFeatures};
use crate::service::OrgCore;
use crate::{quotas, rpcs};

/// The scope plan writes lock (plans belong to no organization): plan
/// changes run one after another on any number of replicas.
const PLANS_SCOPE: Uuid = Uuid::from_u128(0x706c_616e_7300_7000_8000_0000_0000_0000);

/// ErrorInfo reason of a plan move refused because usage exceeds its limits.
pub const PLAN_LIMITS_EXCEEDED: &str = "PLAN_LIMITS_EXCEEDED";

/// A plan as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The caller-chosen id (`plans/{id}`).
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Owners and admins may choose it themselves.
    pub self_serve: bool,
    /// The limits and flags it sets on top of the deployment defaults.
    pub capabilities: Capabilities,
    /// The deployment features it includes.
    pub features: PlanFeatures,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Version, exposed as the etag.
    pub version: i64,
}

impl Plan {
    /// `plans/{id}`.
    pub fn name(&self) -> String {
        plan_name(&self.id)
    }

    /// What an organization on this plan knows of it.
    pub fn to_ref(&self) -> PlanRef {
        PlanRef {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            features: self.features.clone(),
        }
    }
}

/// A plan as a caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanView {
    /// The plan.
    pub plan: Plan,
    /// Whether it is the deployment's default plan.
    pub deployment_default: bool,
}

/// What a new plan is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPlan {
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Owners and admins may choose it themselves.
    pub self_serve: bool,
    /// Limits and flags it sets, checked against the catalog.
    pub capabilities: Capabilities,
    /// Features it includes, checked against the catalog.
    pub features: PlanFeatures,
}

/// CreatePlan, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    /// The plan's id.
    pub id: String,
    /// The plan.
    pub plan: NewPlan,
    /// Check only.
    pub validate_only: bool,
}

/// `plans/{id}`, parsed (GetPlan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanName {
    /// The plan's id.
    pub id: String,
}

impl std::fmt::Display for PlanName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&plan_name(&self.id))
    }
}

/// ListPlans, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPlans {
    /// Page size and position (the token is bound to the caller: what it
    /// sees depends on who it is).
    pub page: CallerPage,
}

/// Fields an update may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New self-serve setting.
    pub self_serve: Option<bool>,
    /// New limits and flags (replacing all the plan sets).
    pub capabilities: Option<Capabilities>,
    /// New features.
    pub features: Option<PlanFeatures>,
}

/// UpdatePlan, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    /// The plan.
    pub name: PlanName,
    /// What changes.
    pub update: PlanUpdate,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// DeletePlan, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePlan {
    /// The plan.
    pub name: PlanName,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// ChangePlan, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePlan {
    /// The organization.
    pub organization: Uuid,
    /// The plan to move to.
    pub plan: PlanName,
    /// The organization's etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// A limit a plan move would put below the organization's usage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exceeded {
    /// The limit key.
    pub limit: String,
    /// Units in use.
    pub usage: i64,
    /// The limit on the new plan.
    pub limit_value: i64,
}

/// Checks a plan id: 1 to 63 lowercase letters, digits and `-`, starting
/// with a letter and not ending with `-`.
pub fn validate_plan_id(id: &str) -> std::result::Result<(), String> {
    let ok = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} must be 1 to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
            quote(id)
        ))
    }
}

/// Parses `plans/{id}`.
pub fn parse_plan_name(name: &str) -> std::result::Result<PlanName, String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    let id = name
        .strip_prefix("plans/")
        .ok_or_else(|| format!("{} must look like plans/{{plan}}", quote(name)))?;
    validate_plan_id(id).map_err(|e| format!("the plan id {e}"))?;
    Ok(PlanName { id: id.to_string() })
}

/// The plans with these ids, by id (missing ones are left out).
pub async fn find_many(conn: &impl Conn, ids: &BTreeSet<String>) -> Result<BTreeMap<String, Plan>> {
    Ok(store::find_many(conn, ids)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect())
}

/// The limits moving `org` onto `plan` would put below its usage: every
/// limit whose effective value goes down to less than what is in use (the
/// organization's overrides still apply on the new plan).
pub async fn exceeded_limits(
    conn: &impl Conn,
    defaults: &Capabilities,
    org: &Organization,
    plan: &Plan,
) -> Result<Vec<Exceeded>> {
    let overrides = org.capability_sources.overrides_in(&org.capabilities);
    let moved = organizations::on_plan(org.clone(), defaults, plan, &overrides);
    let mut out = Vec::new();
    for usage in quotas::usage_counts(conn, org.id).await? {
        let now = org.capabilities.limit(&usage.limit);
        let then = moved.capabilities.limit(&usage.limit);
        if then < now && usage.usage > then {
            out.push(Exceeded {
                limit: usage.limit,
                usage: usage.usage,
                limit_value: then,
            });
        }
    }
    Ok(out)
}

/// FAILED_PRECONDITION / PLAN_LIMITS_EXCEEDED naming every limit a move to
/// `plan` would break.
fn limits_exceeded(org: &Organization, plan: &Plan, exceeded: &[Exceeded]) -> Error {
    let keys: Vec<&str> = exceeded.iter().map(|e| e.limit.as_str()).collect();
    Refusal::Preconditions {
        reason: PLAN_LIMITS_EXCEEDED,
        message: format!(
            "{} uses more than {} ({}) allows: {}; reduce usage first, or choose a bigger plan",
            org.name(),
            plan.name(),
            plan.display_name,
            keys.join(", ")
        ),
        violations: exceeded
            .iter()
            .map(|e| PreconditionViolation {
                kind: "LIMIT".into(),
                subject: e.limit.clone(),
                description: format!("{} in use, the plan allows {}", e.usage, e.limit_value),
            })
            .collect(),
    }
    .into()
}

impl OrgCore {
    /// Creates the deployment's default plan if it is missing (at start):
    /// no capabilities of its own, every deployment feature. Returns
    /// whether it was created.
    pub async fn ensure_default_plan(&self) -> Result<bool> {
        let id = &self.settings().default_plan;
        if store::find(self.db(), id).await?.is_some() {
            return Ok(false);
        }
        let now = Utc::now();
        let plan = Plan {
            id: id.clone(),
            display_name: id.clone(),
            description: "The deployment's default plan: every limit and flag at its deployment default, every deployment feature.".into(),
            self_serve: false,
            capabilities: Capabilities::default(),
            features: PlanFeatures::All,
            create_time: now,
            update_time: now,
            version: 1,
        };
        store::insert_if_missing(self.db(), &plan).await
    }

    fn plan_view(&self, plan: Plan) -> PlanView {
        PlanView {
            deployment_default: plan.id == self.settings().default_plan,
            plan,
        }
    }

    /// Whether `caller` may see `plan`: operators and services every plan,
    /// accounts self-serve plans and their organizations' plans.
    async fn plan_visible(&self, conn: &impl Conn, caller: &Caller, plan: &Plan) -> Result<bool> {
        Ok(match caller {
            Caller::Operator(_) | Caller::Service(_) => true,
            Caller::Account(account) => {
                plan.self_serve
                    || organizations::plan_ids_of_member(conn, account.id)
                        .await?
                        .contains(&plan.id)
            }
        })
    }

    /// Opens a write on the plans (operators only).
    async fn plan_write(
        &self,
        principal: &Principal,
        rpc: &loopback_runtime::authz::Rpc,
        validate_only: bool,
    ) -> Result<WriteTx> {
        let caller = self.caller_of(principal, rpc).await?;
        let options = WriteOptions::validate_only(validate_only);
        self.begin_write(PLANS_SCOPE, rpc, &caller, options).await
    }

    /// Creates a plan (operators).
    pub async fn create_plan(&self, principal: &Principal, input: CreatePlan) -> Result<PlanView> {
        let mut tx = self
            .plan_write(principal, &rpcs::CREATE_PLAN, input.validate_only)
            .await?;
        if store::find(tx.conn(), &input.id).await?.is_some() {
            return Err(Error::already_exists(format!(
                "{} already exists",
                plan_name(&input.id)
            )));
        }
        let now = Utc::now();
        let p = input.plan;
        let plan = Plan {
            id: input.id,
            display_name: p.display_name,
            description: p.description,
            self_serve: p.self_serve,
            capabilities: p.capabilities,
            features: p.features,
            create_time: now,
            update_time: now,
            version: 1,
        };
        store::insert(tx.conn(), &plan).await?;
        tx.audit_unscoped(plan.name(), plan_details(&plan));
        tx.commit().await?;
        Ok(self.plan_view(plan))
    }

    /// Reads one plan the caller may see.
    pub async fn get_plan(&self, principal: &Principal, name: PlanName) -> Result<PlanView> {
        let caller = self.caller_of(principal, &rpcs::GET_PLAN).await?;
        let plan = store::find(self.db(), &name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        if !self.plan_visible(self.db(), &caller, &plan).await? {
            return Err(Error::not_found(name.to_string()));
        }
        Ok(self.plan_view(plan))
    }

    /// Lists the plans the caller may see, by id.
    pub async fn list_plans(
        &self,
        principal: &Principal,
        input: ListPlans,
    ) -> Result<Page<PlanView>> {
        let caller = self.caller_of(principal, &rpcs::LIST_PLANS).await?;
        let page = input.page.bind(&caller.page_key())?;
        let visible = match &caller {
            Caller::Operator(_) | Caller::Service(_) => store::Visible::All,
            Caller::Account(account) => store::Visible::SelfServeAnd(
                organizations::plan_ids_of_member(self.db(), account.id).await?,
            ),
        };
        let rows = store::list(self.db(), &visible, &page).await?;
        Ok(page.page(rows, |p| p.id.clone()).map(|p| self.plan_view(p)))
    }

    /// Changes a plan (operators). Every organization on it gets a `plan`
    /// change on the policy feed, so caches see the new capabilities.
    pub async fn update_plan(&self, principal: &Principal, input: UpdatePlan) -> Result<PlanView> {
        let mut tx = self
            .plan_write(principal, &rpcs::UPDATE_PLAN, input.validate_only)
            .await?;
        let name = input.name;
        // Exclusive: moves onto this plan wait, so none is missed below.
        let plan = store::find_locked(tx.conn(), &name.id, true)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        check_etag(&plan.name(), input.etag, plan.version)?;
        if !store::update(tx.conn(), &plan.id, plan.version, &input.update).await? {
            return Err(Error::etag_mismatch(plan.name()));
        }
        let organizations = organizations::ids_on_plan(tx.conn(), &plan.id).await?;
        for org in &organizations {
            changes::append(tx.conn(), *org, kind::PLAN).await?;
        }
        let updated = store::find(tx.conn(), &plan.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        let u = &input.update;
        tx.audit_unscoped(
            plan.name(),
            json!({
                "display_name": u.display_name,
                "description": u.description,
                "self_serve": u.self_serve,
                "capabilities": u.capabilities.as_ref().map(|c| json!({ "limits": c.limits, "flags": c.flags })),
                "features": u.features.as_ref().map(features_json),
                "before": plan_details(&plan),
                "organizations": organizations.len(),
            }),
        );
        tx.commit().await?;
        Ok(self.plan_view(updated))
    }

    /// Deletes a plan no organization is on (operators); never the
    /// deployment's default plan.
    pub async fn delete_plan(&self, principal: &Principal, input: DeletePlan) -> Result<PlanView> {
        let mut tx = self
            .plan_write(principal, &rpcs::DELETE_PLAN, input.validate_only)
            .await?;
        let name = input.name;
        // Exclusive: a move onto this plan either finished (and is counted
        // below) or waits and then finds it gone.
        let plan = store::find_locked(tx.conn(), &name.id, true)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        check_etag(&plan.name(), input.etag, plan.version)?;
        if plan.id == self.settings().default_plan {
            return Err(Error::precondition(
                "DEFAULT_PLAN",
                format!(
                    "{} is the deployment's default plan (--default-plan): new organizations get it, so it cannot be deleted",
                    plan.name()
                ),
            ));
        }
        let in_use = organizations::count_on_plan(tx.conn(), &plan.id).await?;
        if in_use > 0 {
            return Err(Refusal::FailedPrecondition {
                reason: "PLAN_IN_USE",
                message: format!(
                    "{} is the plan of {in_use} organization(s) (deleted ones included): move them to another plan first",
                    plan.name()
                ),
                metadata: vec![
                    ("plan", plan.name()),
                    ("organizations", in_use.to_string()),
                ],
            }
            .into());
        }
        if !store::delete(tx.conn(), &plan.id, plan.version).await? {
            return Err(Error::etag_mismatch(plan.name()));
        }
        tx.audit_unscoped(plan.name(), plan_details(&plan));
        tx.commit().await?;
        Ok(self.plan_view(plan))
    }

    /// Moves an organization to a self-serve plan (owners and admins).
    pub async fn change_plan(
        &self,
        principal: &Principal,
        input: ChangePlan,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::CHANGE_PLAN;
        let org = input.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let current = &access.organization;
        check_etag(&current.name(), input.etag, current.version)?;
        let plan = store::find_locked(tx.conn(), &input.plan.id, false)
            .await?
            .ok_or_else(|| Error::not_found(input.plan.to_string()))?;
        if plan.id != current.plan.id {
            if !plan.self_serve {
                if !self.plan_visible(tx.conn(), &caller, &plan).await? {
                    return Err(Error::not_found(input.plan.to_string()));
                }
                return Err(Refusal::PermissionDeniedBecause {
                    permission: catalog::ORGANIZATIONS_CHANGE_PLAN.to_string(),
                    reason: "PLAN_NOT_SELF_SERVE",
                    message: format!(
                        "{} ({}) is not self-serve: ask your operator to assign it",
                        plan.name(),
                        plan.display_name
                    ),
                }
                .into());
            }
            self.move_to_plan(&mut tx, current, &plan, true).await?;
            tx.audit(
                current.name(),
                json!({ "from": current.plan.name(), "to": plan.name() }),
            );
        }
        let moved = self
            .load_organization(tx.conn(), org)
            .await?
            .ok_or_else(|| Error::not_found(current.name()))?;
        tx.commit().await?;
        Ok(organizations::view(moved, &access.permissions, &caller))
    }

    /// Moves `org` onto `plan` inside `tx` (which holds the organization's
    /// lock; `plan` was read with [`store::find_locked`]): refuses with
    /// PLAN_LIMITS_EXCEEDED naming every limit the move would put below
    /// usage unless `enforce` is off, stores the plan and appends a `plan`
    /// change to the feed. Returns the limits exceeded (empty when
    /// enforced). The caller audits.
    pub async fn move_to_plan(
        &self,
        tx: &mut WriteTx,
        org: &Organization,
        plan: &Plan,
        enforce: bool,
    ) -> Result<Vec<Exceeded>> {
        let exceeded = exceeded_limits(tx.conn(), &self.settings().defaults, org, plan).await?;
        if enforce && !exceeded.is_empty() {
            return Err(limits_exceeded(org, plan, &exceeded));
        }
        organizations::set_plan(tx.conn(), org, &plan.id).await?;
        changes::append(tx.conn(), org.id, kind::PLAN).await?;
        Ok(exceeded)
    }

    /// A plan an operator may assign, read for a move onto it (see
    /// [`OrgCore::move_to_plan`]); NOT_FOUND when missing.
    pub async fn plan_for_move(&self, tx: &WriteTx, name: &PlanName) -> Result<Plan> {
        store::find_locked(tx.conn(), &name.id, false)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

/// The features of a plan as the audit log records them.
fn features_json(f: &PlanFeatures) -> serde_json::Value {
    match f {
        PlanFeatures::All => json!("all"),
        PlanFeatures::Only(set) => json!(set),
    }
}

/// A plan's settings as the audit log records them.
fn plan_details(p: &Plan) -> serde_json::Value {
    json!({
        "display_name": p.display_name,
        "self_serve": p.self_serve,
        "limits": p.capabilities.limits,
        "flags": p.capabilities.flags,
        "features": features_json(&p.features),
    })
}
