//! The tenant status policy (DESIGN.md §4) and the capability catalog
//! (DESIGN.md §5). This module is the single place the table lives: every
//! org-core handler and `AuthorityService.Authorize` answer from
//! [`allows`]; no other service re-implements it.

use std::collections::BTreeMap;

pub use loopback_runtime::authz::{ActionClass, LifecycleState, VerificationStatus};

/// Whether the status table allows an action class: the one source of truth.
///
/// | status     | read | setup | create | operate |
/// |------------|------|-------|--------|---------|
/// | IN_SETUP   | yes  | yes   | no     | no      |
/// | VERIFIED   | yes  | yes   | yes    | yes     |
/// | PENDING    | yes  | yes   | no     | yes     |
/// | WAITLIST   | yes  | yes   | no     | no      |
/// | BLOCKED    | yes  | no    | no     | no      |
///
/// INACTIVE allows reads only; DELETED allows nothing (callers answer NOT_FOUND).
pub fn allows(status: VerificationStatus, state: LifecycleState, class: ActionClass) -> bool {
    use ActionClass::*;
    use VerificationStatus::*;
    match state {
        LifecycleState::Deleted => return false,
        LifecycleState::Inactive => return class == Read,
        LifecycleState::Active => {}
    }
    match (status, class) {
        (_, Read) => true,
        (Blocked, _) => false,
        (_, Setup) => true,
        (Verified, _) => true,
        (Pending, Operate) => true,
        (InSetup | Pending | Waitlist, _) => false,
    }
}

/// The action classes [`allows`] lets through for a status and state.
pub fn allowed_classes(status: VerificationStatus, state: LifecycleState) -> Vec<ActionClass> {
    ActionClass::ALL
        .into_iter()
        .filter(|c| allows(status, state, *c))
        .collect()
}

/// A human explanation of a refusal, saying what to do about it.
pub fn refusal_message(
    status: VerificationStatus,
    state: LifecycleState,
    class: ActionClass,
    action: &str,
) -> String {
    let what = match state {
        LifecycleState::Inactive => "organization is INACTIVE (read-only): ask your operator to reactivate it".to_string(),
        LifecycleState::Deleted => "organization is deleted".to_string(),
        LifecycleState::Active => match status {
            VerificationStatus::InSetup => {
                "organization is IN_SETUP: finish verification before creating or changing infrastructure".to_string()
            }
            VerificationStatus::Pending => {
                "organization is PENDING manual review: new resources can be created once it is verified".to_string()
            }
            VerificationStatus::Waitlist => {
                "organization is on the WAITLIST: infrastructure can be created once it is verified".to_string()
            }
            VerificationStatus::Blocked => "organization is BLOCKED: contact support".to_string(),
            VerificationStatus::Verified => "organization status forbids this action".to_string(),
        },
    };
    format!("{what} ({action} is a {} action)", class.as_str())
}

/// Capability limit keys, their deployment defaults, and what they cap.
pub const LIMITS: &[(&str, i64, &str)] = &[
    ("max_projects", 10, "live projects in the organization"),
    ("max_members", 25, "members plus pending invites"),
    ("max_hosts", 10, "hosts (reserved by platform services)"),
    (
        "max_workspaces",
        10,
        "workspaces (reserved by platform services)",
    ),
    ("max_dns_zones", 5, "DNS zones"),
    ("max_dns_records_per_zone", 500, "records in one DNS zone"),
    ("max_bundles", 10, "bundles"),
    ("max_notification_channels", 10, "notification channels"),
    ("max_network_bridges", 2, "network bridges"),
    ("max_custom_roles", 20, "custom roles"),
    ("max_auth_providers", 3, "authentication providers"),
];

/// Limits that platform services outside this suite enforce through quota
/// reservations (ReserveQuota/CommitQuota/ReleaseQuota).
pub const RESERVABLE_LIMITS: &[&str] = &["max_hosts", "max_workspaces"];

/// Limitation flag keys, their deployment defaults, and what they allow.
pub const FLAGS: &[(&str, bool, &str)] = &[
    (
        "sepa_payment_allowed",
        false,
        "SEPA direct debit payment methods",
    ),
    ("custom_roles_allowed", false, "custom roles"),
    ("sso_allowed", false, "authentication providers (SSO)"),
    (
        SPENDING_LIMIT_REACHED,
        false,
        "set by billing while a hard spending limit is reached: create actions are refused",
    ),
];

/// The flag billing raises while a hard spending limit is reached.
pub const SPENDING_LIMIT_REACHED: &str = "spending_limit_reached";

/// Deployment features that can be switched off as a whole.
pub const FEATURES: &[&str] = &[
    "bundles",
    "github",
    "gitlab",
    "network_bridges",
    "monitoring",
    "notifications",
];

/// Effective capabilities: limits and flags by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Limit values by key.
    pub limits: BTreeMap<String, i64>,
    /// Flag values by key.
    pub flags: BTreeMap<String, bool>,
}

impl Capabilities {
    /// The catalog's built-in defaults.
    pub fn builtin_defaults() -> Self {
        Self {
            limits: LIMITS.iter().map(|(k, v, _)| (k.to_string(), *v)).collect(),
            flags: FLAGS.iter().map(|(k, v, _)| (k.to_string(), *v)).collect(),
        }
    }

