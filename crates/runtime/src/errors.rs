//! Builders for `tonic::Status` values carrying `google.rpc` details
//! (ErrorInfo, BadRequest, QuotaFailure), per the error table in DESIGN.md §3.
//!
//! Every service converts its typed errors into `Status` at one boundary and
//! calls these builders there, so every service's errors look the same on the
//! wire.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every error this suite produces.
pub const DOMAIN: &str = "loopback.cloud";

/// `ErrorInfo.reason` values.
pub mod reason {
    /// The organization's status or state forbids the action.
    pub const ENTITY_STATUS: &str = "ENTITY_STATUS";
    /// A capability limit is reached.
    pub const LIMIT_REACHED: &str = "LIMIT_REACHED";
    /// A hard spending limit was reached this period.
    pub const SPENDING_LIMIT_REACHED: &str = "SPENDING_LIMIT_REACHED";
    /// A limitation flag forbids the action.
    pub const CAPABILITY_DISABLED: &str = "CAPABILITY_DISABLED";
    /// The deployment has the feature off, or (with metadata `plan`) the
    /// organization's plan does not include it.
    pub const FEATURE_DISABLED: &str = "FEATURE_DISABLED";
    /// Bad input.
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    /// The caller lacks a permission.
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    /// Etag mismatch or concurrent change.
    pub const ETAG_MISMATCH: &str = "ETAG_MISMATCH";
    /// The authority cannot be reached and no fresh policy is cached.
    pub const AUTHORITY_UNAVAILABLE: &str = "AUTHORITY_UNAVAILABLE";
    /// A state-machine precondition (other than the org status) fails.
    pub const FAILED_PRECONDITION: &str = "FAILED_PRECONDITION";
    /// The token is missing, malformed, expired or not signed by a known key.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
}

/// Most violations one INVALID_ARGUMENT lists; the rest are counted. Error
/// details travel in HTTP/2 trailers, which gRPC clients cap (grpc-core at
/// 8 KiB by default): a bigger answer reaches them as RESOURCE_EXHAUSTED
/// instead of the INVALID_ARGUMENT it is.
pub const MAX_VIOLATIONS: usize = 10;
/// Longest field path kept, in characters.
pub const MAX_FIELD_CHARS: usize = 80;
/// Longest description kept, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 160;
/// Longest prefix of an offending value [`quote`] repeats, in characters.
pub const MAX_QUOTE_CHARS: usize = 40;

/// A caller's value as a message may repeat it: debug-quoted, at most
/// [`MAX_QUOTE_CHARS`] characters of it, and its length when cut.
pub fn quote(value: &str) -> String {
    let count = value.chars().count();
    if count <= MAX_QUOTE_CHARS {
        format!("{value:?}")
    } else {
        let prefix: String = value.chars().take(MAX_QUOTE_CHARS).collect();
        format!("{prefix:?}… ({count} characters)")
    }
}

fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One bad field: its path in the request (e.g. `organization.display_name`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request message.
    pub field: String,
    /// What is wrong, for a human.
    pub description: String,
}

/// Collects every bad field of a request so one INVALID_ARGUMENT names them
/// all: the first [`MAX_VIOLATIONS`] in full (paths and descriptions cut to
/// a bounded length), the rest counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations {
    listed: Vec<FieldViolation>,
    omitted: usize,
}

impl FieldViolations {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad because of `description`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.listed.len() >= MAX_VIOLATIONS {
            self.omitted += 1;
            return;
        }
        self.listed.push(FieldViolation {
            field: truncate(field.into(), MAX_FIELD_CHARS),
            description: truncate(description.into(), MAX_DESCRIPTION_CHARS),
        });
    }

    /// Records the error of a check, if any.
    pub fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(description) = result {
            self.add(field, description);
        }
    }

    /// Adds every violation of `other`.
    pub fn extend(&mut self, other: FieldViolations) {
        for v in other.listed {
            self.add(v.field, v.description);
        }
        self.omitted += other.omitted;
    }

    /// True when no field is bad.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.omitted == 0
    }

    /// The violations listed in full.
    pub fn violations(&self) -> &[FieldViolation] {
        &self.listed
    }

    /// How many violations were counted but not listed.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// `Ok(())` when no field is bad, the violations otherwise.
    pub fn into_result(self) -> Result<(), FieldViolations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// A one-line summary for the human-readable message: the first few
    /// violations and how many more there are.
    pub fn summary(&self) -> String {
        const IN_MESSAGE: usize = 3;
        let mut parts: Vec<String> = self
            .listed
            .iter()
            .take(IN_MESSAGE)
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        let more = self.listed.len().saturating_sub(IN_MESSAGE) + self.omitted;
        if more > 0 {
            parts.push(format!("and {more} more bad field(s)"));
        }
        parts.join("; ")
    }

    /// A single violation.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
        v
    }
}

