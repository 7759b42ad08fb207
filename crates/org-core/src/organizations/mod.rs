//! Organizations: create, read, list, update, soft delete and undelete.

pub mod grpc;
pub mod store;

use std::collections::BTreeSet;

use chrono::Utc;
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::pagination::Page;
use loopback_runtime::tx::{Actor, AuditRecord, WriteOptions};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, Permissions, check_status};
use crate::catalog::{self, roles};
use crate::changes::{self, kind};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::model::{Caller, Organization, OrganizationView, organization_name};
use crate::paging::CallerPage;
use crate::plans::{self, Plan};
use crate::policy::{self, ActionClass, Capabilities, LifecycleState, VerificationStatus};
use crate::service::OrgCore;
use crate::{audit, memberships, projects, rpcs};
use store::StoredOrganization;

/// CreateOrganization, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOrganization {
    /// Display name, trimmed.
    pub display_name: String,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// GetOrganization, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetOrganization {
    /// The organization.
    pub id: Uuid,
}

/// ListOrganizations, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOrganizations {
    /// Page size and position (the token is bound to the caller).
    pub page: CallerPage,
    /// Include deleted (operators only).
    pub show_deleted: bool,
    /// Filter by verification status.
    pub verification_status: Option<VerificationStatus>,
    /// Filter by state.
    pub state: Option<LifecycleState>,
}

/// Fields an update may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationUpdate {
    /// New display name.
    pub display_name: Option<String>,
}

/// UpdateOrganization, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOrganization {
    /// The organization.
    pub id: Uuid,
    /// What changes.
    pub update: OrganizationUpdate,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteOrganization, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOrganization {
    /// The organization.
    pub id: Uuid,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Delete its live projects with it.
    pub force: bool,
    /// Check only.
    pub validate_only: bool,
}

/// UndeleteOrganization, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndeleteOrganization {
    /// The organization.
    pub id: Uuid,
    /// Check only.
    pub validate_only: bool,
}

/// What a list of organizations is restricted to.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only organizations this account is a member of.
    pub member: Option<Uuid>,
    /// Include soft-deleted organizations.
    pub include_deleted: bool,
    /// Only this verification status.
    pub verification_status: Option<VerificationStatus>,
    /// Only this state.
    pub state: Option<LifecycleState>,
}

/// The value a capability override takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// A limit value.
    Limit(i64),
    /// A flag value.
    Flag(bool),
    /// Back to the deployment default.
    Reset,
}

/// The verbs `caller` may apply to `org` now.
pub fn allowed_actions(
    org: &Organization,
    permissions: &Permissions,
    operator: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if org.state == LifecycleState::Deleted {
        if permissions.has(catalog::ORGANIZATIONS_UNDELETE)
            && policy::allows(
                org.verification_status,
                LifecycleState::Active,
                ActionClass::Setup,
            )
        {
            out.push("undelete".to_string());
        }
        return out;
    }
    let verbs = [
        ("update", catalog::ORGANIZATIONS_UPDATE, ActionClass::Setup),
        ("delete", catalog::ORGANIZATIONS_DELETE, ActionClass::Setup),
        (
            "create_project",
            catalog::PROJECTS_CREATE,
            ActionClass::Create,
        ),
        (
            "change_plan",
            catalog::ORGANIZATIONS_CHANGE_PLAN,
            ActionClass::Setup,
        ),
    ];
    for (verb, permission, class) in verbs {
        if permissions.has(permission) && policy::allows(org.verification_status, org.state, class)
        {
            out.push(verb.to_string());
        }
    }
    if operator {
        out.extend(
            [
                "set_verification_status",
                "set_state",
                "set_capabilities",
                "set_plan",
            ]
            .map(String::from),
        );
    }
    out
}

/// The organization as `caller`, holding `permissions`, sees it.
pub fn view(org: Organization, permissions: &Permissions, caller: &Caller) -> OrganizationView {
    let allowed_actions = allowed_actions(&org, permissions, caller.is_operator());
    OrganizationView {
        organization: org,
        allowed_actions,
    }
}

