//! What every org-core gRPC adapter shares: resolving the caller, and
//! turning request fields into validated domain values with field paths.

use loopback_runtime::auth;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::validation;
use tonic::{Request, Status};
use uuid::Uuid;

use crate::convert::parse_etag;
use crate::error::Error;
use crate::model::Caller;
use crate::service::OrgCore;

impl OrgCore {
    /// The caller of a request (the auth interceptor attached its principal).
    pub async fn caller_of<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let principal = auth::principal(request)?;
        Ok(self.caller(&principal).await?)
    }
}

/// Parses `organizations/{id}` in `field`, recording a violation if bad.
pub fn org_id(v: &mut FieldViolations, field: &str, name: &str) -> Option<Uuid> {
    match validation::organization_name(name) {
        Ok(id) => Some(id),
        Err(e) => {
            v.add(field, e);
            None
        }
    }
}

/// Parses `organizations/{org}/{collection}/{id}` in `field`.
pub fn child_id(v: &mut FieldViolations, field: &str, name: &str, collection: &str) -> Option<(Uuid, Uuid)> {
    match validation::child_name(name, collection) {
        Ok(ids) => Some(ids),
        Err(e) => {
            v.add(field, e);
            None
        }
    }
}

/// Parses an optional etag in `field`.
pub fn etag(v: &mut FieldViolations, field: &str, etag: &str) -> Option<i64> {
    if etag.is_empty() {
        return None;
    }
    match parse_etag(etag) {
        Some(version) => Some(version),
        None => {
            v.add(field, "is not an etag this service issued");
            None
        }
    }
}

/// Parses an optional request id in `field`.
pub fn request_id(v: &mut FieldViolations, field: &str, value: &str) -> Option<String> {
    match validation::request_id(value) {
        Ok(id) => id,
        Err(e) => {
            v.add(field, e);
            None
        }
    }
}

/// Parses page size and token for a query.
pub fn page(v: &mut FieldViolations, page_size: i32, page_token: &str, query: &str) -> Option<PageRequest> {
    match PageRequest::parse(page_size, page_token, query) {
        Ok(p) => Some(p),
        Err((field, e)) => {
            v.add(field, e.to_string());
            None
        }
    }
}

/// Checks an update mask against the allowed paths; an empty mask means
/// every allowed path.
pub fn update_mask<'a>(v: &mut FieldViolations, mask: Option<&'a prost_types::FieldMask>, allowed: &[&'a str]) -> Vec<&'a str> {
    let paths: Vec<&str> = mask.map(|m| m.paths.iter().map(String::as_str).collect()).unwrap_or_default();
    if paths.is_empty() {
        return allowed.to_vec();
    }
    let mut out = Vec::new();
    for (i, path) in paths.into_iter().enumerate() {
        if allowed.contains(&path) {
            out.push(path);
        } else {
            v.add(
                format!("update_mask.paths[{i}]"),
                format!("unknown or immutable field {path:?}; updatable: {}", allowed.join(", ")),
            );
        }
    }
    out
}

/// Returns INVALID_ARGUMENT if anything was recorded.
pub fn done(v: FieldViolations) -> Result<(), Status> {
    v.into_result().map_err(|v| Error::InvalidArgument(v).into())
}
