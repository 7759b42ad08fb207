//! The published permission catalog: every permission of every service,
//! `service.collection.verb`, with what it allows. Every RPC of every
//! service checks exactly one of these (its row in the service's RPC table,
//! see [`crate::authz::Rpc`]); org-core publishes the list
//! (`ListPermissions`) and builds its roles from it.
//!
//! A new service adds its permissions here, sorted by name.

/// A permission: `service.collection.verb`.
pub type Permission = &'static str;

macro_rules! permissions {
    ($($konst:ident = $name:literal : $what:literal;)+) => {
        $(
            #[doc = $what]
            pub const $konst: Permission = $name;
        )+
        /// Every permission with what it allows, sorted by name.
        pub const PERMISSIONS: &[(Permission, &str)] = &[$(($name, $what)),+];
    };
}

permissions! {
    BILLING_COSTS_GET = "billing.costs.get" : "read cost summaries";
    BILLING_INVOICES_EXPORT = "billing.invoices.export" : "export invoices as documents";
    BILLING_INVOICES_GET = "billing.invoices.get" : "read an invoice";
    BILLING_INVOICES_LIST = "billing.invoices.list" : "list invoices";
    BILLING_INVOICES_MANAGE = "billing.invoices.manage" : "generate, finalize, void and settle invoices";
    BILLING_PAYMENT_METHODS_CREATE = "billing.paymentMethods.create" : "add payment methods";
    BILLING_PAYMENT_METHODS_DELETE = "billing.paymentMethods.delete" : "remove payment methods";
    BILLING_PAYMENT_METHODS_GET = "billing.paymentMethods.get" : "read a payment method";
    BILLING_PAYMENT_METHODS_LIST = "billing.paymentMethods.list" : "list payment methods";
    BILLING_PAYMENT_METHODS_UPDATE = "billing.paymentMethods.update" : "choose the default payment method";
    BILLING_SPENDING_LIMITS_GET = "billing.spendingLimits.get" : "read the spending limit and status";
    BILLING_SPENDING_LIMITS_UPDATE = "billing.spendingLimits.update" : "set the spending limit";
    DNS_DELEGATIONS_CREATE = "dns.delegations.create" : "delegate name patterns of DNS zones to projects and workspaces";
    DNS_DELEGATIONS_DELETE = "dns.delegations.delete" : "remove delegations of DNS name patterns";
    DNS_DELEGATIONS_GET = "dns.delegations.get" : "read a delegation of a DNS name pattern";
    DNS_DELEGATIONS_LIST = "dns.delegations.list" : "list a zone's delegations";
    DNS_DOMAINS_CREATE = "dns.domains.create" : "add domain registration records";
    DNS_DOMAINS_DELETE = "dns.domains.delete" : "remove domain registration records";
    DNS_DOMAINS_GET = "dns.domains.get" : "read a domain registration record";
    DNS_DOMAINS_LIST = "dns.domains.list" : "list domain registration records";
    DNS_DOMAINS_UPDATE = "dns.domains.update" : "change domains' registrar, dates and auto-renewal";
    DNS_DOMAINS_VERIFY = "dns.domains.verify" : "prove ownership of domains by their DNS TXT challenge";
    DNS_NETWORK_BRIDGES_CREATE = "dns.networkBridges.create" : "request network bridges";
    DNS_NETWORK_BRIDGES_DELETE = "dns.networkBridges.delete" : "remove network bridges";
    DNS_NETWORK_BRIDGES_GET = "dns.networkBridges.get" : "read a network bridge";
    DNS_NETWORK_BRIDGES_LIST = "dns.networkBridges.list" : "list network bridges";
    DNS_RECORDS_CREATE = "dns.records.create" : "add DNS records and import zone files";
    DNS_RECORDS_DELETE = "dns.records.delete" : "remove DNS records";
    DNS_RECORDS_GET = "dns.records.get" : "read a DNS record";
    DNS_RECORDS_LIST = "dns.records.list" : "list DNS records";
    DNS_RECORDS_UPDATE = "dns.records.update" : "change DNS records and apply record batches";
    DNS_ZONES_CREATE = "dns.zones.create" : "create DNS zones";
    DNS_ZONES_DELETE = "dns.zones.delete" : "delete DNS zones and their records";
    DNS_ZONES_GET = "dns.zones.get" : "read and export a DNS zone";
    DNS_ZONES_LIST = "dns.zones.list" : "list DNS zones";
    DNS_ZONES_UPDATE = "dns.zones.update" : "change DNS zones' settings";
    INTEGRATIONS_BUNDLES_CREATE = "integrations.bundles.create" : "create bundles";
    INTEGRATIONS_BUNDLES_DELETE = "integrations.bundles.delete" : "delete bundles";
    INTEGRATIONS_BUNDLES_GET = "integrations.bundles.get" : "read a bundle";
    INTEGRATIONS_BUNDLES_LIST = "integrations.bundles.list" : "list bundles";
    INTEGRATIONS_BUNDLES_UPDATE = "integrations.bundles.update" : "change bundles";
    INTEGRATIONS_DELIVERIES_LIST = "integrations.deliveries.list" : "read the notification delivery log";
    INTEGRATIONS_DEPLOYMENTS_CREATE = "integrations.deployments.create" : "deploy revisions";
    INTEGRATIONS_DEPLOYMENTS_GET = "integrations.deployments.get" : "read a deployment";
    INTEGRATIONS_DEPLOYMENTS_LIST = "integrations.deployments.list" : "list deployments";
    INTEGRATIONS_DEPLOYMENTS_OPERATE = "integrations.deployments.operate" : "redeploy and roll back environments";
    INTEGRATIONS_ENVIRONMENTS_CREATE = "integrations.environments.create" : "create environments";
    INTEGRATIONS_ENVIRONMENTS_DELETE = "integrations.environments.delete" : "delete environments";
    INTEGRATIONS_ENVIRONMENTS_GET = "integrations.environments.get" : "read an environment (secret values never)";
    INTEGRATIONS_ENVIRONMENTS_LIST = "integrations.environments.list" : "list environments";
    INTEGRATIONS_ENVIRONMENTS_UPDATE = "integrations.environments.update" : "change environments and their variables";
    INTEGRATIONS_GIT_CONNECTIONS_CREATE = "integrations.gitConnections.create" : "connect and reconnect Git provider accounts";
    INTEGRATIONS_GIT_CONNECTIONS_DELETE = "integrations.gitConnections.delete" : "remove Git connections";
    INTEGRATIONS_GIT_CONNECTIONS_GET = "integrations.gitConnections.get" : "read a Git connection";
    INTEGRATIONS_GIT_CONNECTIONS_LIST = "integrations.gitConnections.list" : "list Git connections";
    INTEGRATIONS_GIT_CONNECTIONS_UPDATE = "integrations.gitConnections.update" : "refresh Git connections";
    INTEGRATIONS_MONITORING_SOURCES_CREATE = "integrations.monitoringSources.create" : "add monitoring sources";
    INTEGRATIONS_MONITORING_SOURCES_DELETE = "integrations.monitoringSources.delete" : "remove monitoring sources";
    INTEGRATIONS_MONITORING_SOURCES_GET = "integrations.monitoringSources.get" : "read a monitoring source";
    INTEGRATIONS_MONITORING_SOURCES_LIST = "integrations.monitoringSources.list" : "list monitoring sources";
    INTEGRATIONS_MONITORING_SOURCES_UPDATE = "integrations.monitoringSources.update" : "change monitoring sources";
    INTEGRATIONS_NOTIFICATION_CHANNELS_CREATE = "integrations.notificationChannels.create" : "add notification channels";
    INTEGRATIONS_NOTIFICATION_CHANNELS_DELETE = "integrations.notificationChannels.delete" : "remove notification channels";
    INTEGRATIONS_NOTIFICATION_CHANNELS_GET = "integrations.notificationChannels.get" : "read a notification channel";
    INTEGRATIONS_NOTIFICATION_CHANNELS_LIST = "integrations.notificationChannels.list" : "list notification channels";
    INTEGRATIONS_NOTIFICATION_CHANNELS_TEST = "integrations.notificationChannels.test" : "send test notifications";
    INTEGRATIONS_NOTIFICATION_CHANNELS_UPDATE = "integrations.notificationChannels.update" : "change notification channels";
    INTEGRATIONS_OPERATIONS_CANCEL = "integrations.operations.cancel" : "cancel build and deploy operations";
    INTEGRATIONS_OPERATIONS_GET = "integrations.operations.get" : "read and wait for an operation";
    INTEGRATIONS_OPERATIONS_LIST = "integrations.operations.list" : "list operations";
    INTEGRATIONS_REPOSITORIES_CREATE = "integrations.repositories.create" : "link repositories";
    INTEGRATIONS_REPOSITORIES_DELETE = "integrations.repositories.delete" : "unlink repositories";
    INTEGRATIONS_REPOSITORIES_GET = "integrations.repositories.get" : "read a linked repository";
    INTEGRATIONS_REPOSITORIES_LIST = "integrations.repositories.list" : "list linked repositories";
    INTEGRATIONS_REVISIONS_CREATE = "integrations.revisions.create" : "create revisions (and their builds)";
    INTEGRATIONS_REVISIONS_GET = "integrations.revisions.get" : "read a revision";
    INTEGRATIONS_REVISIONS_LIST = "integrations.revisions.list" : "list revisions";
    AUDIT_LIST = "orgcore.audit.list" : "read the organization's audit log";
    AUTH_PROVIDERS_CREATE = "orgcore.authProviders.create" : "add login identity providers";
    AUTH_PROVIDERS_DELETE = "orgcore.authProviders.delete" : "remove login identity providers";
    AUTH_PROVIDERS_GET = "orgcore.authProviders.get" : "read a login identity provider";
    AUTH_PROVIDERS_LIST = "orgcore.authProviders.list" : "list login identity providers";
    AUTH_PROVIDERS_UPDATE = "orgcore.authProviders.update" : "change, enable or disable login identity providers";
    INVITES_CREATE = "orgcore.invites.create" : "invite people and resend invitations";
    INVITES_LIST = "orgcore.invites.list" : "read invitations";
    INVITES_REVOKE = "orgcore.invites.revoke" : "revoke invitations";
    LIMIT_REQUESTS_CREATE = "orgcore.limitRequests.create" : "ask for higher limits";
    LIMIT_REQUESTS_LIST = "orgcore.limitRequests.list" : "read limit increase requests";
    MEMBERS_GET = "orgcore.members.get" : "read a member";
    MEMBERS_LIST = "orgcore.members.list" : "list members";
    MEMBERS_REMOVE = "orgcore.members.remove" : "remove members";
    MEMBERS_UPDATE = "orgcore.members.update" : "change members' roles";
    ONBOARDING_GET = "orgcore.onboarding.get" : "read the onboarding checklist";
    ONBOARDING_SUBMIT = "orgcore.onboarding.submit" : "submit the organization for verification";
    ORGANIZATIONS_CHANGE_PLAN = "orgcore.organizations.changePlan" : "choose a self-serve plan for the organization";
    ORGANIZATIONS_DELETE = "orgcore.organizations.delete" : "delete the organization";
    ORGANIZATIONS_GET = "orgcore.organizations.get" : "read the organization";
    ORGANIZATIONS_UNDELETE = "orgcore.organizations.undelete" : "restore the deleted organization";
    ORGANIZATIONS_UPDATE = "orgcore.organizations.update" : "change the organization's profile";
    PROFILE_GET = "orgcore.profile.get" : "read the organization's legal profile";
    PROFILE_UPDATE = "orgcore.profile.update" : "change the organization's legal profile (name, address, tax id, billing email)";
    PROJECTS_CREATE = "orgcore.projects.create" : "create projects";
    PROJECTS_DELETE = "orgcore.projects.delete" : "delete projects";
    PROJECTS_GET = "orgcore.projects.get" : "read a project";
    PROJECTS_LIST = "orgcore.projects.list" : "list projects";
    PROJECTS_UNDELETE = "orgcore.projects.undelete" : "restore deleted projects";
    PROJECTS_UPDATE = "orgcore.projects.update" : "change projects";
    ROLES_CREATE = "orgcore.roles.create" : "create custom roles";
    ROLES_DELETE = "orgcore.roles.delete" : "delete custom roles";
    ROLES_GET = "orgcore.roles.get" : "read a role";
    ROLES_LIST = "orgcore.roles.list" : "list roles";
    ROLES_UPDATE = "orgcore.roles.update" : "change custom roles";
}

