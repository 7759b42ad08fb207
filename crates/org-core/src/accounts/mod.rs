//! Accounts: people, created from their token on first use.

pub mod grpc;
pub mod store;
