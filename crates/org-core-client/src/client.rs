//! [`AuthorityClient`]: the cache in front of org-core's AuthorityService,
//! the unary calls behind it, and the watch task that keeps it honest.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::orgcore::v1::authority_service_client::AuthorityServiceClient;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::authz::{Callers, Rpc, State};
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::service::AuthorityLink;
use tokio::sync::broadcast;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

use crate::cache::{Cache, DecisionKey, ProjectChange};
use crate::config::Config;
use crate::error::{AuthorityDenied, AuthorityError, ConnectError};
use crate::model::{
    ActionClass, Authorization, LifecycleChange, LifecycleEvent, OrganizationPolicy,
    ProjectLifecycle, Target, canonical_project_org, is_canonical_org,
};

/// Lifecycle events buffered per subscriber before it lags.
const LIFECYCLE_BUFFER: usize = 4096;

/// Adds `authorization: Bearer <service token>` to every call; the token
/// can be replaced while calls are in flight.
#[derive(Clone)]
pub(crate) struct BearerToken(Arc<RwLock<MetadataValue<Ascii>>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

fn bearer(token: &str) -> Result<MetadataValue<Ascii>, ConnectError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ConnectError::Token);
    }
    let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| ConnectError::Token)?;
    value.set_sensitive(true);
    Ok(value)
}

type AuthorityRpc = AuthorityServiceClient<InterceptedService<Channel, BearerToken>>;

/// Counters of what the client did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Unary RPC attempts (Authorize, GetOrganizationPolicy), retries
    /// included. Cache hits make none.
    pub rpcs: u64,
    /// Times the watch stream was (re)established.
    pub watch_connects: u64,
    /// Changes received on the watch stream.
    pub watch_changes: u64,
    /// READ checks answered from a stale cache because org-core was
    /// unreachable.
    pub stale_answers: u64,
    /// Checks failed closed because org-core was unreachable and nothing
    /// fresh was cached.
    pub fail_closed: u64,
    /// Decisions cached now.
    pub cached_decisions: usize,
    /// Project lifecycles cached now.
    pub cached_projects: usize,
    /// Whether the watch stream is connected now.
    pub watch_connected: bool,
    /// The last feed revision the watch stream delivered (0 before any).
    pub watched_revision: i64,
}

#[derive(Default)]
struct Counters {
    rpcs: AtomicU64,
    watch_connects: AtomicU64,
    watch_changes: AtomicU64,
    stale_answers: AtomicU64,
    fail_closed: AtomicU64,
    watched_revision: AtomicI64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

struct Shared {
    rpc: AuthorityRpc,
    channel: Channel,
    token: BearerToken,
    cache: Cache,
    config: Config,
    counters: Counters,
    lifecycle: broadcast::Sender<LifecycleEvent>,
    /// The deployment's features (ListFeatures), for RPCs outside any
    /// organization; see `unscoped.rs`.
    pub(crate) deployment_features: crate::unscoped::FeatureCache,
}

struct Inner {
    shared: Arc<Shared>,
    watcher: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The one client every service uses to ask org-core's AuthorityService.
///
/// Cheap to clone (clones share the cache, the connection and the watch
/// task); the watch task stops when the last clone is dropped.
#[derive(Clone)]
pub struct AuthorityClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for AuthorityClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityClient")
            .field("config", &self.inner.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Failures worth another attempt of an idempotent read.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
    )
}

/// Failures that say org-core (or the way to it) is down, rather than
/// that it answered.
fn unreachable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
    )
}

/// A principal on the wire.
pub(crate) fn principal_to_pb(principal: &Principal) -> tpb::Principal {
    let kind = match principal.kind {
        PrincipalKind::Account => tpb::PrincipalKind::Account,
        PrincipalKind::Service => tpb::PrincipalKind::Service,
        PrincipalKind::Operator => tpb::PrincipalKind::Operator,
    };
    tpb::Principal {
        kind: kind.into(),
        subject: principal.subject.clone(),
        email: principal.email.clone().unwrap_or_default(),
    }
}

