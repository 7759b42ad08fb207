//! The client's domain types: what callers see instead of prost messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use loopback_proto::orgcore::v1 as pb;
pub use loopback_runtime::authz::{ActionClass, State, VerificationStatus};

use crate::error::AuthorityDenied;

/// Everything a service needs to know about an organization to enforce the
/// status policy and limits, as org-core published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationPolicy {
    /// `organizations/{organization}`.
    pub organization: String,
    /// Current verification status.
    pub verification_status: VerificationStatus,
    /// Current lifecycle state.
    pub state: State,
    /// Effective capability limits by key (`max_projects`, ...).
    pub limits: BTreeMap<String, i64>,
    /// Effective limitation flags by key (`sepa_payment_allowed`, ...).
    pub flags: BTreeMap<String, bool>,
    /// The deployment features this organization may use (`github`,
    /// `monitoring`, ...): those the deployment has on that its plan
    /// includes.
    pub features: Vec<String>,
    /// Every deployment feature that is on, whether or not the plan
    /// includes it (empty from an org-core that predates plans).
    pub deployment_features: Vec<String>,
    /// The organization's plan, `plans/{plan}` (empty from an org-core that
    /// predates plans).
    pub plan: String,
    /// The plan's display name, e.g. `Free`.
    pub plan_display_name: String,
    /// The action classes the status table allows for this status and state.
    pub allowed_action_classes: Vec<ActionClass>,
    /// Change-feed revision this policy was read at.
    pub revision: i64,
}

impl OrganizationPolicy {
    /// Whether org-core's status table allows `class` for this organization.
    pub fn allows(&self, class: ActionClass) -> bool {
        self.allowed_action_classes.contains(&class)
    }

    /// The effective value of a limit, if the key exists.
    pub fn limit(&self, key: &str) -> Option<i64> {
        self.limits.get(key).copied()
    }

    /// The effective value of a flag (false when the key is unknown).
    pub fn flag(&self, key: &str) -> bool {
        self.flags.get(key).copied().unwrap_or(false)
    }

    /// Whether this organization may use `feature`: the deployment has it
    /// on and the organization's plan includes it.
    pub fn feature_enabled(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Why this organization may not use `feature`, if it may not: the
    /// deployment has it off (`plan: None`), or the organization's plan
    /// lacks it (`plan` names the plan by its display name, or by
    /// `plans/{plan}` when it has none).
    pub fn feature_denial(&self, feature: &str) -> Option<AuthorityDenied> {
        if self.feature_enabled(feature) {
            return None;
        }
        let in_deployment = self.deployment_features.iter().any(|f| f == feature);
        let plan = in_deployment.then(|| {
            if self.plan_display_name.is_empty() {
                self.plan.clone()
            } else {
                self.plan_display_name.clone()
            }
        });
        Some(AuthorityDenied::FeatureDisabled {
            feature: feature.to_string(),
            plan,
        })
    }

    /// Converts org-core's message; `None` when it holds a status or state
    /// this client does not know (callers fail closed).
    pub(crate) fn from_pb(p: pb::OrganizationPolicy) -> Option<Self> {
        let capabilities = p.capabilities.unwrap_or_default();
        Some(Self {
            verification_status: VerificationStatus::from_pb(p.verification_status)?,
            state: State::from_pb(p.state)?,
            limits: capabilities.limits.into_iter().collect(),
            flags: capabilities.flags.into_iter().collect(),
            features: p.features,
            deployment_features: p.deployment_features,
            plan: p.plan,
            plan_display_name: p.plan_display_name,
            allowed_action_classes: p
                .allowed_action_classes
                .into_iter()
                .filter_map(ActionClass::from_pb)
                .collect(),
            revision: p.revision,
            organization: p.organization,
        })
    }
}

/// org-core's answer to "may this principal do this here?". Denials carry
/// org-core's human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// The organization does not exist, is deleted, or the principal is not
    /// a member: answer NOT_FOUND and do not reveal that it exists.
    DenyNotFound(Arc<str>),
    /// A member without the permission: PERMISSION_DENIED.
    DenyPermission(Arc<str>),
    /// The organization's status or state forbids the action class:
    /// FAILED_PRECONDITION / ENTITY_STATUS.
    DenyEntityStatus(Arc<str>),
    /// A hard spending limit is reached and the action creates something:
    /// RESOURCE_EXHAUSTED / SPENDING_LIMIT_REACHED.
    DenySpendingLimit(Arc<str>),
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// org-core's explanation of a denial; empty when allowed.
    pub fn message(&self) -> &str {
        match self {
            Self::Allow => "",
            Self::DenyNotFound(m)
            | Self::DenyPermission(m)
            | Self::DenyEntityStatus(m)
            | Self::DenySpendingLimit(m) => m,
        }
    }
}

