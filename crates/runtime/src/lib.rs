//! The runtime every Loopback service shares.
//!
//! - [`config`]: common command-line/environment settings.
//! - [`telemetry`]: tracing-subscriber set-up.
//! - [`server`]: gRPC server bootstrap with reflection, health and graceful shutdown.
//! - [`auth`]: bearer-token verification, principals, dev token minting.
//! - [`errors`]: builders for `tonic::Status` with `google.rpc` details.
//! - [`fields`]: request-field parsing that names bad fields.
//! - [`pagination`]: opaque keyset page tokens and page-size rules.
//! - [`db`]: SQLite/PostgreSQL connections.
//! - [`validation`]: field checks shared by every API.
//! - [`secrets`]: AES-256-GCM encryption of secrets at rest, with key rotation.

pub mod auth;
pub mod config;
pub mod db;
pub mod errors;
pub mod fields;
pub mod pagination;
pub mod secrets;
pub mod server;
pub mod telemetry;
pub mod validation;
