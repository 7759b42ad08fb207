//! Onboarding: an organization's legal profile, the checklist it completes
//! while VERIFICATION_STATUS_IN_SETUP, its submission for verification
//! (IN_SETUP → PENDING) and the operators' review queue.
//!
//! IN_SETUP means the onboarding checklist is not complete. The checklist
//! is the deployment's (`--onboarding-checklist`); `profile` and `tax_id`
//! are judged from the legal profile, `payment_method` from what billing
//! reports through `ReportOnboardingItem`. Operators decide on a submitted
//! organization with the existing `SetVerificationStatus`.

pub mod grpc;
pub mod store;
pub mod tax_id;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::{PreconditionViolation, Refusal};
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, Permissions};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::{Organization, OrganizationView, organization_name};
use crate::organizations::{self, check_etag};
use crate::policy::VerificationStatus;
use crate::rpcs;
use crate::service::OrgCore;

/// ErrorInfo reason: the checklist is not complete.
pub const ONBOARDING_INCOMPLETE: &str = "ONBOARDING_INCOMPLETE";
/// ErrorInfo reason: only IN_SETUP organizations are submitted.
pub const NOT_IN_SETUP: &str = "NOT_IN_SETUP";
/// PreconditionFailure type of a missing checklist item.
pub const VIOLATION_TYPE: &str = "ONBOARDING";

/// One item of the onboarding checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    /// Legal name, a street address line, city, country and billing email.
    Profile,
    /// A tax id.
    TaxId,
    /// At least one payment method (reported by billing).
    PaymentMethod,
}

impl Item {
    /// Every item.
    pub const ALL: [Item; 3] = [Item::Profile, Item::TaxId, Item::PaymentMethod];

    /// The default checklist.
    pub const DEFAULT: [Item; 2] = [Item::Profile, Item::PaymentMethod];

    /// The item's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Item::Profile => "profile",
            Item::TaxId => "tax_id",
            Item::PaymentMethod => "payment_method",
        }
    }

    /// Parses a key.
    pub fn parse(key: &str) -> Option<Item> {
        Item::ALL.into_iter().find(|i| i.as_str() == key)
    }

    /// Whether another service owns the fact and reports it
    /// (`ReportOnboardingItem`), rather than org-core judging it.
    pub fn reported(self) -> bool {
        self == Item::PaymentMethod
    }

    /// Every key, for messages.
    pub fn keys() -> String {
        Item::ALL.map(Item::as_str).join(", ")
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Street address lines.
    pub lines: Vec<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Region.
    pub region: String,
    /// ISO 3166-1 alpha-2, upper case; empty until set.
    pub country: String,
}

/// An organization's legal profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The organization.
    pub organization: Uuid,
    /// Registered legal name; empty until set.
    pub legal_name: String,
    /// Registered address.
    pub address: Address,
    /// Normalised tax id; empty when none.
    pub tax_id: String,
    /// Normalised billing email; empty until set.
    pub billing_email: String,
    /// Version (0 before the profile is first set); the etag.
    pub version: i64,
    /// Last change; `None` before the profile is first set.
    pub update_time: Option<DateTime<Utc>>,
}

impl Profile {
    /// The profile of an organization that never set one.
    pub fn empty(organization: Uuid) -> Self {
        Self {
            organization,
            legal_name: String::new(),
            address: Address::default(),
            tax_id: String::new(),
            billing_email: String::new(),
            version: 0,
            update_time: None,
        }
    }

    /// `organizations/{org}/profile`.
    pub fn name(&self) -> String {
        profile_name(self.organization)
    }

    /// The country, when set.
    pub fn country(&self) -> Option<&str> {
        Some(self.address.country.as_str()).filter(|c| !c.is_empty())
    }

