//! What can go wrong asking the authority, and how it looks to a gRPC caller.

use loopback_runtime::errors;
use tonic::{Code, Status};

/// Why [`crate::AuthorityClient`] could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthorityError {
    /// org-core could not be reached (or refused this service's
    /// credentials, or failed internally) and nothing fresh enough is
    /// cached: fail closed. Becomes UNAVAILABLE / AUTHORITY_UNAVAILABLE.
    #[error("authority unavailable: {0}")]
    Unavailable(String),
    /// The organization does not exist (from
    /// [`crate::AuthorityClient::policy`]). Becomes NOT_FOUND.
    #[error("{0} not found")]
    NotFound(String),
    /// org-core refused the request itself as invalid (a malformed
    /// organization name, a permission not in the catalog, ...). Becomes
    /// that INVALID_ARGUMENT, with its field violations.
    #[error("org-core rejected the request: {}", .0.message())]
    Rejected(Status),
}

impl AuthorityError {
    /// Sorts a failed call: bad input is the caller's problem, NOT_FOUND is
    /// an answer, everything else means the authority cannot be used now.
    pub(crate) fn from_status(status: Status, organization: &str) -> Self {
        match status.code() {
            Code::InvalidArgument => Self::Rejected(status),
            Code::NotFound => Self::NotFound(organization.to_string()),
            code => Self::Unavailable(format!("org-core answered {code:?}: {}", status.message())),
        }
    }
}

impl From<AuthorityError> for Status {
    fn from(err: AuthorityError) -> Self {
        match err {
            AuthorityError::Unavailable(cause) => {
                tracing::warn!(%cause, "failing closed: the authority is unavailable");
                errors::authority_unavailable(
                    "the authority (org-core) cannot be reached and no fresh policy is cached: retry shortly".into(),
                )
            }
            AuthorityError::NotFound(organization) => errors::not_found(&organization),
            AuthorityError::Rejected(status) => status,
        }
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
