//! Invite storage. Tokens are never stored: only their SHA-256.

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{Invite, state};
use crate::entity::invite;
use crate::error::{Error, Result};
use crate::memberships::ProjectRoles;
use crate::model::parse_stored_uuid;

/// Project roles as stored: `[{"project": uuid, "roles": [..]}]`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredBinding {
    project: Uuid,
    roles: Vec<String>,
}

fn project_roles_json(bindings: &[ProjectRoles]) -> String {
    let stored: Vec<StoredBinding> = bindings
        .iter()
        .map(|b| StoredBinding {
            project: b.project,
            roles: b.roles.clone(),
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// Builds the domain invite from its row.
fn to_domain(m: invite::Model, now: DateTime<Utc>) -> Result<Invite> {
    let roles: Vec<String> = serde_json::from_str(&m.roles)
        .map_err(|e| Error::Corrupt(format!("invite {} roles: {e}", m.id)))?;
    let stored: Vec<StoredBinding> = match &m.project_roles {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| Error::Corrupt(format!("invite {} project roles: {e}", m.id)))?,
        None => Vec::new(),
    };
    let project_roles = stored
        .into_iter()
        .map(|b| ProjectRoles {
            project: b.project,
            roles: b.roles,
        })
        .collect();
    let state = match m.state.as_str() {
        state::PENDING if m.expire_time <= now => state::EXPIRED,
        state::PENDING => state::PENDING,
        state::ACCEPTED => state::ACCEPTED,
        state::REVOKED => state::REVOKED,
        state::EXPIRED => state::EXPIRED,
        other => return Err(Error::Corrupt(format!("invite {} state {other:?}", m.id))),
    };
    Ok(Invite {
        id: parse_stored_uuid(&m.id)?,
        organization: parse_stored_uuid(&m.organization_id)?,
        email: m.email,
        roles,
        project_roles,
        state,
        inviter: m.inviter,
        create_time: m.create_time,
        update_time: m.update_time,
        expire_time: m.expire_time,
        accepted_by: m
            .accepted_by
            .as_deref()
            .map(parse_stored_uuid)
            .transpose()?,
        version: m.version,
    })
}

/// Inserts a new invite whose token hashes to `token_hash`.
pub async fn insert(conn: &impl ConnectionTrait, i: &Invite, token_hash: &str) -> Result<()> {
    invite::Entity::insert(invite::ActiveModel {
        id: Set(i.id.to_string()),
        organization_id: Set(i.organization.to_string()),
        email: Set(i.email.clone()),
        roles: Set(serde_json::to_string(&i.roles).unwrap_or_else(|_| "[]".into())),
        state: Set(i.state.into()),
        token_hash: Set(token_hash.to_string()),
        inviter: Set(i.inviter.clone()),
        create_time: Set(i.create_time),
        update_time: Set(i.update_time),
        expire_time: Set(i.expire_time),
        accepted_by: Set(i.accepted_by.map(|a| a.to_string())),
        version: Set(i.version),
        project_roles: Set(Some(project_roles_json(&i.project_roles))),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Deletes every invite of `org`, in any state. Returns how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(invite::Entity::delete_many()
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Takes `project` out of the project roles of every invite of `org`, in
/// any state, and deletes the invites that granted nothing else. Returns
/// how many invites changed or went.
pub async fn remove_project(conn: &impl ConnectionTrait, org: Uuid, project: Uuid) -> Result<u64> {
    let naming = invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .filter(invite::Column::ProjectRoles.contains(project.to_string()))
        .all(conn)
        .await?;
    let mut changed = 0;
    for m in naming {
        let corrupt = |e: serde_json::Error| Error::Corrupt(format!("invite {}: {e}", m.id));
        let roles: Vec<String> = serde_json::from_str(&m.roles).map_err(corrupt)?;
        let stored: Vec<StoredBinding> =
            serde_json::from_str(m.project_roles.as_deref().unwrap_or("[]")).map_err(corrupt)?;
        let kept: Vec<ProjectRoles> = stored
            .into_iter()
            .filter(|b| b.project != project)
            .map(|b| ProjectRoles {
                project: b.project,
                roles: b.roles,
            })
            .collect();
        let by_id = invite::Column::Id.eq(m.id.as_str());
        if roles.is_empty() && kept.is_empty() {
            invite::Entity::delete_many()
                .filter(by_id)
                .exec(conn)
                .await?;
        } else {
            invite::Entity::update_many()
                .col_expr(
                    invite::Column::ProjectRoles,
                    Expr::value(project_roles_json(&kept)),
                )
                .col_expr(invite::Column::Version, Expr::value(m.version + 1))
                .filter(by_id)
                .exec(conn)
                .await?;
        }
        changed += 1;
    }
    Ok(changed)
}

/// One invite of `org`.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Invite>> {
    invite::Entity::find_by_id(id.to_string())
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(|m| to_domain(m, Utc::now()))
        .transpose()
}

/// The invite whose current token hashes to `hash`.
pub async fn find_by_token_hash(conn: &impl ConnectionTrait, hash: &str) -> Result<Option<Invite>> {
    invite::Entity::find()
        .filter(invite::Column::TokenHash.eq(hash))
        .one(conn)
        .await?
        .map(|m| to_domain(m, Utc::now()))
        .transpose()
}

/// Pending, unexpired invites of `org`, optionally excluding one.
pub async fn count_pending(
    conn: &impl ConnectionTrait,
    org: Uuid,
    except: Option<Uuid>,
) -> Result<i64> {
    let mut q = invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .filter(invite::Column::State.eq(state::PENDING))
        .filter(invite::Column::ExpireTime.gt(Utc::now()));
    if let Some(id) = except {
        q = q.filter(invite::Column::Id.ne(id.to_string()));
    }
    Ok(i64::try_from(q.count(conn).await?).unwrap_or(i64::MAX))
}

/// The pending, unexpired invite for `email` in `org`, if any.
pub async fn find_pending_for_email(
    conn: &impl ConnectionTrait,
    org: Uuid,
    email: &str,
) -> Result<Option<Invite>> {
    invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .filter(invite::Column::Email.eq(email))
        .filter(invite::Column::State.eq(state::PENDING))
        .filter(invite::Column::ExpireTime.gt(Utc::now()))
        .one(conn)
        .await?
        .map(|m| to_domain(m, Utc::now()))
        .transpose()
}

/// Sets state (and optionally token, expiry, acceptor) if still at `expected_version`.
pub async fn transition(
    conn: &impl ConnectionTrait,
    invite: &Invite,
    new_state: &str,
    token_hash: Option<&str>,
    expire_time: Option<DateTime<Utc>>,
    accepted_by: Option<Uuid>,
) -> Result<bool> {
    let now = Utc::now();
    let mut update = invite::Entity::update_many()
        .col_expr(invite::Column::State, Expr::value(new_state))
        .col_expr(invite::Column::UpdateTime, Expr::value(now))
        .col_expr(invite::Column::Version, Expr::value(invite.version + 1));
    if let Some(hash) = token_hash {
        update = update.col_expr(invite::Column::TokenHash, Expr::value(hash));
    }
    if let Some(t) = expire_time {
        update = update.col_expr(invite::Column::ExpireTime, Expr::value(t));
    }
    if let Some(a) = accepted_by {
        update = update.col_expr(invite::Column::AcceptedBy, Expr::value(a.to_string()));
    }
    let result = update
        .filter(invite::Column::Id.eq(invite.id.to_string()))
        .filter(invite::Column::Version.eq(invite.version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A page of invites in creation order, optionally in one effective state.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    only: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<Invite>> {
    let now = Utc::now();
    let mut cond = Condition::all().add(invite::Column::OrganizationId.eq(org.to_string()));
    cond = match only {
        Some(state::PENDING) => cond
            .add(invite::Column::State.eq(state::PENDING))
            .add(invite::Column::ExpireTime.gt(now)),
        Some(state::EXPIRED) => cond.add(
            Condition::any()
                .add(invite::Column::State.eq(state::EXPIRED))
                .add(
                    Condition::all()
                        .add(invite::Column::State.eq(state::PENDING))
                        .add(invite::Column::ExpireTime.lte(now)),
                ),
        ),
        Some(other) => cond.add(invite::Column::State.eq(other)),
        None => cond,
    };
    if let Some(after) = &page.after {
        cond = cond.add(invite::Column::Id.gt(after.as_str()));
    }
    invite::Entity::find()
        .filter(cond)
        .order_by_asc(invite::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(|m| to_domain(m, now))
        .collect()
}