impl AuthorityClient {
    /// Creates the client over a lazily connected channel to
    /// `config.endpoint` and starts the watch task that feeds and
    /// invalidates the cache. Must be called inside a Tokio runtime.
    /// Nothing is dialled yet: a down org-core is not an error here.
    pub fn connect(config: Config) -> Result<Self, ConnectError> {
        if config.deadline.is_zero() {
            return Err(ConnectError::Setting("deadline must be positive"));
        }
        if config.staleness.is_zero() {
            return Err(ConnectError::Setting("staleness must be positive"));
        }
        if config.retry.attempts == 0 {
            return Err(ConnectError::Setting("retry.attempts must be at least 1"));
        }
        if config.keepalive.is_zero() {
            return Err(ConnectError::Setting("keepalive must be positive"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConnectError::NoRuntime)?;
        let endpoint = Endpoint::from_shared(config.endpoint.clone())
            .map_err(|e| ConnectError::Endpoint {
                endpoint: config.endpoint.clone(),
                message: e.to_string(),
            })?
            .connect_timeout(config.deadline)
            .http2_keep_alive_interval(config.keepalive)
            .keep_alive_timeout(config.keepalive)
            .keep_alive_while_idle(true);
        let token = BearerToken(Arc::new(RwLock::new(bearer(&config.service_token)?)));
        let channel = endpoint.connect_lazy();
        let rpc = AuthorityServiceClient::with_interceptor(channel.clone(), token.clone());
        let shared = Arc::new(Shared {
            rpc,
            channel,
            token,
            cache: Cache::new(config.staleness, config.max_cached_decisions),
            config,
            counters: Counters::default(),
            lifecycle: broadcast::channel(LIFECYCLE_BUFFER).0,
            deployment_features: crate::unscoped::FeatureCache::default(),
        });
        let watcher = runtime.spawn(watch(Arc::clone(&shared))).abort_handle();
        Ok(Self {
            inner: Arc::new(Inner { shared, watcher }),
        })
    }

    /// Decides whether `principal` may perform a `class` action needing
    /// `permission` (e.g. `dns.zones.create`) in `organization`
    /// (`organizations/{id}`), with the organization's policy. Only the
    /// principal's organization roles count here; for an action in a
    /// project use [`AuthorityClient::authorize_in`].
    ///
    /// A fresh cached decision answers without an RPC. Otherwise org-core
    /// is asked (deadline, retries); when it cannot be reached, a READ is
    /// answered from cache however old, and every other class fails closed
    /// with [`AuthorityError::Unavailable`].
    pub async fn authorize(
        &self,
        principal: &Principal,
        organization: &str,
        permission: &str,
        class: ActionClass,
    ) -> Result<Authorization, AuthorityError> {
        let target = Target {
            organization,
            resource: "",
            scope: "",
            cacheable: is_canonical_org(organization),
        };
        self.decide(principal, target, permission, class).await
    }

    /// [`AuthorityClient::authorize`] for an action in `resource`: an
    /// organization (`organizations/{id}`), a project
    /// (`organizations/{id}/projects/{id}`) or a workspace under one
    /// (`.../workspaces/{id}`, decided exactly as its project). In a
    /// project the principal holds its organization roles' permissions
    /// plus the project-scoped permissions of its roles on that project; a
    /// missing or deleted project, or one a project-only member is not
    /// bound to, is [`crate::Decision::DenyNotFound`]. Decisions are cached
    /// per project (a workspace shares its project's) and dropped by any
    /// change of the organization on the feed, bindings and project
    /// lifecycle included.
    pub async fn authorize_in(
        &self,
        principal: &Principal,
        resource: &str,
        permission: &str,
        class: ActionClass,
    ) -> Result<Authorization, AuthorityError> {
        self.decide(principal, Target::parse(resource), permission, class)
            .await
    }

    async fn decide(
        &self,
        principal: &Principal,
        target: Target<'_>,
        permission: &str,
        class: ActionClass,
    ) -> Result<Authorization, AuthorityError> {
        let shared = &self.inner.shared;
        let organization = target.organization;
        let key = DecisionKey {
            organization,
            resource: target.scope,
            kind: principal.kind,
            subject: &principal.subject,
            permission,
            class,
        };
        let cacheable = target.cacheable;
        let cached = if cacheable {
            shared.cache.decision(key)
        } else {
            None
        };
        let stale = match cached {
            Some((authorization, confirmed_at)) if shared.cache.is_fresh(confirmed_at) => {
                return Ok(authorization);
            }
            Some((authorization, _)) if class == ActionClass::Read => Some(authorization),
            _ => None,
        };
        if shared.cache.known_unreachable() {
            return shared.without_authority(stale, "org-core was unreachable moments ago");
        }
        // A stale read has its answer already: one quick try, no retries.
        let attempts = if stale.is_some() {
            1
        } else {
            shared.config.retry.attempts
        };
        let epoch = shared.cache.epoch(organization);
        let request = pb::AuthorizeRequest {
            principal: Some(principal_to_pb(principal)),
            organization: organization.to_string(),
            permission: permission.to_string(),
            action_class: class.to_pb().into(),
            resource: target.resource.to_string(),
        };
        let response = shared
            .call(
                organization,
                attempts,
                request,
                |mut rpc, request| async move { rpc.authorize(request).await },
            )
            .await;
        match response {
            Ok(response) => {
                let authorization = Authorization::from_pb(response).ok_or_else(|| {
                    bump(&shared.counters.fail_closed);
                    AuthorityError::Unavailable(
                        "org-core answered a decision this client does not know".into(),
                    )
                })?;
                if cacheable {
                    shared.cache.store_decision(epoch, key, &authorization);
                }
                Ok(authorization)
            }
            Err(AuthorityError::Unavailable(cause)) => shared.without_authority(stale, &cause),
            Err(other) => Err(other),
        }
    }

    /// [`AuthorityClient::authorize`], turned into the policy when allowed
    /// and a typed [`AuthorityDenied`] otherwise: NOT_FOUND,
    /// PERMISSION_DENIED (naming `permission`), ENTITY_STATUS (with the
    /// organization's status and state and `action`, the refused method,
    /// e.g. `CreateZone`), SPENDING_LIMIT_REACHED or AUTHORITY_UNAVAILABLE,
    /// per DESIGN.md §3.
    pub async fn require(
        &self,
        principal: &Principal,
        organization: &str,
        permission: &str,
        class: ActionClass,
        action: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        self.authorize(principal, organization, permission, class)
            .await?
            .require(organization, permission, action)
    }

    /// [`AuthorityClient::require`] for an action in `resource` (see
    /// [`AuthorityClient::authorize_in`]); NOT_FOUND names `resource`.
    pub async fn require_in(
        &self,
        principal: &Principal,
        resource: &str,
        permission: &str,
        class: ActionClass,
        action: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        let organization = Target::parse(resource).organization;
        self.authorize_in(principal, resource, permission, class)
            .await?
            .require_at(organization, resource, permission, action)
    }

    /// Authorizes one row of a service's RPC table for `organization`
    /// (`organizations/{id}`): the caller (a permission in the organization
    /// with the status table's verdict on the action class, or the kind of
    /// principal the method is for), then the method's feature:
    /// FEATURE_DISABLED when the deployment has it off, or — naming the
    /// plan ("enterprise-only") — when the organization's plan does not
    /// include it. Every domain method of a service starts with this; it
    /// returns the organization's policy.
    pub async fn authorize_rpc(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        organization: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        let target = Target {
            organization,
            resource: "",
            scope: "",
            cacheable: is_canonical_org(organization),
        };
        self.authorize_rpc_at(principal, rpc, target).await
    }

    /// [`AuthorityClient::authorize_rpc`] for a method acting in `resource`:
    /// an organization, a project or a workspace under one (see
    /// [`AuthorityClient::authorize_in`]). For rows naming a kind of
    /// principal rather than a permission, the project must be live.
    pub async fn authorize_rpc_in(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        resource: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        self.authorize_rpc_at(principal, rpc, Target::parse(resource))
            .await
    }

    async fn authorize_rpc_at(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        target: Target<'_>,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityDenied> {
        let organization = target.organization;
        let named = if target.resource.is_empty() {
            organization
        } else {
            target.resource
        };
        let policy = match rpc.callers {
            Callers::Permission(permission) => self
                .decide(principal, target, permission, rpc.class)
                .await?
                .require_at(organization, named, permission, rpc.method)?,
            callers => {
                let required = match callers {
                    Callers::Services if principal.kind == PrincipalKind::Account => {
                        Some("service")
                    }
                    Callers::Operators if principal.kind != PrincipalKind::Operator => {
                        Some("operator")
                    }
                    Callers::Accounts if principal.kind != PrincipalKind::Account => {
                        Some("account")
                    }
                    _ => None,
                };
                if let Some(required) = required {
                    return Err(AuthorityDenied::PrincipalKind { required });
                }
                // No permission to check, but the organization (and the
                // project) must exist.
                let policy = self.policy(organization).await?;
                if policy.state == State::Deleted {
                    return Err(AuthorityDenied::NotFound {
                        organization: organization.to_string(),
                    });
                }
                if !target.resource.is_empty() && !target.cacheable {
                    // What org-core would refuse naming the field.
                    return Err(AuthorityDenied::Rejected(FieldViolations::single(
                        "resource",
                        format!("{named} is not a project or workspace name org-core accepts"),
                    )));
                }
                if !target.scope.is_empty() && !self.project(target.scope).await?.is_live() {
                    return Err(AuthorityDenied::NotFound {
                        organization: named.to_string(),
                    });
                }
                policy
            }
        };
        if let Some(denied) = rpc.feature.and_then(|f| policy.feature_denial(f)) {
            return Err(denied);
        }
        Ok(policy)
    }

    /// Tells org-core that `organization`'s hard spending limit is reached
    /// (or no longer is); while reached, CREATE actions are refused
    /// everywhere with SPENDING_LIMIT_REACHED. Billing calls this. Retried
    /// like a read: it is idempotent.
    pub async fn set_spending_limit_reached(
        &self,
        organization: &str,
        reached: bool,
        reason: &str,
    ) -> Result<bool, AuthorityError> {
        use loopback_proto::orgcore::v1::quota_service_client::QuotaServiceClient;
        let shared = &self.inner.shared;
        let mut client =
            QuotaServiceClient::with_interceptor(shared.channel.clone(), shared.token.clone());
        let mut attempt = 0;
        loop {
            let mut request = tonic::Request::new(pb::SetSpendingLimitReachedRequest {
                organization: organization.to_string(),
                reached,
                reason: reason.to_string(),
            });
            request.set_timeout(shared.config.deadline);
            match client.set_spending_limit_reached(request).await {
                Ok(response) => return Ok(response.into_inner().changed),
                Err(status)
                    if retryable(status.code()) && attempt + 1 < shared.config.retry.attempts =>
                {
                    tokio::time::sleep(shared.config.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(status) => return Err(AuthorityError::from_status(status, organization)),
            }
        }
    }

    /// Reports how many units of `limit` (e.g. `max_dns_zones`) the calling
    /// service uses in `organization` now, so org-core's
    /// `GetOrganizationUsage` shows it. The service's own write transaction
    /// stays the enforcement point; this only informs. `revision` must grow
    /// with every new count: org-core keeps the report with the highest
    /// revision and answers whether this one was taken. Retried like a
    /// read: it is idempotent.
    pub async fn report_usage(
        &self,
        organization: &str,
        limit: &str,
        usage: i64,
        revision: i64,
    ) -> Result<bool, AuthorityError> {
        use loopback_proto::orgcore::v1::quota_service_client::QuotaServiceClient;
        let shared = &self.inner.shared;
        let mut client =
            QuotaServiceClient::with_interceptor(shared.channel.clone(), shared.token.clone());
        let mut attempt = 0;
        loop {
            let mut request = tonic::Request::new(pb::ReportUsageRequest {
                organization: organization.to_string(),
                limit: limit.to_string(),
                usage,
                revision,
            });
            request.set_timeout(shared.config.deadline);
            match client.report_usage(request).await {
                Ok(response) => return Ok(response.into_inner().accepted),
                Err(status)
                    if retryable(status.code()) && attempt + 1 < shared.config.retry.attempts =>
                {
                    tokio::time::sleep(shared.config.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(status) => return Err(AuthorityError::from_status(status, organization)),
            }
        }
    }

    /// The organization's policy (status, state, limits, flags, features,
    /// revision). Fresh cached policies answer without an RPC; when org-core
    /// cannot be reached and the cached one is stale, this fails closed,
    /// since policies gate limits on writes.
    pub async fn policy(
        &self,
        organization: &str,
    ) -> Result<Arc<OrganizationPolicy>, AuthorityError> {
        let shared = &self.inner.shared;
        let cacheable = is_canonical_org(organization);
        if cacheable
            && let Some((policy, confirmed_at)) = shared.cache.policy(organization)
            && shared.cache.is_fresh(confirmed_at)
        {
            return Ok(policy);
        }
        if shared.cache.known_unreachable() {
            return shared.without_authority(None, "org-core was unreachable moments ago");
        }
        let epoch = shared.cache.epoch(organization);
        let request = pb::GetOrganizationPolicyRequest {
            organization: organization.to_string(),
        };
        let response = shared
            .call(
                organization,
                shared.config.retry.attempts,
                request,
                |mut rpc, request| async move { rpc.get_organization_policy(request).await },
            )
            .await;
        match response {
            Ok(response) => {
                let policy = response
                    .policy
                    .and_then(OrganizationPolicy::from_pb)
                    .ok_or_else(|| {
                        AuthorityError::Unavailable(
                            "org-core answered without a policy this client understands".into(),
                        )
                    })?;
                let policy = Arc::new(policy);
                if cacheable {
                    shared.cache.store_policy(epoch, &policy);
                }
                Ok(policy)
            }
            Err(AuthorityError::Unavailable(cause)) => shared.without_authority(None, &cause),
            Err(other) => Err(other),
        }
    }

    /// Where `project` (`organizations/{id}/projects/{id}`) stands: live,
    /// deleted (with its purge time), purged, or not found. Services ask
    /// this before serving or changing project-scoped resources, and hide,
    /// restore or purge them by it.
    ///
    /// Answered from the cache while fresh (the watch feed's `project_*`
    /// changes keep it current: created and restored projects turn live, a
    /// deleted one is read again for its purge time, a purged one is
    /// remembered as [`ProjectLifecycle::Purged`]); otherwise org-core's
    /// `GetProjectState` is asked. When org-core cannot be reached and the
    /// cached answer is stale (or there is none), this fails closed with
    /// [`AuthorityDenied::Unavailable`], as [`AuthorityClient::policy`]
    /// does. [`ProjectLifecycle::NotFound`] answers are not cached.
    pub async fn project(&self, project: &str) -> Result<ProjectLifecycle, AuthorityDenied> {
        let shared = &self.inner.shared;
        let organization = canonical_project_org(project);
        if let Some(organization) = organization
            && let Some((lifecycle, confirmed_at)) = shared.cache.project(organization, project)
            && shared.cache.is_fresh(confirmed_at)
        {
            return Ok(lifecycle);
        }
        if shared.cache.known_unreachable() {
            return Ok(shared.without_authority(None, "org-core was unreachable moments ago")?);
        }
        let epoch = organization.map(|o| shared.cache.epoch(o));
        let request = pb::GetProjectStateRequest {
            project: project.to_string(),
        };
        let response = shared
            .call(
                project,
                shared.config.retry.attempts,
                request,
                |mut rpc, request| async move { rpc.get_project_state(request).await },
            )
            .await;
        match response {
            Ok(response) => {
                let lifecycle = ProjectLifecycle::from_pb(&response).ok_or_else(|| {
                    bump(&shared.counters.fail_closed);
                    AuthorityDenied::Unavailable(
                        "org-core answered a project state this client does not know".into(),
                    )
                })?;
                if let (Some(organization), Some(epoch)) = (organization, epoch) {
                    shared.cache.store_project(
                        epoch,
                        organization,
                        project,
                        lifecycle.clone(),
                        response.revision,
                    );
                }
                Ok(lifecycle)
            }
            Err(AuthorityError::NotFound(_)) => Ok(ProjectLifecycle::NotFound),
            Err(AuthorityError::Unavailable(cause)) => Ok(shared.without_authority(None, &cause)?),
            Err(other) => Err(other.into()),
        }
    }

    /// The cached lifecycle of `project`, however old, without asking
    /// org-core (`None` if none is cached).
    pub fn cached_project(&self, project: &str) -> Option<ProjectLifecycle> {
        let organization = canonical_project_org(project)?;
        self.inner
            .shared
            .cache
            .project(organization, project)
            .map(|(lifecycle, _)| lifecycle)
    }

    /// Organization and project lifecycle events, in feed order, for
    /// services that keep resources per organization or project (billing,
    /// dns, integrations): hide on `Deleted`, show on `Undeleted`, delete on
    /// `Purged`.
    ///
    /// Delivery is at most once per receiver: events are sent as the watch
    /// stream delivers them (after the cache applied them, so
    /// [`AuthorityClient::project`] already answers accordingly); events
    /// from before the subscription are not replayed, and a receiver more
    /// than a few thousand events behind gets `RecvError::Lagged`. So:
    /// subscribe first, then reconcile what you keep (ask
    /// [`AuthorityClient::project`] for each project you hold), then follow
    /// the events, idempotently — a restarted client replays the retained
    /// feed, so an event may repeat what you already did. Reconcile again
    /// on [`LifecycleEvent::Resync`] (the feed lost this client's position)
    /// and on `Lagged`. The watch stream resumes after a reconnect without
    /// gaps or repeats.
    pub fn subscribe_lifecycle(&self) -> broadcast::Receiver<LifecycleEvent> {
        self.inner.shared.lifecycle.subscribe()
    }

    /// The cached policy of `organization`, however old, without asking
    /// org-core (`None` if none is cached).
    pub fn cached_policy(&self, organization: &str) -> Option<Arc<OrganizationPolicy>> {
        self.inner
            .shared
            .cache
            .policy(organization)
            .map(|(policy, _)| policy)
    }

    /// The cache of deployment features (`unscoped.rs`).
    pub(crate) fn shared_features(&self) -> &crate::unscoped::FeatureCache {
        &self.inner.shared.deployment_features
    }

    /// How long cached answers count as fresh.
    pub(crate) fn staleness(&self) -> std::time::Duration {
        self.inner.shared.config.staleness
    }

    /// The channel to org-core, its token and the deadline, for the other
    /// org-core services this crate calls (quota, audit).
    pub(crate) fn raw_channel(&self) -> (Channel, BearerToken, std::time::Duration) {
        let shared = &self.inner.shared;
        (
            shared.channel.clone(),
            shared.token.clone(),
            shared.config.deadline,
        )
    }

    /// The retry policy of reads.
    pub(crate) fn retry_policy(&self) -> crate::config::RetryPolicy {
        self.inner.shared.config.retry
    }

    /// A client for the org-core `link` names (URL and service token), with
    /// the default cache and retry settings.
    pub fn from_link(link: &AuthorityLink) -> Result<Self, ConnectError> {
        let mut config = Config::new(&link.url, &link.service_token);
        if let Some(staleness) = link.staleness {
            config.staleness = staleness;
        }
        Self::connect(config)
    }

    /// Whether the watch stream is connected now.
    pub fn watch_connected(&self) -> bool {
        self.inner.shared.cache.watch_connected()
    }

    /// What the client did so far.
    pub fn stats(&self) -> Stats {
        let shared = &self.inner.shared;
        let counters = &shared.counters;
        Stats {
            rpcs: counters.rpcs.load(Ordering::Relaxed),
            watch_connects: counters.watch_connects.load(Ordering::Relaxed),
            watch_changes: counters.watch_changes.load(Ordering::Relaxed),
            stale_answers: counters.stale_answers.load(Ordering::Relaxed),
            fail_closed: counters.fail_closed.load(Ordering::Relaxed),
            cached_decisions: shared.cache.decision_count(),
            cached_projects: shared.cache.project_count(),
            watch_connected: shared.cache.watch_connected(),
            watched_revision: counters.watched_revision.load(Ordering::Relaxed),
        }
    }

    /// Replaces the service token sent from now on (token rotation). The
    /// watch stream keeps the token it was opened with until it reconnects.
    pub fn set_service_token(&self, token: &str) -> Result<(), ConnectError> {
        let value = bearer(token)?;
        *self
            .inner
            .shared
            .token
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = value;
        Ok(())
    }
}

impl Shared {
    /// The answer when org-core cannot be used: a stale READ decision if
    /// there is one, otherwise fail closed.
    fn without_authority<T>(&self, stale: Option<T>, cause: &str) -> Result<T, AuthorityError> {
        match stale {
            Some(answer) => {
                bump(&self.counters.stale_answers);
                Ok(answer)
            }
            None => {
                bump(&self.counters.fail_closed);
                Err(AuthorityError::Unavailable(cause.to_string()))
            }
        }
    }

    /// One idempotent unary call: a deadline per attempt, up to `attempts`
    /// attempts with jittered exponential backoff between them.
    async fn call<M, T, F, Fut>(
        &self,
        organization: &str,
        attempts: u32,
        message: M,
        rpc: F,
    ) -> Result<T, AuthorityError>
    where
        M: Clone,
        F: Fn(AuthorityRpc, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = self.config.deadline;
        let mut attempt = 0;
        loop {
            attempt += 1;
            bump(&self.counters.rpcs);
            let mut request = Request::new(message.clone());
            request.set_timeout(deadline);
            let outcome = match tokio::time::timeout(deadline, rpc(self.rpc.clone(), request)).await
            {
                Ok(outcome) => outcome.map(Response::into_inner),
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "org-core did not answer within {deadline:?}"
                ))),
            };
            match outcome {
                Ok(value) => {
                    self.cache.note_reachable();
                    return Ok(value);
                }
                Err(status) if attempt < attempts && retryable(status.code()) => {
                    tracing::debug!(code = ?status.code(), attempt, "retrying an authority call");
                    tokio::time::sleep(self.config.retry.backoff(attempt)).await;
                }
                Err(status) => {
                    if unreachable(status.code()) {
                        self.cache.note_unreachable(self.config.probe_interval);
                    }
                    return Err(AuthorityError::from_status(status, organization));
                }
            }
        }
    }

    async fn open_watch(
        &self,
        from_revision: i64,
    ) -> Result<tonic::Streaming<pb::WatchOrganizationPoliciesResponse>, Status> {
        let mut rpc = self.rpc.clone();
        let request = Request::new(pb::WatchOrganizationPoliciesRequest { from_revision });
        match tokio::time::timeout(
            self.config.deadline,
            rpc.watch_organization_policies(request),
        )
        .await
        {
            Ok(opened) => opened.map(Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded(
                "opening the watch stream timed out",
            )),
        }
    }
}

/// Consumes `WatchOrganizationPolicies` for the client's lifetime: every
/// change drops the organization's cached decisions and replaces its
/// policy. After a disconnect it reconnects with backoff and resumes after
/// the last revision it saw, so nothing that happened meanwhile is missed.
/// When the feed no longer has that revision (compacted, or another feed
/// altogether) it answers `resync`: everything cached is dropped and the
/// watch continues from the feed's current revision.
async fn watch(shared: Arc<Shared>) {
    // 0 = every retained change: a new client replays the retained feed
    // (which only invalidates; a compacted feed answers with a resync).
    let mut revision = 0_i64;
    let mut failures = 0_u32;
    loop {
        match shared.open_watch(revision).await {
            Ok(mut stream) => {
                failures = 0;
                bump(&shared.counters.watch_connects);
                shared.cache.set_watch_up();
                tracing::debug!(from_revision = revision, "watching organization policies");
                loop {
                    match stream.message().await {
                        Ok(Some(change)) if change.resync => {
                            tracing::warn!(
                                from_revision = revision,
                                now = change.revision,
                                "the policy feed no longer has our revision: dropping the cache"
                            );
                            shared.cache.clear();
                            revision = change.revision;
                            let _ = shared.lifecycle.send(LifecycleEvent::Resync { revision });
                        }
                        Ok(Some(change)) => {
                            bump(&shared.counters.watch_changes);
                            revision = revision.max(change.revision);
                            let lifecycle = LifecycleChange::from_kind(&change.kind);
                            let project = match lifecycle {
                                Some((what, true)) if !change.project.is_empty() => {
                                    let moved = match what {
                                        LifecycleChange::Created | LifecycleChange::Undeleted => {
                                            ProjectChange::Live
                                        }
                                        LifecycleChange::Deleted => ProjectChange::Deleted,
                                        LifecycleChange::Purged => ProjectChange::Purged,
                                    };
                                    Some((change.project.as_str(), moved))
                                }
                                _ => None,
                            };
                            // A policy this client cannot read only invalidates.
                            let policy = change.policy.and_then(OrganizationPolicy::from_pb);
                            shared.cache.apply_change(
                                &change.organization,
                                change.revision,
                                policy,
                                project,
                            );
                            let event = match lifecycle {
                                Some((what, true)) if !change.project.is_empty() => {
                                    Some(LifecycleEvent::Project {
                                        organization: change.organization,
                                        project: change.project,
                                        change: what,
                                        revision: change.revision,
                                    })
                                }
                                Some((what, false)) => Some(LifecycleEvent::Organization {
                                    organization: change.organization,
                                    change: what,
                                    revision: change.revision,
                                }),
                                _ => None,
                            };
                            if let Some(event) = event {
                                // No subscriber is not an error.
                                let _ = shared.lifecycle.send(event);
                            }
                        }
                        Ok(None) => {
                            tracing::info!(revision, "org-core ended the policy watch stream");
                            break;
                        }
                        Err(status) => {
                            tracing::info!(revision, code = ?status.code(), "the policy watch stream broke");
                            break;
                        }
                    }
                    shared
                        .counters
                        .watched_revision
                        .store(revision, Ordering::Relaxed);
                }
                shared.cache.set_watch_down();
            }
            Err(status) if unreachable(status.code()) => {
                shared.cache.note_unreachable(shared.config.probe_interval);
                tracing::debug!(code = ?status.code(), "cannot reach org-core to watch policies");
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "org-core refused the policy watch");
            }
        }
        failures = failures.saturating_add(1);
        tokio::time::sleep(shared.config.retry.backoff(failures)).await;
    }
}
