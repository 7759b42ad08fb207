//! org-core's domain types: what handlers and rules work with. No tonic, no
//! sea-orm.

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use uuid::Uuid;

use crate::policy::{Capabilities, LifecycleState, PlanFeatures, Sources, VerificationStatus};

/// An organization as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// UUIDv7.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Verification status.
    pub verification_status: VerificationStatus,
    /// Lifecycle state.
    pub state: LifecycleState,
    /// Effective capabilities: deployment defaults, then the plan, then
    /// the organization's overrides.
    pub capabilities: Capabilities,
    /// Which layer each effective value comes from.
    pub capability_sources: Sources,
    /// The organization's plan.
    pub plan: PlanRef,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Soft-delete time.
    pub delete_time: Option<DateTime<Utc>>,
    /// Purge time.
    pub purge_time: Option<DateTime<Utc>>,
    /// Version, exposed as the etag.
    pub version: i64,
}

impl Organization {
    /// `organizations/{id}`.
    pub fn name(&self) -> String {
        organization_name(self.id)
    }
}

impl Organization {
    /// The deployment features (of those `deployment` has on) this
    /// organization may use: the ones its plan includes.
    pub fn features(&self, deployment: &[String]) -> Vec<String> {
        self.plan.features.of(deployment)
    }
}

/// What an organization knows of its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanRef {
    /// The plan's id (`plans/{id}`).
    pub id: String,
    /// Its display name.
    pub display_name: String,
    /// The features it includes.
    pub features: PlanFeatures,
}

impl PlanRef {
    /// `plans/{id}`.
    pub fn name(&self) -> String {
        plan_name(&self.id)
    }
}

/// `plans/{id}`.
pub fn plan_name(id: &str) -> String {
    format!("plans/{id}")
}

/// `organizations/{id}`.
pub fn organization_name(id: Uuid) -> String {
    format!("organizations/{id}")
}

/// `organizations/{org}/projects/{id}`.
pub fn project_name(org: Uuid, id: Uuid) -> String {
    format!("organizations/{org}/projects/{id}")
}

/// An organization together with the verbs the caller may apply now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationView {
    /// The organization.
    pub organization: Organization,
    /// Verbs allowed now, e.g. `update`, `create_project`.
    pub allowed_actions: Vec<String>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// UUIDv7.
    pub id: Uuid,
    /// Owning organization.
    pub organization_id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// ACTIVE or DELETED.
    pub state: LifecycleState,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Soft-delete time.
    pub delete_time: Option<DateTime<Utc>>,
    /// Purge time.
    pub purge_time: Option<DateTime<Utc>>,
    /// Version, exposed as the etag.
    pub version: i64,
}

impl Project {
    /// `organizations/{org}/projects/{id}`.
    pub fn name(&self) -> String {
        project_name(self.organization_id, self.id)
    }
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// UUIDv7.
    pub id: Uuid,
    /// Token subject.
    pub subject: String,
    /// Lower-cased email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// First seen.
    pub create_time: DateTime<Utc>,
}

/// The resolved caller of an RPC.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A customer account (created on first use).
    Account(Account),
    /// An internal service.
    Service(Principal),
    /// Loopback staff.
    Operator(Principal),
}

impl Caller {
    /// Who, as recorded in the audit log.
    pub fn audit_id(&self) -> String {
        match self {
            Caller::Account(a) => format!("account:{}", a.id),
            Caller::Service(p) | Caller::Operator(p) => p.audit_id(),
        }
    }

    /// True for operators.
    pub fn is_operator(&self) -> bool {
        matches!(self, Caller::Operator(_))
    }

    /// A stable key for page-token fingerprints.
    pub fn page_key(&self) -> String {
        self.audit_id()
    }
}

/// Parses a stored UUID.
pub fn parse_stored_uuid(s: &str) -> crate::error::Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| crate::error::Error::Corrupt(format!("id {s:?}: {e}")))
}
