//! The org-core client crate (issue 4): cached authorization that makes no
//! RPC on a hit, invalidation through the watch feed, the failure behaviour
//! when org-core is down (reads from cache, writes fail closed once stale,
//! recovery without restarting anything), and the Status each denial
//! becomes. `Zones` below is a small dependent service built on the client,
//! standing in for dns/billing until they land.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loopback_org_core_client::{
    ActionClass, AuthorityClient, AuthorityError, Config, Decision, Principal, PrincipalKind,
    RetryPolicy, VerificationStatus,
};
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::Authenticator;
use loopback_tests::{Backend, TestServer, backend_tests, metadata, reason};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// How fast a change must reach a subscriber's cache (issue 4).
const PROPAGATION: Duration = Duration::from_secs(1);
/// Upper bound for eventual changes (reconnects, staleness expiring).
const EVENTUALLY: Duration = Duration::from_secs(20);

const READ_PERMISSION: &str = "orgcore.projects.list";
const WRITE_PERMISSION: &str = "orgcore.projects.create";

/// A dependent service built on the client: its handlers ask the authority
/// and return what it decides.
struct Zones {
    authority: AuthorityClient,
}

impl Zones {
    /// A read handler (ListZones).
    async fn read(&self, caller: &Principal, org: &str) -> Result<(), Status> {
        self.authority
            .require(caller, org, READ_PERMISSION, ActionClass::Read, "ListZones")
            .await
            .map_err(Status::from)
            .map(|_| ())
    }

    /// A create handler (CreateZone).
    async fn write(&self, caller: &Principal, org: &str) -> Result<(), Status> {
        self.authority
            .require(
                caller,
                org,
                WRITE_PERMISSION,
                ActionClass::Create,
                "CreateZone",
            )
            .await
            .map_err(Status::from)
            .map(|_| ())
    }
}

/// The principal `TestServer::account_token(email)` authenticates as.
fn account(email: &str) -> Principal {
    Principal {
        kind: PrincipalKind::Account,
        subject: format!("sub-{email}"),
        email: Some(email.to_string()),
        name: None,
    }
}