/// A decision plus the organization's policy (absent for
/// [`Decision::DenyNotFound`], so nothing leaks to non-members). Cloning is
/// cheap: the message and the policy are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The decision.
    pub decision: Decision,
    /// The organization's policy.
    pub policy: Option<Arc<OrganizationPolicy>>,
}

impl Authorization {
    /// True when the decision is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        self.decision.is_allow()
    }

    /// The policy when allowed; otherwise the typed denial (DESIGN.md §3):
    /// NOT_FOUND (revealing nothing), PERMISSION_DENIED naming
    /// `permission`, ENTITY_STATUS with the organization's status and state
    /// and `action` (the refused method, e.g. `CreateZone`), or
    /// SPENDING_LIMIT_REACHED.
    pub fn require(
        &self,
        organization: &str,
        permission: &str,
        action: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        self.require_at(organization, organization, permission, action)
    }

    /// [`Authorization::require`] for a decision about `resource` (the
    /// organization, or a project or workspace in it): NOT_FOUND names
    /// `resource`.
    pub fn require_at(
        &self,
        organization: &str,
        resource: &str,
        permission: &str,
        action: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        match &self.decision {
            Decision::Allow => self.policy.clone().ok_or_else(|| {
                AuthorityDenied::Unavailable("org-core allowed without a policy".into())
            }),
            Decision::DenyNotFound(_) => Err(AuthorityDenied::NotFound {
                organization: resource.to_string(),
            }),
            Decision::DenyPermission(_) => Err(AuthorityDenied::PermissionDenied {
                permission: permission.to_string(),
            }),
            Decision::DenySpendingLimit(_) => Err(AuthorityDenied::SpendingLimitReached {
                organization: organization.to_string(),
            }),
            Decision::DenyEntityStatus(message) => Err(AuthorityDenied::EntityStatus {
                organization: organization.to_string(),
                verification_status: self.policy.as_deref().map(|p| p.verification_status),
                state: self.policy.as_deref().map(|p| p.state),
                action: action.to_string(),
                message: message.to_string(),
            }),
        }
    }

    /// Converts org-core's response; `None` when the decision is one this
    /// client does not understand (callers fail closed).
    pub(crate) fn from_pb(response: pb::AuthorizeResponse) -> Option<Self> {
        let message = || Arc::<str>::from(response.message.as_str());
        let decision = match pb::Decision::try_from(response.decision).ok()? {
            pb::Decision::Allow => Decision::Allow,
            pb::Decision::DenyNotFound => Decision::DenyNotFound(message()),
            pb::Decision::DenyPermission => Decision::DenyPermission(message()),
            pb::Decision::DenyEntityStatus => Decision::DenyEntityStatus(message()),
            pb::Decision::DenySpendingLimit => Decision::DenySpendingLimit(message()),
            pb::Decision::Unspecified => return None,
        };
        Some(Self {
            decision,
            policy: match response.policy {
                Some(p) => Some(Arc::new(OrganizationPolicy::from_pb(p)?)),
                None => None,
            },
        })
    }
}

/// Where a project stands, as org-core last said (see
/// [`crate::AuthorityClient::project`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectLifecycle {
    /// Live: its resources run.
    Live,
    /// Soft-deleted: hide its resources; it can still be restored until
    /// `purge_time`.
    Deleted {
        /// When it was deleted.
        delete_time: Option<DateTime<Utc>>,
        /// When it will be purged for good.
        purge_time: Option<DateTime<Utc>>,
    },
    /// Purged for good (this client saw the feed say so): delete its
    /// resources.
    Purged,
    /// org-core knows no such project: never created, or purged before this
    /// client was watching. Treat it as purged.
    NotFound,
}

impl ProjectLifecycle {
    /// True for [`ProjectLifecycle::Live`].
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Live)
    }

    /// From GetProjectState; `None` for a state this client does not know.
    pub(crate) fn from_pb(response: &pb::GetProjectStateResponse) -> Option<Self> {
        let time = |seconds: i64, nanos: i32| {
            DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
        };
        match State::from_pb(response.state)? {
            State::Active | State::Inactive => Some(Self::Live),
            State::Deleted => Some(Self::Deleted {
                delete_time: response
                    .delete_time
                    .as_ref()
                    .and_then(|t| time(t.seconds, t.nanos)),
                purge_time: response
                    .purge_time
                    .as_ref()
                    .and_then(|t| time(t.seconds, t.nanos)),
            }),
        }
    }
}

