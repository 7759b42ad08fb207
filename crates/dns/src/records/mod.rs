//! Records: the data of a zone. Every write — one record or a batch —
//! goes through one path, [`Dns::change_records`]: under the
//! organization's lock it loads the zone (checking its etag, the serial),
//! the records the changes name and every record sharing an owner name
//! with them, applies the changes in memory, checks the zone's rules on the
//! result (CNAME alone at its name and never at the apex, no duplicate in
//! an RRset, one TTL per RRset, SRV names, no apex NS) naming the field of
//! the change at fault, checks `max_dns_records_per_zone`, then writes and
//! bumps the serial — all or nothing.

pub mod data;
pub mod grpc;
pub mod store;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use loopback_org_core_client::OrganizationPolicy;
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::{FieldViolations, Refusal};
use loopback_runtime::fields::{etag, org_name};
use loopback_runtime::names::ResourceName;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::{WriteOptions, WriteTx};
use serde_json::json;
use uuid::Uuid;

use crate::delegations::NameAccess;
use crate::error::{Error, Result};
use crate::usage::MAX_RECORDS_PER_ZONE;
use crate::zones::{Zone, ZoneName};
use crate::{Dns, dnsname, rpcs};
pub use data::{RecordData, RecordType};

/// Most changes one batch may carry.
pub const MAX_BATCH: usize = 1000;

/// `{zone}/records/{record}`, parsed, where `{zone}` is a zone's name
/// (organization or project scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordName {
    /// The organization.
    pub organization: Uuid,
    /// The project of a project zone.
    pub project: Option<Uuid>,
    /// The zone.
    pub zone: Uuid,
    /// The record.
    pub id: Uuid,
}

impl RecordName {
    /// The zone's name.
    pub fn zone_name(&self) -> ZoneName {
        ZoneName {
            organization: self.organization,
            project: self.project,
            id: self.zone,
        }
    }
}

impl ResourceName for RecordName {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        let shape = || {
            "must look like {zone}/records/{id}, where {zone} is organizations/{id}/zones/{id} or organizations/{id}/projects/{id}/zones/{id}".to_string()
        };
        if name.is_empty() {
            return Err("is required".into());
        }
        let (zone, id) = name.rsplit_once("/records/").ok_or_else(shape)?;
        let zone = ZoneName::parse(zone).map_err(|_| shape())?;
        let id = Uuid::parse_str(id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == id)
            .ok_or_else(shape)?;
        Ok(Self {
            organization: zone.organization,
            project: zone.project,
            zone: zone.id,
            id,
        })
    }
}

impl fmt::Display for RecordName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/records/{}", self.zone_name(), self.id)
    }
}

/// A record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// The project of its zone, for project zones.
    pub project: Option<Uuid>,
    /// Zone.
    pub zone: Uuid,
    /// Owner name, canonical.
    pub owner: String,
    /// TTL in seconds.
    pub ttl: i32,
    /// Data.
    pub data: RecordData,
    /// Version (the etag).
    pub version: i64,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

impl Record {
    /// The parsed resource name.
    pub fn record_name(&self) -> RecordName {
        RecordName {
            organization: self.organization,
            project: self.project,
            zone: self.zone,
            id: self.id,
        }
    }

    /// The resource name.
    pub fn name(&self) -> String {
        self.record_name().to_string()
    }

    /// The etag.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The type.
    pub fn record_type(&self) -> RecordType {
        self.data.record_type()
    }

    /// The master-file line of the record (absolute names, class IN).
    pub fn zone_file_line(&self) -> String {
        format!(
            "{}\t{}\tIN\t{}\t{}\n",
            self.owner,
            self.ttl,
            self.record_type(),
            self.data.presentation()
        )
    }

    fn audit_details(&self) -> serde_json::Value {
        json!({
            "owner": self.owner,
            "type": self.record_type().as_str(),
            "ttl": self.ttl,
            "rdata": self.data.presentation(),
        })
    }
}

/// An owner name as a request gives it: the apex (`@`), or a canonical
/// absolute name not yet checked against the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `@`.
    Apex,
    /// A canonical name.
    Name(String),
}

