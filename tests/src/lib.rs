//! Test harness shared by every test under `tests/tests/`.
//!
//! - [`pg`]: a throwaway PostgreSQL cluster (or `LOOPBACK_TEST_POSTGRES_URL`),
//!   one per test binary, one fresh database per test.
//! - [`TestServer`]: `loopbackd` started in-process on a free port over a
//!   temp data dir, on SQLite or PostgreSQL, with token minting and typed
//!   clients.
//! - [`backend_tests!`]: writes a test once and runs it on both backends.
//! - [`responder`]: a tiny authoritative DNS server on 127.0.0.1 for the
//!   domain verification tests.
//! - [`schema`]: a service's database read generically (tables, rows
//!   mentioning an id), for purge tests.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod fakes;
pub mod pg;
pub mod requests;
pub mod responder;
pub mod schema;
pub mod setup;

use std::path::PathBuf;

use clap::Parser as _;
use loopback_proto::billing::v1 as bpb;
use loopback_proto::dns::v1 as dpb;
use loopback_proto::integrations::v1 as ipb;
use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::auth::{Principal, PrincipalKind};
use tonic::Status;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the server's temp data dir.
    Sqlite,
    /// A fresh database on the shared throwaway PostgreSQL cluster.
    Postgres,
}

/// Writes async tests once and runs each on SQLite and on PostgreSQL:
/// `backend_tests!(my_test, other_test);` where each is an
/// `async fn(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// Typed clients of every service, each sending a bearer token.
macro_rules! clients {
    ($($(#[$doc:meta])* $name:ident: $client:ty;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, token: &str) -> $client {
                <$client>::new(self.authed(Some(token)))
            }
        )+
    };
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel that authenticates as someone.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A connection to `addr` (`127.0.0.1:PORT`) that sends `token`: for
/// servers the harness did not start in-process (separate processes).
pub async fn connect_as(addr: std::net::SocketAddr, token: &str) -> Authed {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let value = format!("Bearer {token}").parse().unwrap();
    InterceptedService::new(channel, Bearer(Some(value)))
}

/// `loopbackd` running in-process for one test.
pub struct TestServer {
    /// The running server.
    pub app: loopbackd::Loopbackd,
    /// The backend it runs on.
    pub backend: Backend,
    /// org-core's database URL.
    pub database_url: String,
    /// The command line it was started with.
    pub args: Vec<String>,
    channel: Channel,
    /// PostgreSQL databases this server created, dropped by [`Self::stop`].
    owned_databases: Vec<String>,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on `backend` with default settings.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// Starts a server on `backend`, with extra `loopbackd` flags (e.g.
    /// `--default-limit=max_projects=3`). Every service gets its own
    /// database (`--<service>-database-url`), unless `flags` names one: a
    /// SQLite file in the temp data dir, or a fresh PostgreSQL database.
    pub async fn start_with(backend: Backend, flags: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "loopbackd".into(),
            "--listen=127.0.0.1:0".into(),
            format!("--data-dir={}", data_dir.path().display()),
            "--shutdown-grace-seconds=1".into(),
        ];
        let mut owned = Vec::new();
        for service in loopbackd::SERVICES {
            let flag = format!("--{service}-database-url=");
            if flags.iter().any(|f| f.starts_with(&flag)) {
                continue; // the caller's database (e.g. one prepared by the test)
            }
            let url = match backend {
                Backend::Sqlite => {
                    loopback_runtime::db::sqlite_url(data_dir.path(), &format!("{service}.db"))
                        .unwrap()
                }
                Backend::Postgres => {
                    let url = pg::fresh_database().await;
                    owned.push(url.clone());
                    url
                }
            };
            args.push(format!("--{service}-database-url={url}"));
        }
        args.extend(flags.iter().map(|f| f.to_string()));
        let database_url = database_url_in(&args, "org-core");
        let mut server = Self::launch(backend, database_url, args, data_dir).await;
        server.owned_databases = owned;
        server
    }

    /// Starts loopbackd with `args` and connects to it.
    async fn launch(
        backend: Backend,
        database_url: String,
        args: Vec<String>,
        data_dir: tempfile::TempDir,
    ) -> Self {
        let app = loopbackd::Loopbackd::start(config_from_args(&args))
            .await
            .unwrap();
        let channel = Channel::from_shared(format!("http://{}", app.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            app,
            backend,
            database_url,
            args,
            channel,
            owned_databases: Vec::new(),
            _data_dir: data_dir,
        }
    }

    /// Starts another replica on the same database (its own data dir and
    /// port, the same token keys and flags), as a second org-core process
    /// would be.
    pub async fn start_replica(&self) -> TestServer {
        let key_file = self.data_dir().join(loopback_runtime::config::DEV_KEY_FILE);
        let secret_file = self
            .data_dir()
            .join(loopback_runtime::config::DEV_SECRET_KEY_FILE);
        let mut flags = vec![
            format!("--org-core-database-url={}", self.database_url),
            format!("--jwt-key-file={}", key_file.display()),
            format!("--secret-key-file={}", secret_file.display()),
        ];
        // The same deployment settings as the first replica.
        flags.extend(
            self.args
                .iter()
                .filter(|a| {
                    ![
                        "--listen=",
                        "--data-dir=",
                        "--org-core-database-url=",
                        "--shutdown-grace",
                    ]
                    .iter()
                    .any(|p| a.starts_with(p))
                })
                .skip(1)
                .cloned(),
        );
        let data_dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "loopbackd".into(),
            "--listen=127.0.0.1:0".into(),
            format!("--data-dir={}", data_dir.path().display()),
            "--shutdown-grace-seconds=1".into(),
        ];
        args.extend(flags);
        Self::launch(self.backend, self.database_url.clone(), args, data_dir).await
    }

    /// The configuration this server was started with (same data dir and
    /// database), e.g. for admin commands.
    pub fn config(&self) -> loopbackd::Config {
        config_from_args(&self.args)
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self._data_dir.path().to_path_buf()
    }

    /// A token for an account with this email (subject = email).
    pub fn account_token(&self, email: &str) -> String {
        self.token(Principal {
            kind: PrincipalKind::Account,
            subject: format!("sub-{email}"),
            email: Some(email.to_string()),
            name: None,
        })
    }

    /// An operator token.
    pub fn operator_token(&self) -> String {
        self.token(Principal {
            kind: PrincipalKind::Operator,
            subject: "op".into(),
            email: None,
            name: None,
        })
    }

    /// A service token.
    pub fn service_token(&self, name: &str) -> String {
        self.token(Principal {
            kind: PrincipalKind::Service,
            subject: name.into(),
            email: None,
            name: None,
        })
    }

    /// Mints a token for any principal.
    pub fn token(&self, principal: Principal) -> String {
        self.app
            .auth
            .mint(&principal, chrono::Duration::hours(1))
            .unwrap()
    }

    clients! {
        /// OrganizationService as `token`.
        orgs: pb::organization_service_client::OrganizationServiceClient<Authed>;
        /// ProjectService as `token`.
        projects: pb::project_service_client::ProjectServiceClient<Authed>;
        /// OperatorService as `token`.
        operator: pb::operator_service_client::OperatorServiceClient<Authed>;
        /// AccountService as `token`.
        accounts: pb::account_service_client::AccountServiceClient<Authed>;
        /// AuthorityService as `token`.
        authority: pb::authority_service_client::AuthorityServiceClient<Authed>;
        /// MembershipService as `token`.
        members: pb::membership_service_client::MembershipServiceClient<Authed>;
        /// InviteService as `token`.
        invites: pb::invite_service_client::InviteServiceClient<Authed>;
        /// RoleService as `token`.
        roles: pb::role_service_client::RoleServiceClient<Authed>;
        /// AuthProviderService as `token`.
        auth_providers: pb::auth_provider_service_client::AuthProviderServiceClient<Authed>;
        /// AuditService as `token`.
        audit: pb::audit_service_client::AuditServiceClient<Authed>;
        /// QuotaService as `token`.
        quotas: pb::quota_service_client::QuotaServiceClient<Authed>;
        /// LimitRequestService as `token`.
        limit_requests: pb::limit_request_service_client::LimitRequestServiceClient<Authed>;
        /// PlanService as `token`.
        plans: pb::plan_service_client::PlanServiceClient<Authed>;
        /// OnboardingService as `token`.
        onboarding: pb::onboarding_service_client::OnboardingServiceClient<Authed>;
        /// PaymentMethodService as `token`.
        payment_methods: bpb::payment_method_service_client::PaymentMethodServiceClient<Authed>;
        /// UsageService as `token`.
        usage: bpb::usage_service_client::UsageServiceClient<Authed>;
        /// SpendingLimitService as `token`.
        spending: bpb::spending_limit_service_client::SpendingLimitServiceClient<Authed>;
        /// CostService as `token`.
        costs: bpb::cost_service_client::CostServiceClient<Authed>;
        /// InvoiceService as `token`.
        invoices: bpb::invoice_service_client::InvoiceServiceClient<Authed>;
        /// DomainService as `token`.
        domains: dpb::domain_service_client::DomainServiceClient<Authed>;
        /// ZoneService as `token`.
        zones: dpb::zone_service_client::ZoneServiceClient<Authed>;
        /// RecordService as `token`.
        records: dpb::record_service_client::RecordServiceClient<Authed>;
        /// DelegationService as `token`.
        delegations: dpb::delegation_service_client::DelegationServiceClient<Authed>;
        /// NetworkBridgeService as `token`.
        bridges: dpb::network_bridge_service_client::NetworkBridgeServiceClient<Authed>;
        /// GitProviderService as `token`.
        git_providers: ipb::git_provider_service_client::GitProviderServiceClient<Authed>;
        /// GitConnectionService as `token`.
        git_connections: ipb::git_connection_service_client::GitConnectionServiceClient<Authed>;
        /// RepositoryService as `token`.
        repositories: ipb::repository_service_client::RepositoryServiceClient<Authed>;
        /// BundleService as `token`.
        bundles: ipb::bundle_service_client::BundleServiceClient<Authed>;
        /// EnvironmentService as `token`.
        environments: ipb::environment_service_client::EnvironmentServiceClient<Authed>;
        /// RevisionService as `token`.
        revisions: ipb::revision_service_client::RevisionServiceClient<Authed>;
        /// DeploymentService as `token`.
        deployments: ipb::deployment_service_client::DeploymentServiceClient<Authed>;
        /// OperationService as `token`.
        operations: ipb::operation_service_client::OperationServiceClient<Authed>;
        /// OperationWorkerService as `token`.
        workers: ipb::operation_worker_service_client::OperationWorkerServiceClient<Authed>;
        /// MonitoringService as `token`.
        monitoring: ipb::monitoring_service_client::MonitoringServiceClient<Authed>;
        /// NotificationChannelService as `token`.
        channels: ipb::notification_channel_service_client::NotificationChannelServiceClient<Authed>;
        /// NotificationService as `token`.
        notify: ipb::notification_service_client::NotificationServiceClient<Authed>;
    }

    /// A channel that sends `token` over a new connection of its own, so
    /// concurrent callers do not share one HTTP/2 connection.
    pub async fn own_connection(&self, token: &str) -> Authed {
        let channel = Channel::from_shared(format!("http://{}", self.app.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let value = format!("Bearer {token}").parse().unwrap();
        InterceptedService::new(channel, Bearer(Some(value)))
    }

    /// A channel that sends `token` (or nothing, with `None`).
    pub fn authed(&self, token: Option<&str>) -> Authed {
        let value = token.map(|t| format!("Bearer {t}").parse().unwrap());
        InterceptedService::new(self.channel.clone(), Bearer(value))
    }

    /// billing's database URL.
    pub fn billing_database_url(&self) -> String {
        database_url_in(&self.args, "billing")
    }

    /// dns's database URL.
    pub fn dns_database_url(&self) -> String {
        database_url_in(&self.args, "dns")
    }

    /// The integrations service's database URL.
    pub fn integrations_database_url(&self) -> String {
        database_url_in(&self.args, "integrations")
    }

    /// Starts the integrations service alone on `listen`, over `database`
    /// (this server's integrations database by default), with this
    /// server's token and secret keys and `flags`, asking the org-core at
    /// `org_core_url` (this server's by default): a second replica, or an
    /// integrations deployed apart.
    pub async fn start_integrations(
        &self,
        listen: std::net::SocketAddr,
        org_core_url: Option<String>,
        flags: &[&str],
    ) -> loopback_runtime::service::Host {
        use loopback_runtime::service::{AuthorityLink, DevKeys, Host, plug};
        let data_dir = self
            .data_dir()
            .join(format!("integrations-{}", uuid::Uuid::now_v7()));
        let mut args: Vec<String> = vec![
            "integrations".into(),
            format!("--listen={listen}"),
            format!("--data-dir={}", data_dir.display()),
            "--shutdown-grace-seconds=1".into(),
            format!(
                "--jwt-key-file={}",
                self.data_dir()
                    .join(loopback_runtime::config::DEV_KEY_FILE)
                    .display()
            ),
            format!(
                "--secret-key-file={}",
                self.data_dir()
                    .join(loopback_runtime::config::DEV_SECRET_KEY_FILE)
                    .display()
            ),
        ];
        if !flags
            .iter()
            .any(|f| f.starts_with("--integrations-database-url="))
        {
            args.push(format!(
                "--integrations-database-url={}",
                self.integrations_database_url()
            ));
        }
        args.extend(flags.iter().map(|f| f.to_string()));
        let parsed = IntegrationsAlone::try_parse_from(&args).unwrap();
        let link = AuthorityLink {
            url: org_core_url.unwrap_or_else(|| format!("http://{}", self.app.addr)),
            service_token: self.service_token("integrations"),
            staleness: None,
        };
        let links =
            move |_: &'static str,
                  _: std::net::SocketAddr,
                  _: &loopback_runtime::auth::Authenticator| { Ok(Some(link.clone())) };
        let plugs = [plug::<loopback_integrations::Integrations>(parsed.service)];
        let dev_keys = DevKeys {
            jwt: false,
            secrets: false,
        };
        Host::start(&parsed.server, &plugs, dev_keys, &links)
            .await
            .unwrap()
    }

    /// The running service of type `S` (for reading back what only the
    /// service itself may see, e.g. sealed secrets).
    pub fn service<S: loopback_runtime::service::Service>(&self) -> &S {
        self.app.service::<S>().unwrap()
    }

    /// Invites `email` into `org` with `roles` (as `admin_token`), accepts as
    /// that account, and returns the new member's token and membership.
    pub async fn add_member(
        &self,
        admin_token: &str,
        org: &str,
        email: &str,
        roles: &[&str],
    ) -> (String, pb::Member) {
        let invite = self
            .invites(admin_token)
            .create_invite(pb::CreateInviteRequest {
                parent: org.into(),
                invite: Some(pb::Invite {
                    email: email.into(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let token = self.account_token(email);
        let member = self
            .invites(&token)
            .accept_invite(pb::AcceptInviteRequest {
                invite_token: invite.invite_token,
            })
            .await
            .unwrap()
            .into_inner()
            .member
            .unwrap();
        (token, member)
    }

    /// Creates a project named `display_name` in `org` as `token`.
    pub async fn create_project(&self, token: &str, org: &str, display_name: &str) -> pb::Project {
        self.projects(token)
            .create_project(pb::CreateProjectRequest {
                parent: org.into(),
                project: Some(pb::Project {
                    display_name: display_name.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .project
            .unwrap()
    }

    /// Invites `email` with `role` on `project` only and accepts: a
    /// project-only member. Returns their token.
    pub async fn add_project_member(
        &self,
        admin_token: &str,
        org: &str,
        email: &str,
        project: &str,
        role: &str,
    ) -> String {
        let invite = self
            .invites(admin_token)
            .create_invite(pb::CreateInviteRequest {
                parent: org.into(),
                invite: Some(pb::Invite {
                    email: email.into(),
                    project_roles: vec![pb::ProjectRoles {
                        project: project.into(),
                        roles: vec![role.into()],
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let token = self.account_token(email);
        self.invites(&token)
            .accept_invite(pb::AcceptInviteRequest {
                invite_token: invite.invite_token,
            })
            .await
            .unwrap();
        token
    }

    /// Sets capability limits and flags as operator.
    pub async fn set_capabilities(
        &self,
        org: &str,
        limits: &[(&str, i64)],
        flags: &[(&str, bool)],
    ) {
        self.operator(&self.operator_token())
            .set_capabilities(pb::SetCapabilitiesRequest {
                name: org.into(),
                capabilities: Some(loopback_proto::r#type::v1::Capabilities {
                    limits: limits.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                    flags: flags.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                    ..Default::default()
                }),
                reason: "test".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    /// Creates an organization as `token` and returns it.
    pub async fn create_org(&self, token: &str, display_name: &str) -> pb::Organization {
        self.orgs(token)
            .create_organization(pb::CreateOrganizationRequest {
                organization: Some(pb::Organization {
                    display_name: display_name.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .organization
            .unwrap()
    }

    /// Sets an organization's verification status as operator.
    pub async fn set_status(
        &self,
        org: &str,
        status: loopback_proto::r#type::v1::VerificationStatus,
    ) -> pb::Organization {
        self.operator(&self.operator_token())
            .set_verification_status(pb::SetVerificationStatusRequest {
                name: org.into(),
                verification_status: status.into(),
                reason: "test".into(),
                validate_only: false,
            })
            .await
            .unwrap()
            .into_inner()
            .organization
            .unwrap()
    }

    /// Creates a verified organization owned by `token`.
    pub async fn verified_org(&self, token: &str, display_name: &str) -> pb::Organization {
        let org = self.create_org(token, display_name).await;
        self.set_status(
            &org.name,
            loopback_proto::r#type::v1::VerificationStatus::Verified,
        )
        .await
    }

    /// Stops the server and drops the PostgreSQL databases it created.
    pub async fn stop(self) {
        self.app.stop().await.unwrap();
        for url in &self.owned_databases {
            pg::drop_database(url).await;
        }
    }

    /// Stops the server but keeps its data dir (returned; dropping it
    /// removes the dir).
    pub async fn stop_keeping_data(self) -> tempfile::TempDir {
        self.app.stop().await.unwrap();
        self._data_dir
    }
}

/// Parses a `loopbackd` command line into its configuration.
pub fn config_from_args(args: &[String]) -> loopbackd::Config {
    ServeArgs::try_parse_from(args).unwrap().config
}

/// The `--<service>-database-url` in a command line.
fn database_url_in(args: &[String], service: &str) -> String {
    let flag = format!("--{service}-database-url=");
    args.iter()
        .find_map(|a| a.strip_prefix(&flag))
        .unwrap_or_default()
        .to_string()
}

#[derive(clap::Parser)]
struct IntegrationsAlone {
    #[command(flatten)]
    server: loopback_runtime::config::ServerArgs,
    #[command(flatten)]
    service: loopback_integrations::IntegrationsArgs,
}

#[derive(clap::Parser)]
struct ServeArgs {
    #[command(flatten)]
    config: loopbackd::Config,
}

/// The `ErrorInfo.reason` of a status, if it carries one.
pub fn reason(status: &Status) -> Option<String> {
    use tonic_types::StatusExt as _;
    status.get_details_error_info().map(|i| i.reason)
}

/// The `ErrorInfo.metadata` of a status.
pub fn metadata(status: &Status) -> std::collections::HashMap<String, String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_error_info()
        .map(|i| i.metadata)
        .unwrap_or_default()
}

/// The fields named by a status's `BadRequest`.
pub fn bad_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The subject of each `PreconditionFailure` violation of a status.
pub fn precondition_subjects(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_precondition_failure()
        .map(|p| p.violations.into_iter().map(|v| v.subject).collect())
        .unwrap_or_default()
}
