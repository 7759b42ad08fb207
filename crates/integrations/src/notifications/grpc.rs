//! gRPC adapters of `NotificationChannelService` and `NotificationService`.

use std::collections::BTreeMap;

use loopback_proto::integrations::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    Attempt, Channel, ChannelKind, ChannelName, CreateChannel, DeleteChannel, Delivery,
    DeliveryState, EventType, ListChannels, ListDeliveries, ListEventTypes, NewChannel, NewEvent,
    NotifyInput, NotifyOutcome, TestChannel, UpdateChannel,
};
use crate::Integrations;

/// Serves NotificationChannelService.
#[derive(Debug, Clone)]
pub struct NotificationChannelGrpc(pub Integrations);
/// Serves NotificationService.
#[derive(Debug, Clone)]
pub struct NotificationGrpc(pub Integrations);

fn event_type_to_pb(t: EventType) -> pb::NotificationEventType {
    use pb::NotificationEventType as P;
    match t {
        EventType::UsageWarning => P::UsageWarning,
        EventType::SpendingThreshold => P::SpendingThreshold,
        EventType::HardLimitReached => P::HardLimitReached,
        EventType::HardLimitCleared => P::HardLimitCleared,
        EventType::VerificationStatusChanged => P::VerificationStatusChanged,
        EventType::InvoiceFinalized => P::InvoiceFinalized,
        EventType::DomainExpiring => P::DomainExpiring,
        EventType::GitConnectionNeedsReauthorization => P::GitConnectionNeedsReauthorization,
        EventType::DeployFailed => P::DeployFailed,
        EventType::Test => P::Test,
    }
}

fn event_type(value: i32) -> Option<EventType> {
    let t = pb::NotificationEventType::try_from(value).ok()?;
    EventType::ALL
        .iter()
        .copied()
        .find(|e| event_type_to_pb(*e) == t)
}

fn event_types(f: &mut Fields, field: &str, values: &[i32]) -> Option<Vec<EventType>> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match event_type(*v) {
            Some(t) if !out.contains(&t) => out.push(t),
            Some(_) => {}
            None => f.add(
                format!("{field}[{i}]"),
                "is not an event type of the catalog",
            ),
        }
    }
    Some(out)
}

fn channel_to_pb(c: Channel) -> pb::NotificationChannel {
    pb::NotificationChannel {
        name: c.name().to_string(),
        display_name: c.display_name,
        kind: match c.kind {
            ChannelKind::Email => pb::NotificationChannelKind::Email,
            ChannelKind::Webhook => pb::NotificationChannelKind::Webhook,
            ChannelKind::Slack => pb::NotificationChannelKind::Slack,
        }
        .into(),
        email_address: c.email_address.unwrap_or_default(),
        url: c.url.unwrap_or_default(),
        signing_secret: c.signing_secret.unwrap_or_default(),
        event_types: c
            .event_types
            .into_iter()
            .map(|t| event_type_to_pb(t).into())
            .collect(),
        enabled: c.enabled,
        etag: etag(c.version),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
    }
}

fn attempt_to_pb(a: Attempt) -> pb::DeliveryAttempt {
    pb::DeliveryAttempt {
        attempt: a.attempt,
        attempt_time: Some(timestamp(a.time)),
        succeeded: a.succeeded,
        http_status: a.http_status,
        latency_ms: a.latency_ms,
        error: a.error,
    }
}

fn delivery_to_pb(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        name: d.name(),
        notification_channel: format!(
            "organizations/{}/notificationChannels/{}",
            d.organization, d.channel
        ),
        event_id: d.event_id,
        event_type: event_type_to_pb(d.event_type).into(),
        state: match d.state {
            DeliveryState::Pending => pb::DeliveryState::Pending,
            DeliveryState::Delivered => pb::DeliveryState::Delivered,
            DeliveryState::Failed => pb::DeliveryState::Failed,
        }
        .into(),
        attempts: d.attempts.into_iter().map(attempt_to_pb).collect(),
        next_attempt_time: (d.state == DeliveryState::Pending)
            .then(|| timestamp(d.next_attempt_time)),
        create_time: Some(timestamp(d.create_time)),
    }
}

fn url_text(value: &str) -> Result<String, &'static str> {
    if value.is_empty() || value.len() > 2048 {
        return Err("is required: an https URL of at most 2048 characters");
    }
    Ok(value.to_string())
}

