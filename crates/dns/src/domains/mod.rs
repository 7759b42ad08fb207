//! Domains: registration records an organization tracks (registrar,
//! dates, auto-renewal) and proof of ownership by a TXT record at
//! `_loopback-challenge.<domain>`. A verified name belongs to one
//! organization (a row in `domain_claims`, whose primary key settles races
//! between organizations); another organization adding or verifying it is
//! refused without learning which organization holds it. The expiry sweep
//! moves domains whose registration expired to EXPIRED and frees their name.

pub mod grpc;
pub mod resolver;
pub mod store;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::fields::etag;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use rand::Rng as _;
use serde_json::json;
use uuid::Uuid;

use crate::error::{DOMAIN_VERIFICATION_FAILED, Error, INVALID_DOMAIN_STATE, Result};
use crate::{Dns, dnsname, rpcs};
use resolver::TxtLookup;

/// The label under which the ownership TXT record lives.
pub const CHALLENGE_LABEL: &str = "_loopback-challenge";

loopback_runtime::resource_name! {
    /// `organizations/{org}/domains/{domain}`, parsed.
    pub struct DomainName = "domains", id: Uuid;
}

/// Where a domain is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainState {
    /// Ownership not proven yet.
    PendingVerification,
    /// Ownership proven: the name belongs to this organization.
    Verified,
    /// The registration expired; the name is free again.
    Expired,
}

impl DomainState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "PENDING_VERIFICATION",
            Self::Verified => "VERIFIED",
            Self::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for DomainState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomainState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::PendingVerification, Self::Verified, Self::Expired]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown domain state {s:?}"))
    }
}

/// A domain registration record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Lower-case ASCII, no trailing dot.
    pub domain_name: String,
    /// Registrar.
    pub registrar: String,
    /// Registration time.
    pub registration_time: Option<DateTime<Utc>>,
    /// Expiry time.
    pub expire_time: Option<DateTime<Utc>>,
    /// Auto-renewal.
    pub auto_renew: bool,
    /// State.
    pub state: DomainState,
    /// The TXT value proving ownership.
    pub verification_token: String,
    /// Last successful verification.
    pub verify_time: Option<DateTime<Utc>>,
    /// Version (the etag).
    pub version: i64,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

impl Domain {
    /// `organizations/{org}/domains/{id}`.
    pub fn name(&self) -> String {
        DomainName {
            organization: self.organization,
            id: self.id,
        }
        .to_string()
    }

    /// Where the ownership TXT record must be.
    pub fn verification_record(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}.", self.domain_name)
    }

    /// The etag.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The verbs the state allows.
    pub fn allowed_actions(&self) -> Vec<&'static str> {
        match self.state {
            DomainState::PendingVerification | DomainState::Verified => {
                vec!["verify", "update", "delete"]
            }
            DomainState::Expired => vec!["update", "delete"],
        }
    }

    fn audit_details(&self) -> serde_json::Value {
        json!({
            "domain_name": self.domain_name,
            "registrar": self.registrar,
            "registration_time": self.registration_time,
            "expire_time": self.expire_time,
            "auto_renew": self.auto_renew,
            "state": self.state.as_str(),
        })
    }
}