impl std::fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

fn metadata<const N: usize>(pairs: [(&str, String); N]) -> HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn with_info(code: Code, message: String, reason: &str, meta: HashMap<String, String>) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, meta),
    )
}

/// INVALID_ARGUMENT with `BadRequest.field_violations` naming every bad field.
pub fn invalid_argument(violations: &FieldViolations) -> Status {
    let mut details =
        ErrorDetails::with_error_info(reason::INVALID_ARGUMENT, DOMAIN, HashMap::new());
    for v in violations.violations() {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    if violations.omitted() > 0 {
        details.add_bad_request_violation(
            "",
            format!(
                "{} more bad field(s) not listed: fix these and retry",
                violations.omitted()
            ),
        );
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {}", violations.summary()),
        details,
    )
}

/// FAILED_PRECONDITION / ENTITY_STATUS: the organization's status or state
/// forbids the action.
pub fn entity_status(
    organization: &str,
    verification_status: &str,
    state: &str,
    action: &str,
    message: String,
) -> Status {
    with_info(
        Code::FailedPrecondition,
        message,
        reason::ENTITY_STATUS,
        metadata([
            ("organization", organization.to_string()),
            ("verification_status", verification_status.to_string()),
            ("state", state.to_string()),
            ("action", action.to_string()),
        ]),
    )
}

/// RESOURCE_EXHAUSTED / LIMIT_REACHED with a `QuotaFailure` violation.
pub fn limit_reached(organization: &str, limit: &str, limit_value: i64, usage: i64) -> Status {
    let mut details = ErrorDetails::with_error_info(
        reason::LIMIT_REACHED,
        DOMAIN,
        metadata([
            ("limit", limit.to_string()),
            ("limit_value", limit_value.to_string()),
            ("usage", usage.to_string()),
        ]),
    );
    details.add_quota_failure_violation(
        organization.to_string(),
        format!("{limit} is {limit_value} and {usage} are in use"),
    );
    Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "limit {limit} reached ({usage} of {limit_value} in use): ask your operator for a higher limit or upgrade your plan"
        ),
        details,
    )
}

/// RESOURCE_EXHAUSTED / SPENDING_LIMIT_REACHED: a hard spending limit was
/// reached, so nothing new may be created until the next period or a raised
/// limit.
pub fn spending_limit_reached(organization: &str) -> Status {
    with_info(
        Code::ResourceExhausted,
        format!(
            "{organization} reached its hard spending limit for this period: nothing new can be created until the next period or a raised limit (existing resources keep running)"
        ),
        reason::SPENDING_LIMIT_REACHED,
        metadata([("organization", organization.to_string())]),
    )
}

/// FAILED_PRECONDITION / CAPABILITY_DISABLED: a limitation flag forbids it.
pub fn capability_disabled(flag: &str, message: String) -> Status {
    with_info(
        Code::FailedPrecondition,
        message,
        reason::CAPABILITY_DISABLED,
        metadata([("flag", flag.to_string())]),
    )
}

/// FAILED_PRECONDITION / FEATURE_DISABLED: the deployment has the feature
/// off, or (with `plan`) the organization's plan does not include it.
pub fn feature_disabled(feature: &str, plan: Option<&str>) -> Status {
    let mut meta = metadata([("feature", feature.to_string())]);
    let message = match plan {
        None => format!("feature {feature} is not enabled in this deployment"),
        Some(plan) => {
            meta.insert("plan".into(), plan.to_string());
            format!(
                "feature {feature} is not included in the organization's plan {plan:?} (enterprise-only): upgrade the plan to use it"
            )
        }
    };
    with_info(
        Code::FailedPrecondition,
        message,
        reason::FEATURE_DISABLED,
        meta,
    )
}

/// FAILED_PRECONDITION for a state-machine rule, with a reason of its own
/// and metadata saying what the rule saw.
pub fn failed_precondition(
    reason: &str,
    message: String,
    meta: impl IntoIterator<Item = (&'static str, String)>,
) -> Status {
    let meta = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    with_info(Code::FailedPrecondition, message, reason, meta)
}

/// FAILED_PRECONDITION with a reason of its own and a
/// `google.rpc.PreconditionFailure` naming each failing precondition.
pub fn preconditions(
    reason: &str,
    message: String,
    violations: &[PreconditionViolation],
) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new());
    for v in violations {
        details.add_precondition_failure_violation(
            v.kind.clone(),
            v.subject.clone(),
            v.description.clone(),
        );
    }
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// NOT_FOUND that never reveals whether the resource exists elsewhere.
pub fn not_found(name: &str) -> Status {
    Status::new(Code::NotFound, format!("{name} not found"))
}