/// A record to create, checked field by field; `field` is where it sits in
/// the request (`record`, `changes[3].create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// Request path of the record.
    pub field: String,
    /// Owner.
    pub owner: Owner,
    /// TTL; `None` for the RRset's (or the zone's default).
    pub ttl: Option<i32>,
    /// Data.
    pub data: RecordData,
}

/// A change of a record: `Some` for each field in the mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPatch {
    /// Request path of the record.
    pub field: String,
    /// The record.
    pub name: RecordName,
    /// Expected etag.
    pub etag: Option<i64>,
    /// New owner.
    pub owner: Option<Owner>,
    /// New TTL (`Some(None)`: the RRset's or the zone's default).
    pub ttl: Option<Option<i32>>,
    /// New data.
    pub data: Option<RecordData>,
}

/// A removal of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRemoval {
    /// Request path of the removal.
    pub field: String,
    /// The record.
    pub name: RecordName,
    /// Expected etag.
    pub etag: Option<i64>,
}

/// One change of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add a record.
    Create(NewRecord),
    /// Change a record.
    Update(RecordPatch),
    /// Remove a record.
    Delete(RecordRemoval),
}

impl Change {
    fn target(&self) -> Option<(&str, RecordName, Option<i64>)> {
        match self {
            Self::Create(_) => None,
            Self::Update(p) => Some((&p.field, p.name, p.etag)),
            Self::Delete(r) => Some((&r.field, r.name, r.etag)),
        }
    }
}

/// CreateRecord, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRecord {
    /// The zone.
    pub zone: ZoneName,
    /// The record.
    pub record: NewRecord,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// UpdateRecord, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRecord {
    /// The change.
    pub patch: RecordPatch,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteRecord, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecord {
    /// The removal.
    pub removal: RecordRemoval,
    /// Check only.
    pub validate_only: bool,
}

/// ListRecords, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRecords {
    /// The zone.
    pub zone: ZoneName,
    /// Only this owner name (canonical).
    pub owner: Option<String>,
    /// Only this type.
    pub record_type: Option<RecordType>,
    /// Size and position.
    pub page: PageRequest,
}

/// BatchChangeRecords, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchChangeRecords {
    /// The zone.
    pub zone: ZoneName,
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// Expected zone etag (serial).
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// What a batch did: the zone after it and one record per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// The zone with its new serial.
    pub zone: Zone,
    /// Per change: the created or updated record, or the removed one.
    pub records: Vec<Record>,
}

/// Who a record's problems are blamed on: a request field, or a line of
/// a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blame {
    /// A record of a request; the path of the record (`record`,
    /// `changes[2].create`).
    Field(String),
    /// A line of the imported zone file.
    Line(usize),
}

impl Blame {
    /// Records a violation of `part` (`owner`, `ttl`, `mx.exchange`).
    pub fn violation(&self, v: &mut FieldViolations, part: &str, message: impl fmt::Display) {
        match self {
            Self::Field(path) => v.add(format!("{path}.{part}"), message.to_string()),
            Self::Line(line) => v.add("zone_file", format!("line {line}: {message}")),
        }
    }
}

/// A record as the zone would hold it after a change: what the zone's
/// rules are checked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Owner, canonical.
    pub owner: String,
    /// TTL; `None` until defaulted from its RRset or the zone.
    pub ttl: Option<i32>,
    /// Data.
    pub data: RecordData,
    /// Set for what the change adds or alters (only those are blamed).
    pub blame: Option<Blame>,
}

/// The labels SRV owner names may use as their protocol.
const SRV_PROTOCOLS: &[&str] = &["_tcp", "_udp", "_tls", "_sctp"];