/// What happened to an organization or a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleChange {
    /// Created.
    Created,
    /// Soft-deleted (a project also when its organization was deleted with
    /// it): hide what belongs to it.
    Deleted,
    /// Restored: show what belongs to it again.
    Undeleted,
    /// Purged for good: delete what belongs to it.
    Purged,
}

impl LifecycleChange {
    /// The change a feed kind names: `created`/`deleted`/`undeleted`/
    /// `purged` for organizations, `project_*` for projects.
    pub(crate) fn from_kind(kind: &str) -> Option<(Self, bool)> {
        let (kind, project) = match kind.strip_prefix("project_") {
            Some(rest) => (rest, true),
            None => (kind, false),
        };
        let change = match kind {
            "created" => Self::Created,
            "deleted" => Self::Deleted,
            "undeleted" => Self::Undeleted,
            "purged" => Self::Purged,
            _ => return None,
        };
        Some((change, project))
    }
}

/// One lifecycle event from the watch feed, in feed order (see
/// [`crate::AuthorityClient::subscribe_lifecycle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// An organization was created, deleted, restored or purged.
    Organization {
        /// `organizations/{organization}`.
        organization: String,
        /// What happened.
        change: LifecycleChange,
        /// Its feed revision.
        revision: i64,
    },
    /// A project was created, deleted, restored or purged (an
    /// organization's forced delete and its undelete send one per project
    /// they took or restored).
    Project {
        /// `organizations/{organization}`.
        organization: String,
        /// `organizations/{organization}/projects/{project}`.
        project: String,
        /// What happened.
        change: LifecycleChange,
        /// Its feed revision.
        revision: i64,
    },
    /// The feed no longer has what this client last saw, so events may
    /// have been missed: reconcile everything you keep (e.g. ask
    /// [`crate::AuthorityClient::project`] for each project you hold).
    Resync {
        /// The feed's revision; events continue after it.
        revision: i64,
    },
}

/// Whether `id` is a canonical (lower-case, hyphenated) UUID.
fn is_canonical_uuid(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        })
}

/// Whether `name` is `organizations/{uuid}` in the canonical (lower-case,
/// hyphenated) form org-core uses on the watch feed. Only such names are
/// cached: another spelling of the same organization would never be
/// invalidated by the feed.
pub(crate) fn is_canonical_org(name: &str) -> bool {
    name.strip_prefix("organizations/")
        .is_some_and(is_canonical_uuid)
}

/// Whether `name` is `organizations/{uuid}/projects/{uuid}` in the
/// canonical form; returns its organization part.
pub(crate) fn canonical_project_org(name: &str) -> Option<&str> {
    let (org, id) = name.split_at_checked(name.find("/projects/")?)?;
    let id = id.strip_prefix("/projects/")?;
    (is_canonical_org(org) && is_canonical_uuid(id)).then_some(org)
}

/// A name [`crate::AuthorityClient::authorize_in`] takes, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    /// The `organizations/{id}` part.
    pub organization: &'a str,
    /// What `AuthorizeRequest.resource` gets: `""` for the organization,
    /// else the whole name.
    pub resource: &'a str,
    /// The cache's resource key: `""`, or the project (a workspace is
    /// decided as its project).
    pub scope: &'a str,
    /// Whether the name is canonical (the feed's spelling: only such
    /// names are cached), which for projects and workspaces is also the
    /// only form org-core accepts.
    pub cacheable: bool,
}

