//! The integrations service's RPC table: who may call each method, how
//! org-core's status table judges it, and the feature it belongs to.
//! Connecting Git is setup; creating bundles, environments, revisions,
//! deployments and notification channels is create; changing them,
//! redeploying, rolling back and cancelling is operate. Git connections
//! need the `github` or `gitlab` feature by provider (checked on the
//! policy by the domain, since one row serves both).

use loopback_runtime::authz::ActionClass::{Create, Operate, Read, Setup};
use loopback_runtime::authz::{ANYONE, OPERATORS, SERVICES, perm};
use loopback_runtime::catalog as c;

loopback_runtime::rpc_table! {
    // GitProviderService: deployment configuration, operators only.
    CONFIGURE_GIT_PROVIDER = "ConfigureGitProvider", OPERATORS, Setup;
    LIST_GIT_PROVIDERS = "ListGitProviders", OPERATORS, Read;
    // GitConnectionService
    BEGIN_GIT_CONNECTION = "BeginGitConnection", perm(c::INTEGRATIONS_GIT_CONNECTIONS_CREATE), Setup;
    COMPLETE_GIT_CONNECTION = "CompleteGitConnection", perm(c::INTEGRATIONS_GIT_CONNECTIONS_CREATE), Setup;
    GET_GIT_CONNECTION = "GetGitConnection", perm(c::INTEGRATIONS_GIT_CONNECTIONS_GET), Read;
    LIST_GIT_CONNECTIONS = "ListGitConnections", perm(c::INTEGRATIONS_GIT_CONNECTIONS_LIST), Read;
    REFRESH_GIT_CONNECTION = "RefreshGitConnection", perm(c::INTEGRATIONS_GIT_CONNECTIONS_UPDATE), Setup;
    DELETE_GIT_CONNECTION = "DeleteGitConnection", perm(c::INTEGRATIONS_GIT_CONNECTIONS_DELETE), Setup;
    // RepositoryService
    LINK_REPOSITORY = "LinkRepository", perm(c::INTEGRATIONS_REPOSITORIES_CREATE), Setup, feature = "bundles";
    GET_REPOSITORY = "GetRepository", perm(c::INTEGRATIONS_REPOSITORIES_GET), Read, feature = "bundles";
    LIST_REPOSITORIES = "ListRepositories", perm(c::INTEGRATIONS_REPOSITORIES_LIST), Read, feature = "bundles";
    UNLINK_REPOSITORY = "UnlinkRepository", perm(c::INTEGRATIONS_REPOSITORIES_DELETE), Setup, feature = "bundles";
    // BundleService
    CREATE_BUNDLE = "CreateBundle", perm(c::INTEGRATIONS_BUNDLES_CREATE), Create, feature = "bundles";
    GET_BUNDLE = "GetBundle", perm(c::INTEGRATIONS_BUNDLES_GET), Read, feature = "bundles";
    LIST_BUNDLES = "ListBundles", perm(c::INTEGRATIONS_BUNDLES_LIST), Read, feature = "bundles";
    UPDATE_BUNDLE = "UpdateBundle", perm(c::INTEGRATIONS_BUNDLES_UPDATE), Operate, feature = "bundles";
    DELETE_BUNDLE = "DeleteBundle", perm(c::INTEGRATIONS_BUNDLES_DELETE), Operate, feature = "bundles";
    // EnvironmentService
    CREATE_ENVIRONMENT = "CreateEnvironment", perm(c::INTEGRATIONS_ENVIRONMENTS_CREATE), Create, feature = "bundles";
    GET_ENVIRONMENT = "GetEnvironment", perm(c::INTEGRATIONS_ENVIRONMENTS_GET), Read, feature = "bundles";
    LIST_ENVIRONMENTS = "ListEnvironments", perm(c::INTEGRATIONS_ENVIRONMENTS_LIST), Read, feature = "bundles";
    UPDATE_ENVIRONMENT = "UpdateEnvironment", perm(c::INTEGRATIONS_ENVIRONMENTS_UPDATE), Operate, feature = "bundles";
    DELETE_ENVIRONMENT = "DeleteEnvironment", perm(c::INTEGRATIONS_ENVIRONMENTS_DELETE), Operate, feature = "bundles";
    // RevisionService
    CREATE_REVISION = "CreateRevision", perm(c::INTEGRATIONS_REVISIONS_CREATE), Create, feature = "bundles";
    GET_REVISION = "GetRevision", perm(c::INTEGRATIONS_REVISIONS_GET), Read, feature = "bundles";
    LIST_REVISIONS = "ListRevisions", perm(c::INTEGRATIONS_REVISIONS_LIST), Read, feature = "bundles";
    // DeploymentService
    CREATE_DEPLOYMENT = "CreateDeployment", perm(c::INTEGRATIONS_DEPLOYMENTS_CREATE), Create, feature = "bundles";
    GET_DEPLOYMENT = "GetDeployment", perm(c::INTEGRATIONS_DEPLOYMENTS_GET), Read, feature = "bundles";
    LIST_DEPLOYMENTS = "ListDeployments", perm(c::INTEGRATIONS_DEPLOYMENTS_LIST), Read, feature = "bundles";
    REDEPLOY_ENVIRONMENT = "RedeployEnvironment", perm(c::INTEGRATIONS_DEPLOYMENTS_OPERATE), Operate, feature = "bundles";
    ROLLBACK_ENVIRONMENT = "RollbackEnvironment", perm(c::INTEGRATIONS_DEPLOYMENTS_OPERATE), Operate, feature = "bundles";
    // OperationService
    GET_OPERATION = "GetOperation", perm(c::INTEGRATIONS_OPERATIONS_GET), Read, feature = "bundles";
    LIST_OPERATIONS = "ListOperations", perm(c::INTEGRATIONS_OPERATIONS_LIST), Read, feature = "bundles";
    CANCEL_OPERATION = "CancelOperation", perm(c::INTEGRATIONS_OPERATIONS_CANCEL), Operate, feature = "bundles";
    WAIT_OPERATION = "WaitOperation", perm(c::INTEGRATIONS_OPERATIONS_GET), Read, feature = "bundles";
    // OperationWorkerService: workers report what happened, so no status
    // gate; the queue spans every organization.
    CLAIM_OPERATION = "ClaimOperation", SERVICES, Read, feature = "bundles";
    REPORT_PROGRESS = "ReportProgress", SERVICES, Read, feature = "bundles";
    COMPLETE_OPERATION = "CompleteOperation", SERVICES, Read, feature = "bundles";
    // MonitoringService: observability configuration is setup.
    LIST_MONITORING_SOURCE_TYPES = "ListMonitoringSourceTypes", ANYONE, Read, feature = "monitoring";
    CREATE_MONITORING_SOURCE = "CreateMonitoringSource", perm(c::INTEGRATIONS_MONITORING_SOURCES_CREATE), Setup, feature = "monitoring";
    GET_MONITORING_SOURCE = "GetMonitoringSource", perm(c::INTEGRATIONS_MONITORING_SOURCES_GET), Read, feature = "monitoring";
    LIST_MONITORING_SOURCES = "ListMonitoringSources", perm(c::INTEGRATIONS_MONITORING_SOURCES_LIST), Read, feature = "monitoring";
    UPDATE_MONITORING_SOURCE = "UpdateMonitoringSource", perm(c::INTEGRATIONS_MONITORING_SOURCES_UPDATE), Setup, feature = "monitoring";
    DELETE_MONITORING_SOURCE = "DeleteMonitoringSource", perm(c::INTEGRATIONS_MONITORING_SOURCES_DELETE), Setup, feature = "monitoring";
    // NotificationChannelService
    CREATE_NOTIFICATION_CHANNEL = "CreateNotificationChannel", perm(c::INTEGRATIONS_NOTIFICATION_CHANNELS_CREATE), Create, feature = "notifications";
    GET_NOTIFICATION_CHANNEL = "GetNotificationChannel", perm(c::INTEGRATIONS_NOTIFICATION_CHANNELS_GET), Read, feature = "notifications";
    LIST_NOTIFICATION_CHANNELS = "ListNotificationChannels", perm(c::INTEGRATIONS_NOTIFICATION_CHANNELS_LIST), Read, feature = "notifications";
    UPDATE_NOTIFICATION_CHANNEL = "UpdateNotificationChannel", perm(c::INTEGRATIONS_NOTIFICATION_CHANNELS_UPDATE), Operate, feature = "notifications";
    DELETE_NOTIFICATION_CHANNEL = "DeleteNotificationChannel", perm(c::INTEGRATIONS_NOTIFICATION_CHANNELS_DELETE), Operate, feature = "notifications";
    TEST_NOTIFICATION_CHANNEL = "TestNotificationChannel", perm(c::INTEGRATIONS_NOTIFICATION_CHANNELS_TEST), Operate, feature = "notifications";
    LIST_DELIVERIES = "ListDeliveries", perm(c::INTEGRATIONS_DELIVERIES_LIST), Read, feature = "notifications";
    LIST_NOTIFICATION_EVENT_TYPES = "ListNotificationEventTypes", ANYONE, Read, feature = "notifications";
    // NotificationService: platform services raise alerts whatever the
    // organization's status (a blocked organization still hears about it).
    NOTIFY = "Notify", SERVICES, Read, feature = "notifications";
}