/// Where a record may sit, by its type alone.
fn check_placement(c: &Candidate, apex: &str, v: &mut FieldViolations) {
    let Some(blame) = &c.blame else { return };
    match &c.data {
        RecordData::Cname { .. } if c.owner == apex => blame.violation(
            v,
            "owner",
            "a CNAME cannot be at the zone apex (the apex has the SOA and NS records)",
        ),
        RecordData::Ns { .. } if c.owner == apex => blame.violation(
            v,
            "owner",
            "the apex NS records are generated by Loopback; NS records delegate names below the apex",
        ),
        RecordData::Srv { .. } => {
            let labels: Vec<&str> = c.owner.split('.').collect();
            let service_ok = labels.first().is_some_and(|l| {
                l.len() >= 2
                    && l.len() <= 16
                    && l.starts_with('_')
                    && l[1..]
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            });
            let proto_ok = labels.get(1).is_some_and(|l| SRV_PROTOCOLS.contains(l));
            if !service_ok || !proto_ok {
                blame.violation(
                    v,
                    "owner",
                    format!(
                        "an SRV record's name must be _service._proto.<name> (e.g. _sip._tcp.{apex}) with _proto one of {}",
                        SRV_PROTOCOLS.join(", ")
                    ),
                );
            }
        }
        _ => {}
    }
}

/// Fills in missing TTLs: the TTL of the RRset's other records (those
/// already in the zone first), else the zone's default.
pub fn default_ttls(candidates: &mut [Candidate], default_ttl: i32) {
    let mut rrset_ttl: HashMap<(String, RecordType), i32> = HashMap::new();
    for unblamed_first in [true, false] {
        for c in candidates.iter() {
            if c.blame.is_none() == unblamed_first
                && let Some(ttl) = c.ttl
            {
                rrset_ttl
                    .entry((c.owner.clone(), c.data.record_type()))
                    .or_insert(ttl);
            }
        }
    }
    for c in candidates.iter_mut() {
        if c.ttl.is_none() {
            c.ttl = Some(
                rrset_ttl
                    .get(&(c.owner.clone(), c.data.record_type()))
                    .copied()
                    .unwrap_or(default_ttl),
            );
        }
    }
}

/// The zone's rules on a set of records (every record of each owner name
/// involved): placement by type, a CNAME alone at its name, no duplicate
/// in an RRset, one TTL per RRset. Only blamed records are named.
pub fn check_rules(candidates: &[Candidate], apex: &str, v: &mut FieldViolations) {
    let mut by_owner: HashMap<&str, Vec<&Candidate>> = HashMap::new();
    for c in candidates {
        check_placement(c, apex, v);
        by_owner.entry(c.owner.as_str()).or_default().push(c);
    }
    let mut owners: Vec<&str> = by_owner.keys().copied().collect();
    owners.sort_unstable();
    for owner in owners {
        let group = &by_owner[owner];
        let cnames = group
            .iter()
            .filter(|c| c.data.record_type() == RecordType::Cname)
            .count();
        if cnames > 0 && group.len() > 1 {
            for c in group {
                let Some(blame) = &c.blame else { continue };
                if c.data.record_type() == RecordType::Cname {
                    blame.violation(
                        v,
                        "owner",
                        format!(
                            "{owner} has other records: a CNAME must be the only record of its name"
                        ),
                    );
                } else {
                    blame.violation(
                        v,
                        "owner",
                        format!("{owner} has a CNAME record: no other record may share its name"),
                    );
                }
            }
        }
        let mut seen: HashMap<&RecordData, usize> = HashMap::new();
        for c in group {
            *seen.entry(&c.data).or_default() += 1;
        }
        for c in group {
            if seen[&c.data] > 1
                && let Some(blame) = &c.blame
            {
                blame.violation(
                    v,
                    c.data.identity_field(),
                    format!(
                        "duplicates another record of the {owner} {} RRset",
                        c.data.record_type()
                    ),
                );
            }
        }
        let mut rrsets: HashMap<RecordType, Vec<&Candidate>> = HashMap::new();
        for c in group {
            rrsets.entry(c.data.record_type()).or_default().push(c);
        }
        for (rtype, set) in rrsets {
            let ttls: BTreeSet<i32> = set.iter().filter_map(|c| c.ttl).collect();
            if ttls.len() < 2 {
                continue;
            }
            let reference = set
                .iter()
                .find(|c| c.blame.is_none())
                .or(set.first())
                .and_then(|c| c.ttl)
                .unwrap_or_default();
            for c in &set {
                if c.ttl != Some(reference)
                    && let Some(blame) = &c.blame
                {
                    blame.violation(
                        v,
                        "ttl",
                        format!(
                            "must equal the TTL of the other {owner} {rtype} records ({reference}): an RRset has one TTL"
                        ),
                    );
                }
            }
        }
    }
}

