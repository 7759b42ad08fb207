//! org-core's typed errors and their one conversion into `tonic::Status`.

use loopback_runtime::errors::{self, FieldViolations};
use sea_orm::DbErr;
use tonic::Status;

/// Result alias for org-core's domain and store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in org-core, without knowing about gRPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; names every bad field.
    #[error("invalid argument: {0}")]
    InvalidArgument(FieldViolations),
    /// Missing, deleted, or another tenant's (never say which).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller is a member but lacks the permission.
    #[error("permission {0} denied")]
    PermissionDenied(&'static str),
    /// Only a certain kind of principal may call this.
    #[error("only {0} principals may call this")]
    PrincipalKind(&'static str),
    /// The organization's status or state forbids the action.
    #[error("{message}")]
    EntityStatus {
        /// `organizations/{id}`.
        organization: String,
        /// Verification status.
        verification_status: String,
        /// Lifecycle state.
        state: String,
        /// The action refused.
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
    /// A hard spending limit was reached: no create actions.
    #[error("spending limit reached for {0}")]
    SpendingLimitReached(String),
    /// A precondition other than the org status fails.
    #[error("{message}")]
    FailedPrecondition {
        /// ErrorInfo reason.
        reason: &'static str,
        /// Human explanation.
        message: String,
    },
    /// A limitation flag forbids the action.
    #[error("{message}")]
    CapabilityDisabled {
        /// The flag.
        flag: &'static str,
        /// Human explanation.
        message: String,
    },
    /// The resource already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller lacks a permission, with a message saying more.
    #[error("{message}")]
    PermissionDeniedBecause {
        /// The permission.
        permission: String,
        /// ErrorInfo reason.
        reason: &'static str,
        /// Human explanation.
        message: String,
    },
    /// The etag does not match.
    #[error("etag mismatch on {0}")]
    EtagMismatch(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A stored value is corrupt (a bug or a manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// INVALID_ARGUMENT with one bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldViolations::single(field, description))
    }
}

impl From<FieldViolations> for Error {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(v) => errors::invalid_argument(&v),
            Error::NotFound(name) => errors::not_found(&name),
            Error::PermissionDenied(p) => errors::permission_denied(p),
            Error::PrincipalKind(kind) => errors::principal_kind_denied(kind),
            Error::EntityStatus {
                organization,
                verification_status,
                state,
                action,
                message,
            } => errors::entity_status(
                &organization,
                &verification_status,
                &state,
                &action,
                message,
            ),
            Error::LimitReached {
                organization,
                limit,
                limit_value,
                usage,
            } => errors::limit_reached(&organization, &limit, limit_value, usage),
            Error::SpendingLimitReached(organization) => {
                errors::spending_limit_reached(&organization)
            }
            Error::FailedPrecondition { reason, message } => {
                errors::failed_precondition(reason, message)
            }
            Error::EtagMismatch(name) => errors::etag_mismatch(&name),
            Error::CapabilityDisabled { flag, message } => {
                errors::capability_disabled(flag, message)
            }
            Error::AlreadyExists(message) => errors::already_exists(message),
            Error::PermissionDeniedBecause {
                permission,
                reason,
                message,
            } => errors::permission_denied_because(&permission, reason, message),
            Error::Db(e) => {
                tracing::error!(error = %e, "database error");
                errors::internal()
            }
            Error::Corrupt(e) => {
                tracing::error!(error = %e, "corrupt stored data");
                errors::internal()
            }
        }
    }
}
