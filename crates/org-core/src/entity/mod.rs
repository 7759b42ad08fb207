//! sea-orm entities of org-core's tables. Only the store modules use them.

pub mod account;
pub mod audit_event;
pub mod capability_override;
pub mod membership;
pub mod membership_role;
pub mod organization;
pub mod policy_change;
pub mod project;
