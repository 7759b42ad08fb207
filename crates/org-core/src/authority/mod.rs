//! The authority: access decisions and organization policies for the other
//! services, answered from the one status table in [`crate::policy`], and
//! the stream of policy changes their caches follow.

pub mod grpc;

use std::time::Duration;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::{Principal, PrincipalKind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::access::{
    Deleted, Grants, Permissions, ProjectGrants, account_grants, spending_blocked,
};
use crate::catalog::{self, Permission};
use crate::error::{Error, Result};
use crate::model::{Organization, organization_name};
use crate::policy::{self, ActionClass, LifecycleState};
use crate::projects::{self, ProjectName};
use crate::service::OrgCore;
use crate::{accounts, changes, rpcs};

/// How often a watcher polls the feed for changes made by other replicas.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Changes read per query while catching up.
const BATCH: u64 = 500;

/// An organization's policy as the authority publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationPolicy {
    /// The organization (with its plan and effective capabilities).
    pub organization: Organization,
    /// The deployment features it may use: those the deployment has on
    /// that its plan includes.
    pub features: Vec<String>,
    /// Every deployment feature that is on.
    pub deployment_features: Vec<String>,
    /// Action classes the status table allows now.
    pub allowed_classes: Vec<ActionClass>,
    /// Latest change-feed revision of this organization.
    pub revision: i64,
}

/// Where an action asked about happens, below its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The organization itself: organization roles only.
    Organization,
    /// One project: organization roles plus the roles held on it.
    Project(ProjectName),
    /// A workspace (another service's resource) under a project: decided
    /// exactly as its project.
    Workspace {
        /// The project it lives in.
        project: ProjectName,
        /// The owning service's id for it.
        workspace: String,
    },
}

impl Scope {
    /// The project the decision is about, if any.
    pub fn project(&self) -> Option<ProjectName> {
        match self {
            Scope::Organization => None,
            Scope::Project(p) | Scope::Workspace { project: p, .. } => Some(*p),
        }
    }
}

/// Authorize, validated: may `subject` do a `class` action needing
/// `permission` in `organization` (or one of its projects)?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessQuestion {
    /// Who would act.
    pub subject: Principal,
    /// Where.
    pub organization: Uuid,
    /// Where below the organization (its project matches `organization`).
    pub scope: Scope,
    /// The permission the action needs.
    pub permission: Permission,
    /// The action's class.
    pub class: ActionClass,
}

/// The verdict of [`OrgCore::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Missing, deleted, or not a member.
    NotFound,
    /// A member without the permission.
    PermissionDenied,
    /// The status table forbids the class.
    EntityStatus,
    /// A hard spending limit is reached and the class is CREATE.
    SpendingLimit,
}

/// The authority's answer to an [`AccessQuestion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessAnswer {
    /// The verdict.
    pub decision: Decision,
    /// Why, for a refusal (empty when allowed).
    pub message: String,
    /// The organization's policy, unless it was not found.
    pub policy: Option<OrganizationPolicy>,
}

/// GetOrganizationPolicy, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetOrganizationPolicy {
    /// The organization.
    pub organization: Uuid,
}

/// GetProjectState, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetProjectState {
    /// The project.
    pub project: ProjectName,
}

/// A project's lifecycle as services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectState {
    /// The project.
    pub project: ProjectName,
    /// ACTIVE or DELETED.
    pub state: LifecycleState,
    /// When it was soft-deleted.
    pub delete_time: Option<DateTime<Utc>>,
    /// When a soft-deleted project is purged.
    pub purge_time: Option<DateTime<Utc>>,
    /// The organization's latest feed revision when read.
    pub revision: i64,
}

/// ListFeatures, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListFeatures {
    /// Also say whether this organization may use each feature.
    pub organization: Option<Uuid>,
}

/// Whether one organization may use a feature, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// The deployment has it on and the plan includes it.
    Available,
    /// The deployment has it off.
    DisabledInDeployment,
    /// The deployment has it on, the organization's plan lacks it.
    NotInPlan,
}

/// A deployment feature and whether it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Its name.
    pub name: String,
    /// Whether this deployment has it on.
    pub enabled: bool,
    /// For the organization asked about, if any: whether it may use it.
    pub availability: Option<Availability>,
}

/// WatchOrganizationPolicies, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOrganizationPolicies {
    /// Stream changes after this revision.
    pub from_revision: i64,
}