    /// Applies `overrides` on top of `self`.
    pub fn with_overrides(&self, overrides: &Capabilities) -> Self {
        let mut out = self.clone();
        out.limits
            .extend(overrides.limits.iter().map(|(k, v)| (k.clone(), *v)));
        out.flags
            .extend(overrides.flags.iter().map(|(k, v)| (k.clone(), *v)));
        out
    }

    /// The value of a limit (0 when unknown, which refuses everything).
    pub fn limit(&self, key: &str) -> i64 {
        self.limits.get(key).copied().unwrap_or(0)
    }
}

/// Where an effective capability value comes from: the layers are the
/// deployment default, then the organization's plan, then a
/// per-organization override; the last layer that sets a key wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The deployment default (neither the plan nor an override sets it).
    Deployment,
    /// The organization's plan.
    Plan,
    /// A per-organization override (operator, approved limit request, or
    /// billing's spending flag).
    Override,
}

/// Which layer each effective limit and flag comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// By limit key.
    pub limits: BTreeMap<String, Source>,
    /// By flag key.
    pub flags: BTreeMap<String, Source>,
}

impl Sources {
    /// The values of `effective` that come from overrides: what an
    /// organization keeps whatever its plan.
    pub fn overrides_in(&self, effective: &Capabilities) -> Capabilities {
        let pick = |sources: &BTreeMap<String, Source>| {
            sources
                .iter()
                .filter(|(_, s)| **s == Source::Override)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        Capabilities {
            limits: pick(&self.limits)
                .into_iter()
                .filter_map(|k| effective.limits.get(&k).map(|v| (k, *v)))
                .collect(),
            flags: pick(&self.flags)
                .into_iter()
                .filter_map(|k| effective.flags.get(&k).map(|v| (k, *v)))
                .collect(),
        }
    }
}

/// Effective capabilities: `defaults`, then `plan`, then `overrides`, with
/// the layer each value comes from.
pub fn layered(
    defaults: &Capabilities,
    plan: &Capabilities,
    overrides: &Capabilities,
) -> (Capabilities, Sources) {
    let mut effective = defaults.clone();
    let mut sources = Sources {
        limits: defaults
            .limits
            .keys()
            .map(|k| (k.clone(), Source::Deployment))
            .collect(),
        flags: defaults
            .flags
            .keys()
            .map(|k| (k.clone(), Source::Deployment))
            .collect(),
    };
    for (layer, source) in [(plan, Source::Plan), (overrides, Source::Override)] {
        for (k, v) in &layer.limits {
            effective.limits.insert(k.clone(), *v);
            sources.limits.insert(k.clone(), source);
        }
        for (k, v) in &layer.flags {
            effective.flags.insert(k.clone(), *v);
            sources.flags.insert(k.clone(), source);
        }
    }
    (effective, sources)
}

/// The deployment features a plan includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanFeatures {
    /// Every deployment feature, including ones added later.
    All,
    /// Only these.
    Only(std::collections::BTreeSet<String>),
}

impl Default for PlanFeatures {
    fn default() -> Self {
        Self::Only(Default::default())
    }
}

impl PlanFeatures {
    /// Whether the plan includes `feature`.
    pub fn includes(&self, feature: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(feature),
        }
    }

    /// The features of `deployment` (those it has on) the plan includes,
    /// in the deployment's order.
    pub fn of(&self, deployment: &[String]) -> Vec<String> {
        deployment
            .iter()
            .filter(|f| self.includes(f))
            .cloned()
            .collect()
    }
}

/// True when `feature` is a known deployment feature.
pub fn is_feature(feature: &str) -> bool {
    FEATURES.contains(&feature)
}

/// True when `key` is a known limit.
pub fn is_limit(key: &str) -> bool {
    LIMITS.iter().any(|(k, _, _)| *k == key)
}

/// True when `key` is a known flag.
pub fn is_flag(key: &str) -> bool {
    FLAGS.iter().any(|(k, _, _)| *k == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_layer_that_sets_a_key_wins_and_says_so() {
        let defaults = Capabilities::builtin_defaults();
        let plan = Capabilities {
            limits: [
                ("max_projects".to_string(), 2),
                ("max_members".to_string(), 5),
            ]
            .into(),
            flags: [("sso_allowed".to_string(), true)].into(),
        };
        let overrides = Capabilities {
            limits: [("max_members".to_string(), 7)].into(),
            flags: Default::default(),
        };
        let (effective, sources) = layered(&defaults, &plan, &overrides);
        assert_eq!(effective.limit("max_projects"), 2);
        assert_eq!(effective.limit("max_members"), 7);
        assert_eq!(effective.limit("max_hosts"), defaults.limit("max_hosts"));
        assert!(effective.flags["sso_allowed"]);
        assert_eq!(sources.limits["max_projects"], Source::Plan);
        assert_eq!(sources.limits["max_members"], Source::Override);
        assert_eq!(sources.limits["max_hosts"], Source::Deployment);
        assert_eq!(sources.flags["sso_allowed"], Source::Plan);
        assert_eq!(sources.overrides_in(&effective), overrides);
    }

    #[test]
    fn inactive_is_read_only_and_deleted_allows_nothing() {
        for status in [
            VerificationStatus::InSetup,
            VerificationStatus::Verified,
            VerificationStatus::Pending,
            VerificationStatus::Waitlist,
            VerificationStatus::Blocked,
        ] {
            assert_eq!(
                allowed_classes(status, LifecycleState::Inactive),
                [ActionClass::Read]
            );
            assert!(allowed_classes(status, LifecycleState::Deleted).is_empty());
        }
    }
}
