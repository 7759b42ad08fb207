//! Notification channels (email through the deployment's mail relay,
//! signed webhooks, Slack-compatible webhooks), the event catalog, `Notify`
//! (idempotent by event id) and the durable delivery queue: one delivery
//! per event and channel, attempted by a background worker with
//! exponential backoff, every attempt kept in the delivery log.
//!
//! Webhook bodies are signed: `Loopback-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256("<t>.<body>") keyed with the channel's signing secret>`.

pub mod grpc;
pub mod store;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use rand::TryRngCore as _;
use serde_json::json;
use sha2_hmac::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Integrations, rpcs};

/// The limit on channels per organization.
pub const MAX_CHANNELS: &str = "max_notification_channels";
/// How long a sender holds a delivery it claimed before another may retry.
const CLAIM: Duration = Duration::from_secs(300);
/// How often the queue is polled when no commit wakes the worker.
const POLL: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Deliveries attempted at once.
const CONCURRENCY: usize = 8;

/// The signature header of webhook deliveries.
pub const SIGNATURE_HEADER: &str = "Loopback-Signature";

/// What a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// An email address.
    Email,
    /// A signed JSON webhook.
    Webhook,
    /// A Slack-compatible webhook.
    Slack,
}

impl ChannelKind {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "EMAIL",
            Self::Webhook => "WEBHOOK",
            Self::Slack => "SLACK",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EMAIL" => Some(Self::Email),
            "WEBHOOK" => Some(Self::Webhook),
            "SLACK" => Some(Self::Slack),
            _ => None,
        }
    }
}

