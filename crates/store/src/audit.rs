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
        let id: i64 = sqlx::query_scalar($crate::audit::AUDIT_INSERT)
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

/// The one statement that appends an audit entry, for the macro and for [`audit_in`].
pub const AUDIT_INSERT: &str = "INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, batch_id, before_json, after_json, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";

/// `audit!` for code written over [`crate::sqlrt::Tx`] (either engine's transaction).
pub(crate) async fn audit_in<T: crate::sqlrt::Tx>(
    tx: &mut T,
    caller: &domain::Caller,
    action: &str,
    entity: &str,
    entity_id: Option<String>,
    after: Option<serde_json::Value>,
    detail: String,
) -> StoreResult<()> {
    use crate::sqlrt::{Ty, Val};
    let vals: [Val; 10] = [
        crate::now_rfc3339().into(),
        caller.user_id.into(),
        caller.username.clone().into(),
        action.into(),
        entity.into(),
        entity_id.into(),
        Val::I64(None),
        Val::Str(None),
        after.map(|v| v.to_string()).into(),
        detail.into(),
    ];
    tx.rows(AUDIT_INSERT, &vals, &[Ty::I64]).await?;
    Ok(())
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
            crate::commit!(tx)?;
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

// ---------------------------------------------------------------------------------------------
// Identity clashes outside the caller's scope.
//
// A registry keeps one person in one household and one household under one 户编号, so a writer
// must be told when a number is taken, even when the record is in another county. That answer is
// an oracle (try every checksum-valid completion of a masked ID number), so it is bounded and
// visible: each such clash is an audit entry of its own, written after the run whatever became of
// it (dry runs and refused writes included), and a user with more than the rules'
// `identity_clash_daily_limit` clashes in one day (UTC) since an administrator last cleared them
// may not import or write households any more.

/// Audit action of one out-of-scope clash (entity `identity_clash`, entity id = the user).
pub const CLASH_ACTION: &str = "identity_clash";
/// Audit action of an administrator clearing a user's clashes.
pub const CLASH_CLEAR_ACTION: &str = "identity_clash_clear";
const CLASH_ENTITY: &str = "identity_clash";

/// One clash with a record outside the caller's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityClash {
    /// `id_number` or `household_no`.
    pub kind: &'static str,
    /// The masked ID number, or the 户编号.
    pub value: String,
    /// Spreadsheet row; None for a form or an API body.
    pub row: Option<u64>,
}

/// Where clashes came from: a file (with its SHA-256) or a form / API write.
#[derive(Debug, Clone, Default)]
pub struct ClashSource {
    pub file_name: String,
    pub sha256: Option<String>,
}

/// A user refused imports and household writes until an administrator clears it.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedUser {
    pub username: String,
    /// The first day (UTC, YYYY-MM-DD) above the limit.
    pub day: String,
    pub clashes: i64,
    pub limit: i64,
}

