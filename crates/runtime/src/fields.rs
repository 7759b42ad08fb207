//! Request-field helpers every gRPC adapter shares: each parses one field
//! into a domain value and records a violation naming the field when it is
//! bad, so a handler reports every bad field at once with [`done`].

use tonic::Status;
use uuid::Uuid;

use crate::errors::{self, FieldViolations};
use crate::pagination::PageRequest;
use crate::validation;

/// Parses `organizations/{id}` in `field`.
pub fn org_id(v: &mut FieldViolations, field: &str, name: &str) -> Option<Uuid> {
    validation::organization_name(name)
        .map_err(|e| v.add(field, e))
        .ok()
}

/// `organizations/{id}`.
pub fn org_name(id: Uuid) -> String {
    format!("organizations/{id}")
}

/// Parses `organizations/{org}/{collection}/{id}` in `field`.
pub fn child_id(
    v: &mut FieldViolations,
    field: &str,
    name: &str,
    collection: &str,
) -> Option<(Uuid, Uuid)> {
    validation::child_name(name, collection)
        .map_err(|e| v.add(field, e))
        .ok()
}

/// Parses an optional request id in `field`.
pub fn request_id(v: &mut FieldViolations, field: &str, value: &str) -> Option<String> {
    validation::request_id(value)
        .map_err(|e| v.add(field, e))
        .ok()
        .flatten()
}

/// Parses page size and token for a query.
pub fn page(
    v: &mut FieldViolations,
    page_size: i32,
    page_token: &str,
    query: &str,
) -> Option<PageRequest> {
    PageRequest::parse(page_size, page_token, query)
        .map_err(|(field, e)| v.add(field, e.to_string()))
        .ok()
}

/// Etag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Parses an optional etag in `field`.
pub fn parse_etag(v: &mut FieldViolations, field: &str, etag: &str) -> Option<i64> {
    if etag.is_empty() {
        return None;
    }
    let version = etag
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .and_then(|e| e.parse().ok());
    if version.is_none() {
        v.add(field, "is not an etag this service issued");
    }
    version
}

/// Checks an update mask against the allowed paths; an empty mask means
/// every allowed path.
pub fn update_mask<'a>(
    v: &mut FieldViolations,
    mask: Option<&'a prost_types::FieldMask>,
    allowed: &[&'a str],
) -> Vec<&'a str> {
    let paths: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
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
                format!(
                    "unknown or immutable field {path:?}; updatable: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    out
}

/// A protobuf timestamp.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An optional protobuf timestamp.
pub fn opt_timestamp(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<prost_types::Timestamp> {
    t.map(timestamp)
}

/// A UTC time from a protobuf timestamp in `field`.
pub fn time(
    v: &mut FieldViolations,
    field: &str,
    t: Option<prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = t?;
    let parsed = u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| chrono::DateTime::<chrono::Utc>::from_timestamp(t.seconds, nanos));
    if parsed.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    parsed
}

/// INVALID_ARGUMENT naming every recorded field, if any.
pub fn done(v: FieldViolations) -> Result<(), Status> {
    v.into_result().map_err(|v| errors::invalid_argument(&v))
}