    /// What the `profile` item still lacks, for people.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.legal_name.is_empty() {
            missing.push("legal name");
        }
        if self.address.lines.is_empty() {
            missing.push("street address");
        }
        if self.address.city.is_empty() {
            missing.push("city");
        }
        if self.address.country.is_empty() {
            missing.push("country");
        }
        if self.billing_email.is_empty() {
            missing.push("billing email");
        }
        missing
    }

    /// The profile with `update` applied.
    fn with(&self, update: &ProfileUpdate) -> Profile {
        let mut p = self.clone();
        if let Some(v) = &update.legal_name {
            p.legal_name = v.clone();
        }
        if let Some(v) = &update.address {
            p.address = v.clone();
        }
        if let Some(v) = &update.tax_id {
            p.tax_id = v.clone();
        }
        if let Some(v) = &update.billing_email {
            p.billing_email = v.clone();
        }
        p
    }
}

/// `organizations/{org}/profile`.
pub fn profile_name(org: Uuid) -> String {
    format!("{}/profile", organization_name(org))
}

/// `organizations/{org}/onboarding`.
pub fn onboarding_name(org: Uuid) -> String {
    format!("{}/onboarding", organization_name(org))
}

/// Parses `organizations/{org}/profile`.
pub fn parse_profile_name(name: &str) -> std::result::Result<Uuid, String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    name.strip_suffix("/profile")
        .and_then(|org| loopback_runtime::validation::organization_name(org).ok())
        .ok_or_else(|| "must look like organizations/{id}/profile".into())
}

/// GetOrganizationProfile, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileOf {
    /// The organization.
    pub organization: Uuid,
}

/// GetOnboardingStatus, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnboardingOf {
    /// The organization.
    pub organization: Uuid,
}

/// Fields an update may change (each already validated and normalised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// New legal name.
    pub legal_name: Option<String>,
    /// New address (replacing the whole address).
    pub address: Option<Address>,
    /// New tax id (empty clears it).
    pub tax_id: Option<String>,
    /// New billing email.
    pub billing_email: Option<String>,
}

impl ProfileUpdate {
    /// The paths it changes, for the audit log.
    fn audit_details(&self) -> serde_json::Value {
        json!({
            "legal_name": self.legal_name,
            "address": self.address.as_ref().map(|a| json!({
                "address_lines": a.lines,
                "city": a.city,
                "postal_code": a.postal_code,
                "region": a.region,
                "country": a.country,
            })),
            "tax_id": self.tax_id,
            "billing_email": self.billing_email,
        })
    }
}

/// UpdateOrganizationProfile, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProfile {
    /// The organization.
    pub organization: Uuid,
    /// What changes.
    pub update: ProfileUpdate,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// One checklist item as the organization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistEntry {
    /// The item.
    pub item: Item,
    /// Done.
    pub complete: bool,
    /// What is missing and how to complete it; empty when complete.
    pub description: String,
}

/// Where an organization stands in onboarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingStatus {
    /// The organization.
    pub organization: Uuid,
    /// Its verification status.
    pub verification_status: VerificationStatus,
    /// The deployment's checklist, in order.
    pub items: Vec<ChecklistEntry>,
    /// The latest submission's time.
    pub submit_time: Option<DateTime<Utc>>,
}

impl OnboardingStatus {
    /// True when every item is complete.
    pub fn complete(&self) -> bool {
        self.items.iter().all(|i| i.complete)
    }
}

/// A submission for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The organization.
    pub organization: Uuid,
    /// UUIDv7: the review queue's order.
    pub id: Uuid,
    /// When.
    pub submit_time: DateTime<Utc>,
    /// Who (`account:{uuid}`).
    pub submitted_by: String,
}

/// SubmitForVerification, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitForVerification {
    /// The organization.
    pub organization: Uuid,
    /// Check only.
    pub validate_only: bool,
}

/// What SubmitForVerification returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The organization, now PENDING.
    pub organization: OrganizationView,
    /// Its checklist with the submit time.
    pub status: OnboardingStatus,
}

/// ListReviewQueue, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListReviewQueue {
    /// Size and position.
    pub page: PageRequest,
}