/// ALREADY_EXISTS.
pub fn already_exists(message: String) -> Status {
    Status::new(Code::AlreadyExists, message)
}

/// PERMISSION_DENIED naming the missing permission.
pub fn permission_denied(permission: &str) -> Status {
    with_info(
        Code::PermissionDenied,
        format!("the caller lacks permission {permission}"),
        reason::PERMISSION_DENIED,
        metadata([("permission", permission.to_string())]),
    )
}

/// PERMISSION_DENIED with a reason of its own (e.g. granting a permission
/// the caller does not hold, or an invite for another email).
pub fn permission_denied_because(permission: &str, reason: &str, message: String) -> Status {
    let mut meta = HashMap::new();
    if !permission.is_empty() {
        meta.insert("permission".to_string(), permission.to_string());
    }
    with_info(Code::PermissionDenied, message, reason, meta)
}

/// PERMISSION_DENIED for a call only a kind of principal may make.
pub fn principal_kind_denied(required: &str) -> Status {
    with_info(
        Code::PermissionDenied,
        format!("only {required} principals may call this method"),
        reason::PERMISSION_DENIED,
        metadata([("principal_kind", required.to_string())]),
    )
}

/// ABORTED / ETAG_MISMATCH.
pub fn etag_mismatch(name: &str) -> Status {
    with_info(
        Code::Aborted,
        format!("{name} was changed by someone else: read it again and retry with the new etag"),
        reason::ETAG_MISMATCH,
        metadata([("resource", name.to_string())]),
    )
}

/// UNAVAILABLE / AUTHORITY_UNAVAILABLE.
pub fn authority_unavailable(message: String) -> Status {
    with_info(
        Code::Unavailable,
        message,
        reason::AUTHORITY_UNAVAILABLE,
        HashMap::new(),
    )
}

/// UNAUTHENTICATED.
pub fn unauthenticated(message: impl Into<String>) -> Status {
    with_info(
        Code::Unauthenticated,
        message.into(),
        reason::UNAUTHENTICATED,
        HashMap::new(),
    )
}

/// INTERNAL without leaking details; the cause is logged by the caller.
pub fn internal() -> Status {
    Status::new(Code::Internal, "internal error")
}

/// Why a service refuses a request: every row of the DESIGN.md §3 error
/// table as data, with no gRPC in it. Service errors carry one
/// (`#[from] Refusal`) and turn it into a `Status` through the one
/// conversion below, so every service answers alike.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Bad input; names every bad field.
    #[error("invalid argument: {0}")]
    InvalidArgument(FieldViolations),
    /// Missing, deleted, or another tenant's (never say which).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller is a member but lacks the permission.
    #[error("permission {0} denied")]
    PermissionDenied(String),
    /// The caller lacks a permission, for a reason of its own (granting
    /// what one does not hold, an invite for another email, ...).
    #[error("{message}")]
    PermissionDeniedBecause {
        /// The permission involved (may be empty).
        permission: String,
        /// ErrorInfo reason.
        reason: &'static str,
        /// Human explanation.
        message: String,
    },
    /// Only a certain kind of principal may call this.
    #[error("only {0} principals may call this")]
    PrincipalKind(&'static str),
    /// The organization's status or state forbids the action.
    #[error("{message}")]
    EntityStatus {
        /// `organizations/{id}`.
        organization: String,
        /// Verification status (`IN_SETUP`, ...).
        verification_status: String,
        /// Lifecycle state (`ACTIVE`, ...).
        state: String,
        /// The refused method, e.g. `CreateProject`.
        action: String,
        /// Human explanation.
        message: String,
    },
    /// A capability limit is reached.
    #[error("limit {limit} reached")]
    LimitReached {
        /// `organizations/{id}`.
        organization: String,
        /// The limit key.
        limit: String,
        /// Its value.
        limit_value: i64,
        /// Current usage.
        usage: i64,
    },
    /// A hard spending limit was reached: nothing new may be created.
    #[error("spending limit reached for {0}")]
    SpendingLimitReached(String),
    /// A limitation flag forbids the action.
    #[error("{message}")]
    CapabilityDisabled {
        /// The flag.
        flag: String,
        /// Human explanation.
        message: String,
    },
    /// The deployment has the feature off, or the plan lacks it.
    #[error("feature {feature} disabled")]
    FeatureDisabled {
        /// The feature.
        feature: String,
        /// The organization's plan, when the plan is what lacks it.
        plan: Option<String>,
    },
    /// A precondition other than the organization's status fails.
    #[error("{message}")]
    FailedPrecondition {
        /// ErrorInfo reason.
        reason: &'static str,
        /// Human explanation.
        message: String,
        /// ErrorInfo metadata.
        metadata: Vec<(&'static str, String)>,
    },
    /// Several preconditions fail at once (e.g. every limit a plan
    /// downgrade would break, every missing onboarding item): each is named
    /// in a `google.rpc.PreconditionFailure`.
    #[error("{message}")]
    Preconditions {
        /// ErrorInfo reason.
        reason: &'static str,
        /// Human explanation.
        message: String,
        /// Each failing precondition: its type, subject and description.
        violations: Vec<PreconditionViolation>,
    },
    /// The resource already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The etag does not match (or the row changed meanwhile).
    #[error("etag mismatch on {0}")]
    EtagMismatch(String),
    /// The authority cannot be reached and nothing fresh is cached.
    #[error("authority unavailable: {0}")]
    AuthorityUnavailable(String),
}

/// One failing precondition of a [`Refusal::Preconditions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// What kind of precondition, e.g. `LIMIT`, `ONBOARDING`.
    pub kind: String,
    /// What it is about, e.g. `max_projects`, `profile`.
    pub subject: String,
    /// What is wrong and what to do, for a human.
    pub description: String,
}

