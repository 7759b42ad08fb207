//! Delegations: an organization admin delegates a name pattern of an
//! organization-scope zone — one name strictly below the apex
//! (`shop.example.com.`) or a leftmost wildcard (`*.apps.example.com.`,
//! matching every name strictly below `apps.example.com.`) — to a project
//! or a workspace (decided as its project). Patterns delegated to
//! different projects never overlap (checked under the organization's
//! lock when one is created).
//!
//! What a delegation grants is decided here too, in [`Dns::name_access`]:
//! a caller with a records permission at organization level may touch
//! every name of an organization zone; otherwise the permission is asked in
//! the scope of each delegation's target, and the caller may touch exactly
//! the names matching the delegations whose target granted it
//! ([`NameAccess`]). Write paths check every name they change against it
//! inside their transaction, after re-reading the zone's delegations
//! ([`Dns::still_delegated`]), so a delegation removed meanwhile grants
//! nothing.

pub mod grpc;
pub mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound as _, Utc};
use loopback_org_core_client::{AuthorityDenied, OrganizationPolicy};
use loopback_runtime::auth::Principal;
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::names::ResourceName;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::zones::ZoneName;
use crate::{Dns, dnsname, rpcs};

/// ErrorInfo reason of a pattern overlapping one delegated to another
/// project.
pub const DELEGATION_OVERLAP: &str = "DELEGATION_OVERLAP";

/// `organizations/{org}/zones/{zone}/delegations/{id}`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelegationName {
    /// The zone (organization scope).
    pub zone: ZoneName,
    /// The delegation.
    pub id: Uuid,
}

impl ResourceName for DelegationName {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        let shape = || "must look like organizations/{id}/zones/{id}/delegations/{id}".to_string();
        if name.is_empty() {
            return Err("is required".into());
        }
        let (zone, id) = name.rsplit_once("/delegations/").ok_or_else(shape)?;
        let zone = ZoneName::parse(zone)
            .ok()
            .filter(|z| z.project.is_none())
            .ok_or_else(shape)?;
        let id = Uuid::parse_str(id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == id)
            .ok_or_else(shape)?;
        Ok(Self { zone, id })
    }
}

impl fmt::Display for DelegationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/delegations/{}", self.zone, self.id)
    }
}

/// An organization-scope zone as the parent of delegations: project zones
/// have none (they already belong to their project).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgZone(pub ZoneName);

impl ResourceName for OrgZone {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        let zone = ZoneName::parse(name)?;
        if zone.project.is_some() {
            return Err(
                "must be an organization-scope zone, organizations/{id}/zones/{id}: a project zone belongs to its project already"
                    .into(),
            );
        }
        Ok(Self(zone))
    }
}

/// Who a pattern is delegated to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The organization.
    pub organization: Uuid,
    /// The project.
    pub project: Uuid,
    /// The workspace of the project, if the target is one.
    pub workspace: Option<String>,
}

impl Target {
    /// `organizations/{org}/projects/{project}`.
    pub fn project_name(&self) -> String {
        format!(
            "organizations/{}/projects/{}",
            self.organization, self.project
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.project_name())?;
        if let Some(w) = &self.workspace {
            write!(f, "/workspaces/{w}")?;
        }
        Ok(())
    }
}

impl ResourceName for Target {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        let shape = || {
            "must look like organizations/{id}/projects/{id} or organizations/{id}/projects/{id}/workspaces/{workspace_id}"
                .to_string()
        };
        if name.is_empty() {
            return Err("is required".into());
        }
        let (project, workspace) = match name.split_once("/workspaces/") {
            Some((project, w)) => {
                let ok = (1..=63).contains(&w.len())
                    && w.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    });
                if !ok {
                    return Err(shape());
                }
                (project, Some(w.to_string()))
            }
            None => (name, None),
        };
        let (organization, project) =
            loopback_runtime::validation::child_name(project, "projects").map_err(|_| shape())?;
        Ok(Self {
            organization,
            project,
            workspace,
        })
    }
}

/// A delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// The zone.
    pub zone: Uuid,
    /// The pattern, canonical.
    pub pattern: String,
    /// The project delegated to.
    pub project: Uuid,
    /// Its workspace, when the target is one.
    pub workspace: Option<String>,
    /// Description.
    pub description: String,
    /// Creation time.
    pub create_time: DateTime<Utc>,
}

impl Delegation {
    /// The parsed name.
    pub fn delegation_name(&self) -> DelegationName {
        DelegationName {
            zone: ZoneName {
                organization: self.organization,
                project: None,
                id: self.zone,
            },
            id: self.id,
        }
    }

    /// The resource name.
    pub fn name(&self) -> String {
        self.delegation_name().to_string()
    }