impl<'a> Target<'a> {
    /// Splits `organizations/{org}[/projects/{p}[/workspaces/{w}]]`. Other
    /// shapes pass through for org-core to refuse, naming the field.
    pub(crate) fn parse(name: &'a str) -> Self {
        let nth_slash = |n: usize| {
            name.match_indices('/')
                .nth(n)
                .map_or(name.len(), |(i, _)| i)
        };
        let org_end = nth_slash(1);
        let organization = &name[..org_end];
        if org_end == name.len() {
            return Self {
                organization,
                resource: "",
                scope: "",
                cacheable: is_canonical_org(organization),
            };
        }
        let project = &name[..nth_slash(3)];
        let rest = &name[project.len()..];
        let workspace_ok = rest.is_empty()
            || rest.strip_prefix("/workspaces/").is_some_and(|w| {
                (1..=63).contains(&w.len())
                    && w.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
            });
        Self {
            organization,
            resource: name,
            scope: project,
            cacheable: workspace_ok && canonical_project_org(project) == Some(organization),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_org_names_are_cacheable() {
        assert!(is_canonical_org(
            "organizations/01890a5d-ac96-774b-bcce-b302099a8057"
        ));
        assert!(!is_canonical_org(
            "organizations/01890A5D-AC96-774B-BCCE-B302099A8057"
        ));
        assert!(!is_canonical_org(
            "organizations/01890a5dac96774bbcceb302099a8057"
        ));
        assert!(!is_canonical_org(
            "projects/01890a5d-ac96-774b-bcce-b302099a8057"
        ));
        assert!(!is_canonical_org(
            "organizations/01890a5d-ac96-774b-bcce-b302099a80570"
        ));
    }

    #[test]
    fn a_feature_the_plan_lacks_names_the_plan_one_the_deployment_lacks_does_not() {
        let policy = OrganizationPolicy {
            organization: "organizations/x".into(),
            verification_status: VerificationStatus::Verified,
            state: State::Active,
            limits: BTreeMap::new(),
            flags: BTreeMap::new(),
            features: vec!["monitoring".into()],
            deployment_features: vec!["monitoring".into(), "network_bridges".into()],
            plan: "plans/free".into(),
            plan_display_name: "Free".into(),
            allowed_action_classes: vec![ActionClass::Read],
            revision: 1,
        };
        assert_eq!(policy.feature_denial("monitoring"), None);
        assert_eq!(
            policy.feature_denial("network_bridges"),
            Some(AuthorityDenied::FeatureDisabled {
                feature: "network_bridges".into(),
                plan: Some("Free".into()),
            })
        );
        assert_eq!(
            policy.feature_denial("github"),
            Some(AuthorityDenied::FeatureDisabled {
                feature: "github".into(),
                plan: None,
            })
        );
    }

    #[test]
    fn targets_split_into_organization_and_project() {
        let org = "organizations/01890a5d-ac96-774b-bcce-b302099a8057";
        let project = format!("{org}/projects/01890a5d-ac96-774b-bcce-b302099a8058");
        let t = Target::parse(org);
        assert_eq!(
            (t.organization, t.resource, t.scope, t.cacheable),
            (org, "", "", true)
        );
        let t = Target::parse(&project);
        assert_eq!(
            (t.organization, t.resource, t.scope, t.cacheable),
            (org, project.as_str(), project.as_str(), true)
        );
        let workspace = format!("{project}/workspaces/ws-1");
        let t = Target::parse(&workspace);
        assert_eq!(
            (t.organization, t.resource, t.scope, t.cacheable),
            (org, workspace.as_str(), project.as_str(), true)
        );
        assert!(!Target::parse(&format!("{project}/workspaces/WS")).cacheable);
        assert!(!Target::parse(&format!("{project}/zones/x")).cacheable);
        assert!(!Target::parse(&format!("{org}/projects/nope")).cacheable);
        assert_eq!(canonical_project_org(&project), Some(org));
        assert_eq!(canonical_project_org(org), None);
    }

    #[test]
    fn feed_kinds_name_lifecycle_changes() {
        assert_eq!(
            LifecycleChange::from_kind("project_deleted"),
            Some((LifecycleChange::Deleted, true))
        );
        assert_eq!(
            LifecycleChange::from_kind("undeleted"),
            Some((LifecycleChange::Undeleted, false))
        );
        assert_eq!(LifecycleChange::from_kind("membership"), None);
    }

    #[test]
    fn entity_status_carries_the_policy_in_its_metadata() {
        use tonic_types::StatusExt as _;
        let auth = Authorization {
            decision: Decision::DenyEntityStatus("organization is BLOCKED: contact support".into()),
            policy: Some(Arc::new(OrganizationPolicy {
                organization: "organizations/x".into(),
                verification_status: VerificationStatus::Blocked,
                state: State::Active,
                limits: BTreeMap::new(),
                flags: BTreeMap::new(),
                features: Vec::new(),
                deployment_features: Vec::new(),
                plan: "plans/default".into(),
                plan_display_name: "Default".into(),
                allowed_action_classes: vec![ActionClass::Read],
                revision: 7,
            })),
        };
        let status = tonic::Status::from(
            auth.require("organizations/x", "dns.zones.create", "CreateZone")
                .expect_err("denied"),
        );
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "ENTITY_STATUS");
        let meta = info.metadata;
        assert_eq!(meta["verification_status"], "BLOCKED");
        assert_eq!(meta["state"], "ACTIVE");
        assert_eq!(meta["action"], "CreateZone");
        assert_eq!(meta["organization"], "organizations/x");
    }
}
