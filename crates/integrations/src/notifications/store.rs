//! Notification storage: channels (secrets only sealed), events (one per
//! organization and id), the delivery queue and its attempts.

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::Sealed;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel as _, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Attempt, Channel, ChannelKind, Delivery, DeliveryState, EventType, NewEvent};
use crate::entity::{delivery, delivery_attempt, notification_channel, notification_event};
use crate::error::{Error, Result};

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("notifications: {what}"))
}

fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| corrupt(format!("bad id {s:?}")))
}

fn channel_to_domain(m: notification_channel::Model) -> Result<Channel> {
    let keys: Vec<String> = serde_json::from_str(&m.event_types).map_err(corrupt)?;
    Ok(Channel {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        kind: ChannelKind::parse(&m.kind).ok_or_else(|| corrupt("channel kind"))?,
        display_name: m.display_name,
        email_address: m.email_address,
        url: m.url,
        event_types: keys
            .iter()
            .map(|k| EventType::parse(k).ok_or_else(|| corrupt("event type")))
            .collect::<Result<_>>()?,
        enabled: m.enabled,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
        signing_secret: None,
    })
}

fn event_keys(c: &Channel) -> Result<String> {
    serde_json::to_string(&c.event_types.iter().map(|t| t.key()).collect::<Vec<_>>())
        .map_err(corrupt)
}

