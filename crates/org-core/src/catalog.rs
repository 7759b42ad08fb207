//! The published permission catalog and the built-in roles. Every RPC checks
//! exactly one permission from here (or is open to every authenticated
//! caller, as documented on the RPC); other services' permissions join the
//! catalog as those services land.

use std::collections::BTreeSet;
use std::sync::LazyLock;

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
    ORGANIZATIONS_DELETE = "orgcore.organizations.delete" : "delete the organization";
    ORGANIZATIONS_GET = "orgcore.organizations.get" : "read the organization";
    ORGANIZATIONS_UNDELETE = "orgcore.organizations.undelete" : "restore the deleted organization";
    ORGANIZATIONS_UPDATE = "orgcore.organizations.update" : "change the organization's profile";
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

/// Built-in role ids.
pub mod roles {
    /// Everything, including deleting the organization.
    pub const OWNER: &str = "owner";
    /// Everything except deleting and restoring the organization.
    pub const ADMIN: &str = "admin";
    /// Billing, plus read access.
    pub const BILLING_ADMIN: &str = "billing_admin";
    /// Read access, and creating and changing projects.
    pub const MEMBER: &str = "member";
    /// Read access.
    pub const VIEWER: &str = "viewer";
    /// Every built-in role, most powerful first.
    pub const ALL: [&str; 5] = [OWNER, ADMIN, BILLING_ADMIN, MEMBER, VIEWER];
}

/// Reads anyone in the organization may do (the audit log is for admins).
fn reads() -> BTreeSet<Permission> {
    PERMISSIONS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| (p.ends_with(".get") || p.ends_with(".list")) && *p != AUDIT_LIST)
        .collect()
}

/// Every billing permission.
fn billing() -> BTreeSet<Permission> {
    PERMISSIONS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| p.starts_with("billing."))
        .collect()
}

struct BuiltIn {
    id: &'static str,
    display_name: &'static str,
    description: &'static str,
    permissions: BTreeSet<Permission>,
}

static BUILT_IN: LazyLock<Vec<BuiltIn>> = LazyLock::new(|| {
    let all: BTreeSet<Permission> = PERMISSIONS.iter().map(|(p, _)| *p).collect();
    let admin: BTreeSet<Permission> = all
        .iter()
        .copied()
        .filter(|p| *p != ORGANIZATIONS_DELETE && *p != ORGANIZATIONS_UNDELETE)
        .collect();
    let mut member = reads();
    member.extend([PROJECTS_CREATE, PROJECTS_UPDATE]);
    vec![
        BuiltIn {
            id: roles::OWNER,
            display_name: "Owner",
            description: "Everything, including deleting the organization.",
            permissions: all,
        },
        BuiltIn {
            id: roles::ADMIN,
            display_name: "Admin",
            description: "Everything except deleting or restoring the organization.",
            permissions: admin,
        },
        BuiltIn {
            id: roles::BILLING_ADMIN,
            display_name: "Billing admin",
            description: "Manages billing; reads everything else.",
            permissions: reads().into_iter().chain(billing()).collect(),
        },
        BuiltIn {
            id: roles::MEMBER,
            display_name: "Member",
            description: "Reads everything; creates and changes projects.",
            permissions: member,
        },
        BuiltIn {
            id: roles::VIEWER,
            display_name: "Viewer",
            description: "Reads everything except the audit log.",
            permissions: reads(),
        },
    ]
});

/// The permissions of a built-in role, or `None` for other ids.
pub fn builtin_role(role: &str) -> Option<&'static BTreeSet<Permission>> {
    BUILT_IN
        .iter()
        .find(|r| r.id == role)
        .map(|r| &r.permissions)
}

/// Display name and description of a built-in role.
pub fn builtin_role_info(role: &str) -> Option<(&'static str, &'static str)> {
    BUILT_IN
        .iter()
        .find(|r| r.id == role)
        .map(|r| (r.display_name, r.description))
}

/// True for the built-in role ids.
pub fn is_builtin_role(role: &str) -> bool {
    roles::ALL.contains(&role)
}

/// Permissions service principals hold in every organization: reads only.
pub fn service_permissions() -> BTreeSet<Permission> {
    reads()
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
    fn catalog_is_sorted_and_unique() {
        let names: Vec<_> = PERMISSIONS.iter().map(|(p, _)| *p).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn viewers_read_but_never_write() {
        let viewer = builtin_role(roles::VIEWER).expect("viewer");
        assert!(viewer.contains(PROJECTS_LIST));
        assert!(
            viewer
                .iter()
                .all(|p| p.ends_with(".get") || p.ends_with(".list"))
        );
        assert!(!viewer.contains(AUDIT_LIST));
        let admin = builtin_role(roles::ADMIN).expect("admin");
        assert!(admin.contains(AUDIT_LIST) && !admin.contains(ORGANIZATIONS_DELETE));
    }
}