fn client(addr: SocketAddr, service_token: String) -> AuthorityClient {
    AuthorityClient::connect(Config::new(format!("http://{addr}"), service_token)).unwrap()
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the client's watch stream has delivered every change of
/// `orgs` made so far, so the feed's replay does not invalidate what a test
/// caches next.
async fn caught_up(client: &AuthorityClient, orgs: &[&str]) {
    let mut target = 0;
    for org in orgs {
        target = target.max(client.policy(org).await.unwrap().revision);
    }
    eventually("the watch stream catches up", EVENTUALLY, || async {
        let stats = client.stats();
        stats.watch_connected && stats.watched_revision >= target
    })
    .await;
}

/// 1. After a first authorize, the same check is a cache hit: no RPC, and it
///    still answers once org-core is gone.
async fn cache_hit_makes_no_rpc(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner_token = server.account_token("owner@example.com");
    let org = server.verified_org(&owner_token, "Cached").await;
    let authority = client(server.app.addr, server.service_token("dns"));
    let owner = account("owner@example.com");
    caught_up(&authority, &[&org.name]).await;

    let first = authority
        .authorize(&owner, &org.name, READ_PERMISSION, ActionClass::Read)
        .await
        .unwrap();
    assert_eq!(first.decision, Decision::Allow);
    let policy = first.policy.clone().unwrap();
    assert_eq!(policy.organization, org.name);
    assert_eq!(policy.verification_status, VerificationStatus::Verified);
    assert!(policy.allows(ActionClass::Create));
    assert!(policy.limit("max_projects").is_some());
    let rpcs = authority.stats().rpcs;
    assert!(rpcs >= 1, "the first check asked org-core");

    for _ in 0..100 {
        let again = authority
            .authorize(&owner, &org.name, READ_PERMISSION, ActionClass::Read)
            .await
            .unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(authority.stats().rpcs, rpcs, "cache hits make no RPC");

    server.stop().await;
    let after_stop = authority
        .authorize(&owner, &org.name, READ_PERMISSION, ActionClass::Read)
        .await
        .unwrap();
    assert_eq!(after_stop.decision, Decision::Allow);
    assert_eq!(
        authority.stats().rpcs,
        rpcs,
        "answered from cache with org-core stopped"
    );
}

/// 2. An operator blocking the organization reaches the client's cache
///    through the watch stream within a second; creates in the dependent
///    service then fail with ENTITY_STATUS, without restarting anything.
async fn status_change_reaches_the_cache_through_the_watch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner_token = server.account_token("owner@example.com");
    let org = server.verified_org(&owner_token, "Watched").await;
    let zones = Zones {
        authority: client(server.app.addr, server.service_token("dns")),
    };
    let owner = account("owner@example.com");
    caught_up(&zones.authority, &[&org.name]).await;
    zones.write(&owner, &org.name).await.unwrap();
    zones.read(&owner, &org.name).await.unwrap();
    let cached = zones.authority.cached_policy(&org.name).unwrap();
    assert_eq!(cached.verification_status, VerificationStatus::Verified);
    let rpcs = zones.authority.stats().rpcs;

    server
        .set_status(&org.name, tpb::VerificationStatus::Blocked)
        .await;
    eventually(
        "the BLOCKED policy reaches the cache",
        PROPAGATION,
        || async {
            zones
                .authority
                .cached_policy(&org.name)
                .is_some_and(|p| p.verification_status == VerificationStatus::Blocked)
        },
    )
    .await;
    assert_eq!(
        zones.authority.stats().rpcs,
        rpcs,
        "the change came through the watch stream"
    );
    assert_eq!(
        zones.authority.stats().cached_decisions,
        0,
        "the org's decisions were dropped"
    );

    let create = zones
        .authority
        .authorize(&owner, &org.name, WRITE_PERMISSION, ActionClass::Create)
        .await
        .unwrap();
    let Decision::DenyEntityStatus(message) = &create.decision else {
        panic!("expected ENTITY_STATUS, got {:?}", create.decision);
    };
    assert!(message.contains("BLOCKED"), "{message}");
    let err = zones.write(&owner, &org.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    zones.read(&owner, &org.name).await.unwrap();

    // Verifying it again flows the same way.
    server
        .set_status(&org.name, tpb::VerificationStatus::Verified)
        .await;
    eventually(
        "the VERIFIED policy reaches the cache",
        PROPAGATION,
        || async {
            zones
                .authority
                .cached_policy(&org.name)
                .is_some_and(|p| p.verification_status == VerificationStatus::Verified)
        },
    )
    .await;
    zones.write(&owner, &org.name).await.unwrap();
    server.stop().await;
}

/// org-core as a process of its own: loopbackd on its own runtime and
/// thread, killed by dropping that runtime, which closes its listener and
/// every connection at once (in-process `stop()` drains gracefully and
/// leaves open streams alone).
struct Node {
    addr: SocketAddr,
    auth: Authenticator,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Node {
    async fn start(args: Vec<String>) -> Node {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let started = runtime.block_on(async {
                // The previous node's port may take a moment to be released.
                let mut tries = 0;
                loop {
                    let config = loopback_tests::config_from_args(&args);
                    match loopbackd::Loopbackd::start(config).await {
                        Ok(app) => break Ok(app),
                        Err(e) if tries < 100 => {
                            tries += 1;
                            eprintln!("loopbackd start failed, retrying: {e:#}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => break Err(format!("{e:#}")),
                    }
                }
            });
            match started {
                Ok(app) => {
                    let _ = ready_tx.send(Ok((app.addr, app.auth.clone())));
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                    drop(app);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
            drop(runtime);
        });
        let (addr, auth) = ready_rx.await.unwrap().unwrap();
        Node {
            addr,
            auth,
            stop,
            thread,
        }
    }

    /// Kills the node: listener, connections and streams go away at once.
    async fn kill(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }

    fn token(&self, principal: Principal) -> String {
        self.auth
            .mint(&principal, chrono::Duration::hours(1))
            .unwrap()
    }

    fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_lazy()
    }

    /// Creates a verified organization owned by `owner`.
    async fn verified_org(&self, owner: &Principal) -> String {
        let owner_token: tonic::metadata::MetadataValue<_> =
            format!("Bearer {}", self.token(owner.clone()))
                .parse()
                .unwrap();
        let mut orgs = pb::organization_service_client::OrganizationServiceClient::with_interceptor(
            self.channel(),
            move |mut r: Request<()>| {
                r.metadata_mut()
                    .insert("authorization", owner_token.clone());
                Ok(r)
            },
        );
        let org = orgs
            .create_organization(pb::CreateOrganizationRequest {
                organization: Some(pb::Organization {
                    display_name: "Outage".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .organization
            .unwrap();
        self.set_status(&org.name, tpb::VerificationStatus::Verified)
            .await;
        org.name
    }

    async fn set_status(&self, org: &str, status: tpb::VerificationStatus) {
        let operator = self.token(Principal {
            kind: PrincipalKind::Operator,
            subject: "op".into(),
            email: None,
            name: None,
        });
        let operator: tonic::metadata::MetadataValue<_> =
            format!("Bearer {operator}").parse().unwrap();
        let mut ops = pb::operator_service_client::OperatorServiceClient::with_interceptor(
            self.channel(),
            move |mut r: Request<()>| {
                r.metadata_mut().insert("authorization", operator.clone());
                Ok(r)
            },
        );
        ops.set_verification_status(pb::SetVerificationStatusRequest {
            name: org.into(),
            verification_status: status.into(),
            reason: "test".into(),
            validate_only: false,
        })
        .await
        .unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn database_url(backend: Backend, data_dir: &std::path::Path, file: &str) -> String {
    match backend {
        Backend::Sqlite => loopback_runtime::db::sqlite_url(data_dir, file).unwrap(),
        Backend::Postgres => loopback_tests::pg::fresh_database().await,
    }
}

/// The command line of a node on a fixed port, data dir and database, so a
/// restarted node comes back on the same address with the same data (and
/// the same token keys).
fn node_args(port: u16, data_dir: &std::path::Path, database_url: &str) -> Vec<String> {
    vec![
        "loopbackd".into(),
        format!("--listen=127.0.0.1:{port}"),
        format!("--data-dir={}", data_dir.display()),
        format!("--org-core-database-url={database_url}"),
        "--shutdown-grace-seconds=1".into(),
    ]
}

fn service(node: &Node) -> String {
    node.token(Principal {
        kind: PrincipalKind::Service,
        subject: "dns".into(),
        email: None,
        name: None,
    })
}

fn is_authority_unavailable(status: &Status) -> bool {
    status.code() == Code::Unavailable && reason(status).as_deref() == Some("AUTHORITY_UNAVAILABLE")
}

/// 3. With org-core down, the dependent service keeps reading from cache,
///    keeps writing while the cache is fresh, then fails writes closed with
///    AUTHORITY_UNAVAILABLE; when org-core is back on the same address and
///    data, writes succeed again and the watch feeds the cache again, with
///    the same client.
async fn outage_reads_from_cache_writes_fail_closed_then_recover(backend: Backend) {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = node_args(
        port,
        data_dir.path(),
        &database_url(backend, data_dir.path(), "org-core.db").await,
    );
    let node = Node::start(args.clone()).await;
    let owner = account("owner@example.com");
    let org = node.verified_org(&owner).await;

    let staleness = Duration::from_secs(3);
    let mut config = Config::new(format!("http://{}", node.addr), service(&node));
    config.staleness = staleness;
    config.deadline = Duration::from_secs(1);
    config.retry = RetryPolicy {
        attempts: 2,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
    };
    config.probe_interval = Duration::from_millis(200);
    config.keepalive = Duration::from_secs(1);
    let zones = Zones {
        authority: AuthorityClient::connect(config).unwrap(),
    };
    caught_up(&zones.authority, &[&org]).await;
    zones.read(&owner, &org).await.unwrap();
    zones.write(&owner, &org).await.unwrap();

    // org-core goes away. The stream was alive until `killed_at` at least,
    // so the cache is fresh until `killed_at + staleness` at least.
    let killed_at = Instant::now();
    node.kill().await;
    eventually(
        "the client notices the watch stream is gone",
        EVENTUALLY,
        || async { !zones.authority.watch_connected() },
    )
    .await;
    let rpcs = zones.authority.stats().rpcs;
    let fresh_write = zones.write(&owner, &org).await;
    let fresh_read = zones.read(&owner, &org).await;
    if killed_at.elapsed() < staleness {
        fresh_write.unwrap();
        fresh_read.unwrap();
        assert_eq!(
            zones.authority.stats().rpcs,
            rpcs,
            "fresh entries answer without asking"
        );
    } else {
        eprintln!(
            "note: too slow to observe the fresh window ({:?})",
            killed_at.elapsed()
        );
    }

    // Once the cache is older than the staleness bound, writes fail closed...
    eventually(
        "writes fail closed once the cache is stale",
        EVENTUALLY,
        || async {
            match zones.write(&owner, &org).await {
                Ok(()) => false,
                Err(status) => {
                    assert!(is_authority_unavailable(&status), "{status:?}");
                    true
                }
            }
        },
    )
    .await;
    assert!(
        killed_at.elapsed() >= staleness,
        "writes stayed allowed while the cache was fresh"
    );
    // ...reads keep working from cache...
    for _ in 0..3 {
        zones.read(&owner, &org).await.unwrap();
    }
    assert!(zones.authority.stats().stale_answers > 0);
    // ...and a check with nothing cached fails closed, reads included.
    let stranger = zones
        .read(&account("new@example.com"), &org)
        .await
        .unwrap_err();
    assert!(is_authority_unavailable(&stranger), "{stranger:?}");
    let policy_err = zones.authority.policy(&org).await.unwrap_err();
    assert!(
        matches!(policy_err, AuthorityError::Unavailable(_)),
        "{policy_err:?}"
    );

    // org-core comes back on the same address and data: writes succeed again
    // without recreating the client.
    let connects = zones.authority.stats().watch_connects;
    let node = Node::start(args).await;
    eventually(
        "writes succeed again after org-core returns",
        EVENTUALLY,
        || async { zones.write(&owner, &org).await.is_ok() },
    )
    .await;
    eventually("the watch stream reconnects", EVENTUALLY, || async {
        zones.authority.stats().watch_connects > connects && zones.authority.watch_connected()
    })
    .await;
    zones.read(&owner, &org).await.unwrap();

    // The resumed watch feeds the cache again.
    node.set_status(&org, tpb::VerificationStatus::Blocked)
        .await;
    eventually(
        "the block reaches the dependent service",
        EVENTUALLY,
        || async {
            match zones.write(&owner, &org).await {
                Ok(()) => false,
                Err(status) => {
                    assert_eq!(
                        reason(&status).as_deref(),
                        Some("ENTITY_STATUS"),
                        "{status:?}"
                    );
                    true
                }
            }
        },
    )
    .await;
    node.kill().await;
}

/// 5. When org-core comes back with a feed that no longer has the client's
///    revision (here: another database entirely), the watch gets `resync`
///    and the client drops everything it cached instead of serving it as
///    fresh.
async fn a_feed_without_our_revision_resyncs_the_cache(backend: Backend) {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first_db = database_url(backend, data_dir.path(), "org-core.db").await;
    let node = Node::start(node_args(port, data_dir.path(), &first_db)).await;
    let owner = account("owner@example.com");
    let org = node.verified_org(&owner).await;
    let zones = Zones {
        authority: client(node.addr, service(&node)),
    };
    caught_up(&zones.authority, &[&org]).await;
    zones.write(&owner, &org).await.unwrap();
    assert!(zones.authority.stats().cached_decisions > 0);

    node.kill().await;
    eventually(
        "the client notices the watch stream is gone",
        EVENTUALLY,
        || async { !zones.authority.watch_connected() },
    )
    .await;
    let connects = zones.authority.stats().watch_connects;
    let other_db = database_url(backend, data_dir.path(), "org-core-other.db").await;
    let node = Node::start(node_args(port, data_dir.path(), &other_db)).await;
    // Until the resync arrives the cached Allow is fresh (the default
    // staleness bound is 30 s); after it, the organization is unknown.
    eventually("the resync empties the cache", EVENTUALLY, || async {
        zones.authority.stats().watch_connects > connects
            && zones.authority.cached_policy(&org).is_none()
    })
    .await;
    let err = zones.write(&owner, &org).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    node.kill().await;
}

/// 4. Each decision becomes the Status DESIGN.md §3 prescribes.
async fn denials_become_the_designed_statuses(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner_token = server.account_token("owner@example.com");
    let verified = server.verified_org(&owner_token, "Verified").await;
    let in_setup = server.create_org(&owner_token, "In setup").await;
    server
        .add_member(
            &owner_token,
            &verified.name,
            "viewer@example.com",
            &["viewer"],
        )
        .await;
    let authority = client(server.app.addr, server.service_token("dns"));
    let owner = account("owner@example.com");
    caught_up(&authority, &[&verified.name, &in_setup.name]).await;

    // Allowed: the policy comes back.
    let policy = authority
        .require(
            &owner,
            &verified.name,
            WRITE_PERMISSION,
            ActionClass::Create,
            "CreateZone",
        )
        .await
        .map_err(Status::from)
        .unwrap();
    assert_eq!(policy.organization, verified.name);

    // A stranger: NOT_FOUND, revealing nothing.
    let stranger = account("stranger@example.com");
    let decision = authority
        .authorize(
            &stranger,
            &verified.name,
            READ_PERMISSION,
            ActionClass::Read,
        )
        .await
        .unwrap();
    assert!(matches!(decision.decision, Decision::DenyNotFound(_)));
    assert!(decision.policy.is_none(), "no policy leaks to non-members");
    let err = authority
        .require(
            &stranger,
            &verified.name,
            READ_PERMISSION,
            ActionClass::Read,
            "ListZones",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(reason(&err), None);
    assert_eq!(err.message(), format!("{} not found", verified.name));

    // A viewer creating: PERMISSION_DENIED naming the permission.
    let viewer = account("viewer@example.com");
    let decision = authority
        .authorize(
            &viewer,
            &verified.name,
            WRITE_PERMISSION,
            ActionClass::Create,
        )
        .await
        .unwrap();
    assert!(matches!(decision.decision, Decision::DenyPermission(_)));
    let err = authority
        .require(
            &viewer,
            &verified.name,
            WRITE_PERMISSION,
            ActionClass::Create,
            "CreateZone",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_DENIED"));
    assert_eq!(metadata(&err)["permission"], WRITE_PERMISSION);
    authority
        .require(
            &viewer,
            &verified.name,
            READ_PERMISSION,
            ActionClass::Read,
            "ListZones",
        )
        .await
        .map_err(Status::from)
        .unwrap();

    // Creating in an IN_SETUP organization: ENTITY_STATUS with its metadata.
    let err = authority
        .require(
            &owner,
            &in_setup.name,
            WRITE_PERMISSION,
            ActionClass::Create,
            "CreateZone",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    let meta = metadata(&err);
    assert_eq!(meta["organization"], in_setup.name);
    assert_eq!(meta["verification_status"], "IN_SETUP");
    assert_eq!(meta["state"], "ACTIVE");
    assert_eq!(meta["action"], "CreateZone");
    assert!(err.message().contains("IN_SETUP"), "{}", err.message());

    // The same answers come from cache the second time, unchanged.
    let rpcs = authority.stats().rpcs;
    let again = authority
        .require(
            &owner,
            &in_setup.name,
            WRITE_PERMISSION,
            ActionClass::Create,
            "CreateZone",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert_eq!(reason(&again).as_deref(), Some("ENTITY_STATUS"));
    assert_eq!(metadata(&again), meta);
    let again = authority
        .require(
            &stranger,
            &verified.name,
            READ_PERMISSION,
            ActionClass::Read,
            "ListZones",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(authority.stats().rpcs, rpcs);

    // A malformed organization name is the caller's INVALID_ARGUMENT.
    let err = authority
        .require(
            &owner,
            "organizations/nope",
            READ_PERMISSION,
            ActionClass::Read,
            "ListZones",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(loopback_tests::bad_fields(&err), ["organization"]);

    // No authority at all: UNAVAILABLE / AUTHORITY_UNAVAILABLE.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = Config::new(format!("http://{closed}"), server.service_token("dns"));
    config.retry.attempts = 1;
    let nowhere = AuthorityClient::connect(config).unwrap();
    let err = nowhere
        .require(
            &owner,
            &verified.name,
            READ_PERMISSION,
            ActionClass::Read,
            "ListZones",
        )
        .await
        .map_err(Status::from)
        .unwrap_err();
    assert!(is_authority_unavailable(&err), "{err:?}");
    server.stop().await;
}

backend_tests!(
    cache_hit_makes_no_rpc,
    status_change_reaches_the_cache_through_the_watch,
    outage_reads_from_cache_writes_fail_closed_then_recover,
    denials_become_the_designed_statuses,
    a_feed_without_our_revision_resyncs_the_cache,
);