impl Db {
    /// Records clashes, each as an audit entry, in a transaction of their own (so that they
    /// outlive the rolled-back run that found them). Then refuses the caller if it is now above
    /// the day's limit: the run's answers are withheld.
    pub async fn record_identity_clashes(
        &self,
        caller: &domain::Caller,
        source: &ClashSource,
        clashes: &[IdentityClash],
    ) -> StoreResult<()> {
        if clashes.is_empty() {
            return Ok(());
        }
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            for c in clashes {
                let what = if c.kind == "id_number" { "证件号码" } else { "户编号" };
                let place = match c.row {
                    Some(r) => format!("{} 第 {r} 行", source.file_name),
                    None => source.file_name.clone(),
                };
                let after = serde_json::json!({
                    "kind": c.kind, "value": c.value, "row": c.row, "file": source.file_name, "sha256": source.sha256,
                });
                audit!(&mut *tx, caller, CLASH_ACTION, CLASH_ENTITY, Some(caller.username.clone()), None, None, Some(after),
                    format!("{place}：{what} {} 已在其管辖范围外登记", c.value));
            }
            crate::commit!(tx)?;
        });
        self.require_not_blocked(caller).await
    }

    /// Refuses (403) a user above the day's clash limit since its last clearing.
    pub async fn require_not_blocked(&self, caller: &domain::Caller) -> StoreResult<()> {
        match self.clash_block(&caller.username).await? {
            None => Ok(()),
            Some(b) => Err(crate::StoreError::Forbidden(format!(
                "您在 {} 有 {} 次管辖范围外的身份冲突（每日上限 {} 次），已暂停导入和修改建档立卡户，须由管理员在审计日志页面解除",
                b.day, b.clashes, b.limit
            ))),
        }
    }

    /// The block on a user, if any.
    pub async fn clash_block(&self, username: &str) -> StoreResult<Option<BlockedUser>> {
        let limit = self.current_rules().await?.rules.identity_clash_daily_limit;
        let found: Option<(String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT substr(c.at, 1, 10), COUNT(*) FROM audit_log c
             WHERE c.entity = $1 AND c.entity_id = $2 AND c.action = $3
             AND c.id > COALESCE((SELECT MAX(k.id) FROM audit_log k WHERE k.entity = $1 AND k.entity_id = $2 AND k.action = $4), 0)
             GROUP BY substr(c.at, 1, 10) HAVING COUNT(*) > $5 ORDER BY 1 LIMIT 1")
            .bind(CLASH_ENTITY).bind(username).bind(CLASH_ACTION).bind(CLASH_CLEAR_ACTION).bind(limit)
            .fetch_optional(p).await)?;
        Ok(found.map(|(day, clashes)| BlockedUser {
            username: username.to_string(),
            day,
            clashes,
            limit,
        }))
    }

    /// Every blocked user (administrators and auditors; see `Caller::can_read_audit`).
    pub async fn blocked_users(&self, caller: &domain::Caller) -> StoreResult<Vec<BlockedUser>> {
        require_audit_reader(caller)?;
        let limit = self.current_rules().await?.rules.identity_clash_daily_limit;
        let rows: Vec<(String, String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT c.entity_id, substr(c.at, 1, 10), COUNT(*) FROM audit_log c
             WHERE c.entity = $1 AND c.action = $2 AND c.entity_id IS NOT NULL
             AND c.id > COALESCE((SELECT MAX(k.id) FROM audit_log k WHERE k.entity = $1 AND k.entity_id = c.entity_id AND k.action = $3), 0)
             GROUP BY c.entity_id, substr(c.at, 1, 10) HAVING COUNT(*) > $4 ORDER BY 1, 2")
            .bind(CLASH_ENTITY).bind(CLASH_ACTION).bind(CLASH_CLEAR_ACTION).bind(limit)
            .fetch_all(p).await)?;
        let mut out: Vec<BlockedUser> = Vec::new();
        for (username, day, clashes) in rows {
            // The first day over the limit names the block.
            if out.last().is_none_or(|b| b.username != username) {
                out.push(BlockedUser {
                    username,
                    day,
                    clashes,
                    limit,
                });
            }
        }
        Ok(out)
    }

    /// The newest clash entries (administrators and auditors).
    pub async fn identity_clashes(
        &self,
        caller: &domain::Caller,
        username: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        require_audit_reader(caller)?;
        let filter = AuditFilter {
            username: username.map(String::from),
            action: Some(CLASH_ACTION.into()),
            entity: Some(CLASH_ENTITY.into()),
            ..Default::default()
        };
        self.list_audit(&filter, None, limit).await
    }

    /// Lifts a user's block (administrators only; recorded). Clashes before it no longer count.
    pub async fn clear_identity_clashes(
        &self,
        caller: &domain::Caller,
        username: &str,
    ) -> StoreResult<()> {
        if !caller.is_admin() {
            return Err(crate::StoreError::Forbidden(
                "只有管理员可以解除身份冲突暂停".into(),
            ));
        }
        let known: Option<i64> = on_db!(self, p => sqlx::query_scalar("SELECT id FROM users WHERE username = $1").bind(username).fetch_optional(p).await)?;
        if known.is_none() {
            return Err(crate::StoreError::NotFound(format!(
                "用户 {username} 不存在"
            )));
        }
        let before = self.clash_block(username).await?;
        let before = before
            .map(|b| serde_json::json!({"day": b.day, "clashes": b.clashes, "limit": b.limit}));
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            audit!(&mut *tx, caller, CLASH_CLEAR_ACTION, CLASH_ENTITY, Some(username.to_string()), None, before, None,
                format!("解除用户 {username} 的身份冲突暂停"));
            crate::commit!(tx)?;
        });
        Ok(())
    }
}

fn require_audit_reader(caller: &domain::Caller) -> StoreResult<()> {
    if caller.can_read_audit() {
        Ok(())
    } else {
        Err(crate::StoreError::Forbidden(
            "只有管理员和审计人员可以查看审计日志".into(),
        ))
    }
}
