//! sea-orm entities of billing's tables.

pub mod payment_method;
pub mod usage_event;