/// Resolves an owner against the zone, recording a violation at `field`.
fn resolve_owner(
    owner: &Owner,
    zone: &Zone,
    blame: &Blame,
    v: &mut FieldViolations,
) -> Option<String> {
    match owner {
        Owner::Apex => Some(zone.dns_name.clone()),
        Owner::Name(name) if dnsname::in_zone(name, &zone.dns_name) => Some(name.clone()),
        Owner::Name(name) => {
            blame.violation(
                v,
                "owner",
                format!(
                    "{name} is outside the zone {}: give a name ending in .{}",
                    zone.dns_name, zone.dns_name
                ),
            );
            None
        }
    }
}

/// Records as their zone holds them: the store knows no project, the
/// zone's name does.
fn in_zone_scope(mut records: Vec<Record>, project: Option<Uuid>) -> Vec<Record> {
    for r in &mut records {
        r.project = project;
    }
    records
}

/// Every record of `zone`, for import (replacing them) and tests.
pub async fn all_in_zone(conn: &impl Conn, zone: &Zone) -> Result<Vec<Record>> {
    let records = store::all_in_zone(conn, zone.organization, zone.id).await?;
    Ok(in_zone_scope(records, zone.project))
}

/// A page of `zone`'s records after the (owner, type, id) key `after`, for
/// export.
pub async fn page_in_zone(
    conn: &impl Conn,
    zone: &Zone,
    after: Option<&(String, String, String)>,
    limit: u64,
) -> Result<Vec<Record>> {
    let records = store::page(conn, zone.id, None, None, after, limit).await?;
    Ok(in_zone_scope(records, zone.project))
}

/// Removes every record of an organization (it was purged); returns how
/// many went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::delete_organization(conn, org).await
}

/// Removes every record of `zone` (the zone is being deleted).
pub async fn delete_all_in_zone(conn: &impl Conn, zone: &Zone) -> Result<()> {
    store::delete_zone(conn, zone.id).await
}

/// Writes a computed change set: removals, replacements, additions.
pub async fn write_changes(
    conn: &impl Conn,
    zone: &Zone,
    removed: &[Uuid],
    updated: &[Record],
    created: &[Record],
) -> Result<()> {
    store::delete_ids(conn, zone.id, removed).await?;
    for r in updated {
        store::update(conn, r).await?;
    }
    store::insert_many(conn, created).await
}

/// The key of a record in list pages: owner, type, id.
fn page_key(r: &Record) -> String {
    format!("{} {} {}", r.owner, r.record_type(), r.id)
}

