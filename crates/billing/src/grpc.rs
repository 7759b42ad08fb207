//! Request-field helpers for billing's adapters (shared with every service).

pub use loopback_runtime::fields::{child_id, done, org_id, org_name, page, request_id, timestamp};
