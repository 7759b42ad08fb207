//! Onboarding storage: legal profiles, reported checklist facts and
//! submissions.

use std::collections::BTreeMap;

use loopback_runtime::pagination::PageRequest;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait as _, TryInsertResult,
};
use uuid::Uuid;

use super::{Address, Item, Profile, ReportedFact, Submission};
use crate::entity::{onboarding_item, onboarding_submission, organization, organization_profile};
use crate::error::{Error, Result};
use crate::model::parse_stored_uuid;
use crate::policy::{LifecycleState, VerificationStatus};

fn profile_to_domain(m: organization_profile::Model) -> Result<Profile> {
    let lines: Vec<String> = serde_json::from_str(&m.address_lines).map_err(|e| {
        Error::Corrupt(format!(
            "profile of {} address lines: {e}",
            m.organization_id
        ))
    })?;
    Ok(Profile {
        organization: parse_stored_uuid(&m.organization_id)?,
        legal_name: m.legal_name,
        address: Address {
            lines,
            city: m.city,
            postal_code: m.postal_code,
            region: m.region,
            country: m.country,
        },
        tax_id: m.tax_id,
        billing_email: m.billing_email,
        version: m.version,
        update_time: Some(m.update_time),
    })
}

/// The legal profile of `org`, if it was ever set.
pub async fn find_profile(conn: &impl ConnectionTrait, org: Uuid) -> Result<Option<Profile>> {
    organization_profile::Entity::find_by_id(org.to_string())
        .one(conn)
        .await?
        .map(profile_to_domain)
        .transpose()
}

/// Writes `p` (at `p.version`) if the stored profile is still at
/// `expected_version` (0: none stored yet). Returns false on a concurrent
/// change.
pub async fn save_profile(
    conn: &impl ConnectionTrait,
    p: &Profile,
    expected_version: i64,
) -> Result<bool> {
    let lines = serde_json::to_string(&p.address.lines)
        .map_err(|e| Error::Corrupt(format!("address lines: {e}")))?;
    let row = organization_profile::ActiveModel {
        organization_id: Set(p.organization.to_string()),
        legal_name: Set(p.legal_name.clone()),
        address_lines: Set(lines),
        city: Set(p.address.city.clone()),
        postal_code: Set(p.address.postal_code.clone()),
        region: Set(p.address.region.clone()),
        country: Set(p.address.country.clone()),
        tax_id: Set(p.tax_id.clone()),
        billing_email: Set(p.billing_email.clone()),
        version: Set(p.version),
        update_time: Set(p.update_time.unwrap_or_else(chrono::Utc::now)),
    };
    if expected_version == 0 {
        let inserted = organization_profile::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(conn)
            .await?;
        return Ok(matches!(inserted, TryInsertResult::Inserted(1)));
    }
    let updated = organization_profile::Entity::update_many()
        .set(row)
        .filter(organization_profile::Column::OrganizationId.eq(p.organization.to_string()))
        .filter(organization_profile::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Every fact reported for `org`, by item (unknown stored keys are
/// skipped: a newer version may know more items).
pub async fn facts(conn: &impl ConnectionTrait, org: Uuid) -> Result<BTreeMap<Item, ReportedFact>> {
    let rows = onboarding_item::Entity::find()
        .filter(onboarding_item::Column::OrganizationId.eq(org.to_string()))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Item::parse(&r.item).map(|item| {
                (
                    item,
                    ReportedFact {
                        complete: r.complete,
                        revision: r.revision,
                    },
                )
            })
        })
        .collect())
}

/// Stores a reported fact, replacing the previous one.
pub async fn save_fact(
    conn: &impl ConnectionTrait,
    org: Uuid,
    item: Item,
    fact: &ReportedFact,
    reporter: &str,
) -> Result<()> {
    onboarding_item::Entity::insert(onboarding_item::ActiveModel {
        organization_id: Set(org.to_string()),
        item: Set(item.as_str().to_string()),
        complete: Set(fact.complete),
        revision: Set(fact.revision),
        reporter: Set(reporter.to_string()),
        update_time: Set(chrono::Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            onboarding_item::Column::OrganizationId,
            onboarding_item::Column::Item,
        ])
        .update_columns([
            onboarding_item::Column::Complete,
            onboarding_item::Column::Revision,
            onboarding_item::Column::Reporter,
            onboarding_item::Column::UpdateTime,
        ])
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn submission_to_domain(m: onboarding_submission::Model) -> Result<Submission> {
    Ok(Submission {
        organization: parse_stored_uuid(&m.organization_id)?,
        id: parse_stored_uuid(&m.submission_id)?,
        submit_time: m.submit_time,
        submitted_by: m.submitted_by,
    })
}

/// The latest submission of `org`.
pub async fn find_submission(conn: &impl ConnectionTrait, org: Uuid) -> Result<Option<Submission>> {
    onboarding_submission::Entity::find_by_id(org.to_string())
        .one(conn)
        .await?
        .map(submission_to_domain)
        .transpose()
}

/// Records `s` as its organization's latest submission.
pub async fn save_submission(conn: &impl ConnectionTrait, s: &Submission) -> Result<()> {
    onboarding_submission::Entity::insert(onboarding_submission::ActiveModel {
        organization_id: Set(s.organization.to_string()),
        submission_id: Set(s.id.hyphenated().to_string()),
        submit_time: Set(s.submit_time),
        submitted_by: Set(s.submitted_by.clone()),
    })
    .on_conflict(
        OnConflict::column(onboarding_submission::Column::OrganizationId)
            .update_columns([
                onboarding_submission::Column::SubmissionId,
                onboarding_submission::Column::SubmitTime,
                onboarding_submission::Column::SubmittedBy,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// One page of the review queue: submissions of organizations that are
/// PENDING and not deleted, oldest submission first (fetched with the
/// page's fetch limit).
pub async fn review_queue(
    conn: &impl ConnectionTrait,
    page: &PageRequest,
) -> Result<Vec<Submission>> {
    let pending = organization::Entity::find()
        .select_only()
        .column(organization::Column::Id)
        .filter(organization::Column::VerificationStatus.eq(VerificationStatus::Pending.as_str()))
        .filter(organization::Column::State.ne(LifecycleState::Deleted.as_str()))
        .into_query();
    let mut q = onboarding_submission::Entity::find()
        .filter(onboarding_submission::Column::OrganizationId.in_subquery(pending));
    if let Some(after) = &page.after {
        q = q.filter(onboarding_submission::Column::SubmissionId.gt(after.as_str()));
    }
    q.order_by_asc(onboarding_submission::Column::SubmissionId)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(submission_to_domain)
        .collect()
}

/// Deletes `org`'s profile, reported facts and submission. Returns how many
/// rows went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    let id = org.to_string();
    let profiles = organization_profile::Entity::delete_many()
        .filter(organization_profile::Column::OrganizationId.eq(id.clone()))
        .exec(conn)
        .await?
        .rows_affected;
    let facts = onboarding_item::Entity::delete_many()
        .filter(onboarding_item::Column::OrganizationId.eq(id.clone()))
        .exec(conn)
        .await?
        .rows_affected;
    let submissions = onboarding_submission::Entity::delete_many()
        .filter(onboarding_submission::Column::OrganizationId.eq(id))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(profiles + facts + submissions)
}
