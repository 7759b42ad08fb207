//! gRPC adapter of `loopback.orgcore.v1.OnboardingService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, etag, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::validation::{self, MAX_DISPLAY_NAME_CHARS};
use tonic::{Request, Response, Status};

use super::{
    Address, Item, ListReviewQueue, OnboardingOf, OnboardingStatus, Profile, ProfileOf,
    ProfileUpdate, ReportItem, ReviewEntry, SubmitForVerification, UpdateProfile, onboarding_name,
    parse_profile_name, tax_id,
};
use crate::organizations::grpc::organization_to_pb;
use crate::service::OrgCore;

/// Serves OnboardingService.
#[derive(Debug, Clone)]
pub struct OnboardingGrpc(pub OrgCore);

/// Most street address lines.
const MAX_ADDRESS_LINES: usize = 3;
/// Longest city or region.
const MAX_PLACE_CHARS: usize = 100;
/// Longest postal code.
const MAX_POSTAL_CODE_CHARS: usize = 20;

const UPDATABLE: &[&str] = &["legal_name", "address", "tax_id", "billing_email"];

/// The wire form of a postal address.
pub fn address_to_pb(a: Address) -> tpb::PostalAddress {
    tpb::PostalAddress {
        address_lines: a.lines,
        city: a.city,
        postal_code: a.postal_code,
        region: a.region,
        country: a.country,
    }
}

/// The wire form of a legal profile.
pub fn profile_to_pb(p: Profile) -> pb::OrganizationProfile {
    pb::OrganizationProfile {
        name: p.name(),
        legal_name: p.legal_name,
        address: Some(address_to_pb(p.address)),
        tax_id: p.tax_id,
        billing_email: p.billing_email,
        update_time: opt_timestamp(p.update_time),
        etag: etag(p.version),
    }
}

/// The wire form of an onboarding status.
pub fn status_to_pb(s: OnboardingStatus) -> pb::OnboardingStatus {
    pb::OnboardingStatus {
        name: onboarding_name(s.organization),
        verification_status: s.verification_status.to_pb().into(),
        complete: s.complete(),
        items: s
            .items
            .into_iter()
            .map(|i| pb::OnboardingChecklistItem {
                item: i.item.as_str().to_string(),
                complete: i.complete,
                description: i.description,
            })
            .collect(),
        submit_time: opt_timestamp(s.submit_time),
    }
}

fn review_entry_to_pb(e: ReviewEntry) -> pb::ReviewQueueEntry {
    pb::ReviewQueueEntry {
        organization: Some(organization_to_pb(e.organization)),
        profile: Some(profile_to_pb(e.profile)),
        submit_time: Some(timestamp(e.submission.submit_time)),
        submitted_by: e.submission.submitted_by,
    }
}

/// Trimmed free text of at most `max` characters.
fn place(f: &mut Fields, field: &str, value: &str, max: usize) -> Option<String> {
    let value = value.trim();
    f.take(
        field,
        validation::bounded_text(value, max).map(|()| value.to_string()),
    )
}

/// A whole address: lines, city, postal code, region and (required) country.
fn address(f: &mut Fields, a: Option<tpb::PostalAddress>) -> Option<Address> {
    let a = f.message("profile.address", a);
    let mut lines = Vec::new();
    let given: Vec<&str> = a
        .address_lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if given.len() > MAX_ADDRESS_LINES {
        f.add(
            "profile.address.address_lines",
            format!("must be at most {MAX_ADDRESS_LINES} lines"),
        );
    }
    for (i, line) in given.iter().enumerate().take(MAX_ADDRESS_LINES) {
        let field = format!("profile.address.address_lines[{i}]");
        lines.extend(place(f, &field, line, MAX_DISPLAY_NAME_CHARS));
    }
    let city = place(f, "profile.address.city", &a.city, MAX_PLACE_CHARS);
    let region = place(f, "profile.address.region", &a.region, MAX_PLACE_CHARS);
    let postal = a.postal_code.trim().to_ascii_uppercase();
    let postal_ok = postal.chars().count() <= MAX_POSTAL_CODE_CHARS
        && postal
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
    let postal_code = f.take(
        "profile.address.postal_code",
        if postal_ok {
            Ok(postal)
        } else {
            Err(format!(
                "{} must be at most {MAX_POSTAL_CODE_CHARS} letters, digits, spaces and hyphens",
                quote(&a.postal_code)
            ))
        },
    );
    let country = f.take("profile.address.country", tax_id::country(&a.country));
    Some(Address {
        lines,
        city: city?,
        postal_code: postal_code?,
        region: region?,
        country: country?,
    })
}

impl TryFrom<pb::GetOrganizationProfileRequest> for ProfileOf {
    type Error = FieldViolations;
    fn try_from(req: pb::GetOrganizationProfileRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.take("name", parse_profile_name(&req.name));
        Ok(Self {
            organization: f.finish(organization)?,
        })
    }
}

