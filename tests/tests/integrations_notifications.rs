//! Acceptance (integrations, notifications): a webhook receiver on
//! 127.0.0.1 verifies the signature of each notification; Notify is
//! idempotent by event id; a failing receiver is retried with exponential
//! backoff and ListDeliveries shows each attempt; a spending threshold
//! crossed in billing arrives as one notification — also when integrations
//! was down when it was crossed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use loopback_proto::billing::v1 as bpb;
use loopback_proto::integrations::v1 as ipb;
use loopback_tests::fakes::WebhookReceiver;
use loopback_tests::requests::{spending_limit, vcpu_usage};
use loopback_tests::setup::dev_server;
use loopback_tests::{Backend, TestServer, backend_tests};
use sea_orm::{ConnectionTrait as _, Database, Statement};

async fn webhook(
    server: &TestServer,
    token: &str,
    org: &str,
    receiver: &WebhookReceiver,
) -> ipb::NotificationChannel {
    let channel = server
        .channels(token)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.into(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "ops webhook".into(),
                kind: ipb::NotificationChannelKind::Webhook.into(),
                url: receiver.url.clone(),
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notification_channel
        .unwrap();
    assert!(channel.signing_secret.starts_with("whsec_"));
    receiver.set_secret(&channel.signing_secret);
    channel
}

fn event(id: &str, t: ipb::NotificationEventType) -> Option<ipb::NotificationEvent> {
    Some(ipb::NotificationEvent {
        id: id.into(),
        r#type: t.into(),
        subject: format!("event {id}"),
        message: "details".into(),
        ..Default::default()
    })
}

async fn notify(server: &TestServer, org: &str, id: &str) -> ipb::NotifyResponse {
    server
        .notify(&server.service_token("billing"))
        .notify(ipb::NotifyRequest {
            organization: org.into(),
            event: event(id, ipb::NotificationEventType::InvoiceFinalized),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn delivery_of(server: &TestServer, token: &str, org: &str, event_id: &str) -> ipb::Delivery {
    server
        .channels(token)
        .list_deliveries(ipb::ListDeliveriesRequest {
            parent: org.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries
        .into_iter()
        .find(|d| d.event_id == event_id)
        .unwrap()
}

async fn settled_delivery(
    server: &TestServer,
    token: &str,
    org: &str,
    event_id: &str,
) -> ipb::Delivery {
    for _ in 0..300 {
        let d = delivery_of(server, token, org, event_id).await;
        if d.state != ipb::DeliveryState::Pending as i32 {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("delivery of {event_id} did not settle");
}

fn time(t: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.as_ref().unwrap();
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap()).unwrap()
}

async fn webhooks_are_signed_retried_with_backoff_and_logged(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let receiver = WebhookReceiver::start().await;
    let channel = webhook(&server, &owner, &org.name, &receiver).await;
    let read = server
        .channels(&owner)
        .get_notification_channel(ipb::GetNotificationChannelRequest {
            name: channel.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .notification_channel
        .unwrap();
    assert!(read.signing_secret.is_empty(), "the secret is shown once");

    // Delivered once, signed; the same event id again delivers nothing.
    assert_eq!(notify(&server, &org.name, "inv-1").await.deliveries, 1);
    let again = notify(&server, &org.name, "inv-1").await;
    assert!(again.duplicate && again.deliveries == 0);
    let got = receiver
        .wait_for(20, |r| r.iter().any(|x| x.event_id == "inv-1"))
        .await;
    let first = got.iter().find(|x| x.event_id == "inv-1").unwrap();
    assert!(first.verified, "the receiver verifies the signature");
    assert_eq!(first.event_type, "invoice.finalized");
    assert_eq!(first.body["organization"], org.name.as_str());
    assert_eq!(first.body["id"], "inv-1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|x| x.event_id == "inv-1")
            .count(),
        1
    );

    // A failing receiver: retried with backoff until it answers.
    receiver.fail_next(2);
    notify(&server, &org.name, "inv-2").await;
    let d = settled_delivery(&server, &owner, &org.name, "inv-2").await;
    assert_eq!(d.state, ipb::DeliveryState::Delivered as i32, "{d:#?}");
    assert_eq!(d.attempts.len(), 3);
    assert_eq!(
        d.attempts
            .iter()
            .map(|a| (a.attempt, a.succeeded, a.http_status))
            .collect::<Vec<_>>(),
        [(1, false, 503), (2, false, 503), (3, true, 200)]
    );
    let gap1 = time(&d.attempts[1].attempt_time) - time(&d.attempts[0].attempt_time);
    let gap2 = time(&d.attempts[2].attempt_time) - time(&d.attempts[1].attempt_time);
    assert!(gap1.num_milliseconds() >= 45, "{gap1}");
    assert!(
        gap2.num_milliseconds() >= 95,
        "exponential: {gap1} then {gap2}"
    );
    assert!(receiver.received().iter().all(|r| r.verified));

    // A receiver that keeps failing: given up after the last attempt.
    receiver.fail_next(100);
    notify(&server, &org.name, "inv-3").await;
    let d = settled_delivery(&server, &owner, &org.name, "inv-3").await;
    assert_eq!(d.state, ipb::DeliveryState::Failed as i32);
    assert_eq!(d.attempts.len(), 4);
    receiver.fail_next(0);

    // TestNotificationChannel: one attempt now, in the log.
    let test = server
        .channels(&owner)
        .test_notification_channel(ipb::TestNotificationChannelRequest {
            name: channel.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .delivery
        .unwrap();
    assert_eq!(test.state, ipb::DeliveryState::Delivered as i32);
    assert_eq!(test.attempts.len(), 1);
    assert!(test.attempts[0].latency_ms >= 0);

    // Email without a relay fails and says why; a Slack URL is sealed.
    server
        .channels(&owner)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.name.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "mail".into(),
                kind: ipb::NotificationChannelKind::Email.into(),
                email_address: "ops@example.com".into(),
                enabled: true,
                event_types: vec![ipb::NotificationEventType::DeployFailed.into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let slack = server
        .channels(&owner)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.name.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "slack".into(),
                kind: ipb::NotificationChannelKind::Slack.into(),
                url: "http://127.0.0.1:9/services/T0/B0/slacksecretpart".into(),
                enabled: false,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notification_channel
        .unwrap();
    assert_eq!(slack.url, "http://127.0.0.1/…");
    let deploy_failed = server
        .notify(&server.service_token("dns"))
        .notify(ipb::NotifyRequest {
            organization: org.name.clone(),
            event: event("deploy-1", ipb::NotificationEventType::DeployFailed),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        deploy_failed.deliveries, 2,
        "the webhook takes all; the email only deploy.failed"
    );
    let deliveries = server
        .channels(&owner)
        .list_deliveries(ipb::ListDeliveriesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    let email = deliveries
        .iter()
        .find(|d| d.event_id == "deploy-1" && d.notification_channel != channel.name)
        .unwrap()
        .name
        .clone();
    for _ in 0..200 {
        let all = server
            .channels(&owner)
            .list_deliveries(ipb::ListDeliveriesRequest {
                parent: org.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        let d = all.iter().find(|d| d.name == email).unwrap();
        if d.state == ipb::DeliveryState::Failed as i32 {
            assert!(d.attempts[0].error.contains("email relay"), "{d:#?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let db = Database::connect(&server.integrations_database_url())
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT url FROM notification_channels".to_string(),
        ))
        .await
        .unwrap();
    for r in rows {
        let url: Option<String> = r.try_get("", "url").unwrap();
        assert!(!url.unwrap_or_default().contains("slacksecretpart"));
    }
    // Accounts cannot Notify.
    let err = server
        .notify(&owner)
        .notify(ipb::NotifyRequest {
            organization: org.name.clone(),
            event: event("x", ipb::NotificationEventType::Test),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::InvalidArgument,
        "TEST events are the channel test's own"
    );
    server.stop().await;
}

const PRICES: &str = "--price=compute.vcpu_hours=4";

async fn spending_thresholds_arrive_once_also_after_an_outage(backend: Backend) {
    // Integrations up: the threshold arrives once.
    let server = dev_server(backend, &[PRICES]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let receiver = WebhookReceiver::start().await;
    webhook(&server, &owner, &org.name, &receiver).await;
    server
        .spending(&owner)
        .set_spending_limit(spending_limit(&org.name, 1000, &[50, 90], false))
        .await
        .unwrap();
    let metering = server.service_token("metering");
    server
        .usage(&metering)
        .record_usage(vcpu_usage(&org.name, 130, "u1"))
        .await
        .unwrap();
    server
        .usage(&metering)
        .record_usage(vcpu_usage(&org.name, 1, "u2"))
        .await
        .unwrap();
    let got = receiver
        .wait_for(30, |r| {
            r.iter().any(|x| x.event_type == "spending.threshold")
        })
        .await;
    let alert = got
        .iter()
        .find(|x| x.event_type == "spending.threshold")
        .unwrap();
    assert!(alert.verified);
    assert_eq!(alert.body["attributes"]["threshold_percent"], "50");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|x| x.event_type == "spending.threshold")
            .count(),
        1
    );
    server.stop().await;

    // Integrations down when the threshold is crossed: delivered once when
    // it returns.
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = spare.local_addr().unwrap();
    drop(spare);
    let url = format!("--integrations-url=http://{addr}");
    let server = dev_server(backend, &[PRICES, &url]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let receiver = WebhookReceiver::start().await;
    webhook(&server, &owner, &org.name, &receiver).await;
    server
        .spending(&owner)
        .set_spending_limit(spending_limit(&org.name, 1000, &[50], false))
        .await
        .unwrap();
    server
        .usage(&metering_token(&server))
        .record_usage(vcpu_usage(&org.name, 130, "u1"))
        .await
        .unwrap();
    let status = server
        .spending(&owner)
        .get_spending_status(bpb::GetSpendingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.alerts.len(),
        1,
        "recorded while integrations is down"
    );
    let billing = Database::connect(&server.billing_database_url())
        .await
        .unwrap();
    let outbox = || async {
        billing
            .query_all_raw(Statement::from_string(
                billing.get_database_backend(),
                "SELECT attempts FROM spending_alert_outbox".to_string(),
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get::<i32>("", "attempts").unwrap())
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if outbox().await.first().is_some_and(|a| *a > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(outbox().await[0] > 0, "billing tried and keeps the alert");
    assert!(receiver.received().is_empty());
    // integrations comes back (on the same database).
    let integrations = server
        .start_integrations(addr, None, &["--allow-insecure-endpoints"])
        .await;
    let got = receiver
        .wait_for(40, |r| {
            r.iter().any(|x| x.event_type == "spending.threshold")
        })
        .await;
    assert!(got.iter().all(|r| r.verified));
    for _ in 0..100 {
        if outbox().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(outbox().await.is_empty(), "delivered, so no longer queued");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|x| x.event_type == "spending.threshold")
            .count(),
        1,
        "once"
    );
    integrations.stop().await.unwrap();
    server.stop().await;
}

fn metering_token(server: &TestServer) -> String {
    server.service_token("metering")
}

backend_tests!(
    webhooks_are_signed_retried_with_backoff_and_logged,
    spending_thresholds_arrive_once_also_after_an_outage,
);
