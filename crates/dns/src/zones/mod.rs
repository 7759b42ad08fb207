//! Zones: an organization's DNS zones, at organization scope
//! (`organizations/{org}/zones/{zone}`) or in one of its projects
//! (`organizations/{org}/projects/{project}/zones/{zone}`). A project zone
//! is authorized in its project's scope (organization roles, plus the
//! project-scoped permissions of the caller's roles on that project) and
//! exists only while its project is live: under a deleted or unknown
//! project it is NOT_FOUND (see [`crate::Dns::authorize_scope`]), and
//! `purge` deletes it when the project is purged. Loopback generates a
//! zone's SOA and apex NS records; its serial goes up by one with every
//! change to the zone or its records and doubles as its etag. ExportZone
//! streams a consistent snapshot as an RFC 1035 master file; ImportZone
//! replaces the records with a file's, all or nothing.

pub mod grpc;
pub mod store;
pub mod zonefile;

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt as _};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::fields::{etag, org_name};
use loopback_runtime::names::ResourceName;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use loopback_runtime::validation;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::records::{self, Blame, Candidate, Record, RecordData};
use crate::usage::{self, MAX_RECORDS_PER_ZONE, MAX_ZONES};
use crate::{Dns, delegations, rpcs};

/// Largest ImportZone request the server decodes: the file's cap and room
/// for the other fields (bigger requests get tonic's RESOURCE_EXHAUSTED).
pub const MAX_REQUEST_BYTES: usize = zonefile::MAX_ZONE_FILE_BYTES * 2;
/// Default TTL of a zone created without one.
pub const DEFAULT_TTL: i32 = 300;
/// Records per page while exporting.
const EXPORT_PAGE: u64 = 1000;
/// Most bytes per exported chunk.
pub const EXPORT_CHUNK_BYTES: usize = 64 * 1024;

/// Where zones live: an organization (`organizations/{org}`) or one of its
/// projects (`organizations/{org}/projects/{project}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The organization.
    pub organization: Uuid,
    /// The project, for project zones.
    pub project: Option<Uuid>,
}

impl ResourceName for Scope {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        if name.is_empty() {
            return Err("is required".into());
        }
        let shape =
            || "must look like organizations/{id} or organizations/{id}/projects/{id}".to_string();
        if let Ok(organization) = validation::organization_name(name) {
            return Ok(Self {
                organization,
                project: None,
            });
        }
        let (organization, project) =
            validation::child_name(name, "projects").map_err(|_| shape())?;
        Ok(Self {
            organization,
            project: Some(project),
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "organizations/{}", self.organization)?;
        if let Some(project) = self.project {
            write!(f, "/projects/{project}")?;
        }
        Ok(())
    }
}

/// `organizations/{org}/zones/{zone}` or
/// `organizations/{org}/projects/{project}/zones/{zone}`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZoneName {
    /// The organization.
    pub organization: Uuid,
    /// The project of a project zone.
    pub project: Option<Uuid>,
    /// The zone.
    pub id: Uuid,
}

impl ZoneName {
    /// Where the zone lives.
    pub fn scope(&self) -> Scope {
        Scope {
            organization: self.organization,
            project: self.project,
        }
    }
}

impl ResourceName for ZoneName {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        if name.is_empty() {
            return Err("is required".into());
        }
        let shape = || {
            "must look like organizations/{id}/zones/{id} or organizations/{id}/projects/{id}/zones/{id}"
                .to_string()
        };
        let (scope, id) = name.rsplit_once("/zones/").ok_or_else(shape)?;
        let scope = Scope::parse(scope).map_err(|_| shape())?;
        let id = Uuid::parse_str(id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == id)
            .ok_or_else(shape)?;
        Ok(Self {
            organization: scope.organization,
            project: scope.project,
            id,
        })
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/zones/{}", self.scope(), self.id)
    }
}

/// A zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// The project of a project zone; `None` at organization scope.
    pub project: Option<Uuid>,
    /// Apex, canonical with the trailing dot.
    pub dns_name: String,
    /// Description.
    pub description: String,
    /// TTL of new RRsets created without one.
    pub default_ttl: i32,
    /// SOA serial (and etag).
    pub serial: i64,
    /// Records (without the generated SOA and NS).
    pub record_count: i64,
    /// The generated NS records' hostnames (from the settings).
    pub nameservers: Vec<String>,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change of the zone or its records.
    pub update_time: DateTime<Utc>,
}