impl TryFrom<pb::UpdateOrganizationProfileRequest> for UpdateProfile {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateOrganizationProfileRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let p = f.message("profile", req.profile);
        let organization = f.take("profile.name", parse_profile_name(&p.name));
        let etag = f.etag("profile.etag", &p.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), UPDATABLE);
        let mut update = ProfileUpdate::default();
        if paths.contains(&"legal_name") {
            update.legal_name = f.display_name("profile.legal_name", &p.legal_name);
        }
        if paths.contains(&"address") {
            update.address = address(&mut f, p.address);
        }
        if paths.contains(&"tax_id") {
            // Checked against the country given with it; the domain checks
            // it again against the country the profile ends up with.
            let country = update.address.as_ref().map(|a| a.country.as_str());
            update.tax_id = if p.tax_id.trim().is_empty() {
                Some(String::new())
            } else {
                f.take("profile.tax_id", tax_id::parse(country, &p.tax_id))
            };
        }
        if paths.contains(&"billing_email") {
            let email = validation::email(&p.billing_email)
                .map_err(|e| format!("{} {e}", quote(&p.billing_email)));
            update.billing_email = f.take("profile.billing_email", email);
        }
        let (organization, etag) = f.finish((organization, etag))?;
        Ok(Self {
            organization,
            update,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::GetOnboardingStatusRequest> for OnboardingOf {
    type Error = FieldViolations;
    fn try_from(req: pb::GetOnboardingStatusRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
        })
    }
}

impl TryFrom<pb::SubmitForVerificationRequest> for SubmitForVerification {
    type Error = FieldViolations;
    fn try_from(req: pb::SubmitForVerificationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ListReviewQueueRequest> for ListReviewQueue {
    type Error = FieldViolations;
    fn try_from(req: pb::ListReviewQueueRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let page = f.page(req.page_size, &req.page_token, "review_queue");
        Ok(Self {
            page: f.finish(page)?,
        })
    }
}

impl TryFrom<pb::ReportOnboardingItemRequest> for ReportItem {
    type Error = FieldViolations;
    fn try_from(req: pb::ReportOnboardingItemRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let item = Item::parse(&req.item)
            .filter(|i| i.reported())
            .ok_or_else(|| {
                format!(
                    "{} is not an item services report; reported: payment_method",
                    quote(&req.item)
                )
            });
        let item = f.take("item", item);
        let revision = f.take(
            "revision",
            Some(req.revision)
                .filter(|r| *r >= 1)
                .ok_or("must be at least 1"),
        );
        let (organization, item, revision) = f.finish((organization, item, revision))?;
        Ok(Self {
            organization,
            item,
            complete: req.complete,
            revision,
        })
    }
}

#[tonic::async_trait]
impl pb::onboarding_service_server::OnboardingService for OnboardingGrpc {
    async fn get_organization_profile(
        &self,
        request: Request<pb::GetOrganizationProfileRequest>,
    ) -> Result<Response<pb::GetOrganizationProfileResponse>, Status> {
        unary(&self.0, request, OrgCore::get_organization_profile, |p| {
            pb::GetOrganizationProfileResponse {
                profile: Some(profile_to_pb(p)),
            }
        })
        .await
    }

    async fn update_organization_profile(
        &self,
        request: Request<pb::UpdateOrganizationProfileRequest>,
    ) -> Result<Response<pb::UpdateOrganizationProfileResponse>, Status> {
        unary(
            &self.0,
            request,
            OrgCore::update_organization_profile,
            |p| pb::UpdateOrganizationProfileResponse {
                profile: Some(profile_to_pb(p)),
            },
        )
        .await
    }

    async fn get_onboarding_status(
        &self,
        request: Request<pb::GetOnboardingStatusRequest>,
    ) -> Result<Response<pb::GetOnboardingStatusResponse>, Status> {
        unary(&self.0, request, OrgCore::get_onboarding_status, |s| {
            pb::GetOnboardingStatusResponse {
                onboarding_status: Some(status_to_pb(s)),
            }
        })
        .await
    }

    async fn submit_for_verification(
        &self,
        request: Request<pb::SubmitForVerificationRequest>,
    ) -> Result<Response<pb::SubmitForVerificationResponse>, Status> {
        unary(&self.0, request, OrgCore::submit_for_verification, |s| {
            pb::SubmitForVerificationResponse {
                organization: Some(organization_to_pb(s.organization)),
                onboarding_status: Some(status_to_pb(s.status)),
            }
        })
        .await
    }

    async fn list_review_queue(
        &self,
        request: Request<pb::ListReviewQueueRequest>,
    ) -> Result<Response<pb::ListReviewQueueResponse>, Status> {
        unary(&self.0, request, OrgCore::list_review_queue, |page| {
            let page = page.map(review_entry_to_pb);
            pb::ListReviewQueueResponse {
                entries: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn report_onboarding_item(
        &self,
        request: Request<pb::ReportOnboardingItemRequest>,
    ) -> Result<Response<pb::ReportOnboardingItemResponse>, Status> {
        unary(
            &self.0,
            request,
            OrgCore::report_onboarding_item,
            |changed| pb::ReportOnboardingItemResponse { changed },
        )
        .await
    }
}