/// Refuses with ABORTED when an etag was given and does not match.
pub fn check_etag(name: &str, expected: Option<i64>, current: i64) -> Result<()> {
    match expected {
        Some(v) if v != current => Err(Error::etag_mismatch(name)),
        _ => Ok(()),
    }
}

/// ABORTED unless a versioned write found the row at the version it read.
fn saved(ok: bool, org: &Organization) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::etag_mismatch(org.name()))
    }
}

/// Stored organizations with their plans resolved: effective capabilities
/// are the deployment defaults, then the plan, then the overrides.
async fn resolve(
    conn: &impl Conn,
    settings: &Settings,
    rows: Vec<StoredOrganization>,
) -> Result<Vec<Organization>> {
    let ids: BTreeSet<String> = rows.iter().map(|r| r.plan_id.clone()).collect();
    let plans = plans::find_many(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let plan = plans.get(&row.plan_id).ok_or_else(|| {
                Error::Corrupt(format!(
                    "organization {} is on plan {:?}, which does not exist",
                    row.organization.id, row.plan_id
                ))
            })?;
            Ok(on_plan(
                row.organization,
                &settings.defaults,
                plan,
                &row.overrides,
            ))
        })
        .collect()
}

/// `org` on `plan` with `overrides`: its plan, effective capabilities and
/// their sources (deployment defaults, then the plan, then the overrides).
pub fn on_plan(
    mut org: Organization,
    defaults: &Capabilities,
    plan: &Plan,
    overrides: &Capabilities,
) -> Organization {
    let (capabilities, sources) = policy::layered(defaults, &plan.capabilities, overrides);
    org.capabilities = capabilities;
    org.capability_sources = sources;
    org.plan = plan.to_ref();
    org
}

/// Moves `org` to plan `plan_id` (bumping its version).
pub async fn set_plan(conn: &impl Conn, org: &Organization, plan_id: &str) -> Result<()> {
    saved(
        store::set_plan(conn, org.id, org.version, plan_id).await?,
        org,
    )
}

/// How many organizations (deleted ones included) are on plan `plan_id`.
pub async fn count_on_plan(conn: &impl Conn, plan_id: &str) -> Result<u64> {
    store::count_on_plan(conn, plan_id).await
}

/// Every organization (deleted ones included) on plan `plan_id`.
pub async fn ids_on_plan(conn: &impl Conn, plan_id: &str) -> Result<Vec<Uuid>> {
    store::ids_on_plan(conn, plan_id).await
}

/// The plans of the live organizations `account` is a member of.
pub async fn plan_ids_of_member(conn: &impl Conn, account: Uuid) -> Result<BTreeSet<String>> {
    store::plan_ids_of_member(conn, account).await
}

/// Sets or resets one capability override of `org` (bump its version with
/// [`touch`] once all are set).
pub async fn set_override(conn: &impl Conn, org: Uuid, key: &str, value: Override) -> Result<()> {
    store::set_override(conn, org, key, value).await
}

/// Up to `limit` soft-deleted organizations whose purge time is at or
/// before `now`, soonest first.
pub async fn due_for_purge(
    conn: &impl Conn,
    now: chrono::DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    store::due_for_purge(conn, now, limit).await
}

/// Deletes `org`'s row and capability overrides for good (its plan is a
/// column of the row). Call it last in the purge's write transaction,
/// once everything that refers to it went. Returns whether it existed.
pub async fn purge(conn: &impl Conn, org: Uuid) -> Result<bool> {
    store::delete(conn, org).await
}

/// Bumps `org`'s version, so etags and caches see a change stored
/// elsewhere (overrides).
pub async fn touch(conn: &impl Conn, org: &Organization) -> Result<()> {
    saved(store::touch(conn, org.id, org.version).await?, org)
}

/// Sets `org`'s verification status.
pub async fn set_verification_status(
    conn: &impl Conn,
    org: &Organization,
    status: VerificationStatus,
) -> Result<()> {
    let ok = store::set_verification_status(conn, org.id, org.version, status).await?;
    saved(ok, org)
}

/// Sets `org`'s lifecycle state (ACTIVE or INACTIVE).
pub async fn set_state(conn: &impl Conn, org: &Organization, state: LifecycleState) -> Result<()> {
    saved(
        store::set_state(conn, org.id, org.version, state).await?,
        org,
    )
}