impl TryFrom<pb::CreateNotificationChannelRequest> for CreateChannel {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateNotificationChannelRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let c = f.message("notification_channel", req.notification_channel);
        let display_name = f.display_name("notification_channel.display_name", &c.display_name);
        let kind = match pb::NotificationChannelKind::try_from(c.kind) {
            Ok(pb::NotificationChannelKind::Email) => Some(ChannelKind::Email),
            Ok(pb::NotificationChannelKind::Webhook) => Some(ChannelKind::Webhook),
            Ok(pb::NotificationChannelKind::Slack) => Some(ChannelKind::Slack),
            _ => f.take(
                "notification_channel.kind",
                Err("must be EMAIL, WEBHOOK or SLACK"),
            ),
        };
        let (email_address, url) = match kind {
            Some(ChannelKind::Email) => {
                if !c.url.is_empty() {
                    f.add("notification_channel.url", "EMAIL channels have no URL");
                }
                let email = f.email("notification_channel.email_address", &c.email_address);
                (email.map(Some), Some(None))
            }
            Some(_) => {
                if !c.email_address.is_empty() {
                    f.add(
                        "notification_channel.email_address",
                        "only EMAIL channels have an address",
                    );
                }
                (
                    Some(None),
                    f.take("notification_channel.url", url_text(&c.url))
                        .map(Some),
                )
            }
            None => (Some(None), Some(None)),
        };
        let types = event_types(&mut f, "notification_channel.event_types", &c.event_types);
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, display_name, kind, email_address, url, event_types, request_id) = f
            .finish((
                organization,
                display_name,
                kind,
                email_address,
                url,
                types,
                request_id,
            ))?;
        Ok(Self {
            organization,
            channel: NewChannel {
                kind,
                display_name,
                email_address,
                url,
                event_types,
                enabled: c.enabled,
            },
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::UpdateNotificationChannelRequest> for UpdateChannel {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateNotificationChannelRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let c = f.message("notification_channel", req.notification_channel);
        let name = f.name::<ChannelName>("notification_channel.name", &c.name);
        let etag = f.etag("notification_channel.etag", &c.etag);
        let paths = f.update_mask(
            req.update_mask.as_ref(),
            &[
                "display_name",
                "event_types",
                "enabled",
                "email_address",
                "url",
            ],
        );
        let mut out = UpdateChannel {
            validate_only: req.validate_only,
            ..UpdateChannel::default()
        };
        for path in paths {
            match path {
                "display_name" => {
                    out.display_name =
                        f.display_name("notification_channel.display_name", &c.display_name)
                }
                "event_types" => {
                    out.event_types =
                        event_types(&mut f, "notification_channel.event_types", &c.event_types)
                }
                "enabled" => out.enabled = Some(c.enabled),
                "email_address" if !c.email_address.is_empty() => {
                    out.email_address =
                        f.email("notification_channel.email_address", &c.email_address);
                }
                "url" if !c.url.is_empty() => {
                    out.url = f.take("notification_channel.url", url_text(&c.url))
                }
                _ => {}
            }
        }
        let (name, etag) = f.finish((name, etag))?;
        out.name = Some(name);
        out.etag = etag;
        Ok(out)
    }
}

macro_rules! name_request {
    ($req:ty, $out:ty, $build:expr) => {
        impl TryFrom<$req> for $out {
            type Error = FieldViolations;
            fn try_from(req: $req) -> Result<Self, FieldViolations> {
                let mut f = Fields::new();
                let name = f.name("name", &req.name);
                let name = f.finish(name)?;
                #[allow(clippy::redundant_closure_call)]
                Ok(($build)(name, &req))
            }
        }
    };
}

name_request!(pb::GetNotificationChannelRequest, ChannelName, |n, _| n);
name_request!(
    pb::DeleteNotificationChannelRequest,
    DeleteChannel,
    |name, r: &pb::DeleteNotificationChannelRequest| DeleteChannel {
        name,
        validate_only: r.validate_only
    }
);
name_request!(
    pb::TestNotificationChannelRequest,
    TestChannel,
    |name, _| TestChannel { name }
);

impl TryFrom<pb::ListNotificationChannelsRequest> for ListChannels {
    type Error = FieldViolations;
    fn try_from(req: pb::ListNotificationChannelsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let page = f.page(
            req.page_size,
            &req.page_token,
            &format!("notificationChannels|{}", req.parent),
        );
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::ListDeliveriesRequest> for ListDeliveries {
    type Error = FieldViolations;
    fn try_from(req: pb::ListDeliveriesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let channel = if req.notification_channel.is_empty() {
            Some(None)
        } else {
            f.name::<ChannelName>("notification_channel", &req.notification_channel)
                .map(Some)
        };
        let query = format!("deliveries|{}|{}", req.parent, req.notification_channel);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, channel, page) = f.finish((organization, channel, page))?;
        Ok(Self {
            organization,
            channel,
            page,
        })
    }
}

impl TryFrom<pb::ListNotificationEventTypesRequest> for ListEventTypes {
    type Error = FieldViolations;
    fn try_from(_: pb::ListNotificationEventTypesRequest) -> Result<Self, FieldViolations> {
        Ok(Self)
    }
}

impl TryFrom<pb::NotifyRequest> for NotifyInput {
    type Error = FieldViolations;
    fn try_from(req: pb::NotifyRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let e = f.message("event", req.event);
        let id_ok = (1..=200).contains(&e.id.len()) && e.id.chars().all(|c| c.is_ascii_graphic());
        let id = f.take(
            "event.id",
            id_ok
                .then(|| e.id.clone())
                .ok_or("is required: 1 to 200 printable characters"),
        );
        let kind = f.take(
            "event.type",
            event_type(e.r#type)
                .filter(|t| *t != EventType::Test)
                .ok_or("must be an event type of the catalog"),
        );
        let subject = f.display_name("event.subject", &e.subject);
        let message = f.text("event.message", &e.message, 4000);
        let attributes_ok = e.attributes.len() <= 50
            && e.attributes
                .iter()
                .all(|(k, v)| (1..=100).contains(&k.len()) && v.len() <= 1000);
        f.take(
            "event.attributes",
            attributes_ok
                .then_some(())
                .ok_or("at most 50 entries, keys 1 to 100 and values at most 1000 characters"),
        );
        let event_time = f.time("event.event_time", e.event_time);
        let (organization, id, event_type, subject, message, event_time) =
            f.finish((organization, id, kind, subject, message, event_time))?;
        Ok(Self {
            organization,
            event: NewEvent {
                id,
                event_type,
                subject,
                message,
                attributes: e.attributes.into_iter().collect::<BTreeMap<_, _>>(),
                event_time: event_time.unwrap_or_else(chrono::Utc::now),
            },
        })
    }
}

#[tonic::async_trait]
impl pb::notification_channel_service_server::NotificationChannelService
    for NotificationChannelGrpc
{
    async fn create_notification_channel(
        &self,
        request: Request<pb::CreateNotificationChannelRequest>,
    ) -> Result<Response<pb::CreateNotificationChannelResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::create_notification_channel,
            |c| pb::CreateNotificationChannelResponse {
                notification_channel: Some(channel_to_pb(c)),
            },
        )
        .await
    }

    async fn get_notification_channel(
        &self,
        request: Request<pb::GetNotificationChannelRequest>,
    ) -> Result<Response<pb::GetNotificationChannelResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::get_notification_channel,
            |c| pb::GetNotificationChannelResponse {
                notification_channel: Some(channel_to_pb(c)),
            },
        )
        .await
    }

    async fn list_notification_channels(
        &self,
        request: Request<pb::ListNotificationChannelsRequest>,
    ) -> Result<Response<pb::ListNotificationChannelsResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::list_notification_channels,
            |page| {
                let page = page.map(channel_to_pb);
                pb::ListNotificationChannelsResponse {
                    notification_channels: page.items,
                    next_page_token: page.next_page_token,
                }
            },
        )
        .await
    }

    async fn update_notification_channel(
        &self,
        request: Request<pb::UpdateNotificationChannelRequest>,
    ) -> Result<Response<pb::UpdateNotificationChannelResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::update_notification_channel,
            |c| pb::UpdateNotificationChannelResponse {
                notification_channel: Some(channel_to_pb(c)),
            },
        )
        .await
    }

    async fn delete_notification_channel(
        &self,
        request: Request<pb::DeleteNotificationChannelRequest>,
    ) -> Result<Response<pb::DeleteNotificationChannelResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::delete_notification_channel,
            |c| pb::DeleteNotificationChannelResponse {
                notification_channel: Some(channel_to_pb(c)),
            },
        )
        .await
    }

    async fn test_notification_channel(
        &self,
        request: Request<pb::TestNotificationChannelRequest>,
    ) -> Result<Response<pb::TestNotificationChannelResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::test_notification_channel,
            |d| pb::TestNotificationChannelResponse {
                delivery: Some(delivery_to_pb(d)),
            },
        )
        .await
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        unary(&self.0, request, Integrations::list_deliveries, |page| {
            let page = page.map(delivery_to_pb);
            pb::ListDeliveriesResponse {
                deliveries: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn list_notification_event_types(
        &self,
        request: Request<pb::ListNotificationEventTypesRequest>,
    ) -> Result<Response<pb::ListNotificationEventTypesResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::list_notification_event_types,
            |all| pb::ListNotificationEventTypesResponse {
                event_types: all
                    .iter()
                    .map(|t| pb::NotificationEventTypeInfo {
                        r#type: event_type_to_pb(*t).into(),
                        key: t.key().into(),
                        description: t.description().into(),
                    })
                    .collect(),
            },
        )
        .await
    }
}

#[tonic::async_trait]
impl pb::notification_service_server::NotificationService for NotificationGrpc {
    async fn notify(
        &self,
        request: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::notify,
            |o: NotifyOutcome| pb::NotifyResponse {
                deliveries: o.deliveries,
                duplicate: o.duplicate,
            },
        )
        .await
    }
}
