//! The published permission catalog and the built-in roles. Every org-core
//! RPC checks exactly one permission from here; other services' permissions
//! join the catalog as those services land.

/// A permission: `service.collection.verb`.
pub type Permission = &'static str;

/// Permissions org-core checks, with what they allow.
pub const PERMISSIONS: &[(Permission, &str)] = &[
    (ORGANIZATIONS_GET, "read the organization"),
    (ORGANIZATIONS_UPDATE, "change the organization's profile"),
    (ORGANIZATIONS_DELETE, "delete the organization"),
    (ORGANIZATIONS_UNDELETE, "restore the deleted organization"),
    (PROJECTS_CREATE, "create projects"),
    (PROJECTS_GET, "read a project"),
    (PROJECTS_LIST, "list projects"),
    (PROJECTS_UPDATE, "change projects"),
    (PROJECTS_DELETE, "delete projects"),
    (PROJECTS_UNDELETE, "restore deleted projects"),
];

/// Read the organization.
pub const ORGANIZATIONS_GET: Permission = "orgcore.organizations.get";
/// Change the organization's profile.
pub const ORGANIZATIONS_UPDATE: Permission = "orgcore.organizations.update";
/// Delete the organization.
pub const ORGANIZATIONS_DELETE: Permission = "orgcore.organizations.delete";
/// Restore the organization.
pub const ORGANIZATIONS_UNDELETE: Permission = "orgcore.organizations.undelete";
/// Create projects.
pub const PROJECTS_CREATE: Permission = "orgcore.projects.create";
/// Read a project.
pub const PROJECTS_GET: Permission = "orgcore.projects.get";
/// List projects.
pub const PROJECTS_LIST: Permission = "orgcore.projects.list";
/// Change projects.
pub const PROJECTS_UPDATE: Permission = "orgcore.projects.update";
/// Delete projects.
pub const PROJECTS_DELETE: Permission = "orgcore.projects.delete";
/// Restore projects.
pub const PROJECTS_UNDELETE: Permission = "orgcore.projects.undelete";

/// Built-in role ids.
pub mod roles {
    /// Everything, including deleting the organization.
    pub const OWNER: &str = "owner";
    /// Everything except deleting and restoring the organization.
    pub const ADMIN: &str = "admin";
    /// Billing, plus read access.
    pub const BILLING_ADMIN: &str = "billing_admin";
    /// Works with projects.
    pub const MEMBER: &str = "member";
    /// Reads only.
    pub const VIEWER: &str = "viewer";
}

/// The built-in roles with their permissions.
pub fn builtin_role(role: &str) -> Option<&'static [Permission]> {
    const OWNER: &[Permission] = &[
        ORGANIZATIONS_GET,
        ORGANIZATIONS_UPDATE,
        ORGANIZATIONS_DELETE,
        ORGANIZATIONS_UNDELETE,
        PROJECTS_CREATE,
        PROJECTS_GET,
        PROJECTS_LIST,
        PROJECTS_UPDATE,
        PROJECTS_DELETE,
        PROJECTS_UNDELETE,
    ];
    const ADMIN: &[Permission] = &[
        ORGANIZATIONS_GET,
        ORGANIZATIONS_UPDATE,
        PROJECTS_CREATE,
        PROJECTS_GET,
        PROJECTS_LIST,
        PROJECTS_UPDATE,
        PROJECTS_DELETE,
        PROJECTS_UNDELETE,
    ];
    const BILLING_ADMIN: &[Permission] = &[ORGANIZATIONS_GET, PROJECTS_GET, PROJECTS_LIST];
    const MEMBER: &[Permission] = &[ORGANIZATIONS_GET, PROJECTS_CREATE, PROJECTS_GET, PROJECTS_LIST, PROJECTS_UPDATE];
    const VIEWER: &[Permission] = &[ORGANIZATIONS_GET, PROJECTS_GET, PROJECTS_LIST];
    match role {
        roles::OWNER => Some(OWNER),
        roles::ADMIN => Some(ADMIN),
        roles::BILLING_ADMIN => Some(BILLING_ADMIN),
        roles::MEMBER => Some(MEMBER),
        roles::VIEWER => Some(VIEWER),
        _ => None,
    }
}

/// Permissions service principals hold in every organization: reads only.
pub const SERVICE_PERMISSIONS: &[Permission] = &[ORGANIZATIONS_GET, PROJECTS_GET, PROJECTS_LIST];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_permission_is_in_the_catalog() {
        for role in [roles::OWNER, roles::ADMIN, roles::BILLING_ADMIN, roles::MEMBER, roles::VIEWER] {
            for p in builtin_role(role).unwrap_or_default() {
                assert!(PERMISSIONS.iter().any(|(c, _)| c == p), "{role}: {p}");
            }
        }
    }
}

/// The catalog entry for a permission string, if it is one.
pub fn lookup(permission: &str) -> Option<Permission> {
    PERMISSIONS.iter().map(|(p, _)| *p).find(|p| *p == permission)
}
