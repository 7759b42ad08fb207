//! What every org-core gRPC adapter shares: resolving the caller, and
//! turning request fields into validated domain values with field paths.

use loopback_runtime::auth;
use tonic::{Request, Status};

use crate::model::Caller;
use crate::service::OrgCore;

impl OrgCore {
    /// The caller of a request (the auth interceptor attached its principal).
    pub async fn caller_of<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let principal = auth::principal(request)?;
        Ok(self.caller(&principal).await?)
    }
}

pub use loopback_runtime::fields::{
    child_id, done, org_id, page, parse_etag as etag, request_id, update_mask,
};