/// Stores a new channel with its sealed secret.
pub async fn insert_channel(
    conn: &impl ConnectionTrait,
    c: &Channel,
    secret: Option<&Sealed>,
) -> Result<()> {
    notification_channel::Entity::insert(notification_channel::ActiveModel {
        id: Set(c.id.to_string()),
        organization_id: Set(c.organization.to_string()),
        kind: Set(c.kind.as_str().to_string()),
        display_name: Set(c.display_name.clone()),
        email_address: Set(c.email_address.clone()),
        url: Set(c.url.clone()),
        secret_key_id: Set(secret.map(|s| s.key_id.clone())),
        secret_ciphertext: Set(secret.map(Sealed::ciphertext_b64)),
        event_types: Set(event_keys(c)?),
        enabled: Set(c.enabled),
        version: Set(c.version),
        create_time: Set(c.create_time),
        update_time: Set(c.update_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Writes a channel's fields and, when given, its new sealed secret.
pub async fn update_channel(
    conn: &impl ConnectionTrait,
    c: &Channel,
    secret: Option<&Sealed>,
) -> Result<()> {
    let Some(row) = notification_channel::Entity::find_by_id(c.id.to_string())
        .one(conn)
        .await?
    else {
        return Err(Error::not_found(c.name().to_string()));
    };
    let mut row = row.into_active_model();
    row.display_name = Set(c.display_name.clone());
    row.email_address = Set(c.email_address.clone());
    row.url = Set(c.url.clone());
    row.event_types = Set(event_keys(c)?);
    row.enabled = Set(c.enabled);
    row.version = Set(c.version);
    row.update_time = Set(c.update_time);
    if let Some(s) = secret {
        row.secret_key_id = Set(Some(s.key_id.clone()));
        row.secret_ciphertext = Set(Some(s.ciphertext_b64()));
    }
    notification_channel::Entity::update(row).exec(conn).await?;
    Ok(())
}

/// One channel of `org`.
pub async fn channel(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Channel>> {
    notification_channel::Entity::find_by_id(id.to_string())
        .filter(notification_channel::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(channel_to_domain)
        .transpose()
}

/// A channel's sealed secret.
pub async fn channel_secret(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Sealed>> {
    let Some(m) = notification_channel::Entity::find_by_id(id.to_string())
        .filter(notification_channel::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    match (m.secret_key_id, m.secret_ciphertext) {
        (Some(k), Some(c)) => Sealed::from_stored(&k, &c).map(Some).map_err(corrupt),
        _ => Ok(None),
    }
}

/// How many channels `org` has.
pub async fn count_channels(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(notification_channel::Entity::find()
        .filter(notification_channel::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?)
}

/// A page of `org`'s channels in creation order.
pub async fn list_channels(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<Channel>> {
    let mut q = notification_channel::Entity::find()
        .filter(notification_channel::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(notification_channel::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(notification_channel::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(channel_to_domain)
        .collect()
}

/// Every enabled channel of `org`.
pub async fn enabled_channels(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<Channel>> {
    notification_channel::Entity::find()
        .filter(notification_channel::Column::OrganizationId.eq(org.to_string()))
        .filter(notification_channel::Column::Enabled.eq(true))
        .order_by_asc(notification_channel::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(channel_to_domain)
        .collect()
}

/// Deletes a channel and gives up its pending deliveries.
pub async fn delete_channel(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    notification_channel::Entity::delete_many()
        .filter(notification_channel::Column::Id.eq(id.to_string()))
        .filter(notification_channel::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::State,
            Expr::value(DeliveryState::Failed.as_str()),
        )
        .filter(delivery::Column::ChannelId.eq(id.to_string()))
        .filter(delivery::Column::State.eq(DeliveryState::Pending.as_str()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records an event; false when `org` already has one with its id.
pub async fn insert_event(conn: &impl ConnectionTrait, org: Uuid, e: &NewEvent) -> Result<bool> {
    let inserted = notification_event::Entity::insert(notification_event::ActiveModel {
        organization_id: Set(org.to_string()),
        event_id: Set(e.id.clone()),
        event_type: Set(e.event_type.key().to_string()),
        subject: Set(e.subject.clone()),
        message: Set(e.message.clone()),
        attributes: Set(serde_json::to_string(&e.attributes).map_err(corrupt)?),
        event_time: Set(e.event_time),
        create_time: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            notification_event::Column::OrganizationId,
            notification_event::Column::EventId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

/// One event of `org`.
pub async fn event(conn: &impl ConnectionTrait, org: Uuid, id: &str) -> Result<Option<NewEvent>> {
    let Some(m) = notification_event::Entity::find_by_id((org.to_string(), id.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(NewEvent {
        id: m.event_id,
        event_type: EventType::parse(&m.event_type).ok_or_else(|| corrupt("event type"))?,
        subject: m.subject,
        message: m.message,
        attributes: serde_json::from_str(&m.attributes).map_err(corrupt)?,
        event_time: m.event_time,
    }))
}

fn delivery_to_domain(m: delivery::Model) -> Result<Delivery> {
    Ok(Delivery {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        channel: uuid(&m.channel_id)?,
        event_id: m.event_id,
        event_type: EventType::parse(&m.event_type).ok_or_else(|| corrupt("event type"))?,
        state: DeliveryState::parse(&m.state).ok_or_else(|| corrupt("delivery state"))?,
        attempt_count: m.attempts,
        attempts: Vec::new(),
        next_attempt_time: m.next_attempt_time,
        create_time: m.create_time,
    })
}

/// Queues a delivery.
pub async fn insert_delivery(conn: &impl ConnectionTrait, d: &Delivery) -> Result<()> {
    delivery::Entity::insert(delivery::ActiveModel {
        id: Set(d.id.to_string()),
        organization_id: Set(d.organization.to_string()),
        channel_id: Set(d.channel.to_string()),
        event_id: Set(d.event_id.clone()),
        event_type: Set(d.event_type.key().to_string()),
        state: Set(d.state.as_str().to_string()),
        attempts: Set(d.attempt_count),
        next_attempt_time: Set(d.next_attempt_time),
        create_time: Set(d.create_time),
        update_time: Set(d.create_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Pending deliveries due by `now`, oldest due first.
pub async fn due_deliveries(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Delivery>> {
    delivery::Entity::find()
        .filter(delivery::Column::State.eq(DeliveryState::Pending.as_str()))
        .filter(delivery::Column::NextAttemptTime.lte(now))
        .order_by_asc(delivery::Column::NextAttemptTime)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(delivery_to_domain)
        .collect()
}

/// Claims a due delivery: moves its due time from `due` to `hold`; false
/// when another sender moved it first.
pub async fn claim_delivery(
    conn: &impl ConnectionTrait,
    id: Uuid,
    due: DateTime<Utc>,
    hold: DateTime<Utc>,
) -> Result<bool> {
    let done = delivery::Entity::update_many()
        .col_expr(delivery::Column::NextAttemptTime, Expr::value(hold))
        .filter(delivery::Column::Id.eq(id.to_string()))
        .filter(delivery::Column::State.eq(DeliveryState::Pending.as_str()))
        .filter(delivery::Column::NextAttemptTime.eq(due))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Records an attempt.
pub async fn insert_attempt(
    conn: &impl ConnectionTrait,
    delivery_id: Uuid,
    org: Uuid,
    a: &Attempt,
) -> Result<()> {
    delivery_attempt::Entity::insert(delivery_attempt::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        delivery_id: Set(delivery_id.to_string()),
        organization_id: Set(org.to_string()),
        attempt: Set(a.attempt),
        attempt_time: Set(a.time),
        succeeded: Set(a.succeeded),
        http_status: Set(a.http_status),
        latency_ms: Set(a.latency_ms),
        error: Set(a.error.clone()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Sets a delivery's state after an attempt.
pub async fn finish_attempt(
    conn: &impl ConnectionTrait,
    id: Uuid,
    state: DeliveryState,
    attempts: i32,
    next: DateTime<Utc>,
) -> Result<()> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::State, Expr::value(state.as_str()))
        .col_expr(delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(delivery::Column::NextAttemptTime, Expr::value(next))
        .col_expr(delivery::Column::UpdateTime, Expr::value(Utc::now()))
        .filter(delivery::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

async fn with_attempts(
    conn: &impl ConnectionTrait,
    mut rows: Vec<Delivery>,
) -> Result<Vec<Delivery>> {
    if rows.is_empty() {
        return Ok(rows);
    }
    let ids: Vec<String> = rows.iter().map(|d| d.id.to_string()).collect();
    let attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.is_in(ids))
        .order_by_asc(delivery_attempt::Column::Attempt)
        .all(conn)
        .await?;
    for a in attempts {
        if let Some(d) = rows.iter_mut().find(|d| d.id.to_string() == a.delivery_id) {
            d.attempts.push(Attempt {
                attempt: a.attempt,
                time: a.attempt_time,
                succeeded: a.succeeded,
                http_status: a.http_status,
                latency_ms: a.latency_ms,
                error: a.error,
            });
        }
    }
    Ok(rows)
}

/// One delivery of `org` with its attempts.
pub async fn delivery(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Delivery>> {
    let Some(m) = delivery::Entity::find_by_id(id.to_string())
        .filter(delivery::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(with_attempts(conn, vec![delivery_to_domain(m)?])
        .await?
        .pop())
}

/// A page of `org`'s deliveries (optionally one channel's), newest first,
/// with their attempts.
pub async fn list_deliveries(
    conn: &impl ConnectionTrait,
    org: Uuid,
    channel: Option<Uuid>,
    page: &PageRequest,
) -> Result<Vec<Delivery>> {
    let mut q =
        delivery::Entity::find().filter(delivery::Column::OrganizationId.eq(org.to_string()));
    if let Some(c) = channel {
        q = q.filter(delivery::Column::ChannelId.eq(c.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(delivery::Column::Id.lt(after.as_str()));
    }
    let rows = q
        .order_by_desc(delivery::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(delivery_to_domain)
        .collect::<Result<Vec<_>>>()?;
    with_attempts(conn, rows).await
}

/// Deletes every channel (with its sealed secret), notification, delivery
/// and attempt of `org`; how many rows went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    use crate::store::delete_of_organization as delete;
    Ok(
        delete::<delivery_attempt::Entity>(conn, delivery_attempt::Column::OrganizationId, org)
            .await?
            + delete::<delivery::Entity>(conn, delivery::Column::OrganizationId, org).await?
            + delete::<notification_event::Entity>(
                conn,
                notification_event::Column::OrganizationId,
                org,
            )
            .await?
            + delete::<notification_channel::Entity>(
                conn,
                notification_channel::Column::OrganizationId,
                org,
            )
            .await?,
    )
}

/// Organizations with notification rows, in id order after `after`, at
/// most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    use crate::store::organizations_of as of;
    let mut all = of::<notification_channel::Entity>(
        conn,
        notification_channel::Column::OrganizationId,
        after,
        limit,
    )
    .await?;
    all.extend(
        of::<notification_event::Entity>(
            conn,
            notification_event::Column::OrganizationId,
            after,
            limit,
        )
        .await?,
    );
    all.extend(of::<delivery::Entity>(conn, delivery::Column::OrganizationId, after, limit).await?);
    all.extend(
        of::<delivery_attempt::Entity>(
            conn,
            delivery_attempt::Column::OrganizationId,
            after,
            limit,
        )
        .await?,
    );
    Ok(all)
}
