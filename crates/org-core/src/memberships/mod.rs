//! Memberships: which accounts belong to which organization, with which roles.

pub mod store;
