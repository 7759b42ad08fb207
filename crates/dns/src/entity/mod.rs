//! sea-orm entities of dns's tables.

pub mod delegation;
pub mod domain;
pub mod domain_claim;
pub mod network_bridge;
pub mod record;
pub mod usage_report;
pub mod zone;