impl Zone {
    /// The parsed resource name.
    pub fn zone_name(&self) -> ZoneName {
        ZoneName {
            organization: self.organization,
            project: self.project,
            id: self.id,
        }
    }

    /// `organizations/{org}/zones/{id}` or
    /// `organizations/{org}/projects/{project}/zones/{id}`.
    pub fn name(&self) -> String {
        self.zone_name().to_string()
    }

    /// The etag: the serial.
    pub fn etag(&self) -> String {
        etag(self.serial)
    }

    /// The SOA serial as the 32-bit field holds it (RFC 1982 arithmetic
    /// lets it wrap; 0 is skipped).
    pub fn soa_serial(&self) -> u32 {
        let modulus = i64::from(u32::MAX);
        u32::try_from((self.serial - 1).rem_euclid(modulus) + 1).unwrap_or(1)
    }

    fn audit_details(&self) -> serde_json::Value {
        json!({
            "dns_name": self.dns_name,
            "description": self.description,
            "default_ttl": self.default_ttl,
            "serial": self.serial,
        })
    }
}

/// CreateZone, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateZone {
    /// The organization, or one of its projects.
    pub parent: Scope,
    /// Apex, canonical.
    pub dns_name: String,
    /// Description.
    pub description: String,
    /// Default TTL; `None` for 300.
    pub default_ttl: Option<i32>,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListZones, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListZones {
    /// The organization (its organization-scope zones) or one of its
    /// projects (that project's zones).
    pub parent: Scope,
    /// Size and position.
    pub page: PageRequest,
}

/// UpdateZone, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateZone {
    /// The zone.
    pub name: ZoneName,
    /// Expected etag.
    pub etag: Option<i64>,
    /// New description.
    pub description: Option<String>,
    /// New default TTL.
    pub default_ttl: Option<i32>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteZone, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteZone {
    /// The zone.
    pub name: ZoneName,
    /// Expected etag.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// ImportZone, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportZone {
    /// The zone.
    pub name: ZoneName,
    /// The master file (UTF-8, within the cap).
    pub zone_file: String,
    /// Expected etag.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The zone after it.
    pub zone: Zone,
    /// Records added.
    pub created: usize,
    /// Records whose TTL changed.
    pub updated: usize,
    /// Records removed.
    pub deleted: usize,
    /// Records kept as they were.
    pub unchanged: usize,
}

/// An exported zone file, chunk by chunk.
pub type ZoneFileStream = BoxStream<'static, Result<String>>;

/// Records the organization's zone count and fullest zone for org-core.
async fn recount(conn: &impl Conn, org: Uuid) -> Result<()> {
    usage::record(conn, org, MAX_ZONES, store::count(conn, org).await?).await?;
    usage::record(
        conn,
        org,
        MAX_RECORDS_PER_ZONE,
        store::max_record_count(conn, org).await?,
    )
    .await
}

/// Deletes the zones of a purged project with their records, and
/// recounts the organization's usage; returns the zones that went.
pub async fn purge_project(conn: &impl Conn, org: Uuid, project: Uuid) -> Result<Vec<Zone>> {
    let zones = store::in_project(conn, org, project).await?;
    for zone in &zones {
        records::delete_all_in_zone(conn, zone).await?;
        delegations::delete_all_in_zone(conn, org, zone.id).await?;
        store::delete(conn, org, zone.id).await?;
    }
    if !zones.is_empty() {
        recount(conn, org).await?;
    }
    Ok(zones)
}

/// Deletes every zone of a purged organization (organization and project
/// scope) with their records; returns how many zones went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    records::purge_organization(conn, org).await?;
    store::delete_organization(conn, org).await
}

/// The (organization, project) pairs holding project zones, in order
/// after `after`, at most `limit`.
pub async fn project_holders(
    conn: &impl Conn,
    after: Option<(Uuid, Uuid)>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    store::projects(conn, after, limit).await
}

/// The organizations holding zones, in order after `after`, at most
/// `limit`.
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

