//! Request validation that returns values: [`Fields`] parses each field of
//! a request into a domain value and records a violation naming the field
//! when it is bad, so one INVALID_ARGUMENT names every bad field at once.
//!
//! Every parser returns `Option<T>`: `Some` when the field is good, `None`
//! exactly when it recorded a violation. [`Fields::finish`] takes the
//! parsed parts and hands back plain values only if nothing was bad, so an
//! adapter never sees a half-validated request:
//!
//! ```
//! use loopback_runtime::fields::Fields;
//! # fn parse(parent: &str, display_name: &str) -> Result<(uuid::Uuid, String), loopback_runtime::errors::FieldViolations> {
//! let mut f = Fields::new();
//! let org = f.organization("parent", parent);
//! let name = f.display_name("project.display_name", display_name);
//! let (org, name) = f.finish((org, name))?;
//! # Ok((org, name)) }
//! # assert!(parse("organizations/x", "").is_err());
//! ```

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::errors::FieldViolations;
use crate::pagination::PageRequest;
use crate::validation;

/// Collects the violations of one request while parsing its fields.
#[derive(Debug, Default)]
pub struct Fields {
    violations: FieldViolations,
}

impl Fields {
    /// Nothing parsed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.add(field, description);
    }

    /// The value of a check, or `None` after recording its error against
    /// `field`.
    pub fn take<T, E: Into<String>>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    /// Records the error of a check that yields no value.
    pub fn check(&mut self, field: &str, result: Result<(), String>) {
        self.take(field, result);
    }

    /// Records "is required" when `value` is absent.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        self.take(field, value.ok_or("is required"))
    }

    /// A required sub-message: its value, or (after recording "is
    /// required") an empty one, so its own fields are still checked and
    /// named.
    pub fn message<T: Default>(&mut self, field: &str, value: Option<T>) -> T {
        self.required(field, value).unwrap_or_default()
    }

    /// Adds violations found elsewhere (e.g. by a domain-specific parser).
    pub fn extend(&mut self, violations: FieldViolations) {
        self.violations.extend(violations);
    }

    /// `organizations/{id}`.
    pub fn organization(&mut self, field: &str, name: &str) -> Option<Uuid> {
        self.take(field, validation::organization_name(name))
    }

    /// An optional `organizations/{id}`: `None` inside when empty.
    pub fn optional_organization(&mut self, field: &str, name: &str) -> Option<Option<Uuid>> {
        if name.is_empty() {
            return Some(None);
        }
        self.organization(field, name).map(Some)
    }

    /// `organizations/{org}/{collection}/{id}`.
    pub fn child(&mut self, field: &str, name: &str, collection: &str) -> Option<(Uuid, Uuid)> {
        self.take(field, validation::child_name(name, collection))
    }

    /// `organizations/{org}/{collection}/{id}` with a user-chosen id.
    pub fn child_with_id(
        &mut self,
        field: &str,
        name: &str,
        collection: &str,
    ) -> Option<(Uuid, String)> {
        self.take(field, validation::child_name_with_id(name, collection))
    }

    /// A resource name (see [`crate::resource_name!`]).
    pub fn name<N: crate::names::ResourceName>(&mut self, field: &str, name: &str) -> Option<N> {
        self.take(field, N::parse(name))
    }

    /// An optional `request_id` (a UUID), canonical; `None` inside when empty.
    pub fn request_id(&mut self, field: &str, value: &str) -> Option<Option<String>> {
        self.take(field, validation::request_id(value))
    }

    /// An optional etag this service issued; `None` inside when empty.
    pub fn etag(&mut self, field: &str, etag: &str) -> Option<Option<i64>> {
        self.take(field, parse_etag(etag))
    }

    /// Page size and token of a list request over `query` (every filter
    /// that shapes the result, so a token cannot be replayed elsewhere).
    pub fn page(&mut self, page_size: i32, page_token: &str, query: &str) -> Option<PageRequest> {
        match PageRequest::parse(page_size, page_token, query) {
            Ok(page) => Some(page),
            Err((field, e)) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// The update mask's paths, each checked against `allowed`; an empty
    /// mask means every allowed path.
    pub fn update_mask<'a>(
        &mut self,
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
                self.add(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "unknown or immutable field {}; updatable: {}",
                        crate::errors::quote(path),
                        allowed.join(", ")
                    ),
                );
            }
        }
        out
    }

    /// A display name, trimmed.
    pub fn display_name(&mut self, field: &str, value: &str) -> Option<String> {
        self.take(
            field,
            validation::display_name(value).map(|()| value.trim().to_string()),
        )
    }

    /// Free text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.take(
            field,
            validation::bounded_text(value, max).map(|()| value.to_string()),
        )
    }

    /// Labels, checked and sorted.
    pub fn labels(
        &mut self,
        field: &str,
        labels: &HashMap<String, String>,
    ) -> Option<BTreeMap<String, String>> {
        self.take(
            field,
            validation::labels(labels.iter())
                .map(|()| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        )
    }

    /// An optional timestamp; `None` inside when absent.
    pub fn time(
        &mut self,
        field: &str,
        t: Option<prost_types::Timestamp>,
    ) -> Option<Option<DateTime<Utc>>> {
        let Some(t) = t else { return Some(None) };
        let parsed = u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| DateTime::<Utc>::from_timestamp(t.seconds, nanos));
        self.take(field, parsed.map(Some).ok_or("is not a valid timestamp"))
    }

    /// An email address, normalised.
    pub fn email(&mut self, field: &str, value: &str) -> Option<String> {
        self.take(field, validation::email(value))
    }

    /// True when nothing was bad so far.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The parsed `parts` as plain values when no field was bad; otherwise
    /// every violation.
    pub fn finish<T: Complete>(self, parts: T) -> Result<T::Values, FieldViolations> {
        self.violations.into_result()?;
        // Every parser returns `None` only after recording a violation, so
        // with none recorded every part is present.
        parts.complete().ok_or_else(|| {
            FieldViolations::single("", "a field could not be read; check the request")
        })
    }

    /// The violations so far, when there are any (for requests whose
    /// parts are checked one by one, like batches).
    pub fn into_result(self) -> Result<(), FieldViolations> {
        self.violations.into_result()
    }
}