macro_rules! event_types {
    ($($variant:ident => $key:literal, $what:literal;)+) => {
        /// The event catalog.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(
                #[doc = $what]
                $variant,
            )+
        }

        impl EventType {
            /// Every type, in catalog order.
            pub const ALL: &'static [EventType] = &[$(Self::$variant),+];

            /// Its key in payloads and storage.
            pub fn key(self) -> &'static str {
                match self { $(Self::$variant => $key),+ }
            }

            /// What it means.
            pub fn description(self) -> &'static str {
                match self { $(Self::$variant => $what),+ }
            }

            /// From its key.
            pub fn parse(key: &str) -> Option<Self> {
                match key { $($key => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    UsageWarning => "usage.warning", "Usage of a limit reached its warning fraction.";
    SpendingThreshold => "spending.threshold", "Spend crossed an alert threshold of the spending limit.";
    HardLimitReached => "spending.hard_limit_reached", "The hard spending limit was reached: create actions are refused.";
    HardLimitCleared => "spending.hard_limit_cleared", "The hard spending limit no longer blocks.";
    VerificationStatusChanged => "organization.verification_status_changed", "The organization's verification status changed.";
    InvoiceFinalized => "invoice.finalized", "An invoice was finalized.";
    DomainExpiring => "domain.expiring", "A domain is about to expire.";
    GitConnectionNeedsReauthorization => "git.connection_needs_reauthorization", "A Git connection needs re-authorization.";
    DeployFailed => "deploy.failed", "A deployment failed.";
    Test => "test", "A test sent by TestNotificationChannel.";
}

/// Associated data of a channel's sealed secret (signing secret or Slack
/// URL).
pub fn channel_secret_aad(id: &str) -> String {
    format!("notificationChannels/{id}/secret")
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/notificationChannels/{id}`, parsed.
    pub struct ChannelName = "notificationChannels", id: Uuid;
}

/// A channel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Kind.
    pub kind: ChannelKind,
    /// Human name.
    pub display_name: String,
    /// EMAIL: the address.
    pub email_address: Option<String>,
    /// WEBHOOK: the URL; SLACK: the URL masked.
    pub url: Option<String>,
    /// Types taken (empty: all).
    pub event_types: Vec<EventType>,
    /// Whether it receives events.
    pub enabled: bool,
    /// Version (the etag).
    pub version: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
    /// The webhook signing secret, only when just created.
    pub signing_secret: Option<String>,
}

impl Channel {
    /// Its resource name.
    pub fn name(&self) -> ChannelName {
        ChannelName {
            organization: self.organization,
            id: self.id,
        }
    }

    /// Whether it takes events of `t`.
    pub fn takes(&self, t: EventType) -> bool {
        self.enabled && (self.event_types.is_empty() || self.event_types.contains(&t))
    }
}

/// A new channel, parsed (URLs are checked by the domain).
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// Kind.
    pub kind: ChannelKind,
    /// Human name.
    pub display_name: String,
    /// EMAIL: the address.
    pub email_address: Option<String>,
    /// WEBHOOK/SLACK: the URL.
    pub url: Option<String>,
    /// Types taken.
    pub event_types: Vec<EventType>,
    /// Whether it receives events.
    pub enabled: bool,
}

/// CreateNotificationChannel, validated.
#[derive(Debug, Clone)]
pub struct CreateChannel {
    /// Organization.
    pub organization: Uuid,
    /// The channel.
    pub channel: NewChannel,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// UpdateNotificationChannel, validated: `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UpdateChannel {
    /// The channel.
    pub name: Option<ChannelName>,
    /// Expected version.
    pub etag: Option<i64>,
    /// New name.
    pub display_name: Option<String>,
    /// New types.
    pub event_types: Option<Vec<EventType>>,
    /// New enabled.
    pub enabled: Option<bool>,
    /// New address.
    pub email_address: Option<String>,
    /// New URL.
    pub url: Option<String>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteNotificationChannel, validated.
#[derive(Debug, Clone, Copy)]
pub struct DeleteChannel {
    /// The channel.
    pub name: ChannelName,
    /// Check only.
    pub validate_only: bool,
}

/// ListNotificationChannels, validated.
#[derive(Debug, Clone)]
pub struct ListChannels {
    /// Organization.
    pub organization: Uuid,
    /// Page.
    pub page: PageRequest,
}

/// TestNotificationChannel, validated.
#[derive(Debug, Clone, Copy)]
pub struct TestChannel {
    /// The channel.
    pub name: ChannelName,
}

/// ListDeliveries, validated.
#[derive(Debug, Clone)]
pub struct ListDeliveries {
    /// Organization.
    pub organization: Uuid,
    /// Only this channel's.
    pub channel: Option<ChannelName>,
    /// Page.
    pub page: PageRequest,
}

/// ListNotificationEventTypes (no input).
#[derive(Debug, Clone, Copy)]
pub struct ListEventTypes;

/// An event to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The sender's id (idempotency).
    pub id: String,
    /// Its type.
    pub event_type: EventType,
    /// Summary.
    pub subject: String,
    /// Details.
    pub message: String,
    /// Structured details.
    pub attributes: BTreeMap<String, String>,
    /// When it happened.
    pub event_time: DateTime<Utc>,
}

/// Notify, validated.
#[derive(Debug, Clone)]
pub struct NotifyInput {
    /// Organization.
    pub organization: Uuid,
    /// The event.
    pub event: NewEvent,
}

/// What Notify did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyOutcome {
    /// Deliveries queued.
    pub deliveries: i32,
    /// The event id was notified before.
    pub duplicate: bool,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for an attempt.
    Pending,
    /// Accepted.
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryState {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "DELIVERED" => Some(Self::Delivered),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: i32,
    /// When.
    pub time: DateTime<Utc>,
    /// Accepted.
    pub succeeded: bool,
    /// HTTP status (0 if none).
    pub http_status: i32,
    /// Milliseconds.
    pub latency_ms: i64,
    /// What went wrong.
    pub error: String,
}

/// A delivery with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Channel.
    pub channel: Uuid,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: EventType,
    /// State.
    pub state: DeliveryState,
    /// Attempts so far (count).
    pub attempt_count: i32,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due.
    pub next_attempt_time: DateTime<Utc>,
    /// Queued.
    pub create_time: DateTime<Utc>,
}

impl Delivery {
    /// `organizations/{org}/deliveries/{id}`.
    pub fn name(&self) -> String {
        format!("organizations/{}/deliveries/{}", self.organization, self.id)
    }
}

/// The outcome of sending once.
struct Sent {
    succeeded: bool,
    http_status: i32,
    error: String,
    /// No point retrying (the endpoint is no longer allowed, no relay).
    permanent: bool,
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source");
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `scheme://host/…`: a Slack URL without its secret path.
fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "…".into(),
    }
}

/// The webhook signature of `body` sent at `timestamp` (unix seconds):
/// hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The delay before attempt `attempts + 1`: base × 2^(attempts − 1), at
/// most an hour.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

impl Integrations {
    /// CreateNotificationChannel; `max_notification_channels` holds under
    /// concurrency (the count runs under the organization's lock).
    pub async fn create_notification_channel(
        &self,
        principal: &Principal,
        input: CreateChannel,
    ) -> Result<Channel> {
        let rpc = &rpcs::CREATE_NOTIFICATION_CHANNEL;
        let org = input.organization;
        let policy = self.authorize(principal, rpc, org).await?;
        let new = input.channel;
        if let Some(url) = &new.url {
            self.outbound()
                .check_url(url)
                .await
                .map_err(|e| Error::invalid("notification_channel.url", e))?;
        }
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .channel_in(
                    tx.conn(),
                    ChannelName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let count = store::count_channels(tx.conn(), org).await?;
        if let Some(limit) = policy.limit(MAX_CHANNELS)
            && i64::try_from(count).unwrap_or(i64::MAX) >= limit
        {
            return Err(Refusal::LimitReached {
                organization: format!("organizations/{org}"),
                limit: MAX_CHANNELS.into(),
                limit_value: limit,
                usage: i64::try_from(count).unwrap_or(i64::MAX),
            }
            .into());
        }
        let id = Uuid::now_v7();
        let now = Utc::now();
        let aad = channel_secret_aad(&id.to_string());
        let (secret, sealed, url) = match new.kind {
            ChannelKind::Email => (None, None, None),
            ChannelKind::Webhook => {
                let secret = random_secret();
                let sealed = self.seal(&secret, &aad)?;
                (Some(secret), Some(sealed), new.url.clone())
            }
            ChannelKind::Slack => {
                let url = new.url.clone().unwrap_or_default();
                (None, Some(self.seal(&url, &aad)?), Some(mask_url(&url)))
            }
        };
        let channel = Channel {
            id,
            organization: org,
            kind: new.kind,
            display_name: new.display_name,
            email_address: new.email_address,
            url,
            event_types: new.event_types,
            enabled: new.enabled,
            version: 1,
            create_time: now,
            update_time: now,
            signing_secret: None,
        };
        store::insert_channel(tx.conn(), &channel, sealed.as_ref()).await?;
        tx.created(id);
        tx.audit(channel.name().to_string(), audit_details(&channel));
        tx.commit().await?;
        Ok(Channel {
            signing_secret: secret,
            ..channel
        })
    }

    /// GetNotificationChannel.
    pub async fn get_notification_channel(
        &self,
        principal: &Principal,
        name: ChannelName,
    ) -> Result<Channel> {
        self.authorize(
            principal,
            &rpcs::GET_NOTIFICATION_CHANNEL,
            name.organization,
        )
        .await?;
        self.channel_in(self.db(), name).await
    }

    /// ListNotificationChannels.
    pub async fn list_notification_channels(
        &self,
        principal: &Principal,
        input: ListChannels,
    ) -> Result<Page<Channel>> {
        self.authorize(
            principal,
            &rpcs::LIST_NOTIFICATION_CHANNELS,
            input.organization,
        )
        .await?;
        let rows = store::list_channels(self.db(), input.organization, &input.page).await?;
        Ok(input.page.page(rows, |c| c.id.to_string()))
    }

    /// UpdateNotificationChannel.
    pub async fn update_notification_channel(
        &self,
        principal: &Principal,
        input: UpdateChannel,
    ) -> Result<Channel> {
        let rpc = &rpcs::UPDATE_NOTIFICATION_CHANNEL;
        let name = input
            .name
            .ok_or_else(|| Error::invalid("notification_channel.name", "is required"))?;
        self.authorize(principal, rpc, name.organization).await?;
        if let Some(url) = &input.url {
            self.outbound()
                .check_url(url)
                .await
                .map_err(|e| Error::invalid("notification_channel.url", e))?;
        }
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut c = self.channel_in(tx.conn(), name).await?;
        if input.etag.is_some_and(|e| e != c.version) {
            return Err(Refusal::EtagMismatch(name.to_string()).into());
        }
        let mut sealed = None;
        if let Some(v) = input.display_name {
            c.display_name = v;
        }
        if let Some(v) = input.event_types {
            c.event_types = v;
        }
        if let Some(v) = input.enabled {
            c.enabled = v;
        }
        if let Some(v) = input.email_address {
            if c.kind != ChannelKind::Email {
                return Err(Error::invalid(
                    "notification_channel.email_address",
                    "only EMAIL channels have an address",
                ));
            }
            c.email_address = Some(v);
        }
        if let Some(url) = input.url {
            match c.kind {
                ChannelKind::Email => {
                    return Err(Error::invalid(
                        "notification_channel.url",
                        "EMAIL channels have no URL",
                    ));
                }
                ChannelKind::Webhook => c.url = Some(url),
                ChannelKind::Slack => {
                    sealed = Some(self.seal(&url, &channel_secret_aad(&c.id.to_string()))?);
                    c.url = Some(mask_url(&url));
                }
            }
        }
        c.version += 1;
        c.update_time = Utc::now();
        store::update_channel(tx.conn(), &c, sealed.as_ref()).await?;
        tx.audit(name.to_string(), audit_details(&c));
        tx.commit().await?;
        Ok(c)
    }

    /// DeleteNotificationChannel: its pending deliveries are given up.
    pub async fn delete_notification_channel(
        &self,
        principal: &Principal,
        input: DeleteChannel,
    ) -> Result<Channel> {
        let rpc = &rpcs::DELETE_NOTIFICATION_CHANNEL;
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
        let c = self.channel_in(tx.conn(), name).await?;
        store::delete_channel(tx.conn(), name.organization, name.id).await?;
        tx.audit(name.to_string(), audit_details(&c));
        tx.commit().await?;
        Ok(c)
    }

    /// TestNotificationChannel: one attempt now, recorded in the log.
    pub async fn test_notification_channel(
        &self,
        principal: &Principal,
        input: TestChannel,
    ) -> Result<Delivery> {
        let rpc = &rpcs::TEST_NOTIFICATION_CHANNEL;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let event = NewEvent {
            id: format!("test/{}", Uuid::now_v7()),
            event_type: EventType::Test,
            subject: "Test notification from Loopback".into(),
            message: format!(
                "{principal} sent a test to this channel.",
                principal = principal.audit_id()
            ),
            attributes: BTreeMap::new(),
            event_time: Utc::now(),
        };
        let mut tx = self
            .begin_write(name.organization, rpc, principal, WriteOptions::plain())
            .await?;
        let channel = self.channel_in(tx.conn(), name).await?;
        store::insert_event(tx.conn(), name.organization, &event).await?;
        let now = Utc::now();
        let delivery = Delivery {
            id: Uuid::now_v7(),
            organization: name.organization,
            channel: channel.id,
            event_id: event.id.clone(),
            event_type: EventType::Test,
            state: DeliveryState::Pending,
            attempt_count: 0,
            attempts: Vec::new(),
            // Held by this request: the worker leaves it alone.
            next_attempt_time: now + chrono::Duration::from_std(CLAIM).unwrap_or_default(),
            create_time: now,
        };
        store::insert_delivery(tx.conn(), &delivery).await?;
        tx.audit(
            name.to_string(),
            json!({ "test_delivery": delivery.name() }),
        );
        tx.commit().await?;
        let sent = self.send(&channel, &event, &delivery.name()).await;
        self.record(&delivery, 0, sent, true).await?;
        store::delivery(self.db(), name.organization, delivery.id)
            .await?
            .ok_or_else(|| Error::Corrupt("test delivery vanished".into()))
    }

    /// ListDeliveries: newest first, each with its attempts.
    pub async fn list_deliveries(
        &self,
        principal: &Principal,
        input: ListDeliveries,
    ) -> Result<Page<Delivery>> {
        self.authorize(principal, &rpcs::LIST_DELIVERIES, input.organization)
            .await?;
        if let Some(channel) = input.channel
            && channel.organization != input.organization
        {
            return Err(Error::invalid(
                "notification_channel",
                "must be a channel of the parent organization",
            ));
        }
        let rows = store::list_deliveries(
            self.db(),
            input.organization,
            input.channel.map(|c| c.id),
            &input.page,
        )
        .await?;
        Ok(input.page.page(rows, |d| d.id.to_string()))
    }

    /// ListNotificationEventTypes.
    pub async fn list_notification_event_types(
        &self,
        principal: &Principal,
        _input: ListEventTypes,
    ) -> Result<&'static [EventType]> {
        self.authorize_unscoped(principal, &rpcs::LIST_NOTIFICATION_EVENT_TYPES)
            .await?;
        Ok(EventType::ALL)
    }

    /// Notify: queues the event for every enabled channel taking its type,
    /// once per event id.
    pub async fn notify(&self, principal: &Principal, input: NotifyInput) -> Result<NotifyOutcome> {
        let rpc = &rpcs::NOTIFY;
        let org = input.organization;
        self.authorize(principal, rpc, org).await?;
        let tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        let outcome = self.enqueue_event(tx.conn(), org, input.event).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Queues `event` for `org`'s channels inside the caller's write
    /// transaction (the organization's lock held): nothing when its id was
    /// seen before.
    pub(crate) async fn enqueue_event(
        &self,
        conn: &impl Conn,
        org: Uuid,
        event: NewEvent,
    ) -> Result<NotifyOutcome> {
        if !store::insert_event(conn, org, &event).await? {
            return Ok(NotifyOutcome {
                deliveries: 0,
                duplicate: true,
            });
        }
        let now = Utc::now();
        let mut deliveries = 0;
        for channel in store::enabled_channels(conn, org).await? {
            if !channel.takes(event.event_type) {
                continue;
            }
            store::insert_delivery(
                conn,
                &Delivery {
                    id: Uuid::now_v7(),
                    organization: org,
                    channel: channel.id,
                    event_id: event.id.clone(),
                    event_type: event.event_type,
                    state: DeliveryState::Pending,
                    attempt_count: 0,
                    attempts: Vec::new(),
                    next_attempt_time: now,
                    create_time: now,
                },
            )
            .await?;
            deliveries += 1;
        }
        Ok(NotifyOutcome {
            deliveries,
            duplicate: false,
        })
    }

    /// A channel; NOT_FOUND when missing or another organization's.
    async fn channel_in(&self, conn: &impl Conn, name: ChannelName) -> Result<Channel> {
        store::channel(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// The delivery worker: attempts due deliveries until `shutdown`, at
    /// once after a commit, otherwise every half second.
    pub async fn delivery_worker(self, shutdown: CancellationToken) {
        let mut committed = self.committed();
        loop {
            let handled = match self.deliver_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "notification delivery round failed");
                    0
                }
            };
            if handled > 0 {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = committed.changed() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One round: claims and attempts the due deliveries; returns how many.
    pub async fn deliver_due(&self) -> Result<usize> {
        let due = store::due_deliveries(self.db(), Utc::now(), 32).await?;
        let results: Vec<Result<bool>> = futures::stream::iter(due)
            .map(|d| self.attempt(d))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut handled = 0;
        for r in results {
            if r? {
                handled += 1;
            }
        }
        Ok(handled)
    }

    /// Claims one delivery (compare-and-set on its due time, so one sender
    /// among replicas wins) and attempts it.
    async fn attempt(&self, d: Delivery) -> Result<bool> {
        let hold = Utc::now() + chrono::Duration::from_std(CLAIM).unwrap_or_default();
        if !store::claim_delivery(self.db(), d.id, d.next_attempt_time, hold).await? {
            return Ok(false);
        }
        let channel = store::channel(self.db(), d.organization, d.channel).await?;
        let event = store::event(self.db(), d.organization, &d.event_id).await?;
        let sent = match (channel, event) {
            (Some(channel), Some(event)) => self.send(&channel, &event, &d.name()).await,
            _ => (
                Sent {
                    succeeded: false,
                    http_status: 0,
                    error: "the channel was deleted".into(),
                    permanent: true,
                },
                0,
            ),
        };
        self.record(&d, d.attempt_count, sent, false).await?;
        Ok(true)
    }

    /// Records attempt `previous + 1` and the delivery's next state.
    async fn record(
        &self,
        d: &Delivery,
        previous: i32,
        sent: (Sent, i64),
        once: bool,
    ) -> Result<()> {
        let (sent, latency_ms) = sent;
        let number = previous + 1;
        let now = Utc::now();
        store::insert_attempt(
            self.db(),
            d.id,
            d.organization,
            &Attempt {
                attempt: number,
                time: now,
                succeeded: sent.succeeded,
                http_status: sent.http_status,
                latency_ms,
                error: sent.error,
            },
        )
        .await?;
        let max = i32::try_from(self.settings().max_attempts).unwrap_or(i32::MAX);
        let state = if sent.succeeded {
            DeliveryState::Delivered
        } else if sent.permanent || once || number >= max {
            DeliveryState::Failed
        } else {
            DeliveryState::Pending
        };
        let delay = backoff(
            self.settings().retry_base,
            u32::try_from(number).unwrap_or(1),
        );
        let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
        store::finish_attempt(self.db(), d.id, state, number, next).await?;
        Ok(())
    }

    /// Sends `event` to `channel` once; returns the outcome and its latency.
    async fn send(&self, channel: &Channel, event: &NewEvent, delivery: &str) -> (Sent, i64) {
        let started = Instant::now();
        let sent = self.send_inner(channel, event, delivery).await;
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        (sent, latency)
    }

    async fn send_inner(&self, channel: &Channel, event: &NewEvent, delivery: &str) -> Sent {
        let permanent = |error: String| Sent {
            succeeded: false,
            http_status: 0,
            error,
            permanent: true,
        };
        let secret = match channel.kind {
            ChannelKind::Email => None,
            _ => match store::channel_secret(self.db(), channel.organization, channel.id).await {
                Ok(Some(sealed)) => {
                    match self.open(&sealed, &channel_secret_aad(&channel.id.to_string())) {
                        Ok(s) => Some(s),
                        Err(e) => return permanent(e.to_string()),
                    }
                }
                Ok(None) => return permanent("the channel has no secret".into()),
                Err(e) => {
                    return Sent {
                        succeeded: false,
                        http_status: 0,
                        error: e.to_string(),
                        permanent: false,
                    };
                }
            },
        };
        let payload = json!({
            "id": event.id,
            "type": event.event_type.key(),
            "organization": format!("organizations/{}", channel.organization),
            "subject": event.subject,
            "message": event.message,
            "attributes": event.attributes,
            "event_time": event.event_time.to_rfc3339(),
            "delivery": delivery,
        });
        let (url, body, signing) = match channel.kind {
            ChannelKind::Webhook => (
                channel.url.clone().unwrap_or_default(),
                payload.to_string(),
                secret,
            ),
            ChannelKind::Slack => {
                let text = if event.message.is_empty() {
                    format!("*{}*", event.subject)
                } else {
                    format!("*{}*\n{}", event.subject, event.message)
                };
                (
                    secret.unwrap_or_default(),
                    json!({ "text": text }).to_string(),
                    None,
                )
            }
            ChannelKind::Email => {
                let Some(relay) = &self.settings().email_relay_url else {
                    return permanent("no email relay is configured (--email-relay-url)".into());
                };
                let body = json!({
                    "to": channel.email_address,
                    "subject": event.subject,
                    "text": format!("{}\n\n{}", event.message, payload),
                });
                (relay.to_string(), body.to_string(), None)
            }
        };
        if let Err(e) = self.outbound().check_url(&url).await {
            return permanent(format!("endpoint refused: {e}"));
        }
        let timestamp = Utc::now().timestamp();
        let mut request = self
            .outbound()
            .client()
            .post(&url)
            .header("content-type", "application/json")
            .header("Loopback-Event-Id", event.id.as_str())
            .header("Loopback-Event-Type", event.event_type.key());
        if let Some(secret) = signing {
            let sig = signature(&secret, timestamp, body.as_bytes());
            request = request.header(SIGNATURE_HEADER, format!("t={timestamp},v1={sig}"));
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = response.status();
                Sent {
                    succeeded: status.is_success(),
                    http_status: i32::from(status.as_u16()),
                    error: if status.is_success() {
                        String::new()
                    } else {
                        format!("the endpoint answered {status}")
                    },
                    permanent: false,
                }
            }
            Err(e) => Sent {
                succeeded: false,
                http_status: 0,
                error: format!("request failed: {e}"),
                permanent: false,
            },
        }
    }
}

/// What the audit log may say about a channel: never a secret or a Slack
/// URL.
fn audit_details(c: &Channel) -> serde_json::Value {
    json!({
        "kind": c.kind.as_str(),
        "display_name": c.display_name,
        "email_address": c.email_address,
        "url": c.url,
        "event_types": c.event_types.iter().map(|t| t.key()).collect::<Vec<_>>(),
        "enabled": c.enabled,
    })
}

/// Deletes every row of `org` this module holds (its part of following an
/// organization's purge, `crate::purge`); how many rows went.
pub(crate) async fn purge_organization(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations this module holds rows of, in id order after `after`, at
/// most `limit` per table.
pub(crate) async fn holders(
    conn: &impl loopback_runtime::db::Conn,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, 60), MAX_BACKOFF);
    }

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let a = signature("whsec_x", 1, b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, signature("whsec_x", 2, b"{}"));
        assert_ne!(a, signature("whsec_x", 1, b"{ }"));
        assert_ne!(a, signature("whsec_y", 1, b"{}"));
    }

    #[test]
    fn slack_urls_are_masked() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T/B/secret"),
            "https://hooks.slack.com/…"
        );
    }
}