/// What a policy watcher receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyEvent {
    /// The watcher's position is gone (compacted) or from another feed:
    /// reload everything; the stream continues from `revision`.
    Resync {
        /// The feed's latest revision.
        revision: i64,
    },
    /// One organization's policy changed.
    Change {
        /// The change's revision.
        revision: i64,
        /// The organization.
        organization: Uuid,
        /// What changed (see [`changes::kind`]).
        kind: String,
        /// The project a `project_*` change is about.
        project: Option<Uuid>,
        /// Its policy now (`None` once it no longer exists).
        policy: Option<Box<OrganizationPolicy>>,
        /// When it changed.
        change_time: DateTime<Utc>,
    },
}

/// The stream WatchOrganizationPolicies answers with.
pub type PolicyEvents = ReceiverStream<Result<PolicyEvent>>;

impl OrgCore {
    /// The policy of `org`, or `None` if it does not exist.
    pub async fn policy(&self, org: Uuid) -> Result<Option<OrganizationPolicy>> {
        let Some(organization) = self.load_organization(self.db(), org).await? else {
            return Ok(None);
        };
        let revision = changes::latest_for(self.db(), org).await?;
        let deployment_features = self.settings().features.clone();
        Ok(Some(OrganizationPolicy {
            allowed_classes: policy::allowed_classes(
                organization.verification_status,
                organization.state,
            ),
            features: organization.features(&deployment_features),
            deployment_features,
            organization,
            revision,
        }))
    }

    /// GetOrganizationPolicy: services and operators only.
    pub async fn get_organization_policy(
        &self,
        principal: &Principal,
        input: GetOrganizationPolicy,
    ) -> Result<OrganizationPolicy> {
        self.caller_of(principal, &rpcs::GET_ORGANIZATION_POLICY)
            .await?;
        let org = input.organization;
        self.policy(org)
            .await?
            .ok_or_else(|| Error::not_found(organization_name(org)))
    }

    /// Decides whether the question's subject may act; services and
    /// operators only. In a project (or a workspace under it) the subject
    /// holds its organization-level permissions plus the project-scoped
    /// permissions of its roles there; a missing or deleted project, or one
    /// a project-only member is not bound to, is NOT_FOUND.
    pub async fn decide(
        &self,
        principal: &Principal,
        input: AccessQuestion,
    ) -> Result<AccessAnswer> {
        self.caller_of(principal, &rpcs::AUTHORIZE).await?;
        let org = input.organization;
        let answer = |decision, message: String, policy| AccessAnswer {
            decision,
            message,
            policy,
        };
        let not_found =
            |name: String| answer(Decision::NotFound, format!("{name} not found"), None);
        let Some(policy) = self.policy(org).await? else {
            return Ok(not_found(organization_name(org)));
        };
        if policy.organization.state == LifecycleState::Deleted {
            return Ok(not_found(organization_name(org)));
        }
        let subject = &input.subject;
        let everywhere = |permissions| Grants {
            permissions,
            projects: ProjectGrants::everywhere(),
        };
        let grants = match subject.kind {
            PrincipalKind::Operator => Some(everywhere(Permissions::All)),
            PrincipalKind::Service => {
                Some(everywhere(Permissions::Set(catalog::service_permissions())))
            }
            PrincipalKind::Account => {
                match accounts::find_by_subject(self.db(), &subject.subject).await? {
                    Some(account) => account_grants(self.db(), &account, org).await?,
                    None => None,
                }
            }
        };
        let Some(grants) = grants else {
            return Ok(not_found(organization_name(org)));
        };
        let permissions = match input.scope.project() {
            None => grants.permissions.clone(),
            Some(name) => {
                let live = projects::find(self.db(), org, name.id)
                    .await?
                    .filter(|p| p.state != LifecycleState::Deleted);
                match live.and_then(|p| grants.in_project(p.id)) {
                    Some(permissions) => permissions,
                    None => return Ok(not_found(name.to_string())),
                }
            }
        };
        let permission = input.permission;
        if !permissions.has(permission) {
            let message = match input.scope.project() {
                None => format!("the caller lacks permission {permission}"),
                Some(name) => format!("the caller lacks permission {permission} in {name}"),
            };
            return Ok(answer(Decision::PermissionDenied, message, Some(policy)));
        }
        let o = &policy.organization;
        if !policy::allows(o.verification_status, o.state, input.class) {
            let message =
                policy::refusal_message(o.verification_status, o.state, input.class, permission);
            return Ok(answer(Decision::EntityStatus, message, Some(policy)));
        }
        if input.class == ActionClass::Create && spending_blocked(o) {
            let message = format!(
                "{} reached its hard spending limit for this period",
                organization_name(org)
            );
            return Ok(answer(Decision::SpendingLimit, message, Some(policy)));
        }
        Ok(answer(Decision::Allow, String::new(), Some(policy)))
    }