/// One organization waiting for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewEntry {
    /// The organization.
    pub organization: OrganizationView,
    /// Its legal profile.
    pub profile: Profile,
    /// Its submission.
    pub submission: Submission,
}

/// ReportOnboardingItem, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportItem {
    /// The organization.
    pub organization: Uuid,
    /// A reported item.
    pub item: Item,
    /// Complete now.
    pub complete: bool,
    /// The reporter's revision (at least 1).
    pub revision: i64,
}

/// A reported fact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedFact {
    /// Complete.
    pub complete: bool,
    /// The reporter's revision.
    pub revision: i64,
}

/// Judges each checklist item from the profile and the reported facts.
pub fn evaluate(
    checklist: &[Item],
    profile: &Profile,
    facts: &BTreeMap<Item, ReportedFact>,
) -> Vec<ChecklistEntry> {
    checklist
        .iter()
        .map(|&item| {
            let missing = match item {
                Item::Profile => {
                    let missing = profile.missing();
                    (!missing.is_empty()).then(|| {
                        format!(
                            "the legal profile lacks the {}: set them with UpdateOrganizationProfile",
                            missing.join(", ")
                        )
                    })
                }
                Item::TaxId => profile.tax_id.is_empty().then(|| {
                    "no tax id is set: add the organization's tax id (in the EU its VAT number) with UpdateOrganizationProfile".to_string()
                }),
                Item::PaymentMethod => {
                    let has = facts.get(&item).is_some_and(|f| f.complete);
                    (!has).then(|| {
                        "no payment method yet: add one with billing's PaymentMethodService.CreatePaymentMethod".to_string()
                    })
                }
            };
            ChecklistEntry {
                item,
                complete: missing.is_none(),
                description: missing.unwrap_or_default(),
            }
        })
        .collect()
}

/// Refuses a profile whose tax id does not fit its country (the update may
/// have changed either one), naming `profile.tax_id`.
fn check_tax_id(profile: &Profile) -> Result<()> {
    if profile.tax_id.is_empty() {
        return Ok(());
    }
    tax_id::check(profile.country(), &profile.tax_id).map_err(|e| {
        let e = if profile.country().is_some() {
            format!("{e}; change the tax id together with the address")
        } else {
            e
        };
        Error::invalid("profile.tax_id", e)
    })
}

impl OrgCore {
    /// The organization's profile (empty before it is first set).
    async fn profile_in(&self, conn: &impl Conn, org: Uuid) -> Result<Profile> {
        Ok(store::find_profile(conn, org)
            .await?
            .unwrap_or_else(|| Profile::empty(org)))
    }

    /// The checklist of `org` as it stands in `conn`.
    async fn status_in(&self, conn: &impl Conn, org: &Organization) -> Result<OnboardingStatus> {
        let profile = self.profile_in(conn, org.id).await?;
        let facts = store::facts(conn, org.id).await?;
        let submission = store::find_submission(conn, org.id).await?;
        Ok(OnboardingStatus {
            organization: org.id,
            verification_status: org.verification_status,
            items: evaluate(&self.settings().onboarding_checklist, &profile, &facts),
            submit_time: submission.map(|s| s.submit_time),
        })
    }

