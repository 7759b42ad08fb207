//! Delivering another service's audit records to org-core's log: the
//! [`AuditPublisher`] the service kit's outbox relay calls.

use futures::future::BoxFuture;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::orgcore::v1::audit_service_client::AuditServiceClient;
use loopback_runtime::fields::timestamp;
use loopback_runtime::outbox::AuditPublisher;
use loopback_runtime::tx::{Actor, AuditRecord};

use crate::client::{AuthorityClient, principal_to_pb};

fn record_to_pb(r: &AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: r.id.to_string(),
        event_time: Some(timestamp(r.time)),
        method: r.method.clone(),
        resource: r.resource.clone(),
        organization: r
            .organization
            .map(|o| format!("organizations/{o}"))
            .unwrap_or_default(),
        actor: Some(match &r.actor {
            Actor::Principal(p) => pb::audit_record::Actor::Principal(principal_to_pb(p)),
            Actor::Id(id) => pb::audit_record::Actor::ActorId(id.clone()),
        }),
        reason: r.reason.clone(),
        details_json: r.details.to_string(),
    }
}

impl AuditPublisher for AuthorityClient {
    fn publish<'a>(&'a self, records: &'a [AuditRecord]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (channel, token, deadline) = self.raw_channel();
            let mut client = AuditServiceClient::with_interceptor(channel, token);
            let mut request = tonic::Request::new(pb::AppendAuditEventsRequest {
                records: records.iter().map(record_to_pb).collect(),
            });
            request.set_timeout(deadline);
            client
                .append_audit_events(request)
                .await
                .map(|_| ())
                .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
        })
    }
}
