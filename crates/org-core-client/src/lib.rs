//! The client every Loopback service (billing, dns, integrations, ...) uses
//! to ask org-core's `AuthorityService` whether a principal may act in an
//! organization, and what that organization's policy (status, state,
//! limits, flags, features) is. Only org-core decides status policy
//! (DESIGN.md §4, §7); services ask through this crate and never
//! re-implement the table.
//!
//! ```no_run
//! # async fn create_zone(principal: loopback_runtime::auth::Principal) -> Result<(), loopback_org_core_client::AuthorityDenied> {
//! use loopback_org_core_client::{ActionClass, AuthorityClient, Config, Rpc};
//! use loopback_runtime::authz::perm;
//!
//! // A row of the service's RPC table (usually declared with `rpc_table!`).
//! const CREATE_ZONE: Rpc = Rpc::new("CreateZone", perm("dns.zones.create"), ActionClass::Create);
//!
//! let authority = AuthorityClient::connect(Config::new("http://org-core:50051", "<service token>"))
//!     .expect("valid settings");
//! // In the domain's CreateZone: NOT_FOUND, PERMISSION_DENIED, ENTITY_STATUS,
//! // FEATURE_DISABLED or AUTHORITY_UNAVAILABLE come back as a typed
//! // `AuthorityDenied`, which the service's error takes with `#[from]`.
//! let policy = authority
//!     .authorize_rpc(&principal, &CREATE_ZONE, "organizations/0190...")
//!     .await?;
//! let max_zones = policy.limit("max_dns_zones");
//! # let _ = max_zones; Ok(()) }
//! ```
//!
//! # Projects and workspaces
//!
//! Project-scoped resources authorize in their project (or workspace):
//! [`AuthorityClient::authorize_in`], [`AuthorityClient::require_in`] and
//! [`AuthorityClient::authorize_rpc_in`] take
//! `organizations/{id}/projects/{id}` or
//! `organizations/{id}/projects/{id}/workspaces/{id}` (decided as its
//! project) as well as an organization name. There the principal holds its
//! organization roles' permissions plus the project-scoped permissions of
//! its roles on that project; a project it may not see (missing, deleted,
//! or a project-only member's other projects) is NOT_FOUND, naming the
//! resource. [`AuthorityClient::project`] answers whether a project is
//! live, deleted (with its purge time) or purged, and
//! [`AuthorityClient::subscribe_lifecycle`] hands out organization and
//! project lifecycle events in feed order, so a service hides, restores
//! and purges what it keeps per project.
//!
//! # Caching
//!
//! Decisions are cached per (principal kind and subject, organization,
//! permission, resource, action class), policies per organization and
//! project lifecycles per project. A background task consumes
//! `WatchOrganizationPolicies`: a change of an organization (status, state,
//! capabilities, membership and project roles, a project's lifecycle, ...)
//! drops its cached decisions (but those read at a later revision, which
//! already include it) and replaces its policy, and a project change moves
//! that project's cached lifecycle, so a change reaches the cache as fast as
//! the feed delivers it. After a disconnect the task reconnects with jittered
//! backoff and resumes after the last revision it saw; when the feed no
//! longer has that revision it says `resync`, and the cache is emptied.
//! An answer fetched while its organization was being invalidated is not
//! cached. Only canonical names (`organizations/<lower-case uuid>`, the
//! feed's spelling) are cached.
//! [`AuthorityClient::stats`] tells what the client did (RPCs, watch
//! reconnects, the last revision seen, stale answers, fail-closed checks).
//!
//! A cache hit takes a read lock and three hash lookups on borrowed
//! strings; it allocates nothing and makes no RPC (the returned
//! [`Authorization`] shares its message and policy by `Arc`). Measured with
//! `cargo run --release -p loopback-org-core-client --example bench_authorize`
//! (loopbackd in-process on SQLite, cache warm, 1 000 000 cached `authorize`
//! calls, no RPC during the timed runs) on the shared 2-core development VM
//! under a load average of about 2.5:
//!
//! - **one task: 164–215 ns per cached `authorize`** (four runs; ≈ 0.2 µs),
//! - two tasks at once: 260–460 ns per call each, 4.7–7.7 million checks
//!   per second in total.
//!
//! A cache miss costs one Authorize round trip to org-core.
//!
//! # Failure behaviour
//!
//! - Every RPC has a deadline ([`Config::deadline`], default 2 s); every
//!   AuthorityService RPC is an idempotent read, retried after UNAVAILABLE,
//!   DEADLINE_EXCEEDED and the like with jittered exponential backoff
//!   ([`RetryPolicy`]).
//! - A cached entry is **fresh** while the watch stream is connected, or
//!   while it was fetched (or the stream was last alive) within
//!   [`Config::staleness`] (default 30 s). Fresh entries answer without an
//!   RPC.
//! - When org-core cannot be reached: READ checks answer from cache however
//!   old; SETUP, CREATE and OPERATE checks answer only from fresh entries
//!   and otherwise fail closed with UNAVAILABLE / `AUTHORITY_UNAVAILABLE`.
//!   After a failed call, org-core is not retried for
//!   [`Config::probe_interval`], so an outage does not cost every request a
//!   deadline.
//! - Everything recovers by itself: the watch task keeps reconnecting, and
//!   the next call after org-core returns succeeds.

/// The capability flag org-core raises while an organization's hard spending
/// limit is reached (billing sets it through
/// [`AuthorityClient::set_spending_limit_reached`]); org-core then refuses
/// every CREATE action with SPENDING_LIMIT_REACHED.
pub const SPENDING_LIMIT_REACHED_FLAG: &str = "spending_limit_reached";

mod args;
mod audit;
mod cache;
mod client;
mod config;
mod error;
mod follow;
mod model;
mod onboarding;
mod unscoped;

pub use args::AuthorityArgs;
pub use client::{AuthorityClient, Stats};
pub use config::{Config, RetryPolicy};
pub use error::{AuthorityDenied, AuthorityError, ConnectError};
pub use follow::{Cadence, LifecycleFollower, follow_lifecycle};
pub use loopback_runtime::auth::{Principal, PrincipalKind};
pub use loopback_runtime::authz::Rpc;
pub use model::{
    ActionClass, Authorization, Decision, LifecycleChange, LifecycleEvent, OrganizationPolicy,
    ProjectLifecycle, State, VerificationStatus,
};
pub use onboarding::{LegalProfile, PAYMENT_METHOD_ITEM};