    /// GetOrganizationProfile.
    pub async fn get_organization_profile(
        &self,
        principal: &Principal,
        input: ProfileOf,
    ) -> Result<Profile> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        self.authorize(
            self.db(),
            &caller,
            &rpcs::GET_ORGANIZATION_PROFILE,
            org,
            Deleted::Hide,
        )
        .await?;
        self.profile_in(self.db(), org).await
    }

    /// UpdateOrganizationProfile: validated fields in, the merged profile
    /// checked (the tax id against the country it ends up with), audited.
    pub async fn update_organization_profile(
        &self,
        principal: &Principal,
        input: UpdateProfile,
    ) -> Result<Profile> {
        let rpc = &rpcs::UPDATE_ORGANIZATION_PROFILE;
        let org = input.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        self.authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let current = self.profile_in(tx.conn(), org).await?;
        check_etag(&current.name(), input.etag, current.version)?;
        let mut updated = current.with(&input.update);
        check_tax_id(&updated)?;
        updated.version = current.version + 1;
        updated.update_time = Some(Utc::now());
        if !store::save_profile(tx.conn(), &updated, current.version).await? {
            return Err(Error::etag_mismatch(current.name()));
        }
        tx.audit(current.name(), input.update.audit_details());
        let saved = self.profile_in(tx.conn(), org).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// GetOnboardingStatus.
    pub async fn get_onboarding_status(
        &self,
        principal: &Principal,
        input: OnboardingOf,
    ) -> Result<OnboardingStatus> {
        let caller = self.caller(principal).await?;
        let access = self
            .authorize(
                self.db(),
                &caller,
                &rpcs::GET_ONBOARDING_STATUS,
                input.organization,
                Deleted::Hide,
            )
            .await?;
        self.status_in(self.db(), &access.organization).await
    }

    /// SubmitForVerification: IN_SETUP and a complete checklist → PENDING,
    /// with the submit time recorded (the review queue's order). Otherwise
    /// FAILED_PRECONDITION: `NOT_IN_SETUP`, or `ONBOARDING_INCOMPLETE`
    /// naming each missing item.
    pub async fn submit_for_verification(
        &self,
        principal: &Principal,
        input: SubmitForVerification,
    ) -> Result<Submitted> {
        let rpc = &rpcs::SUBMIT_FOR_VERIFICATION;
        let id = input.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(id, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, id, Deleted::Hide)
            .await?;
        let org = &access.organization;
        if org.verification_status != VerificationStatus::InSetup {
            return Err(Refusal::FailedPrecondition {
                reason: NOT_IN_SETUP,
                message: format!(
                    "{} is {}, not IN_SETUP: only organizations in setup are submitted for verification",
                    org.name(),
                    org.verification_status.as_str()
                ),
                metadata: vec![
                    ("organization", org.name()),
                    ("verification_status", org.verification_status.as_str().into()),
                ],
            }
            .into());
        }
        let status = self.status_in(tx.conn(), org).await?;
        let missing: Vec<&ChecklistEntry> = status.items.iter().filter(|i| !i.complete).collect();
        if !missing.is_empty() {
            let keys: Vec<&str> = missing.iter().map(|i| i.item.as_str()).collect();
            return Err(Refusal::Preconditions {
                reason: ONBOARDING_INCOMPLETE,
                message: format!(
                    "{} cannot be submitted for verification yet: {} checklist item(s) missing ({})",
                    org.name(),
                    missing.len(),
                    keys.join(", ")
                ),
                violations: missing
                    .iter()
                    .map(|i| PreconditionViolation {
                        kind: VIOLATION_TYPE.into(),
                        subject: i.item.as_str().into(),
                        description: i.description.clone(),
                    })
                    .collect(),
            }
            .into());
        }
        let now = Utc::now();
        let submission = Submission {
            organization: id,
            id: Uuid::now_v7(),
            submit_time: now,
            submitted_by: caller.audit_id(),
        };
        organizations::set_verification_status(tx.conn(), org, VerificationStatus::Pending).await?;
        changes::append(tx.conn(), id, kind::VERIFICATION_STATUS).await?;
        store::save_submission(tx.conn(), &submission).await?;
        tx.audit(
            org.name(),
            json!({
                "from": org.verification_status.as_str(),
                "to": VerificationStatus::Pending.as_str(),
                "checklist": status.items.iter().map(|i| i.item.as_str()).collect::<Vec<_>>(),
            }),
        );
        let pending = self
            .load_organization(tx.conn(), id)
            .await?
            .ok_or_else(|| Error::not_found(organization_name(id)))?;
        let status = self.status_in(tx.conn(), &pending).await?;
        tx.commit().await?;
        Ok(Submitted {
            organization: organizations::view(pending, &access.permissions, &caller),
            status,
        })
    }

    /// ListReviewQueue: submitted organizations still PENDING, oldest
    /// submission first (operators only).
    pub async fn list_review_queue(
        &self,
        principal: &Principal,
        input: ListReviewQueue,
    ) -> Result<Page<ReviewEntry>> {
        let caller = self.caller_of(principal, &rpcs::LIST_REVIEW_QUEUE).await?;
        let submissions = store::review_queue(self.db(), &input.page).await?;
        let (submissions, next_page_token) = input
            .page
            .finish(submissions, |s| s.id.hyphenated().to_string());
        let mut items = Vec::with_capacity(submissions.len());
        for submission in submissions {
            let Some(org) = self
                .load_organization(self.db(), submission.organization)
                .await?
            else {
                continue;
            };
            let profile = self.profile_in(self.db(), org.id).await?;
            items.push(ReviewEntry {
                organization: organizations::view(org, &Permissions::All, &caller),
                profile,
                submission,
            });
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// ReportOnboardingItem: stores a fact another service owns. A report
    /// older than the stored one is ignored; one that changes the fact is
    /// audited. Returns whether the fact changed.
    pub async fn report_onboarding_item(
        &self,
        principal: &Principal,
        input: ReportItem,
    ) -> Result<bool> {
        let rpc = &rpcs::REPORT_ONBOARDING_ITEM;
        let org = input.organization;
        let caller = self.caller_of(principal, rpc).await?;
        let mut tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        self.authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let stored = store::facts(tx.conn(), org).await?.remove(&input.item);
        if stored.as_ref().is_some_and(|s| s.revision > input.revision) {
            return Ok(false);
        }
        let changed = stored.is_none_or(|s| s.complete != input.complete);
        store::save_fact(
            tx.conn(),
            org,
            input.item,
            &ReportedFact {
                complete: input.complete,
                revision: input.revision,
            },
            &caller.audit_id(),
        )
        .await?;
        if changed {
            tx.audit(
                onboarding_name(org),
                json!({
                    "item": input.item.as_str(),
                    "complete": input.complete,
                    "revision": input.revision,
                }),
            );
        }
        tx.commit().await?;
        Ok(changed)
    }
}

/// Removes everything onboarding holds for `org` (the purge job's part).
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checklist_names_what_is_missing() {
        let org = Uuid::now_v7();
        let mut profile = Profile::empty(org);
        let facts = BTreeMap::new();
        let items = evaluate(&Item::ALL, &profile, &facts);
        assert!(
            items
                .iter()
                .all(|i| !i.complete && !i.description.is_empty())
        );
        assert!(
            items[0]
                .description
                .contains("legal name, street address, city, country, billing email")
        );
        profile.legal_name = "Acme GmbH".into();
        profile.address = Address {
            lines: vec!["Hauptstr. 1".into()],
            city: "Berlin".into(),
            postal_code: "10115".into(),
            region: String::new(),
            country: "DE".into(),
        };
        profile.billing_email = "billing@acme.example".into();
        let mut facts = BTreeMap::new();
        facts.insert(
            Item::PaymentMethod,
            ReportedFact {
                complete: true,
                revision: 1,
            },
        );
        let items = evaluate(&Item::DEFAULT, &profile, &facts);
        assert!(items.iter().all(|i| i.complete && i.description.is_empty()));
        let items = evaluate(&[Item::TaxId], &profile, &facts);
        assert!(!items[0].complete);
    }

    #[test]
    fn profile_names() {
        let org = Uuid::now_v7();
        assert_eq!(parse_profile_name(&profile_name(org)), Ok(org));
        assert!(parse_profile_name(&format!("organizations/{org}")).is_err());
        assert!(parse_profile_name("organizations/x/profile").is_err());
        assert!(parse_profile_name("").is_err());
        for item in Item::ALL {
            assert_eq!(Item::parse(item.as_str()), Some(item));
        }
    }
}