/// Not an RPC: the audit name of a Git connection losing its authorization
/// when a background refresh is refused.
pub const BACKGROUND_REFRESH: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("RefreshGitConnection", SERVICES, Read);

/// Not an RPC: the audit name of deleting what integrations held of an
/// organization org-core purged (`crate::purge`).
pub const PURGE_ORGANIZATION: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("PurgeOrganization", SERVICES, Setup);

/// Not an RPC: the audit name of deleting the bundles of a project org-core
/// purged (`crate::purge`).
pub const PURGE_PROJECT: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("PurgeProject", SERVICES, Setup);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn every_integrations_rpc_has_exactly_one_row_with_a_catalog_permission() {
        let set = prost_types::FileDescriptorSet::decode(loopback_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut methods: Vec<String> = set
            .file
            .iter()
            .filter(|f| f.package() == "loopback.integrations.v1")
            .flat_map(|f| f.service.iter())
            .flat_map(|s| s.method.iter().map(|m| m.name().to_string()))
            .collect();
        methods.sort();
        let mut rows: Vec<String> = RPCS.iter().map(|r| r.method.to_string()).collect();
        rows.sort();
        assert_eq!(methods, rows);
        for rpc in RPCS {
            if let Some(p) = rpc.permission() {
                assert!(
                    c::lookup(p).is_some(),
                    "{} checks {p}, not in the catalog",
                    rpc.method
                );
                assert!(p.starts_with("integrations."), "{} checks {p}", rpc.method);
            }
        }
    }
}
