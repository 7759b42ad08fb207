//! How a Loopback service (billing, dns, org-core, ...) raises an
//! organization's alerts: [`Notifier::notify`] calls the integrations
//! service's `NotificationService.Notify` with the service's own token. The
//! integrations service keeps one notification per `(organization, event
//! id)`, so a sender that retries after a lost answer — or after a crash
//! between sending and recording that it sent — never notifies twice; a
//! sender keeps its alerts in a durable outbox and retries until
//! [`Notifier::notify`] succeeds (at least once, never twice).
//!
//! ```no_run
//! # async fn f() -> Result<(), loopback_integrations_client::NotifyError> {
//! use loopback_integrations_client::{Event, EventType, Notifier};
//! let notifier = Notifier::connect("http://integrations:50054", "<service token>")?;
//! notifier
//!     .notify(
//!         "organizations/0190...",
//!         Event::new("billing.spending/0190.../2026-12/80", EventType::SpendingThreshold, "80 % of the spending limit reached"),
//!     )
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use loopback_proto::integrations::v1 as pb;
pub use loopback_proto::integrations::v1::NotificationEventType as EventType;
use loopback_proto::integrations::v1::notification_service_client::NotificationServiceClient;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// How long one Notify may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// An event to notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The sender's id for it, unique per organization (the idempotency
    /// key), 1 to 200 printable characters.
    pub id: String,
    /// Its type.
    pub event_type: EventType,
    /// A one-line summary.
    pub subject: String,
    /// Details as text.
    pub message: String,
    /// Structured details.
    pub attributes: HashMap<String, String>,
    /// When it happened (default: when notified).
    pub event_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl Event {
    /// An event with an id, a type and a subject.
    pub fn new(id: impl Into<String>, event_type: EventType, subject: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            event_type,
            subject: subject.into(),
            message: String::new(),
            attributes: HashMap::new(),
            event_time: None,
        }
    }
}

/// Why a notification was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The client's settings are wrong (URL, token).
    #[error("notifier configuration: {0}")]
    Config(String),
    /// It will never be accepted as sent: the organization is gone, the
    /// feature is off for it, or the event is invalid. Drop it.
    #[error("refused: {0}")]
    Refused(String),
    /// Try again later (integrations unreachable, overloaded, failing).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// What Notify answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notified {
    /// Deliveries queued.
    pub deliveries: i32,
    /// The event id was notified before (nothing new queued).
    pub duplicate: bool,
}

#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A client of `NotificationService`. Cheap to clone; connects lazily, so
/// a down integrations service is not an error until a call.
#[derive(Clone)]
pub struct Notifier {
    client: NotificationServiceClient<InterceptedService<Channel, Bearer>>,
    url: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A client of the integrations service at `url` sending `token` (a
    /// `service` principal's). Must be called inside a Tokio runtime.
    pub fn connect(url: &str, token: &str) -> Result<Self, NotifyError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| NotifyError::Config(format!("integrations URL {url:?}: {e}")))?
            .connect_timeout(DEADLINE);
        let mut value: MetadataValue<Ascii> =
            format!("Bearer {}", token.trim()).parse().map_err(|_| {
                NotifyError::Config("the service token is not a valid header value".into())
            })?;
        value.set_sensitive(true);
        let client =
            NotificationServiceClient::with_interceptor(endpoint.connect_lazy(), Bearer(value));
        Ok(Self {
            client,
            url: url.to_string(),
        })
    }

    /// Notifies `organization` (`organizations/{id}`) of `event`.
    pub async fn notify(&self, organization: &str, event: Event) -> Result<Notified, NotifyError> {
        let mut request = tonic::Request::new(pb::NotifyRequest {
            organization: organization.to_string(),
            event: Some(pb::NotificationEvent {
                id: event.id,
                r#type: event.event_type.into(),
                subject: event.subject,
                message: event.message,
                attributes: event.attributes,
                event_time: event.event_time.map(|t| prost_types::Timestamp {
                    seconds: t.timestamp(),
                    nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
                }),
            }),
        });
        request.set_timeout(DEADLINE);
        match self.client.clone().notify(request).await {
            Ok(response) => {
                let r = response.into_inner();
                Ok(Notified {
                    deliveries: r.deliveries,
                    duplicate: r.duplicate,
                })
            }
            Err(status) => {
                let what = format!("{:?}: {}", status.code(), status.message());
                match status.code() {
                    Code::NotFound
                    | Code::InvalidArgument
                    | Code::FailedPrecondition
                    | Code::PermissionDenied => Err(NotifyError::Refused(what)),
                    _ => Err(NotifyError::Unavailable(what)),
                }
            }
        }
    }
}
