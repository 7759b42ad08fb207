//! Onboarding calls a service makes to org-core: reporting a checklist fact
//! it owns (billing's `payment_method`) and reading an organization's legal
//! profile (billing's invoices are addressed to it).

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::orgcore::v1::onboarding_service_client::OnboardingServiceClient;
use tonic::Code;

use crate::client::{AuthorityClient, BearerToken};
use crate::error::AuthorityError;

type OnboardingRpc = OnboardingServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerToken>,
>;

/// The checklist item billing reports: the organization has at least one
/// payment method.
pub const PAYMENT_METHOD_ITEM: &str = "payment_method";

/// An organization's legal profile as org-core holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegalProfile {
    /// Registered legal name.
    pub legal_name: String,
    /// Street address lines.
    pub address_lines: Vec<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Region.
    pub region: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Normalised tax id (in the EU the VAT number); empty if none.
    pub tax_id: String,
    /// Where invoices go.
    pub billing_email: String,
}

impl LegalProfile {
    fn from_pb(p: pb::OrganizationProfile) -> Option<Self> {
        let a = p.address.unwrap_or_default();
        let profile = Self {
            legal_name: p.legal_name,
            address_lines: a.address_lines,
            city: a.city,
            postal_code: a.postal_code,
            region: a.region,
            country: a.country,
            tax_id: p.tax_id,
            billing_email: p.billing_email,
        };
        (profile != Self::default()).then_some(profile)
    }
}

impl AuthorityClient {
    fn onboarding(&self) -> (OnboardingRpc, std::time::Duration) {
        let (channel, token, deadline) = self.raw_channel();
        (
            OnboardingServiceClient::with_interceptor(channel, token),
            deadline,
        )
    }

    /// Tells org-core the current state of a checklist item this service
    /// owns in `organization` (e.g. [`PAYMENT_METHOD_ITEM`]), with the
    /// reporter's `revision` of that fact (org-core ignores a report older
    /// than the one it has). One attempt within the deadline: the caller
    /// keeps the fact pending and reports it again later if this fails.
    /// Returns whether org-core's stored fact changed.
    pub async fn report_onboarding_item(
        &self,
        organization: &str,
        item: &str,
        complete: bool,
        revision: i64,
    ) -> Result<bool, AuthorityError> {
        let (mut client, deadline) = self.onboarding();
        let mut request = tonic::Request::new(pb::ReportOnboardingItemRequest {
            organization: organization.to_string(),
            item: item.to_string(),
            complete,
            revision,
        });
        request.set_timeout(deadline);
        match tokio::time::timeout(deadline, client.report_onboarding_item(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner().changed),
            Ok(Err(status)) => Err(AuthorityError::from_status(status, organization)),
            Err(_) => Err(AuthorityError::Unavailable(format!(
                "org-core did not answer within {deadline:?}"
            ))),
        }
    }

    /// The legal profile of `organization`, read as this service; `None`
    /// while the organization has set none. Retried like a read.
    pub async fn legal_profile(
        &self,
        organization: &str,
    ) -> Result<Option<LegalProfile>, AuthorityError> {
        let (mut client, deadline) = self.onboarding();
        let retry = self.retry_policy();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = tonic::Request::new(pb::GetOrganizationProfileRequest {
                name: format!("{organization}/profile"),
            });
            request.set_timeout(deadline);
            let outcome = match tokio::time::timeout(
                deadline,
                client.get_organization_profile(request),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                    "org-core did not answer within {deadline:?}"
                ))),
            };
            match outcome {
                Ok(response) => {
                    return Ok(response
                        .into_inner()
                        .profile
                        .and_then(LegalProfile::from_pb));
                }
                Err(status) if attempt < retry.attempts && retryable(status.code()) => {
                    tokio::time::sleep(retry.backoff(attempt)).await;
                }
                Err(status) => return Err(AuthorityError::from_status(status, organization)),
            }
        }
    }
}

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::Unknown
    )
}
