//! org-core's typed errors and their one conversion into `tonic::Status`.

use loopback_runtime::db::DbErr;
use loopback_runtime::errors::{self, FieldViolations, Refusal};
use tonic::Status;

/// Result alias for org-core's domain and store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in org-core, without knowing about gRPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal from the DESIGN.md §3 table (bad input, NOT_FOUND,
    /// ENTITY_STATUS, LIMIT_REACHED, ...).
    #[error(transparent)]
    Refused(#[from] Refusal),
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
        Refusal::invalid(field, description).into()
    }

    /// NOT_FOUND, revealing nothing.
    pub fn not_found(name: impl Into<String>) -> Self {
        Refusal::NotFound(name.into()).into()
    }

    /// PERMISSION_DENIED naming the permission.
    pub fn permission_denied(permission: &str) -> Self {
        Refusal::PermissionDenied(permission.to_string()).into()
    }

    /// Only `kind` principals may call this.
    pub fn principal_kind(kind: &'static str) -> Self {
        Refusal::PrincipalKind(kind).into()
    }

    /// FAILED_PRECONDITION with a reason of its own.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Refusal::precondition(reason, message).into()
    }

    /// ABORTED / ETAG_MISMATCH.
    pub fn etag_mismatch(name: impl Into<String>) -> Self {
        Refusal::EtagMismatch(name.into()).into()
    }

    /// ALREADY_EXISTS.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Refusal::AlreadyExists(message.into()).into()
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
            Error::Db(e) => errors::internal_from("database error", &e),
            Error::Corrupt(e) => errors::internal_from("corrupt stored data", &e),
        }
    }
}
