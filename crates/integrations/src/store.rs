//! Store helpers every module's store shares: the organizations a table
//! holds rows of, and deleting an organization's rows (what following
//! org-core's purges needs, `crate::purge`).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The organizations `E` holds rows of (`column` is its organization id),
/// in id order after `after`, at most `limit`.
pub async fn organizations_of<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = E::find().select_only().column(column).distinct();
    if let Some(after) = after {
        q = q.filter(column.gt(after.to_string()));
    }
    let ids: Vec<String> = q
        .order_by_asc(column)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|_| Error::Corrupt(format!("organization id {id:?}")))
        })
        .collect()
}

/// Deletes every row of `E` whose `column` is `org`; how many went.
pub async fn delete_of_organization<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    org: Uuid,
) -> Result<u64> {
    Ok(E::delete_many()
        .filter(column.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}