impl Dns {
    /// Creates a zone; `max_dns_zones` holds under the organization's lock.
    pub async fn create_zone(&self, principal: &Principal, input: CreateZone) -> Result<Zone> {
        let rpc = &rpcs::CREATE_ZONE;
        let org = input.parent.organization;
        let policy = self.authorize_scope(principal, rpc, input.parent).await?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .zone_in(
                    tx.conn(),
                    ZoneName {
                        organization: org,
                        project: input.parent.project,
                        id,
                    },
                )
                .await;
        }
        if let Some(existing) = store::find_by_dns_name(tx.conn(), org, &input.dns_name).await? {
            return Err(Refusal::AlreadyExists(format!(
                "{} already has the zone {} ({})",
                org_name(org),
                input.dns_name,
                existing.name()
            ))
            .into());
        }
        self.refuse_claimed_zone(tx.conn(), &input.dns_name, org)
            .await?;
        let count = store::count(tx.conn(), org).await?;
        let limit = Dns::limit_of(&policy, MAX_ZONES);
        if count >= limit {
            return Err(Refusal::LimitReached {
                organization: org_name(org),
                limit: MAX_ZONES.into(),
                limit_value: limit,
                usage: count,
            }
            .into());
        }
        let now = Utc::now();
        let zone = Zone {
            id: Uuid::now_v7(),
            organization: org,
            project: input.parent.project,
            dns_name: input.dns_name,
            description: input.description,
            default_ttl: input.default_ttl.unwrap_or(DEFAULT_TTL),
            serial: 1,
            record_count: 0,
            nameservers: self.settings().zone_nameservers.clone(),
            create_time: now,
            update_time: now,
        };
        store::insert(tx.conn(), &zone).await?;
        usage::record(tx.conn(), org, MAX_ZONES, count + 1).await?;
        tx.created(zone.id);
        tx.audit(zone.name(), zone.audit_details());
        tx.commit().await?;
        Ok(zone)
    }

    /// One zone.
    pub async fn get_zone(&self, principal: &Principal, name: ZoneName) -> Result<Zone> {
        self.authorize_zone_read(principal, &rpcs::GET_ZONE, name)
            .await?;
        self.zone_in(self.db(), name).await
    }

    /// A page of zones by DNS name.
    pub async fn list_zones(&self, principal: &Principal, input: ListZones) -> Result<Page<Zone>> {
        self.authorize_scope(principal, &rpcs::LIST_ZONES, input.parent)
            .await?;
        let rows = store::list(self.db(), input.parent, &input.page).await?;
        let page = input.page.page(rows, |z| z.dns_name.clone());
        Ok(page.map(|z| self.with_nameservers(z)))
    }

    /// Changes a zone's description or default TTL; bumps the serial.
    pub async fn update_zone(&self, principal: &Principal, input: UpdateZone) -> Result<Zone> {
        let rpc = &rpcs::UPDATE_ZONE;
        let name = input.name;
        self.authorize_scope(principal, rpc, name.scope()).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut zone = self.zone_for_change(tx.conn(), name, input.etag).await?;
        if let Some(description) = input.description {
            zone.description = description;
        }
        if let Some(ttl) = input.default_ttl {
            zone.default_ttl = ttl;
        }
        self.bump_zone(tx.conn(), &mut zone, 0).await?;
        tx.audit(zone.name(), zone.audit_details());
        tx.commit().await?;
        Ok(zone)
    }

    /// Deletes a zone with its records.
    pub async fn delete_zone(&self, principal: &Principal, input: DeleteZone) -> Result<Zone> {
        let rpc = &rpcs::DELETE_ZONE;
        let name = input.name;
        self.authorize_scope(principal, rpc, name.scope()).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let zone = self.zone_for_change(tx.conn(), name, input.etag).await?;
        records::delete_all_in_zone(tx.conn(), &zone).await?;
        delegations::delete_all_in_zone(tx.conn(), zone.organization, zone.id).await?;
        store::delete(tx.conn(), name.organization, name.id).await?;
        let org = name.organization;
        usage::record(
            tx.conn(),
            org,
            MAX_ZONES,
            store::count(tx.conn(), org).await?,
        )
        .await?;
        usage::record(
            tx.conn(),
            org,
            MAX_RECORDS_PER_ZONE,
            store::max_record_count(tx.conn(), org).await?,
        )
        .await?;
        tx.audit(zone.name(), zone.audit_details());
        tx.commit().await?;
        Ok(zone)
    }

    /// The zone as an RFC 1035 master file, streamed in chunks from one
    /// consistent snapshot.
    pub async fn export_zone(
        &self,
        principal: &Principal,
        name: ZoneName,
    ) -> Result<ZoneFileStream> {
        self.authorize_scope(principal, &rpcs::EXPORT_ZONE, name.scope())
            .await?;
        let snapshot = store::snapshot(self.db()).await?;
        let zone = self.zone_in(&snapshot, name).await?;
        let head = zonefile::head(
            &zone.dns_name,
            zone.soa_serial(),
            &zone.nameservers,
            &self.settings().hostmaster,
            &format!(
                "{} exported by Loopback at serial {}",
                zone.name(),
                zone.serial
            ),
        );
        struct State {
            snapshot: Option<loopback_runtime::db::DatabaseTransaction>,
            zone: Zone,
            after: Option<(String, String, String)>,
            pending: String,
        }
        let state = State {
            snapshot: Some(snapshot),
            zone,
            after: None,
            pending: head,
        };
        let chunks = stream::try_unfold(state, |mut state| async move {
            loop {
                if state.pending.len() >= EXPORT_CHUNK_BYTES {
                    let rest = split_chunk(&mut state.pending);
                    let chunk = std::mem::replace(&mut state.pending, rest);
                    return Ok(Some((chunk, state)));
                }
                let Some(snapshot) = &state.snapshot else {
                    if state.pending.is_empty() {
                        return Ok(None);
                    }
                    let chunk = std::mem::take(&mut state.pending);
                    return Ok(Some((chunk, state)));
                };
                let page =
                    records::page_in_zone(snapshot, &state.zone, state.after.as_ref(), EXPORT_PAGE)
                        .await?;
                if let Some(last) = page.last() {
                    state.after = Some((
                        last.owner.clone(),
                        last.record_type().as_str().to_string(),
                        last.id.to_string(),
                    ));
                }
                for record in &page {
                    state.pending.push_str(&record.zone_file_line());
                }
                if (page.len() as u64) < EXPORT_PAGE
                    && let Some(snapshot) = state.snapshot.take()
                {
                    snapshot.rollback().await?;
                }
            }
        });
        Ok(chunks.boxed())
    }

    /// Replaces the zone's records with those of a master file, all or
    /// nothing; records the file has exactly as the zone has them stay
    /// (same id and etag).
    pub async fn import_zone(&self, principal: &Principal, input: ImportZone) -> Result<Imported> {
        let rpc = &rpcs::IMPORT_ZONE;
        let name = input.name;
        let org = name.organization;
        let (policy, access) = self.name_access(principal, &[rpc], name).await?;
        // The apex and default TTL never change under us (the apex is
        // immutable; a changed TTL moves the serial, which is checked below).
        let before = self.zone_in(self.db(), name).await?;
        let (parsed, mut v) =
            zonefile::parse(&input.zone_file, &before.dns_name, before.default_ttl);
        let mut candidates: Vec<Candidate> = parsed
            .iter()
            .map(|r| Candidate {
                owner: r.owner.clone(),
                ttl: Some(r.ttl),
                data: r.data.clone(),
                blame: Some(Blame::Line(r.line)),
            })
            .collect();
        records::default_ttls(&mut candidates, before.default_ttl);
        records::check_rules(&candidates, &before.dns_name, &mut v);
        v.into_result()?;

        let mut tx = self
            .begin_write(
                org,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let etag = input.etag.or(Some(before.serial));
        let mut zone = self.zone_for_change(tx.conn(), name, etag).await?;
        let access = self.still_delegated(tx.conn(), name, access).await?;
        let existing = records::all_in_zone(tx.conn(), &zone).await?;
        let mut by_data: HashMap<(&str, &RecordData), &Record> = existing
            .iter()
            .map(|r| ((r.owner.as_str(), &r.data), r))
            .collect();
        let now = Utc::now();
        let (mut created, mut updated, mut unchanged) = (Vec::new(), Vec::new(), 0_usize);
        for r in &parsed {
            match by_data.remove(&(r.owner.as_str(), &r.data)) {
                Some(old) if old.ttl == r.ttl => unchanged += 1,
                Some(old) => updated.push(Record {
                    ttl: r.ttl,
                    version: old.version + 1,
                    update_time: now,
                    ..old.clone()
                }),
                None => created.push(Record {
                    id: Uuid::now_v7(),
                    organization: org,
                    project: zone.project,
                    zone: zone.id,
                    owner: r.owner.clone(),
                    ttl: r.ttl,
                    data: r.data.clone(),
                    version: 1,
                    create_time: now,
                    update_time: now,
                }),
            }
        }
        let removed: Vec<&Record> = by_data.values().copied().collect();
        // Every name the import changes must be the caller's to change:
        // with the permission at organization level (or in a project
        // zone's project) any, otherwise those delegated to them.
        for r in created.iter().chain(&updated) {
            access.check(&r.owner)?;
        }
        if !removed.is_empty() {
            let (_, deletes) = self
                .name_access(principal, &[rpc, &rpcs::IMPORT_DELETES], name)
                .await?;
            let deletes = self.still_delegated(tx.conn(), name, deletes).await?;
            for r in &removed {
                deletes.check(&r.owner)?;
            }
        }
        let removed: Vec<Uuid> = removed.iter().map(|r| r.id).collect();
        let limit = Dns::limit_of(&policy, MAX_RECORDS_PER_ZONE);
        let total = i64::try_from(parsed.len()).unwrap_or(i64::MAX);
        if total > limit && !created.is_empty() {
            return Err(Refusal::LimitReached {
                organization: org_name(org),
                limit: MAX_RECORDS_PER_ZONE.into(),
                limit_value: limit,
                usage: zone.record_count,
            }
            .into());
        }
        let changed = !(created.is_empty() && updated.is_empty() && removed.is_empty());
        if changed {
            records::write_changes(tx.conn(), &zone, &removed, &updated, &created).await?;
            let delta = total - zone.record_count;
            self.bump_zone(tx.conn(), &mut zone, delta).await?;
        }
        let imported = Imported {
            created: created.len(),
            updated: updated.len(),
            deleted: removed.len(),
            unchanged,
            zone,
        };
        tx.audit(
            imported.zone.name(),
            json!({
                "serial": imported.zone.serial,
                "created": imported.created,
                "updated": imported.updated,
                "deleted": imported.deleted,
                "unchanged": imported.unchanged,
            }),
        );
        tx.commit().await?;
        Ok(imported)
    }

    /// A zone with its generated nameservers.
    fn with_nameservers(&self, mut zone: Zone) -> Zone {
        zone.nameservers
            .clone_from(&self.settings().zone_nameservers);
        zone
    }

    /// A zone; NOT_FOUND when missing, another organization's, or not in
    /// the scope (organization or project) its name says.
    pub(crate) async fn zone_in(&self, conn: &impl Conn, name: ZoneName) -> Result<Zone> {
        store::find(conn, name.organization, name.id)
            .await?
            .filter(|z| z.project == name.project)
            .map(|z| self.with_nameservers(z))
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// A zone about to change: NOT_FOUND, or ABORTED when `etag` (a
    /// serial) is stale.
    pub(crate) async fn zone_for_change(
        &self,
        conn: &impl Conn,
        name: ZoneName,
        etag: Option<i64>,
    ) -> Result<Zone> {
        let zone = self.zone_in(conn, name).await?;
        if etag.is_some_and(|e| e != zone.serial) {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        Ok(zone)
    }

    /// Stores a changed zone with the next serial and `record_delta` more
    /// records, and records the organization's fullest zone for usage.
    pub(crate) async fn bump_zone(
        &self,
        conn: &impl Conn,
        zone: &mut Zone,
        record_delta: i64,
    ) -> Result<()> {
        zone.serial += 1;
        zone.record_count += record_delta;
        zone.update_time = Utc::now();
        store::update(conn, zone).await?;
        if record_delta != 0 {
            let fullest = store::max_record_count(conn, zone.organization).await?;
            usage::record(conn, zone.organization, MAX_RECORDS_PER_ZONE, fullest).await?;
        }
        Ok(())
    }
}

/// Cuts `pending` at the last line break within a chunk's size and returns
/// what follows it.
fn split_chunk(pending: &mut String) -> String {
    let limit = pending.floor_char_boundary(EXPORT_CHUNK_BYTES.min(pending.len()));
    let cut = pending[..limit].rfind('\n').map_or(limit, |i| i + 1);
    pending.split_off(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_parse_at_both_scopes() {
        let (org, project, zone) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let scope = Scope::parse(&format!("organizations/{org}/projects/{project}")).unwrap();
        assert_eq!(scope.project, Some(project));
        assert_eq!(
            Scope::parse(&format!("organizations/{org}"))
                .unwrap()
                .project,
            None
        );
        for name in [
            format!("organizations/{org}/zones/{zone}"),
            format!("organizations/{org}/projects/{project}/zones/{zone}"),
        ] {
            assert_eq!(ZoneName::parse(&name).unwrap().to_string(), name);
        }
        assert!(ZoneName::parse(&format!("organizations/{org}/projects/x/zones/{zone}")).is_err());
        assert!(
            Scope::parse(&format!(
                "organizations/{org}/projects/{project}/workspaces/w"
            ))
            .is_err()
        );
    }
}
