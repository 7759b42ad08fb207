//! The integrations service's typed errors and their one conversion into
//! `tonic::Status`.

use loopback_org_core_client::AuthorityDenied;
use loopback_runtime::db::DbErr;
use loopback_runtime::errors::{self, FieldViolations, Refusal};
use tonic::Status;

/// Result alias for the integrations service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ErrorInfo reason: the OAuth `state` is unknown, used, expired or not the
/// caller's.
pub const OAUTH_STATE_INVALID: &str = "OAUTH_STATE_INVALID";
/// ErrorInfo reason: the Git provider refused (metadata `provider`,
/// `error`).
pub const GIT_PROVIDER_ERROR: &str = "GIT_PROVIDER_ERROR";
/// ErrorInfo reason: the operator has not configured the provider.
pub const GIT_PROVIDER_NOT_CONFIGURED: &str = "GIT_PROVIDER_NOT_CONFIGURED";
/// ErrorInfo reason: the connection must be re-authorized first.
pub const GIT_CONNECTION_AUTHORIZATION_REQUIRED: &str = "GIT_CONNECTION_AUTHORIZATION_REQUIRED";
/// ErrorInfo reason: something still uses the resource.
pub const IN_USE: &str = "RESOURCE_IN_USE";
/// ErrorInfo reason: the worker's lease ended (another worker may hold the
/// operation now).
pub const LEASE_LOST: &str = "LEASE_LOST";
/// ErrorInfo reason: the operation already ended.
pub const OPERATION_DONE: &str = "OPERATION_DONE";
/// ErrorInfo reason: no deployment to redeploy or roll back to.
pub const NO_DEPLOYMENT: &str = "NO_DEPLOYMENT";

/// Everything that can go wrong in the integrations service, without
/// knowing about gRPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal from the DESIGN.md §3 table (bad input, NOT_FOUND, ...).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The authority did not let the call through.
    #[error(transparent)]
    Denied(#[from] AuthorityDenied),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// Stored data cannot be read (a bug, a manual edit, or a missing key).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// NOT_FOUND, revealing nothing.
    pub fn not_found(name: impl Into<String>) -> Self {
        Refusal::NotFound(name.into()).into()
    }

    /// FAILED_PRECONDITION with a reason of its own and metadata.
    pub fn precondition(
        reason: &'static str,
        message: impl Into<String>,
        metadata: Vec<(&'static str, String)>,
    ) -> Self {
        Refusal::FailedPrecondition {
            reason,
            message: message.into(),
            metadata,
        }
        .into()
    }

    /// INVALID_ARGUMENT naming one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Refusal::invalid(field, description).into()
    }
}

impl From<FieldViolations> for Error {
    fn from(v: FieldViolations) -> Self {
        Self::Refused(Refusal::InvalidArgument(v))
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Refused(refusal) => refusal.into(),
            Error::Denied(denied) => Refusal::from(denied).into(),
            Error::Db(e) => errors::internal_from("database error", &e),
            Error::Corrupt(e) => errors::internal_from("corrupt stored data", &e),
        }
    }
}