/// Parts of a request that [`Fields::finish`] turns into plain values: an
/// `Option` or a tuple of them.
pub trait Complete {
    /// The values when every part is present.
    type Values;
    /// Every part's value, or `None` if one is missing.
    fn complete(self) -> Option<Self::Values>;
}

impl<T> Complete for Option<T> {
    type Values = T;
    fn complete(self) -> Option<T> {
        self
    }
}

macro_rules! complete_tuple {
    ($($name:ident),+) => {
        impl<$($name),+> Complete for ($(Option<$name>,)+) {
            type Values = ($($name,)+);
            #[allow(non_snake_case)]
            fn complete(self) -> Option<Self::Values> {
                let ($($name,)+) = self;
                Some(($($name?,)+))
            }
        }
    };
}

complete_tuple!(A);
complete_tuple!(A, B);
complete_tuple!(A, B, C);
complete_tuple!(A, B, C, D);
complete_tuple!(A, B, C, D, E);
complete_tuple!(A, B, C, D, E, F);
complete_tuple!(A, B, C, D, E, F, G);
complete_tuple!(A, B, C, D, E, F, G, H);
complete_tuple!(A, B, C, D, E, F, G, H, I);
complete_tuple!(A, B, C, D, E, F, G, H, I, J);
complete_tuple!(A, B, C, D, E, F, G, H, I, J, K);
complete_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);

/// `organizations/{id}`.
pub fn org_name(id: Uuid) -> String {
    format!("organizations/{id}")
}

/// Etag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Parses an etag this service issued; `None` when empty.
pub fn parse_etag(etag: &str) -> Result<Option<i64>, &'static str> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .and_then(|e| e.parse().ok())
        .map(Some)
        .ok_or("is not an etag this service issued")
}

/// A protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An optional protobuf timestamp.
pub fn opt_timestamp(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(timestamp)
}

/// The field helpers adapters used before [`Fields`]; kept only while the
/// services move to `Fields` and `TryFrom` inputs.
#[doc(hidden)]
pub mod legacy {
    use tonic::Status;
    use uuid::Uuid;

    use crate::errors::{self, FieldViolations};
    use crate::pagination::PageRequest;
    use crate::validation;

    pub use super::{etag, opt_timestamp, org_name, timestamp};

    /// Parses `organizations/{id}` in `field`.
    pub fn org_id(v: &mut FieldViolations, field: &str, name: &str) -> Option<Uuid> {
        validation::organization_name(name)
            .map_err(|e| v.add(field, e))
            .ok()
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

    /// Parses an optional etag in `field`.
    pub fn parse_etag(v: &mut FieldViolations, field: &str, etag: &str) -> Option<i64> {
        super::parse_etag(etag)
            .map_err(|e| v.add(field, e))
            .ok()
            .flatten()
    }

    /// Checks an update mask against the allowed paths.
    pub fn update_mask<'a>(
        v: &mut FieldViolations,
        mask: Option<&'a prost_types::FieldMask>,
        allowed: &[&'a str],
    ) -> Vec<&'a str> {
        let mut f = super::Fields::new();
        let out = f.update_mask(mask, allowed);
        if let Err(bad) = f.into_result() {
            v.extend(bad);
        }
        out
    }

    /// A UTC time from a protobuf timestamp in `field`.
    pub fn time(
        v: &mut FieldViolations,
        field: &str,
        t: Option<prost_types::Timestamp>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let mut f = super::Fields::new();
        let out = f.time(field, t).flatten();
        if let Err(bad) = f.into_result() {
            v.extend(bad);
        }
        out
    }

    /// INVALID_ARGUMENT naming every recorded field, if any.
    pub fn done(v: FieldViolations) -> Result<(), Status> {
        v.into_result().map_err(|v| errors::invalid_argument(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_returns_values_only_when_every_field_is_good() {
        let id = Uuid::now_v7();
        let mut f = Fields::new();
        let org = f.organization("parent", &format!("organizations/{id}"));
        let name = f.display_name("display_name", "  Acme ");
        let rid = f.request_id("request_id", "");
        assert_eq!(
            f.finish((org, name, rid)),
            Ok((id, "Acme".to_string(), None))
        );

        let mut f = Fields::new();
        let org = f.organization("parent", "nope");
        let name = f.display_name("display_name", "");
        let etag = f.etag("etag", "bogus");
        let err = f.finish((org, name, etag)).expect_err("bad");
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["parent", "display_name", "etag"]);
    }

    #[test]
    fn a_missing_message_is_named_and_its_fields_still_checked() {
        let mut f = Fields::new();
        let m: prost_types::Timestamp = f.message("event", None);
        assert_eq!(m, prost_types::Timestamp::default());
        let t = f.time(
            "event.event_time",
            Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
        );
        let err = f.finish(t).expect_err("bad");
        assert_eq!(err.violations().len(), 2);
    }
}