impl Refusal {
    /// INVALID_ARGUMENT with one bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldViolations::single(field, description))
    }

    /// FAILED_PRECONDITION with a reason of its own and no metadata.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
            metadata: Vec::new(),
        }
    }
}

impl From<FieldViolations> for Refusal {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::InvalidArgument(v) => invalid_argument(&v),
            Refusal::NotFound(name) => not_found(&name),
            Refusal::PermissionDenied(p) => permission_denied(&p),
            Refusal::PermissionDeniedBecause {
                permission,
                reason,
                message,
            } => permission_denied_because(&permission, reason, message),
            Refusal::PrincipalKind(kind) => principal_kind_denied(kind),
            Refusal::EntityStatus {
                organization,
                verification_status,
                state,
                action,
                message,
            } => entity_status(
                &organization,
                &verification_status,
                &state,
                &action,
                message,
            ),
            Refusal::LimitReached {
                organization,
                limit,
                limit_value,
                usage,
            } => limit_reached(&organization, &limit, limit_value, usage),
            Refusal::SpendingLimitReached(organization) => spending_limit_reached(&organization),
            Refusal::CapabilityDisabled { flag, message } => capability_disabled(&flag, message),
            Refusal::FeatureDisabled { feature, plan } => {
                feature_disabled(&feature, plan.as_deref())
            }
            Refusal::FailedPrecondition {
                reason,
                message,
                metadata,
            } => failed_precondition(reason, message, metadata),
            Refusal::Preconditions {
                reason,
                message,
                violations,
            } => preconditions(reason, message, &violations),
            Refusal::AlreadyExists(message) => already_exists(message),
            Refusal::EtagMismatch(name) => etag_mismatch(&name),
            Refusal::AuthorityUnavailable(cause) => {
                tracing::warn!(%cause, "failing closed: the authority is unavailable");
                authority_unavailable(
                    "the authority (org-core) cannot be reached and no fresh policy is cached: retry shortly".into(),
                )
            }
        }
    }
}

/// INTERNAL for a failure the caller cannot fix, logged here with its
/// cause (the caller sees no detail).
pub fn internal_from(what: &str, cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "{what}");
    internal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_every_field() {
        let mut v = FieldViolations::new();
        v.add("organization.display_name", "must not be empty");
        v.add("request_id", "must be a UUID");
        let status = invalid_argument(&v);
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status
            .get_details_bad_request()
            .expect("bad request details");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["organization.display_name", "request_id"]);
    }

    #[test]
    fn violations_and_quotes_stay_small_whatever_the_input() {
        let huge = "x".repeat(100_000);
        let mut v = FieldViolations::new();
        for i in 0..10_000 {
            v.add(
                format!("limits[{huge}{i}]"),
                format!("unknown limit {huge}"),
            );
        }
        let status = invalid_argument(&v);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().len() < 1_000, "{}", status.message().len());
        let bad = status.get_details_bad_request().expect("bad request");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS + 1);
        assert!(
            bad.field_violations[MAX_VIOLATIONS]
                .description
                .starts_with("9990 more")
        );
        assert!(status.details().len() < 4_096, "{}", status.details().len());
        let q = quote(&huge);
        assert!(q.len() < 80 && q.ends_with("(100000 characters)"), "{q}");
        assert_eq!(quote("short"), "\"short\"");
    }

    #[test]
    fn limit_reached_carries_quota_failure_and_metadata() {
        let status = limit_reached("organizations/x", "max_projects", 10, 10);
        assert_eq!(status.code(), Code::ResourceExhausted);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "LIMIT_REACHED");
        assert_eq!(info.metadata["limit"], "max_projects");
        assert!(status.get_details_quota_failure().is_some());
    }
}
