//! billing's typed errors and their one conversion into `tonic::Status`.

use loopback_org_core_client::AuthorityDenied;
use loopback_runtime::db::DbErr;
use loopback_runtime::errors::{self, FieldViolations, Refusal};
use tonic::Status;

/// ErrorInfo reason of a refused invoice status change.
pub const INVALID_INVOICE_TRANSITION: &str = "INVALID_INVOICE_TRANSITION";

/// Result alias for billing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in billing, without knowing about gRPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal from the DESIGN.md §3 table (bad input, NOT_FOUND, ...).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The authority did not let the call through.
    #[error(transparent)]
    Denied(#[from] AuthorityDenied),
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
            Error::InvalidInvoiceTransition {
                invoice,
                from,
                to,
                action,
            } => Refusal::FailedPrecondition {
                reason: INVALID_INVOICE_TRANSITION,
                message: format!("{invoice} is {from}: cannot {action} it (to {to})"),
                metadata: vec![
                    ("invoice", invoice),
                    ("from", from.into()),
                    ("to", to.into()),
                    ("action", action.into()),
                ],
            }
            .into(),
            Error::Db(e) => errors::internal_from("database error", &e),
            Error::Corrupt(e) => errors::internal_from("corrupt stored data", &e),
        }
    }
}

/// The gRPC code and message an error would be answered with, for answers
/// that carry one result per item (BatchRecordUsage).
pub fn status_of(err: Error) -> (i32, String) {
    let status = Status::from(err);
    (status.code() as i32, status.message().to_string())
}