    /// Who it is delegated to.
    pub fn target(&self) -> Target {
        Target {
            organization: self.organization,
            project: self.project,
            workspace: self.workspace.clone(),
        }
    }

    /// Whether the (canonical) owner name `name` falls under the pattern.
    pub fn matches(&self, name: &str) -> bool {
        pattern_matches(&self.pattern, name)
    }

    fn audit_details(&self) -> serde_json::Value {
        json!({
            "pattern": self.pattern,
            "target": self.target().to_string(),
            "description": self.description,
        })
    }
}

/// `name` is below `base`, not `base` itself (both canonical).
fn strictly_below(name: &str, base: &str) -> bool {
    name != base && dnsname::in_zone(name, base)
}

/// Whether `name` falls under `pattern`: a wildcard pattern matches every
/// name strictly below its base, an exact one only itself.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(base) => strictly_below(name, base),
        None => name == pattern,
    }
}

/// Whether some name falls under both patterns.
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix("*."), b.strip_prefix("*.")) {
        (None, None) => a == b,
        (Some(base), None) => strictly_below(b, base),
        (None, Some(base)) => strictly_below(a, base),
        (Some(x), Some(y)) => dnsname::in_zone(x, y) || dnsname::in_zone(y, x),
    }
}

/// Checks a canonical pattern against the zone's apex: inside the zone,
/// and never the apex itself.
pub fn check_pattern(pattern: &str, apex: &str) -> std::result::Result<(), String> {
    let inside = match pattern.strip_prefix("*.") {
        Some(base) => dnsname::in_zone(base, apex),
        None => strictly_below(pattern, apex),
    };
    if pattern == apex {
        return Err(format!(
            "is the zone's apex {apex}: the apex stays with the organization; delegate a name below it, e.g. *.apps.{apex}"
        ));
    }
    if !inside {
        return Err(format!(
            "{pattern} is outside the zone {apex}: give a name below it, e.g. shop.{apex} or *.apps.{apex}"
        ));
    }
    Ok(())
}

/// CreateDelegation, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDelegation {
    /// The zone.
    pub zone: ZoneName,
    /// The pattern, canonical (checked against the zone by the domain).
    pub pattern: String,
    /// Who to delegate to (in the zone's organization).
    pub target: Target,
    /// Description.
    pub description: String,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListDelegations, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDelegations {
    /// The zone.
    pub zone: ZoneName,
    /// Size and position.
    pub page: PageRequest,
}

/// DeleteDelegation, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteDelegation {
    /// The delegation.
    pub name: DelegationName,
    /// Check only.
    pub validate_only: bool,
}

/// Which names of a zone a caller may touch for some set of permissions.
#[derive(Debug, Clone)]
pub enum NameAccess {
    /// Every name: the permissions are held at organization level, or in
    /// the project of a project zone.
    Zone,
    /// Only names matching these delegations; any other name is refused
    /// with `denied` (the organization-level PERMISSION_DENIED).
    Delegated {
        /// The delegations whose targets granted every permission asked.
        delegations: Vec<Delegation>,
        /// What to answer for other names.
        denied: AuthorityDenied,
    },
}

impl NameAccess {
    /// Whether `name` (an owner, canonical) may be touched.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Self::Zone => true,
            Self::Delegated { delegations, .. } => delegations.iter().any(|d| d.matches(name)),
        }
    }

    /// PERMISSION_DENIED (the organization-level denial) unless `name` may
    /// be touched.
    pub fn check(&self, name: &str) -> Result<()> {
        match self {
            Self::Delegated { denied, .. } if !self.allows(name) => Err(denied.clone().into()),
            _ => Ok(()),
        }
    }
}

fn delegation_key(d: &Delegation) -> String {
    format!("{} {}", d.pattern, d.id)
}

