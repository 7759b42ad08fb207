//! dns's typed errors and their one conversion into `tonic::Status`.

use std::collections::HashMap;

use loopback_org_core_client::AuthorityDenied;
use loopback_runtime::db::DbErr;
use loopback_runtime::errors::{self, FieldViolations, Refusal};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// ErrorInfo reason of adding or verifying a domain another organization
/// verified.
pub const DOMAIN_ALREADY_VERIFIED: &str = "DOMAIN_ALREADY_VERIFIED";
/// ErrorInfo reason of a failed ownership check.
pub const DOMAIN_VERIFICATION_FAILED: &str = "DOMAIN_VERIFICATION_FAILED";
/// ErrorInfo reason of a verb the domain's state does not allow.
pub const INVALID_DOMAIN_STATE: &str = "INVALID_DOMAIN_STATE";
/// ErrorInfo reason of a bridge state change the lifecycle does not allow.
pub const INVALID_BRIDGE_TRANSITION: &str = "INVALID_BRIDGE_TRANSITION";
/// ErrorInfo reason of overlapping bridge address ranges.
pub const CIDR_OVERLAP: &str = "CIDR_OVERLAP";

/// Result alias for dns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in dns, without knowing about gRPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal from the DESIGN.md §3 table (bad input, NOT_FOUND, ...).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The authority did not let the call through.
    #[error(transparent)]
    Denied(#[from] AuthorityDenied),
    /// Another organization verified this domain name. Says nothing about
    /// which one.
    #[error("{domain} is verified by another organization")]
    DomainClaimed {
        /// The name (ASCII, no trailing dot).
        domain: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// Stored data cannot be read (a bug or a manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// NOT_FOUND, revealing nothing.
    pub fn not_found(name: impl Into<String>) -> Self {
        Refusal::NotFound(name.into()).into()
    }

    /// ABORTED / ETAG_MISMATCH on `name`.
    pub fn etag_mismatch(name: impl Into<String>) -> Self {
        Refusal::EtagMismatch(name.into()).into()
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
            Error::DomainClaimed { domain } => Status::with_error_details(
                Code::AlreadyExists,
                format!(
                    "{domain} is verified by another organization: it can be added here once that organization removes it or its registration expires"
                ),
                ErrorDetails::with_error_info(
                    DOMAIN_ALREADY_VERIFIED,
                    errors::DOMAIN,
                    HashMap::from([("domain".to_string(), domain)]),
                ),
            ),
            Error::Db(e) => errors::internal_from("database error", &e),
            Error::Corrupt(e) => errors::internal_from("corrupt stored data", &e),
        }
    }
}
