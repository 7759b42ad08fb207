//! RPCs outside any organization (operator configuration, catalogs, a
//! worker queue shared by every organization): the caller's kind is checked
//! against the row, and the row's feature against the deployment's
//! features (ListFeatures, cached for the client's staleness window).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::orgcore::v1::authority_service_client::AuthorityServiceClient;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::authz::{Callers, Rpc};

use crate::client::AuthorityClient;
use crate::error::{AuthorityDenied, AuthorityError};

/// The deployment's enabled features and when they were read.
#[derive(Default)]
pub(crate) struct FeatureCache(Mutex<Option<(Instant, Arc<Vec<String>>)>>);

impl AuthorityClient {
    /// Authorizes a row of a service's RPC table that names no
    /// organization: operators-only, services-only or open rows (a row
    /// gated by a permission needs an organization and is refused as
    /// NOT_FOUND here). Then the row's feature: FEATURE_DISABLED when the
    /// deployment has it off. (A plan cannot be consulted without an
    /// organization; the organization-scoped RPCs check it.)
    pub async fn authorize_unscoped(
        &self,
        principal: &Principal,
        rpc: &Rpc,
    ) -> Result<(), AuthorityDenied> {
        let required = match rpc.callers {
            Callers::Permission(_) => {
                return Err(AuthorityDenied::NotFound {
                    organization: String::new(),
                });
            }
            Callers::Services if principal.kind == PrincipalKind::Account => Some("service"),
            Callers::Operators if principal.kind != PrincipalKind::Operator => Some("operator"),
            Callers::Accounts if principal.kind != PrincipalKind::Account => Some("account"),
            _ => None,
        };
        if let Some(required) = required {
            return Err(AuthorityDenied::PrincipalKind { required });
        }
        if let Some(feature) = rpc.feature {
            let features = self.deployment_features().await?;
            if !features.iter().any(|f| f == feature) {
                return Err(AuthorityDenied::FeatureDisabled {
                    feature: feature.to_string(),
                    plan: None,
                });
            }
        }
        Ok(())
    }

    /// The features the deployment has on, from a cache fresher than the
    /// staleness window or from org-core; the last known list when org-core
    /// cannot be reached.
    pub async fn deployment_features(&self) -> Result<Arc<Vec<String>>, AuthorityDenied> {
        let cache = self.shared_features();
        let staleness = self.staleness();
        let cached = cache
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((at, features)) = &cached
            && at.elapsed() < staleness
        {
            return Ok(Arc::clone(features));
        }
        let (channel, token, deadline) = self.raw_channel();
        let mut client = AuthorityServiceClient::with_interceptor(channel, token);
        let mut request = tonic::Request::new(pb::ListFeaturesRequest {
            organization: String::new(),
        });
        request.set_timeout(deadline);
        match client.list_features(request).await {
            Ok(response) => {
                let features: Arc<Vec<String>> = Arc::new(
                    response
                        .into_inner()
                        .features
                        .into_iter()
                        .filter(|f| f.enabled)
                        .map(|f| f.name)
                        .collect(),
                );
                *cache.0.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), Arc::clone(&features)));
                Ok(features)
            }
            Err(status) => match cached {
                // Features change only when org-core restarts with other
                // flags: the last list is a fair answer during an outage.
                Some((_, features)) => Ok(features),
                None => Err(AuthorityError::Unavailable(format!(
                    "org-core answered {:?}: {}",
                    status.code(),
                    status.message()
                ))
                .into()),
            },
        }
    }
}