impl Dns {
    /// Adds one record.
    pub async fn create_record(
        &self,
        principal: &Principal,
        input: CreateRecord,
    ) -> Result<Record> {
        let rpc = &rpcs::CREATE_RECORD;
        let zone = input.zone;
        let (policy, access) = self.name_access(principal, &[rpc], zone).await?;
        let mut tx = self
            .begin_write(zone.organization, rpc, principal, input.write)
            .await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .record_in(
                    tx.conn(),
                    RecordName {
                        organization: zone.organization,
                        project: zone.project,
                        zone: zone.id,
                        id,
                    },
                )
                .await;
        }
        let changes = vec![Change::Create(input.record)];
        let result = self
            .change_records(&mut tx, &policy, access, zone, None, changes)
            .await?;
        let record = result
            .records
            .into_iter()
            .next()
            .ok_or_else(|| Error::Corrupt("a one-record batch returned no record".into()))?;
        tx.created(record.id);
        tx.audit(record.name(), record.audit_details());
        tx.commit().await?;
        Ok(record)
    }

    /// One record.
    pub async fn get_record(&self, principal: &Principal, name: RecordName) -> Result<Record> {
        let (_, access) = self
            .name_access(principal, &[&rpcs::GET_RECORD], name.zone_name())
            .await?;
        let record = self.record_in(self.db(), name).await?;
        access.check(&record.owner)?;
        Ok(record)
    }

    /// A page of a zone's records by (owner, type, id): those the caller
    /// may read (every one with the permission at organization level or
    /// in a project zone's project; otherwise those under the delegations
    /// granting it).
    pub async fn list_records(
        &self,
        principal: &Principal,
        input: ListRecords,
    ) -> Result<Page<Record>> {
        let (_, access) = self
            .name_access(principal, &[&rpcs::LIST_RECORDS], input.zone)
            .await?;
        self.zone_in(self.db(), input.zone).await?;
        let mut after = match &input.page.after {
            Some(key) => {
                let mut parts = key.splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(o), Some(t), Some(i)) => {
                        Some((o.to_string(), t.to_string(), i.to_string()))
                    }
                    _ => {
                        return Err(Error::invalid(
                            "page_token",
                            "is not a page token issued for this request",
                        ));
                    }
                }
            }
            None => None,
        };
        let limit = input.page.fetch_limit();
        let mut rows = Vec::new();
        // Without delegations this is one read; with them, rows outside
        // the caller's names are skipped until the page is full.
        loop {
            let batch = store::page(
                self.db(),
                input.zone.id,
                input.owner.as_deref(),
                input.record_type,
                after.as_ref(),
                limit,
            )
            .await?;
            let exhausted = (batch.len() as u64) < limit;
            if let Some(last) = batch.last() {
                after = Some((
                    last.owner.clone(),
                    last.record_type().as_str().to_string(),
                    last.id.to_string(),
                ));
            }
            rows.extend(batch.into_iter().filter(|r| access.allows(&r.owner)));
            if exhausted || rows.len() as u64 >= limit {
                break;
            }
        }
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let rows = in_zone_scope(rows, input.zone.project);
        Ok(input.page.page(rows, page_key))
    }

    /// Changes one record.
    pub async fn update_record(
        &self,
        principal: &Principal,
        input: UpdateRecord,
    ) -> Result<Record> {
        let rpc = &rpcs::UPDATE_RECORD;
        let zone = input.patch.name.zone_name();
        let (policy, access) = self.name_access(principal, &[rpc], zone).await?;
        let mut tx = self
            .begin_write(
                zone.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let changes = vec![Change::Update(input.patch)];
        let result = self
            .change_records(&mut tx, &policy, access, zone, None, changes)
            .await?;
        let record = result
            .records
            .into_iter()
            .next()
            .ok_or_else(|| Error::Corrupt("a one-record batch returned no record".into()))?;
        tx.audit(record.name(), record.audit_details());
        tx.commit().await?;
        Ok(record)
    }

    /// Removes one record.
    pub async fn delete_record(
        &self,
        principal: &Principal,
        input: DeleteRecord,
    ) -> Result<Record> {
        let rpc = &rpcs::DELETE_RECORD;
        let zone = input.removal.name.zone_name();
        let (policy, access) = self.name_access(principal, &[rpc], zone).await?;
        let mut tx = self
            .begin_write(
                zone.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let changes = vec![Change::Delete(input.removal)];
        let result = self
            .change_records(&mut tx, &policy, access, zone, None, changes)
            .await?;
        let record = result
            .records
            .into_iter()
            .next()
            .ok_or_else(|| Error::Corrupt("a one-record batch returned no record".into()))?;
        tx.audit(record.name(), record.audit_details());
        tx.commit().await?;
        Ok(record)
    }

    /// Applies a batch all or nothing, conditional on the zone's etag;
    /// every name it changes must be the caller's to change.
    pub async fn batch_change_records(
        &self,
        principal: &Principal,
        input: BatchChangeRecords,
    ) -> Result<BatchResult> {
        let zone = input.zone;
        let org = zone.organization;
        let mut needed = vec![&rpcs::BATCH_CHANGE_RECORDS];
        if input.changes.iter().any(|c| matches!(c, Change::Create(_))) {
            needed.push(&rpcs::BATCH_CREATES);
        }
        if input.changes.iter().any(|c| matches!(c, Change::Delete(_))) {
            needed.push(&rpcs::BATCH_DELETES);
        }
        let (policy, access) = self.name_access(principal, &needed, zone).await?;
        let mut tx = self
            .begin_write(
                org,
                &rpcs::BATCH_CHANGE_RECORDS,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let kinds = |f: fn(&Change) -> bool| input.changes.iter().filter(|c| f(c)).count();
        let (creates, updates, deletes) = (
            kinds(|c| matches!(c, Change::Create(_))),
            kinds(|c| matches!(c, Change::Update(_))),
            kinds(|c| matches!(c, Change::Delete(_))),
        );
        let result = self
            .change_records(&mut tx, &policy, access, zone, input.etag, input.changes)
            .await?;
        tx.audit(
            zone.to_string(),
            json!({
                "serial": result.zone.serial,
                "created": creates,
                "updated": updates,
                "deleted": deletes,
                "records": result.records.iter().take(100).map(Record::name).collect::<Vec<_>>(),
            }),
        );
        tx.commit().await?;
        Ok(result)
    }

    /// The one write path of records (see the module docs): checks and
    /// applies `changes` to `zone` inside `tx`, bumping its serial.
    pub(crate) async fn change_records(
        &self,
        tx: &mut WriteTx,
        policy: &OrganizationPolicy,
        access: NameAccess,
        zone_name: ZoneName,
        zone_etag: Option<i64>,
        changes: Vec<Change>,
    ) -> Result<BatchResult> {
        let mut zone = self
            .zone_for_change(tx.conn(), zone_name, zone_etag)
            .await?;
        let access = self.still_delegated(tx.conn(), zone_name, access).await?;
        let mut v = FieldViolations::new();
        // Which records the changes name: in this zone, each at most once.
        let mut targets: Vec<Uuid> = Vec::new();
        let mut first_use: HashMap<Uuid, String> = HashMap::new();
        for change in &changes {
            if let Some((field, name, _)) = change.target() {
                if name.zone_name() != zone_name {
                    v.add(
                        format!("{field}.name"),
                        format!("is not a record of {zone_name}"),
                    );
                } else if let Some(first) = first_use.get(&name.id) {
                    v.add(
                        format!("{field}.name"),
                        format!(
                            "names the same record as {first}: change each record once per batch"
                        ),
                    );
                } else {
                    first_use.insert(name.id, field.to_string());
                    targets.push(name.id);
                }
            }
        }
        v.clone().into_result()?;
        let found = store::find_many(tx.conn(), zone.id, &targets).await?;
        let existing: HashMap<Uuid, Record> = in_zone_scope(found, zone.project)
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        for change in &changes {
            if let Some((_, name, expected)) = change.target() {
                let Some(record) = existing.get(&name.id) else {
                    return Err(Error::not_found(name.to_string()));
                };
                if expected.is_some_and(|e| e != record.version) {
                    return Err(Error::etag_mismatch(name.to_string()));
                }
            }
        }
        // The records after the changes, per change.
        enum Planned {
            Create(Uuid, Candidate),
            Update(Uuid, Candidate),
            Delete(Uuid),
        }
        let mut planned = Vec::with_capacity(changes.len());
        let mut owners: BTreeSet<String> = BTreeSet::new();
        // Every name a change writes or removes: the caller's to change?
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for change in changes {
            match change {
                Change::Create(new) => {
                    let blame = Blame::Field(new.field);
                    if let Some(owner) = resolve_owner(&new.owner, &zone, &blame, &mut v) {
                        owners.insert(owner.clone());
                        touched.insert(owner.clone());
                        planned.push(Planned::Create(
                            Uuid::now_v7(),
                            Candidate {
                                owner,
                                ttl: new.ttl,
                                data: new.data,
                                blame: Some(blame),
                            },
                        ));
                    }
                }
                Change::Update(patch) => {
                    let old = &existing[&patch.name.id];
                    let blame = Blame::Field(patch.field);
                    let owner = match &patch.owner {
                        Some(owner) => resolve_owner(owner, &zone, &blame, &mut v),
                        None => Some(old.owner.clone()),
                    };
                    if let Some(owner) = owner {
                        owners.insert(old.owner.clone());
                        owners.insert(owner.clone());
                        touched.insert(old.owner.clone());
                        touched.insert(owner.clone());
                        let data = patch.data.unwrap_or_else(|| old.data.clone());
                        // An unchanged TTL stays with the record.
                        let ttl = patch.ttl.unwrap_or(Some(old.ttl));
                        planned.push(Planned::Update(
                            old.id,
                            Candidate {
                                owner,
                                ttl,
                                data,
                                blame: Some(blame),
                            },
                        ));
                    }
                }
                Change::Delete(removal) => {
                    touched.insert(existing[&removal.name.id].owner.clone());
                    planned.push(Planned::Delete(removal.name.id));
                }
            }
        }
        v.clone().into_result()?;
        for name in &touched {
            access.check(name)?;
        }
        // Every record of the owner names involved, as the changes leave them.
        let owners: Vec<String> = owners.into_iter().collect();
        let mut working: HashMap<Uuid, Candidate> = store::at_owners(tx.conn(), zone.id, &owners)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    Candidate {
                        owner: r.owner,
                        ttl: Some(r.ttl),
                        data: r.data,
                        blame: None,
                    },
                )
            })
            .collect();
        for p in &planned {
            match p {
                Planned::Create(id, c) | Planned::Update(id, c) => {
                    working.insert(*id, c.clone());
                }
                Planned::Delete(id) => {
                    working.remove(id);
                }
            }
        }
        let mut ids: Vec<Uuid> = working.keys().copied().collect();
        ids.sort_unstable();
        let mut candidates: Vec<Candidate> = ids.iter().map(|id| working[id].clone()).collect();
        default_ttls(&mut candidates, zone.default_ttl);
        check_rules(&candidates, &zone.dns_name, &mut v);
        v.into_result()?;
        let resolved: HashMap<Uuid, &Candidate> =
            ids.iter().copied().zip(candidates.iter()).collect();

        let creates = planned
            .iter()
            .filter(|p| matches!(p, Planned::Create(..)))
            .count();
        let deletes = planned
            .iter()
            .filter(|p| matches!(p, Planned::Delete(_)))
            .count();
        let delta =
            i64::try_from(creates).unwrap_or(i64::MAX) - i64::try_from(deletes).unwrap_or(0);
        let limit = Dns::limit_of(policy, MAX_RECORDS_PER_ZONE);
        if creates > 0 && zone.record_count + delta > limit {
            return Err(Refusal::LimitReached {
                organization: org_name(zone.organization),
                limit: MAX_RECORDS_PER_ZONE.into(),
                limit_value: limit,
                usage: zone.record_count,
            }
            .into());
        }

        let now = Utc::now();
        let mut out = Vec::with_capacity(planned.len());
        let (mut created, mut updated, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        for p in planned {
            match p {
                Planned::Create(id, _) => {
                    let c = resolved[&id];
                    let record = Record {
                        id,
                        organization: zone.organization,
                        project: zone.project,
                        zone: zone.id,
                        owner: c.owner.clone(),
                        ttl: c.ttl.unwrap_or(zone.default_ttl),
                        data: c.data.clone(),
                        version: 1,
                        create_time: now,
                        update_time: now,
                    };
                    created.push(record.clone());
                    out.push(record);
                }
                Planned::Update(id, _) => {
                    let c = resolved[&id];
                    let old = &existing[&id];
                    let record = Record {
                        owner: c.owner.clone(),
                        ttl: c.ttl.unwrap_or(zone.default_ttl),
                        data: c.data.clone(),
                        version: old.version + 1,
                        update_time: now,
                        ..old.clone()
                    };
                    updated.push(record.clone());
                    out.push(record);
                }
                Planned::Delete(id) => {
                    removed.push(id);
                    out.push(existing[&id].clone());
                }
            }
        }
        write_changes(tx.conn(), &zone, &removed, &updated, &created).await?;
        self.bump_zone(tx.conn(), &mut zone, delta).await?;
        Ok(BatchResult { zone, records: out })
    }

    /// A record; NOT_FOUND when missing, another organization's, or its
    /// zone is not in the scope the name says.
    async fn record_in(&self, conn: &impl Conn, name: RecordName) -> Result<Record> {
        self.zone_in(conn, name.zone_name()).await?;
        store::find(conn, name.organization, name.zone, name.id)
            .await?
            .map(|mut r| {
                r.project = name.project;
                r
            })
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}
