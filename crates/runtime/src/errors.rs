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
    /// The deployment has the feature off.
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

/// One bad field: its path in the request (e.g. `organization.display_name`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request message.
    pub field: String,
    /// What is wrong, for a human.
    pub description: String,
}

/// Collects every bad field of a request so one INVALID_ARGUMENT names them all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations(pub Vec<FieldViolation>);

impl FieldViolations {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad because of `description`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records the error of a check, if any.
    pub fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(description) = result {
            self.add(field, description);
        }
    }

    /// True when no field is bad.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when no field is bad, the violations otherwise.
    pub fn into_result(self) -> Result<(), FieldViolations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// A one-line summary for the human-readable message.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ")
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
    for v in &violations.0 {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
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

/// FAILED_PRECONDITION / FEATURE_DISABLED: the deployment has the feature off.
pub fn feature_disabled(feature: &str) -> Status {
    with_info(
        Code::FailedPrecondition,
        format!("feature {feature} is not enabled in this deployment"),
        reason::FEATURE_DISABLED,
        metadata([("feature", feature.to_string())]),
    )
}

/// FAILED_PRECONDITION for a state-machine rule, with a reason of its own.
pub fn failed_precondition(reason: &str, message: String) -> Status {
    with_info(Code::FailedPrecondition, message, reason, HashMap::new())
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
    fn limit_reached_carries_quota_failure_and_metadata() {
        let status = limit_reached("organizations/x", "max_projects", 10, 10);
        assert_eq!(status.code(), Code::ResourceExhausted);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "LIMIT_REACHED");
        assert_eq!(info.metadata["limit"], "max_projects");
        assert!(status.get_details_quota_failure().is_some());
    }
}
