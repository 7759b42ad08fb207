//! sea-orm entities of the integrations service's tables.

pub mod bundle;
pub mod delivery;
pub mod delivery_attempt;
pub mod deployment;
pub mod environment;
pub mod environment_variable;
pub mod git_connection;
pub mod git_oauth_state;
pub mod git_provider;
pub mod monitoring_source;
pub mod notification_channel;
pub mod notification_event;
pub mod operation;
pub mod repository;
pub mod revision;
