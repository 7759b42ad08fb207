//! sea-orm entities of org-core's tables. Only the store modules use them.

pub mod account;
pub mod audit_event;
pub mod auth_provider;
pub mod capability_override;
pub mod custom_role;
pub mod invite;
pub mod limit_increase_request;
pub mod membership;
pub mod membership_role;
pub mod onboarding_item;
pub mod onboarding_submission;
pub mod organization;
pub mod organization_profile;
pub mod plan;
pub mod policy_change;
pub mod policy_feed_meta;
pub mod project;
pub mod project_role_binding;
pub mod quota_reservation;
pub mod usage_report;
