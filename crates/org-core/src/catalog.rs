//! The published permission catalog and the built-in roles. Every RPC checks
//! exactly one permission from here (or is open to every authenticated
//! caller, as documented on the RPC); other services' permissions join the
//! catalog as those services land.

use std::collections::BTreeSet;
use std::sync::LazyLock;

pub use loopback_runtime::catalog::*;

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
            description: "Manages billing; reads everything else.",
            permissions: reads().into_iter().chain(billing()).collect(),
        },
        BuiltIn {
            id: roles::MEMBER,
            display_name: "Member",
            description: "Reads everything; creates and changes projects; builds and deploys bundles.",
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
}
