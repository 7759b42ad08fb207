//! What can go wrong asking the authority, typed, and its one conversion
//! into what a gRPC caller sees.

use loopback_runtime::authz::{State, VerificationStatus};
use loopback_runtime::errors::{FieldViolations, Refusal};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// Why [`crate::AuthorityClient`] could not get an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthorityError {
    /// org-core could not be reached (or refused this service's
    /// credentials, or failed internally) and nothing fresh enough is
    /// cached: fail closed.
    #[error("authority unavailable: {0}")]
    Unavailable(String),
    /// The organization does not exist (from
    /// [`crate::AuthorityClient::policy`]).
    #[error("{0} not found")]
    NotFound(String),
    /// org-core refused the request itself as invalid (a malformed
    /// organization name, a permission not in the catalog, ...), naming
    /// the bad fields.
    #[error("org-core rejected the request: {0}")]
    Rejected(FieldViolations),
}

impl AuthorityError {
    /// Sorts a failed call: bad input is the caller's problem, NOT_FOUND is
    /// an answer, everything else means the authority cannot be used now.
    pub(crate) fn from_status(status: Status, organization: &str) -> Self {
        match status.code() {
            Code::InvalidArgument => {
                let mut violations = FieldViolations::new();
                match status.get_details_bad_request() {
                    Some(bad) => {
                        for v in bad.field_violations {
                            violations.add(v.field, v.description);
                        }
                    }
                    None => violations.add("", status.message().to_string()),
                }
                Self::Rejected(violations)
            }
            Code::NotFound => Self::NotFound(organization.to_string()),
            code => Self::Unavailable(format!("org-core answered {code:?}: {}", status.message())),
        }
    }
}

/// Why the authority did not let a call through: a service takes it into
/// its own error with `#[from]` and answers it as DESIGN.md §3 says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityDenied {
    /// The organization does not exist, is deleted, or the principal is not
    /// a member: NOT_FOUND, revealing nothing.
    #[error("{organization} not found")]
    NotFound {
        /// The name asked about: `organizations/{id}`, or the project or
        /// workspace for a decision in one.
        organization: String,
    },
    /// A member without the permission.
    #[error("permission {permission} denied")]
    PermissionDenied {
        /// The permission checked.
        permission: String,
    },
    /// The organization's status or state forbids the action class.
    #[error("{message}")]
    EntityStatus {
        /// `organizations/{id}`.
        organization: String,
        /// Its verification status, when org-core said.
        verification_status: Option<VerificationStatus>,
        /// Its lifecycle state, when org-core said.
        state: Option<State>,
        /// The refused method.
        action: String,
        /// org-core's explanation.
        message: String,
    },
    /// A hard spending limit is reached and the action creates something.
    #[error("spending limit reached for {organization}")]
    SpendingLimitReached {
        /// `organizations/{id}`.
        organization: String,
    },
    /// The method's feature is off in the deployment (or, with `plan`, not
    /// in the organization's plan).
    #[error("feature {feature} disabled")]
    FeatureDisabled {
        /// The feature.
        feature: String,
        /// The plan lacking it, if that is the reason.
        plan: Option<String>,
    },
    /// The method is for another kind of principal (e.g. services only).
    #[error("only {required} principals may call this")]
    PrincipalKind {
        /// `service`, `operator`, ...
        required: &'static str,
    },
    /// org-core cannot be reached and nothing fresh is cached: fail closed.
    #[error("authority unavailable: {0}")]
    Unavailable(String),
    /// org-core refused the question as invalid (e.g. a malformed
    /// organization name in the caller's request).
    #[error("invalid request: {0}")]
    Rejected(FieldViolations),
}

impl From<AuthorityError> for AuthorityDenied {
    fn from(err: AuthorityError) -> Self {
        match err {
            AuthorityError::Unavailable(cause) => Self::Unavailable(cause),
            AuthorityError::NotFound(organization) => Self::NotFound { organization },
            AuthorityError::Rejected(v) => Self::Rejected(v),
        }
    }
}

impl From<AuthorityDenied> for Refusal {
    fn from(denied: AuthorityDenied) -> Self {
        match denied {
            AuthorityDenied::NotFound { organization } => Refusal::NotFound(organization),
            AuthorityDenied::PermissionDenied { permission } => {
                Refusal::PermissionDenied(permission)
            }
            AuthorityDenied::EntityStatus {
                organization,
                verification_status,
                state,
                action,
                message,
            } => Refusal::EntityStatus {
                organization,
                verification_status: verification_status
                    .map_or("UNSPECIFIED", VerificationStatus::as_str)
                    .to_string(),
                state: state.map_or("UNSPECIFIED", State::as_str).to_string(),
                action,
                message,
            },
            AuthorityDenied::SpendingLimitReached { organization } => {
                Refusal::SpendingLimitReached(organization)
            }
            AuthorityDenied::FeatureDisabled { feature, plan } => {
                Refusal::FeatureDisabled { feature, plan }
            }
            AuthorityDenied::PrincipalKind { required } => Refusal::PrincipalKind(required),
            AuthorityDenied::Unavailable(cause) => Refusal::AuthorityUnavailable(cause),
            AuthorityDenied::Rejected(v) => Refusal::InvalidArgument(v),
        }
    }
}

impl From<AuthorityError> for Refusal {
    fn from(err: AuthorityError) -> Self {
        AuthorityDenied::from(err).into()
    }
}

/// What a gRPC caller sees, through the runtime's one set of builders.
impl From<AuthorityDenied> for Status {
    fn from(denied: AuthorityDenied) -> Self {
        Refusal::from(denied).into()
    }
}

/// Why [`crate::AuthorityClient::connect`] refused its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not a valid URI.
    #[error("invalid org-core endpoint {endpoint:?}: {message}")]
    Endpoint {
        /// The configured endpoint.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// The token cannot be sent as a header value.
    #[error("the service token is empty or not a valid header value")]
    Token,
    /// A setting is out of range.
    #[error("invalid authority client setting: {0}")]
    Setting(&'static str),
    /// There is no Tokio runtime to run the watch task on.
    #[error("AuthorityClient::connect must be called inside a Tokio runtime")]
    NoRuntime,
}
