//! Membership storage.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::entity::{membership, membership_role};
use crate::error::Result;

/// Adds `account` to `org` with `roles`.
pub async fn add(conn: &impl ConnectionTrait, org: Uuid, account: Uuid, roles: &[&str]) -> Result<()> {
    let now = Utc::now();
    membership::Entity::insert(membership::ActiveModel {
        organization_id: Set(org.to_string()),
        account_id: Set(account.to_string()),
        create_time: Set(now),
        update_time: Set(now),
        version: Set(1),
    })
    .exec_without_returning(conn)
    .await?;
    for role in roles {
        membership_role::Entity::insert(membership_role::ActiveModel {
            organization_id: Set(org.to_string()),
            account_id: Set(account.to_string()),
            role: Set((*role).to_string()),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}
