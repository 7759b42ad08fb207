//! billing's typed errors and their one conversion into `tonic::Status`.

use loopback_runtime::errors::{self, FieldViolations};
use sea_orm::DbErr;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// ErrorInfo reason of a refused invoice status change.
pub const INVALID_INVOICE_TRANSITION: &str = "INVALID_INVOICE_TRANSITION";

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
    /// The invoice's status does not allow the verb.
    #[error("{invoice} is {from}: cannot {action} it (to {to})")]
    InvalidInvoiceTransition {
        /// The invoice's resource name.
        invoice: String,
        /// Its status.
        from: &'static str,
        /// The status the verb leads to.
        to: &'static str,
        /// The verb.
        action: &'static str,
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
            Error::CapabilityDisabled { flag, message } => {
                errors::capability_disabled(flag, message)
            }
            Error::FailedPrecondition { reason, message } => {
                errors::failed_precondition(reason, message)
            }
            Error::InvalidInvoiceTransition {
                invoice,
                from,
                to,
                action,
            } => {
                let message = format!("{invoice} is {from}: cannot {action} it (to {to})");
                let metadata: std::collections::HashMap<String, String> = [
                    ("invoice", invoice),
                    ("from", from.into()),
                    ("to", to.into()),
                    ("action", action.into()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                Status::with_error_details(
                    Code::FailedPrecondition,
                    message,
                    ErrorDetails::with_error_info(
                        INVALID_INVOICE_TRANSITION,
                        errors::DOMAIN,
                        metadata,
                    ),
                )
            }
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
