//! billing's typed errors and their one conversion into `tonic::Status`.

use loopback_runtime::errors::{self, FieldViolations};
use sea_orm::DbErr;
use tonic::Status;

/// Result alias for billing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in billing, without knowing about gRPC
/// (authority refusals arrive already as `Status` from the client crate).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; names every bad field.
    #[error("invalid argument: {0}")]
    InvalidArgument(FieldViolations),
    /// Missing, or another tenant's.
    #[error("{0} not found")]
    NotFound(String),
    /// A limitation flag forbids it.
    #[error("{message}")]
    CapabilityDisabled {
        /// The flag.
        flag: &'static str,
        /// Human explanation.
        message: String,
    },
    /// A state rule forbids it.
    #[error("{message}")]
    FailedPrecondition {
        /// ErrorInfo reason.
        reason: &'static str,
        /// Human explanation.
        message: String,
    },
    /// A refusal decided by the authority (already a Status).
    #[error("{0}")]
    Authority(Status),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// Stored data cannot be read (a bug, a manual edit, or a missing key).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<FieldViolations> for Error {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Self {
        Self::Authority(s)
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(v) => errors::invalid_argument(&v),
            Error::NotFound(name) => errors::not_found(&name),
            Error::CapabilityDisabled { flag, message } => errors::capability_disabled(flag, message),
            Error::FailedPrecondition { reason, message } => errors::failed_precondition(reason, message),
            Error::Authority(status) => status,
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