impl OrgCore {
    /// One organization with its plan and effective capabilities, deleted
    /// or not.
    pub async fn load_organization(
        &self,
        conn: &impl Conn,
        id: Uuid,
    ) -> Result<Option<Organization>> {
        let Some(stored) = store::load(conn, id).await? else {
            return Ok(None);
        };
        Ok(resolve(conn, self.settings(), vec![stored]).await?.pop())
    }

    /// An organization that must exist inside the transaction `conn`.
    async fn reload(&self, conn: &impl Conn, id: Uuid) -> Result<Organization> {
        self.load_organization(conn, id)
            .await?
            .ok_or_else(|| Error::not_found(organization_name(id)))
    }

    /// Creates an organization owned by the calling account.
    pub async fn create_organization(
        &self,
        principal: &Principal,
        input: CreateOrganization,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::CREATE_ORGANIZATION;
        let caller = self.caller_of(principal, rpc).await?;
        let Caller::Account(account) = &caller else {
            return Err(Error::principal_kind("account"));
        };
        // There is no organization yet: the creator's account scopes the
        // write, so a retry with the same request_id finds what the first
        // attempt made.
        let mut tx = self
            .begin_write(account.id, rpc, &caller, input.write)
            .await?;
        if let Some(id) = tx.replayed_id() {
            drop(tx);
            return self
                .get_organization(principal, GetOrganization { id })
                .await;
        }
        let now = Utc::now();
        let org = Organization {
            id: Uuid::now_v7(),
            display_name: input.display_name,
            verification_status: VerificationStatus::InSetup,
            state: LifecycleState::Active,
            // Resolved from the plan when it is read back below.
            capabilities: Default::default(),
            capability_sources: Default::default(),
            plan: Default::default(),
            create_time: now,
            update_time: now,
            delete_time: None,
            purge_time: None,
            version: 1,
        };
        store::insert(tx.conn(), &org, account.id, &self.settings().default_plan).await?;
        memberships::add(tx.conn(), org.id, account.id, &[roles::OWNER]).await?;
        changes::append(tx.conn(), org.id, kind::CREATED).await?;
        // The write is scoped to the account, but the event belongs to the
        // new organization's log.
        audit::record(
            tx.conn(),
            AuditRecord {
                id: Uuid::now_v7(),
                time: now,
                service: crate::service::SERVICE.into(),
                method: rpc.method.into(),
                resource: org.name(),
                organization: Some(org.id),
                actor: Actor::Id(caller.audit_id()),
                reason: String::new(),
                details: json!({ "display_name": org.display_name }),
            },
        )
        .await?;
        let created = self.reload(tx.conn(), org.id).await?;
        tx.created(org.id);
        tx.commit().await?;
        Ok(view(
            created,
            &Permissions::builtin([roles::OWNER]),
            &caller,
        ))
    }

    /// Reads one organization (deleted ones only for operators).
    pub async fn get_organization(
        &self,
        principal: &Principal,
        input: GetOrganization,
    ) -> Result<OrganizationView> {
        let caller = self.caller(principal).await?;
        let access = self
            .authorize(
                self.db(),
                &caller,
                &rpcs::GET_ORGANIZATION,
                input.id,
                Deleted::ShowToOperators,
            )
            .await?;
        Ok(view(access.organization, &access.permissions, &caller))
    }

