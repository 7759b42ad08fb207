//! sea-orm entities of billing's tables.

pub mod invoice;
pub mod invoice_counter;
pub mod invoice_line;
pub mod onboarding_report;
pub mod payment_method;
pub mod spending_alert;
pub mod spending_alert_outbox;
pub mod spending_limit;
pub mod usage_event;