impl Dns {
    /// Authorizes `rpcs` (every one of them) on the names of `zone`: in a
    /// project zone, in the project's scope (NOT_FOUND under a deleted or
    /// unknown project); in an organization zone, at organization level,
    /// or — when that is PERMISSION_DENIED — in the scope of each
    /// delegation's target, keeping the delegations whose target grants
    /// them all. No delegation granting them all is the organization-level
    /// PERMISSION_DENIED. Returns the organization's policy and the names
    /// the caller may touch.
    pub async fn name_access(
        &self,
        principal: &Principal,
        rpcs: &[&Rpc],
        zone: ZoneName,
    ) -> Result<(Arc<OrganizationPolicy>, NameAccess)> {
        let missing = || Error::Corrupt("name_access asked for no permission".into());
        if zone.project.is_some() {
            let mut policy = None;
            for rpc in rpcs {
                policy = Some(self.authorize_scope(principal, rpc, zone.scope()).await?);
            }
            return Ok((policy.ok_or_else(missing)?, NameAccess::Zone));
        }
        let org = format!("organizations/{}", zone.organization);
        let mut policy = None;
        let mut denied = None;
        for rpc in rpcs {
            match self.authority().authorize_rpc(principal, rpc, &org).await {
                Ok(p) => policy = Some(p),
                Err(d @ AuthorityDenied::PermissionDenied { .. }) => {
                    denied = Some(d);
                    break;
                }
                Err(other) => return Err(other.into()),
            }
        }
        let Some(denied) = denied else {
            return Ok((policy.ok_or_else(missing)?, NameAccess::Zone));
        };
        let mut by_target: BTreeMap<Target, Vec<Delegation>> = BTreeMap::new();
        for d in store::in_zone(self.db(), zone.organization, zone.id).await? {
            by_target.entry(d.target()).or_default().push(d);
        }
        let mut granted = Vec::new();
        let mut policy = None;
        'targets: for (target, delegations) in by_target {
            let resource = target.to_string();
            for rpc in rpcs {
                match self
                    .authority()
                    .authorize_rpc_in(principal, rpc, &resource)
                    .await
                {
                    Ok(p) => policy = Some(p),
                    Err(
                        AuthorityDenied::NotFound { .. } | AuthorityDenied::PermissionDenied { .. },
                    ) => {
                        continue 'targets;
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            granted.extend(delegations);
        }
        match policy {
            Some(policy) if !granted.is_empty() => Ok((
                policy,
                NameAccess::Delegated {
                    delegations: granted,
                    denied,
                },
            )),
            _ => Err(denied.into()),
        }
    }

    /// `access` as it stands inside a write transaction: only the
    /// delegations the zone still has count.
    pub(crate) async fn still_delegated(
        &self,
        conn: &impl Conn,
        zone: ZoneName,
        access: NameAccess,
    ) -> Result<NameAccess> {
        match access {
            NameAccess::Zone => Ok(NameAccess::Zone),
            NameAccess::Delegated {
                delegations,
                denied,
            } => {
                let current = store::in_zone(conn, zone.organization, zone.id).await?;
                let delegations = delegations
                    .into_iter()
                    .filter(|d| current.iter().any(|c| c.id == d.id))
                    .collect();
                Ok(NameAccess::Delegated {
                    delegations,
                    denied,
                })
            }
        }
    }

    /// Delegates a pattern of an organization zone (see the module docs).
    pub async fn create_delegation(
        &self,
        principal: &Principal,
        input: CreateDelegation,
    ) -> Result<Delegation> {
        let rpc = &rpcs::CREATE_DELEGATION;
        let org = input.zone.organization;
        self.authorize(principal, rpc, org).await?;
        let target = input.target;
        if !self
            .authority()
            .project(&target.project_name())
            .await?
            .is_live()
        {
            return Err(Error::invalid(
                "delegation.target",
                format!(
                    "{} is not a live project of organizations/{org}",
                    target.project_name()
                ),
            ));
        }
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .delegation_in(
                    tx.conn(),
                    DelegationName {
                        zone: input.zone,
                        id,
                    },
                )
                .await;
        }
        let zone = self.zone_in(tx.conn(), input.zone).await?;
        check_pattern(&input.pattern, &zone.dns_name)
            .map_err(|e| Error::invalid("delegation.pattern", e))?;
        for existing in store::in_zone(tx.conn(), org, zone.id).await? {
            if existing.pattern == input.pattern && existing.target() == target {
                return Err(Refusal::AlreadyExists(format!(
                    "{} is already delegated to {target} ({})",
                    input.pattern,
                    existing.name()
                ))
                .into());
            }
            if existing.project != target.project
                && patterns_overlap(&existing.pattern, &input.pattern)
            {
                return Err(Refusal::FailedPrecondition {
                    reason: DELEGATION_OVERLAP,
                    message: format!(
                        "{} overlaps {}, delegated to another project ({}): remove that delegation first or pick a pattern that does not overlap it",
                        input.pattern,
                        existing.pattern,
                        existing.name()
                    ),
                    metadata: vec![
                        ("pattern", input.pattern.clone()),
                        ("delegation", existing.name()),
                    ],
                }
                .into());
            }
        }
        let delegation = Delegation {
            id: Uuid::now_v7(),
            organization: org,
            zone: zone.id,
            pattern: input.pattern,
            project: target.project,
            workspace: target.workspace,
            description: input.description,
            // Microseconds: what PostgreSQL keeps, so a read returns what
            // the create answered.
            create_time: Utc::now().trunc_subsecs(6),
        };
        store::insert(tx.conn(), &delegation).await?;
        tx.created(delegation.id);
        tx.audit(delegation.name(), delegation.audit_details());
        tx.commit().await?;
        Ok(delegation)
    }

    /// One delegation.
    pub async fn get_delegation(
        &self,
        principal: &Principal,
        name: DelegationName,
    ) -> Result<Delegation> {
        self.authorize(principal, &rpcs::GET_DELEGATION, name.zone.organization)
            .await?;
        self.delegation_in(self.db(), name).await
    }

    /// A page of a zone's delegations by pattern.
    pub async fn list_delegations(
        &self,
        principal: &Principal,
        input: ListDelegations,
    ) -> Result<Page<Delegation>> {
        let org = input.zone.organization;
        self.authorize(principal, &rpcs::LIST_DELEGATIONS, org)
            .await?;
        self.zone_in(self.db(), input.zone).await?;
        let after = input.page.after.as_deref().map(|key| {
            key.split_once(' ').ok_or_else(|| {
                Error::invalid("page_token", "is not a page token issued for this request")
            })
        });
        let after = after.transpose()?;
        let rows = store::page(
            self.db(),
            org,
            input.zone.id,
            after,
            input.page.fetch_limit(),
        )
        .await?;
        Ok(input.page.page(rows, delegation_key))
    }

    /// Removes a delegation (records under it stay).
    pub async fn delete_delegation(
        &self,
        principal: &Principal,
        input: DeleteDelegation,
    ) -> Result<Delegation> {
        let rpc = &rpcs::DELETE_DELEGATION;
        let name = input.name;
        let org = name.zone.organization;
        self.authorize(principal, rpc, org).await?;
        let mut tx = self
            .begin_write(
                org,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let delegation = self.delegation_in(tx.conn(), name).await?;
        store::delete(tx.conn(), org, delegation.id).await?;
        tx.audit(delegation.name(), delegation.audit_details());
        tx.commit().await?;
        Ok(delegation)
    }

    /// A delegation; NOT_FOUND when it, or its zone, is missing.
    async fn delegation_in(&self, conn: &impl Conn, name: DelegationName) -> Result<Delegation> {
        self.zone_in(conn, name.zone).await?;
        store::find(conn, name.zone.organization, name.zone.id, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

/// Removes a zone's delegations (the zone is being deleted).
pub async fn delete_all_in_zone(conn: &impl Conn, org: Uuid, zone: Uuid) -> Result<u64> {
    store::delete_zone(conn, org, zone).await
}

/// Removes the delegations to a purged project (and its workspaces);
/// returns how many went.
pub async fn purge_project(conn: &impl Conn, org: Uuid, project: Uuid) -> Result<u64> {
    store::delete_project(conn, org, project).await
}

/// Removes every delegation of a purged organization.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::delete_organization(conn, org).await
}

/// The (organization, project) pairs delegations point to, in order after
/// `after`, at most `limit`.
pub async fn project_holders(
    conn: &impl Conn,
    after: Option<(Uuid, Uuid)>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    store::projects(conn, after, limit).await
}

/// The organizations holding delegations, in order after `after`, at most
/// `limit`.
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_and_overlap_as_documented() {
        assert!(pattern_matches(
            "*.apps.example.com.",
            "x.apps.example.com."
        ));
        assert!(pattern_matches(
            "*.apps.example.com.",
            "a.b.apps.example.com."
        ));
        assert!(!pattern_matches("*.apps.example.com.", "apps.example.com."));
        assert!(!pattern_matches(
            "*.apps.example.com.",
            "xapps.example.com."
        ));
        assert!(pattern_matches("shop.example.com.", "shop.example.com."));
        assert!(!pattern_matches("shop.example.com.", "a.shop.example.com."));
        assert!(patterns_overlap(
            "*.apps.example.com.",
            "x.apps.example.com."
        ));
        assert!(patterns_overlap("*.example.com.", "*.apps.example.com."));
        assert!(patterns_overlap(
            "*.apps.example.com.",
            "*.apps.example.com."
        ));
        assert!(!patterns_overlap(
            "*.apps.example.com.",
            "apps.example.com."
        ));
        assert!(!patterns_overlap("*.a.example.com.", "*.b.example.com."));
        assert!(!patterns_overlap("a.example.com.", "b.example.com."));
        assert!(check_pattern("*.example.com.", "example.com.").is_ok());
        assert!(check_pattern("shop.example.com.", "example.com.").is_ok());
        assert!(check_pattern("example.com.", "example.com.").is_err());
        assert!(check_pattern("*.example.net.", "example.com.").is_err());
        assert!(check_pattern("*.com.", "example.com.").is_err());
    }
}
