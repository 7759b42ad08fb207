//! Account storage.

use chrono::Utc;
use loopback_runtime::auth::Principal;
use loopback_runtime::db::is_unique_violation;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::account;
use crate::error::{Error, Result};
use crate::model::{Account, parse_stored_uuid};

fn to_domain(m: account::Model) -> Result<Account> {
    Ok(Account {
        id: parse_stored_uuid(&m.id)?,
        subject: m.subject,
        email: m.email,
        display_name: m.display_name,
        create_time: m.create_time,
    })
}

/// The account bound to a token subject, if any.
pub async fn find_by_subject(
    conn: &impl ConnectionTrait,
    subject: &str,
) -> Result<Option<Account>> {
    account::Entity::find()
        .filter(account::Column::Subject.eq(subject))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// The account of an account principal, created on its first call; a
/// changed email or name in the token is taken over.
pub async fn ensure(conn: &impl ConnectionTrait, principal: &Principal) -> Result<Account> {
    let email = principal.email.clone().unwrap_or_default();
    let name = principal.name.clone().unwrap_or_default();
    if let Some(existing) = find_by_subject(conn, &principal.subject).await? {
        if existing.email == email && (name.is_empty() || existing.display_name == name) {
            return Ok(existing);
        }
        let display_name = if name.is_empty() {
            existing.display_name.clone()
        } else {
            name
        };
        account::Entity::update_many()
            .set(account::ActiveModel {
                email: Set(email.clone()),
                display_name: Set(display_name.clone()),
                ..Default::default()
            })
            .filter(account::Column::Id.eq(existing.id.to_string()))
            .exec(conn)
            .await?;
        return Ok(Account {
            email,
            display_name,
            ..existing
        });
    }
    let id = Uuid::now_v7();
    let inserted = account::Entity::insert(account::ActiveModel {
        id: Set(id.to_string()),
        subject: Set(principal.subject.clone()),
        email: Set(email),
        display_name: Set(name),
        create_time: Set(Utc::now()),
    })
    .exec_without_returning(conn)
    .await;
    match inserted {
        Ok(_) => {}
        // Two first calls raced; the other one created it.
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    find_by_subject(conn, &principal.subject)
        .await?
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "account for subject {:?} vanished",
                principal.subject
            ))
        })
}
