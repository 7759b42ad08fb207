//! The runtime every Loopback service shares — the service kit.
//!
//! - [`service`]: the `Service` trait every service implements, the `Host`
//!   that runs one or many of them, `migrate` and `rotate-secrets`.
//! - [`rpc`]: the adapter shape (parse, one domain call, map).
//! - [`fields`]: request validation that returns values and names every
//!   bad field.
//! - [`authz`]: action classes, statuses, states and RPC tables.
//! - [`catalog`]: the published permission catalog.
//! - [`tx`]: the one write path (per-organization lock, `request_id`,
//!   `validate_only`, audit) and [`outbox`], which relays audit records to
//!   org-core.
//! - [`errors`]: `Refusal` (the DESIGN.md §3 error table as data) and the
//!   builders of `tonic::Status` with `google.rpc` details.
//! - [`config`], [`telemetry`], [`server`]: flags, tracing, the gRPC
//!   server bootstrap.
//! - [`auth`]: bearer tokens and principals.
//! - [`names`]: parsed resource names (`resource_name!`).
//! - [`pagination`], [`validation`], [`db`], [`secrets`].

pub mod auth;
pub mod authz;
pub mod catalog;
pub mod config;
pub mod db;
pub mod errors;
pub mod fields;
pub mod names;
pub mod outbox;
pub mod pagination;
pub mod rpc;
pub mod secrets;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod tx;
pub mod validation;

/// Re-exported for [`resource_name!`]: the ids in resource names.
pub use uuid;