    /// Lists the caller's organizations (operators: all).
    pub async fn list_organizations(
        &self,
        principal: &Principal,
        input: ListOrganizations,
    ) -> Result<Page<OrganizationView>> {
        let caller = self.caller_of(principal, &rpcs::LIST_ORGANIZATIONS).await?;
        let page = input.page.bind(&caller.page_key())?;
        let member = match &caller {
            Caller::Account(a) => Some(a.id),
            Caller::Operator(_) => None,
            Caller::Service(_) => return Err(Error::principal_kind("account or operator")),
        };
        if input.show_deleted && !caller.is_operator() {
            return Err(Error::invalid(
                "show_deleted",
                "only operators may list deleted organizations",
            ));
        }
        let filter = ListFilter {
            member,
            include_deleted: input.show_deleted,
            verification_status: input.verification_status,
            state: input.state,
        };
        let rows = store::list(self.db(), &filter, &page).await?;
        let rows = resolve(self.db(), self.settings(), rows).await?;
        let page = page.page(rows, |o| o.id.to_string());
        let mut items = Vec::with_capacity(page.items.len());
        for org in page.items {
            let permissions = crate::access::permissions_of(self.db(), &caller, org.id)
                .await?
                .unwrap_or(Permissions::Set(Default::default()));
            items.push(view(org, &permissions, &caller));
        }
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// Updates the organization's profile.
    pub async fn update_organization(
        &self,
        principal: &Principal,
        input: UpdateOrganization,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::UPDATE_ORGANIZATION;
        let id = input.id;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(id, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, id, Deleted::Hide)
            .await?;
        let org = &access.organization;
        check_etag(&org.name(), input.etag, org.version)?;
        let name = input.update.display_name.as_deref();
        saved(
            store::update_profile(tx.conn(), id, org.version, name).await?,
            org,
        )?;
        tx.audit(
            org.name(),
            json!({ "display_name": input.update.display_name }),
        );
        let updated = self.reload(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view(updated, &access.permissions, &caller))
    }

    /// Soft-deletes an organization; with `force` its live projects go with it.
    pub async fn delete_organization(
        &self,
        principal: &Principal,
        input: DeleteOrganization,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::DELETE_ORGANIZATION;
        let id = input.id;
        let caller = self.caller(principal).await?;
        // The organization's lock serialises with concurrent project
        // creates, so none sneaks in after the live-project check.
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(id, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, id, Deleted::Hide)
            .await?;
        let org = &access.organization;
        check_etag(&org.name(), input.etag, org.version)?;
        let (live, examples) = projects::live_projects(tx.conn(), id, 3).await?;
        if live > 0 && !input.force {
            return Err(Error::precondition(
                "ORGANIZATION_HAS_PROJECTS",
                format!(
                    "{} still has {live} live project(s) (e.g. {}): delete them first, or set force to delete them with it",
                    org.name(),
                    examples.join(", ")
                ),
            ));
        }
        let now = Utc::now();
        let purge = now + self.settings().retention;
        saved(
            store::set_deleted(tx.conn(), id, org.version, now, purge).await?,
            org,
        )?;
        // The feed says `deleted`, then `project_deleted` per project taken.
        changes::append(tx.conn(), id, kind::DELETED).await?;
        let taken = if live > 0 {
            projects::delete_with_organization(tx.conn(), id, now, purge).await?
        } else {
            0
        };
        tx.audit(
            org.name(),
            json!({ "force": input.force, "projects_deleted": taken }),
        );
        let deleted = self.reload(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view(deleted, &access.permissions, &caller))
    }

    /// Restores a soft-deleted organization and exactly the projects its
    /// deletion took.
    pub async fn undelete_organization(
        &self,
        principal: &Principal,
        input: UndeleteOrganization,
    ) -> Result<OrganizationView> {
        let rpc = &rpcs::UNDELETE_ORGANIZATION;
        let id = input.id;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(id, rpc, &caller, options).await?;
        let access = self.authorize_deleted(tx.conn(), &caller, rpc, id).await?;
        let org = &access.organization;
        if org.state != LifecycleState::Deleted {
            return Err(Error::precondition(
                "NOT_DELETED",
                format!("{} is not deleted", org.name()),
            ));
        }
        // Judge the status as if the organization were active again.
        let as_active = Organization {
            state: LifecycleState::Active,
            ..org.clone()
        };
        check_status(&as_active, rpc.class, rpc.method)?;
        saved(store::set_active(tx.conn(), id, org.version).await?, org)?;
        // The feed says `undeleted`, then `project_undeleted` per project
        // restored.
        changes::append(tx.conn(), id, kind::UNDELETED).await?;
        let restored_projects = projects::undelete_with_organization(tx.conn(), id).await?;
        tx.audit(
            org.name(),
            json!({ "projects_restored": restored_projects }),
        );
        let restored = self.reload(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(view(restored, &access.permissions, &caller))
    }
}
