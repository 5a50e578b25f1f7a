//! The audit log. Entries are written inside the transaction of the change they record (so a
//! change and its record commit or vanish together) through the `audit!` macro, which works on
//! either engine's transaction. Values passed in must already be masked.

use crate::{Db, StoreResult, on_db};
use serde::Serialize;

/// Appends one audit entry on an executor (usually `&mut *tx`) and evaluates to its id.
/// `$before`/`$after` are `Option<serde_json::Value>`, already masked.
#[macro_export]
macro_rules! audit {
    ($exec:expr, $caller:expr, $action:expr, $entity:expr, $entity_id:expr, $batch:expr, $before:expr, $after:expr, $detail:expr) => {{
        let caller: &domain::Caller = $caller;
        let before: Option<serde_json::Value> = $before;
        let after: Option<serde_json::Value> = $after;
        let entity_id: Option<String> = $entity_id;
        let batch: Option<i64> = $batch;
        let detail: String = $detail;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, batch_id, before_json, after_json, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind($crate::now_rfc3339())
        .bind(caller.user_id)
        .bind(&caller.username)
        .bind($action)
        .bind($entity)
        .bind(entity_id)
        .bind(batch)
        .bind(before.map(|v| v.to_string()))
        .bind(after.map(|v| v.to_string()))
        .bind(detail)
        .fetch_one($exec)
        .await?;
        id
    }};
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub user_id: Option<i64>,
    pub username: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub batch_id: Option<i64>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub username: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    /// Inclusive lower bound on `at` (a date or timestamp prefix).
    pub from: Option<String>,
    /// Exclusive upper bound on `at`.
    pub until: Option<String>,
}

impl Db {
    /// Records an event that changes no other table (login, failed login, reveal, export).
    pub async fn record_event(
        &self,
        caller: &domain::Caller,
        action: &str,
        entity: &str,
        entity_id: Option<String>,
        detail: String,
    ) -> StoreResult<i64> {
        Ok(on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id = audit!(&mut *tx, caller, action, entity, entity_id, None, None, None, detail);
            tx.commit().await?;
            id
        }))
    }

    /// Newest first, keyset by id.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT id, at, user_id, username, action, entity, entity_id, batch_id, before_json, after_json, detail
             FROM audit_log WHERE ($1 IS NULL OR username = $1) AND ($2 IS NULL OR entity = $2)
             AND ($3 IS NULL OR entity_id = $3) AND ($4 IS NULL OR action = $4)
             AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) AND id < $7
             ORDER BY id DESC LIMIT $8")
            .bind(&filter.username).bind(&filter.entity).bind(&filter.entity_id).bind(&filter.action)
            .bind(&filter.from).bind(&filter.until).bind(before_id.unwrap_or(i64::MAX)).bind(limit)
            .fetch_all(p).await)?)
    }
}