    /// A project's lifecycle state: services and operators only. NOT_FOUND
    /// when it does not exist (never created, or purged).
    pub async fn get_project_state(
        &self,
        principal: &Principal,
        input: GetProjectState,
    ) -> Result<ProjectState> {
        self.caller_of(principal, &rpcs::GET_PROJECT_STATE).await?;
        let name = input.project;
        // Read the revision first: a change committed in between is then
        // newer than what the answer claims, never older.
        let revision = changes::latest_for(self.db(), name.organization).await?;
        let project = projects::find(self.db(), name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        Ok(ProjectState {
            project: name,
            state: project.state,
            delete_time: project.delete_time,
            purge_time: project.purge_time,
            revision,
        })
    }

    /// Every known deployment feature, sorted by name; with an
    /// organization the caller can see, whether it may use each.
    pub async fn list_features(
        &self,
        principal: &Principal,
        input: ListFeatures,
    ) -> Result<Vec<Feature>> {
        let rpc = &rpcs::LIST_FEATURES;
        let caller = self.caller_of(principal, rpc).await?;
        let plan = match input.organization {
            Some(org) => {
                let access = self
                    .authorize(self.db(), &caller, rpc, org, Deleted::Hide)
                    .await?;
                Some(access.organization.plan)
            }
            None => None,
        };
        let enabled = &self.settings().features;
        let mut features: Vec<Feature> = policy::FEATURES
            .iter()
            .map(|f| {
                let on = enabled.iter().any(|e| e == f);
                Feature {
                    name: f.to_string(),
                    enabled: on,
                    availability: plan
                        .as_ref()
                        .map(|plan| match (on, plan.features.includes(f)) {
                            (false, _) => Availability::DisabledInDeployment,
                            (true, false) => Availability::NotInPlan,
                            (true, true) => Availability::Available,
                        }),
                }
            })
            .collect();
        features.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(features)
    }

    /// Streams every policy change after `from_revision`, then waits for
    /// more, until the watcher goes away or the server stops.
    pub async fn watch_organization_policies(
        &self,
        principal: &Principal,
        input: WatchOrganizationPolicies,
    ) -> Result<PolicyEvents> {
        self.caller_of(principal, &rpcs::WATCH_ORGANIZATION_POLICIES)
            .await?;
        let (tx, rx) = mpsc::channel(64);
        let core = self.clone();
        tokio::spawn(async move {
            if let Err(e) = core.pump_changes(input.from_revision, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(ReceiverStream::new(rx))
    }

    /// Sends every change after `revision` to `tx`, then waits for more,
    /// until the watcher goes away. A watcher whose position the compaction
    /// watermark passes (it read too slowly, or came back too late) gets
    /// `Resync`, never a silent gap.
    async fn pump_changes(
        &self,
        mut revision: i64,
        tx: &mpsc::Sender<Result<PolicyEvent>>,
    ) -> Result<()> {
        let mut wake = self.subscribe_changes();
        let stop = self.shutdown_token();
        let compacted = changes::compacted_through(self.db()).await?;
        let latest = changes::latest(self.db()).await?;
        if revision < compacted || revision > latest {
            // The watcher's position is gone (compacted) or from another
            // feed: tell it to reload everything, then continue from now.
            let resync = PolicyEvent::Resync { revision: latest };
            if tx.send(Ok(resync)).await.is_err() {
                return Ok(());
            }
            revision = latest;
        }
        loop {
            let batch = match changes::read_after(self.db(), revision, BATCH).await? {
                changes::Next::Changes(batch) => batch,
                changes::Next::Compacted { latest } => {
                    // Compaction passed this watcher while it was behind
                    // (a slow reader): what it missed is gone, so it must
                    // reload; it continues from the feed's head.
                    if tx
                        .send(Ok(PolicyEvent::Resync { revision: latest }))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                    revision = latest;
                    continue;
                }
            };
            let caught_up = (batch.len() as u64) < BATCH;
            for change in batch {
                let event = PolicyEvent::Change {
                    revision: change.revision,
                    organization: change.organization,
                    policy: self.policy(change.organization).await?.map(Box::new),
                    kind: change.kind,
                    project: change.project,
                    change_time: change.change_time,
                };
                if tx.send(Ok(event)).await.is_err() {
                    return Ok(());
                }
                revision = change.revision;
            }
            if caught_up {
                tokio::select! {
                    _ = wake.changed() => {}
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = tx.closed() => return Ok(()),
                    () = stop.cancelled() => return Ok(()),
                }
            }
        }
    }
}
