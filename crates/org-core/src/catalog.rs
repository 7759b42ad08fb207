//! The published permission catalog and the built-in roles. Every RPC checks
//! exactly one permission from here (or is open to every authenticated
//! caller, as documented on the RPC); other services' permissions join the
//! catalog as those services land. Any role may also be held on a single
//! project, where it grants only its project-scoped permissions
//! ([`PROJECT_SCOPED`]); a member holding only such roles gets
//! [`PROJECT_MEMBER`] at organization level.

use std::collections::BTreeSet;
use std::sync::LazyLock;

pub use loopback_runtime::catalog::*;

/// Built-in role ids.
pub mod roles {
    /// Everything, including deleting the organization.
    pub const OWNER: &str = "owner";
    /// Everything except deleting and restoring the organization.
    pub const ADMIN: &str = "admin";
    /// Billing and the legal profile invoices are addressed to, plus read
    /// access.
    pub const BILLING_ADMIN: &str = "billing_admin";
    /// Read access, creating and changing projects, and managing DNS
    /// records.
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
    // Members manage DNS records (zones, domains, delegations and bridges
    // are the admins'): everywhere as organization members; as project
    // members (the records permissions are project-scoped) in their
    // project's zones and the names delegated to their project.
    member.extend([DNS_RECORDS_CREATE, DNS_RECORDS_UPDATE, DNS_RECORDS_DELETE]);
    // Members build and ship: bundles, environments, revisions and
    // deployments (redeploy and rollback too) and cancelling their
    // operations. Git connections, repositories, monitoring and
    // notification channels stay with admins.
    member.extend([
        INTEGRATIONS_BUNDLES_CREATE,
        INTEGRATIONS_BUNDLES_UPDATE,
        INTEGRATIONS_ENVIRONMENTS_CREATE,
        INTEGRATIONS_ENVIRONMENTS_UPDATE,
        INTEGRATIONS_REVISIONS_CREATE,
        INTEGRATIONS_DEPLOYMENTS_CREATE,
        INTEGRATIONS_DEPLOYMENTS_OPERATE,
        INTEGRATIONS_OPERATIONS_CANCEL,
    ]);
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
            description: "Manages billing and the legal profile invoices are addressed to; reads everything else.",
            // The legal profile is the invoices' bill-to: billing admins keep it.
            permissions: reads()
                .into_iter()
                .chain(billing())
                .chain([PROFILE_UPDATE])
                .collect(),
        },
        BuiltIn {
            id: roles::MEMBER,
            display_name: "Member",
            description: "Reads everything; creates and changes projects; manages DNS records; builds and deploys bundles.",
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

/// What a project-only member (project roles, no organization role) holds
/// at organization level: reading the organization (GetOrganization,
/// GetOrganizationUsage) and listing projects (ListProjects shows them the
/// projects they are bound to). Everything else at organization level is
/// PERMISSION_DENIED to them.
pub const PROJECT_MEMBER: [Permission; 2] = [ORGANIZATIONS_GET, PROJECTS_LIST];

/// The part of `permissions` a project role grants in its project.
pub fn project_scoped(permissions: &BTreeSet<Permission>) -> BTreeSet<Permission> {
    permissions
        .iter()
        .copied()
        .filter(|p| is_project_scoped(p))
        .collect()
}

/// Permissions service principals hold in every organization: reads only.
pub fn service_permissions() -> BTreeSet<Permission> {
    reads()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dns_permissions_go_to_the_roles_their_names_suggest() {
        let dns: Vec<Permission> = PERMISSIONS
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| p.starts_with("dns."))
            .collect();
        assert!(!dns.is_empty());
        let admin = builtin_role(roles::ADMIN).expect("admin");
        assert!(
            dns.iter().all(|p| admin.contains(p)),
            "admins hold every dns permission"
        );
        let member = builtin_role(roles::MEMBER).expect("member");
        for p in &dns {
            let records = [DNS_RECORDS_CREATE, DNS_RECORDS_UPDATE, DNS_RECORDS_DELETE];
            let expected = p.ends_with(".get") || p.ends_with(".list") || records.contains(p);
            assert_eq!(member.contains(p), expected, "member and {p}");
        }
        let viewer = builtin_role(roles::VIEWER).expect("viewer");
        for p in &dns {
            let expected = p.ends_with(".get") || p.ends_with(".list");
            assert_eq!(viewer.contains(p), expected, "viewer and {p}");
        }
    }
}