/// The permissions that are about one project: a project role (a role a
/// member holds on one project) grants these, and only these, within its
/// project; every other permission applies through organization roles
/// alone. Services with project-scoped resources (dns, integrations) add
/// theirs here as they land. Restoring a deleted project
/// (`orgcore.projects.undelete`) stays organization-wide: it counts
/// against the organization's `max_projects`, like creating one.
///
/// dns: zones and records, in a project's zones and — for records — in
/// names of organization zones delegated to the project (delegations,
/// domains and network bridges stay organization-wide).
///
/// integrations: a bundle in a project, with its environments, revisions,
/// deployments and their operations, is that project's (Git connections,
/// repositories, monitoring and notification channels stay
/// organization-wide).
pub const PROJECT_SCOPED: &[Permission] = &[
    DNS_RECORDS_CREATE,
    DNS_RECORDS_DELETE,
    DNS_RECORDS_GET,
    DNS_RECORDS_LIST,
    DNS_RECORDS_UPDATE,
    DNS_ZONES_CREATE,
    DNS_ZONES_DELETE,
    DNS_ZONES_GET,
    DNS_ZONES_LIST,
    DNS_ZONES_UPDATE,
    INTEGRATIONS_BUNDLES_CREATE,
    INTEGRATIONS_BUNDLES_DELETE,
    INTEGRATIONS_BUNDLES_GET,
    INTEGRATIONS_BUNDLES_LIST,
    INTEGRATIONS_BUNDLES_UPDATE,
    INTEGRATIONS_DEPLOYMENTS_CREATE,
    INTEGRATIONS_DEPLOYMENTS_GET,
    INTEGRATIONS_DEPLOYMENTS_LIST,
    INTEGRATIONS_DEPLOYMENTS_OPERATE,
    INTEGRATIONS_ENVIRONMENTS_CREATE,
    INTEGRATIONS_ENVIRONMENTS_DELETE,
    INTEGRATIONS_ENVIRONMENTS_GET,
    INTEGRATIONS_ENVIRONMENTS_LIST,
    INTEGRATIONS_ENVIRONMENTS_UPDATE,
    INTEGRATIONS_OPERATIONS_CANCEL,
    INTEGRATIONS_OPERATIONS_GET,
    INTEGRATIONS_OPERATIONS_LIST,
    INTEGRATIONS_REVISIONS_CREATE,
    INTEGRATIONS_REVISIONS_GET,
    INTEGRATIONS_REVISIONS_LIST,
    PROJECTS_DELETE,
    PROJECTS_GET,
    PROJECTS_UPDATE,
];

/// True when a project role grants `permission` within its project.
pub fn is_project_scoped(permission: &str) -> bool {
    PROJECT_SCOPED.contains(&permission)
}

/// The catalog entry for a permission string, if it is one.
pub fn lookup(permission: &str) -> Option<Permission> {
    PERMISSIONS
        .iter()
        .map(|(p, _)| *p)
        .find(|p| *p == permission)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_sorted_unique_and_well_formed() {
        let names: Vec<_> = PERMISSIONS.iter().map(|(p, _)| *p).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            names, sorted,
            "keep the catalog sorted by name, without repeats"
        );
        for name in names {
            assert_eq!(name.split('.').count(), 3, "{name}");
        }
    }

    #[test]
    fn project_scoped_permissions_are_in_the_catalog() {
        for p in PROJECT_SCOPED {
            assert_eq!(lookup(p), Some(*p));
        }
        assert!(is_project_scoped(PROJECTS_UPDATE));
        assert!(!is_project_scoped(PROJECTS_CREATE));
        assert!(!is_project_scoped(MEMBERS_UPDATE));
    }
}