/// CreateDomain, validated.
#[derive(Debug, Clone)]
pub struct CreateDomain {
    /// The organization.
    pub organization: Uuid,
    /// The registrable name, canonical.
    pub domain_name: String,
    /// Registrar.
    pub registrar: String,
    /// Registration time.
    pub registration_time: Option<DateTime<Utc>>,
    /// Expiry time.
    pub expire_time: Option<DateTime<Utc>>,
    /// Auto-renewal.
    pub auto_renew: bool,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListDomains, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDomains {
    /// The organization.
    pub organization: Uuid,
    /// Only this state.
    pub state: Option<DomainState>,
    /// Size and position.
    pub page: PageRequest,
}

/// UpdateDomain, validated: `Some` for each field in the mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateDomain {
    /// The domain.
    pub name: DomainName,
    /// Expected etag.
    pub etag: Option<i64>,
    /// New registrar.
    pub registrar: Option<String>,
    /// New registration time.
    pub registration_time: Option<Option<DateTime<Utc>>>,
    /// New expiry time.
    pub expire_time: Option<Option<DateTime<Utc>>>,
    /// New auto-renewal.
    pub auto_renew: Option<bool>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteDomain, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteDomain {
    /// The domain.
    pub name: DomainName,
    /// Expected etag.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// A fresh verification token: 128 random bits.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("loopback-verify={hex}")
}

/// Registration dates must be in order, and registration not in the future.
fn check_dates(
    registration: Option<DateTime<Utc>>,
    expiry: Option<DateTime<Utc>>,
    prefix: &str,
) -> Result<()> {
    if let Some(r) = registration
        && r > Utc::now()
    {
        return Err(Error::invalid(
            format!("{prefix}.registration_time"),
            "must not be in the future",
        ));
    }
    if let (Some(r), Some(e)) = (registration, expiry)
        && e <= r
    {
        return Err(Error::invalid(
            format!("{prefix}.expire_time"),
            "must be after registration_time",
        ));
    }
    Ok(())
}

fn expired(expiry: Option<DateTime<Utc>>) -> bool {
    expiry.is_some_and(|e| e <= Utc::now())
}

/// FAILED_PRECONDITION / DOMAIN_VERIFICATION_FAILED.
fn verification_failed(domain: &Domain, problem: &'static str, message: String) -> Error {
    Refusal::FailedPrecondition {
        reason: DOMAIN_VERIFICATION_FAILED,
        message,
        metadata: vec![
            ("domain", domain.domain_name.clone()),
            ("record", domain.verification_record()),
            ("problem", problem.to_string()),
        ],
    }
    .into()
}

impl Dns {
    /// Adds a domain, pending verification.
    pub async fn create_domain(
        &self,
        principal: &Principal,
        input: CreateDomain,
    ) -> Result<Domain> {
        let rpc = &rpcs::CREATE_DOMAIN;
        let org = input.organization;
        self.authorize(principal, rpc, org).await?;
        check_dates(input.registration_time, input.expire_time, "domain")?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .domain_in(
                    tx.conn(),
                    DomainName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        if let Some(existing) = store::find_by_name(tx.conn(), org, &input.domain_name).await? {
            return Err(Refusal::AlreadyExists(format!(
                "{} already tracks {} as {}",
                loopback_runtime::fields::org_name(org),
                input.domain_name,
                existing.name()
            ))
            .into());
        }
        self.refuse_claimed(tx.conn(), &input.domain_name, org)
            .await?;
        let now = Utc::now();
        let state = if expired(input.expire_time) {
            DomainState::Expired
        } else {
            DomainState::PendingVerification
        };
        let domain = Domain {
            id: Uuid::now_v7(),
            organization: org,
            domain_name: input.domain_name,
            registrar: input.registrar,
            registration_time: input.registration_time,
            expire_time: input.expire_time,
            auto_renew: input.auto_renew,
            state,
            verification_token: new_token(),
            verify_time: None,
            version: 1,
            create_time: now,
            update_time: now,
        };
        store::insert(tx.conn(), &domain).await?;
        tx.created(domain.id);
        tx.audit(domain.name(), domain.audit_details());
        tx.commit().await?;
        Ok(domain)
    }

    /// One domain.
    pub async fn get_domain(&self, principal: &Principal, name: DomainName) -> Result<Domain> {
        self.authorize(principal, &rpcs::GET_DOMAIN, name.organization)
            .await?;
        self.domain_in(self.db(), name).await
    }

    /// A page of domains by name.
    pub async fn list_domains(
        &self,
        principal: &Principal,
        input: ListDomains,
    ) -> Result<Page<Domain>> {
        self.authorize(principal, &rpcs::LIST_DOMAINS, input.organization)
            .await?;
        let rows = store::list(self.db(), input.organization, input.state, &input.page).await?;
        Ok(input.page.page(rows, |d| d.domain_name.clone()))
    }

    /// Changes registration details. An expired domain given a future
    /// expiry is pending verification again; a domain given a past expiry
    /// expires at once.
    pub async fn update_domain(
        &self,
        principal: &Principal,
        input: UpdateDomain,
    ) -> Result<Domain> {
        let rpc = &rpcs::UPDATE_DOMAIN;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut domain = self.domain_in(tx.conn(), name).await?;
        if input.etag.is_some_and(|e| e != domain.version) {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        if let Some(registrar) = input.registrar {
            domain.registrar = registrar;
        }
        if let Some(t) = input.registration_time {
            domain.registration_time = t;
        }
        if let Some(t) = input.expire_time {
            domain.expire_time = t;
        }
        if let Some(a) = input.auto_renew {
            domain.auto_renew = a;
        }
        check_dates(domain.registration_time, domain.expire_time, "domain")?;
        let now = Utc::now();
        match (domain.state, expired(domain.expire_time)) {
            (DomainState::Expired, false) => domain.state = DomainState::PendingVerification,
            (DomainState::PendingVerification | DomainState::Verified, true) => {
                store::release_claim(tx.conn(), &domain.domain_name, domain.id).await?;
                domain.state = DomainState::Expired;
            }
            _ => {}
        }
        domain.version += 1;
        domain.update_time = now;
        store::update(tx.conn(), &domain).await?;
        tx.audit(domain.name(), domain.audit_details());
        tx.commit().await?;
        Ok(domain)
    }

    /// Removes a domain; a verified name is free again.
    pub async fn delete_domain(
        &self,
        principal: &Principal,
        input: DeleteDomain,
    ) -> Result<Domain> {
        let rpc = &rpcs::DELETE_DOMAIN;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let domain = self.domain_in(tx.conn(), name).await?;
        if input.etag.is_some_and(|e| e != domain.version) {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        store::release_claim(tx.conn(), &domain.domain_name, domain.id).await?;
        store::delete(tx.conn(), name.organization, name.id).await?;
        tx.audit(domain.name(), domain.audit_details());
        tx.commit().await?;
        Ok(domain)
    }

    /// Proves ownership: one of the TXT records at the domain's
    /// verification record must equal its token. The lookup runs before
    /// the write transaction, so no organization lock is held while DNS
    /// answers.
    pub async fn verify_domain(&self, principal: &Principal, name: DomainName) -> Result<Domain> {
        let rpc = &rpcs::VERIFY_DOMAIN;
        self.authorize(principal, rpc, name.organization).await?;
        let domain = self.domain_in(self.db(), name).await?;
        if domain.state == DomainState::Expired || expired(domain.expire_time) {
            return Err(Refusal::FailedPrecondition {
                reason: INVALID_DOMAIN_STATE,
                message: format!(
                    "{} is expired: give it a future expire_time (UpdateDomain) before verifying it",
                    domain.domain_name
                ),
                metadata: vec![
                    ("domain", domain.domain_name.clone()),
                    ("state", DomainState::Expired.as_str().to_string()),
                ],
            }
            .into());
        }
        self.refuse_claimed(self.db(), &domain.domain_name, name.organization)
            .await?;
        let record = domain.verification_record();
        let token = &domain.verification_token;
        match resolver::lookup_txt(self.settings(), &record).await {
            TxtLookup::Found(values) if values.iter().any(|v| v == token) => {}
            TxtLookup::Found(values) => {
                return Err(verification_failed(
                    &domain,
                    "TOKEN_MISMATCH",
                    format!(
                        "{record} has {} TXT record(s) but none is this domain's token: publish a TXT record with the value {token}",
                        values.len()
                    ),
                ));
            }
            TxtLookup::NoTxt => {
                return Err(verification_failed(
                    &domain,
                    "NO_TXT_RECORD",
                    format!("{record} has no TXT record: publish one with the value {token}"),
                ));
            }
            TxtLookup::NoSuchName => {
                return Err(verification_failed(
                    &domain,
                    "NXDOMAIN",
                    format!(
                        "{record} does not resolve (NXDOMAIN): publish a TXT record there with the value {token}"
                    ),
                ));
            }
            TxtLookup::Failed(cause) => {
                return Err(verification_failed(
                    &domain,
                    "LOOKUP_FAILED",
                    format!("no nameserver answered for {record}: {cause}; try again later"),
                ));
            }
        }
        let mut tx = self
            .begin_write(name.organization, rpc, principal, WriteOptions::plain())
            .await?;
        let mut domain = self.domain_in(tx.conn(), name).await?;
        if domain.verification_token != *token || domain.state == DomainState::Expired {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        let now = Utc::now();
        if !store::claim(
            tx.conn(),
            &domain.domain_name,
            name.organization,
            domain.id,
            now,
        )
        .await?
        {
            return Err(Error::DomainClaimed {
                domain: domain.domain_name,
            });
        }
        domain.state = DomainState::Verified;
        domain.verify_time = Some(now);
        domain.version += 1;
        domain.update_time = now;
        store::update(tx.conn(), &domain).await?;
        tx.audit(domain.name(), domain.audit_details());
        tx.commit().await?;
        Ok(domain)
    }

    /// Moves every domain whose registration expired to EXPIRED, freeing
    /// its name; returns how many moved. Audited as `service:dns`.
    pub async fn expire_domains(&self) -> Result<usize> {
        let now = Utc::now();
        let due = store::expired_live(self.db(), now).await?;
        let mut moved = 0;
        for name in due {
            let mut tx = self
                .begin_own_write(name.organization, &rpcs::EXPIRE_DOMAIN)
                .await?;
            let Some(mut domain) = store::find(tx.conn(), name.organization, name.id).await? else {
                continue;
            };
            if domain.state == DomainState::Expired || !expired(domain.expire_time) {
                continue;
            }
            store::release_claim(tx.conn(), &domain.domain_name, domain.id).await?;
            domain.state = DomainState::Expired;
            domain.version += 1;
            domain.update_time = now;
            store::update(tx.conn(), &domain).await?;
            tx.audit(domain.name(), domain.audit_details());
            tx.commit().await?;
            moved += 1;
        }
        Ok(moved)
    }

    /// ALREADY_EXISTS when another organization verified `domain_name`.
    pub(crate) async fn refuse_claimed(
        &self,
        conn: &impl Conn,
        domain_name: &str,
        org: Uuid,
    ) -> Result<()> {
        match store::claim_holder(conn, domain_name).await? {
            Some(holder) if holder != org => Err(Error::DomainClaimed {
                domain: domain_name.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// ALREADY_EXISTS when another organization verified the registrable
    /// domain `fqdn` (a zone's apex) belongs to.
    pub(crate) async fn refuse_claimed_zone(
        &self,
        conn: &impl Conn,
        fqdn: &str,
        org: Uuid,
    ) -> Result<()> {
        match dnsname::registrable_part(fqdn) {
            Some(domain) => self.refuse_claimed(conn, &domain, org).await,
            None => Ok(()),
        }
    }

    /// A domain; NOT_FOUND when missing or another organization's.
    async fn domain_in(&self, conn: &impl Conn, name: DomainName) -> Result<Domain> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

/// Removes the domains and their claims of a purged organization; returns how many rows
/// went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::delete_organization(conn, org).await
}

/// The organizations holding domains and their claims, in order after `after`, at most
/// `limit`.
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}
