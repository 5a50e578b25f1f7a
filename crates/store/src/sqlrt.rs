//! A small dynamic layer over a transaction of either engine, so that long multi-step logic
//! (imports, batch assessments) is written once as ordinary generic Rust instead of twice or
//! inside a macro. Values cross it as `Val`; SQL uses `$n` placeholders, which both engines accept.

use crate::StoreResult;
use futures::future::BoxFuture;
use sqlx::{AssertSqlSafe, Row};

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    I64(Option<i64>),
    Str(Option<String>),
    Bool(Option<bool>),
    F64(Option<f64>),
}

impl Val {
    pub fn i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => *v,
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Val::Str(v) => v.as_deref(),
            _ => None,
        }
    }

    pub fn string(&self) -> String {
        self.str().unwrap_or_default().to_string()
    }

    pub fn bool(&self) -> Option<bool> {
        match self {
            Val::Bool(v) => *v,
            _ => None,
        }
    }

    pub fn f64(&self) -> Option<f64> {
        match self {
            Val::F64(v) => *v,
            _ => None,
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(Some(v))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        Val::I64(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Str(Some(v.to_string()))
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Str(Some(v))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        Val::Str(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Bool(Some(v))
    }
}
impl From<Option<bool>> for Val {
    fn from(v: Option<bool>) -> Val {
        Val::Bool(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(Some(v))
    }
}

/// A value borrowed for a bulk insert ([`Tx::insert_rows`]): rows are written without copying
/// their strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    I64(i64),
    Str(&'a str),
    Bool(bool),
}

impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::I64(v)
    }
}
impl From<Option<i64>> for Cell<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Cell::Null, Cell::I64)
    }
}
impl<'a> From<&'a str> for Cell<'a> {
    fn from(v: &'a str) -> Self {
        Cell::Str(v)
    }
}
impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Cell::Null, Cell::Str)
    }
}
impl From<bool> for Cell<'_> {
    fn from(v: bool) -> Self {
        Cell::Bool(v)
    }
}
impl From<Option<bool>> for Cell<'_> {
    fn from(v: Option<bool>) -> Self {
        v.map_or(Cell::Null, Cell::Bool)
    }
}

/// What [`Tx::insert_rows`] did.
#[derive(Debug, Default)]
pub struct Inserted {
    /// The `id` given to each row, in row order (with `ids`; 0 for a row in `conflicts`).
    pub ids: Vec<i64>,
    /// Rows refused by a UNIQUE constraint (SQLite only: row index and the engine's message).
    /// The other rows are inserted; the caller reports these and rolls the transaction back.
    pub conflicts: Vec<(usize, String)>,
}

/// Column types to decode a result row with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    I64,
    Str,
    Bool,
    F64,
}

/// A transaction (or connection) of either engine.
pub trait Tx: Send {
    // Boxed futures: `impl Future + Send` here trips the compiler's higher-ranked Send checks
    // in axum handlers that call generic code over this trait.
    fn exec<'a>(&'a mut self, sql: &'a str, vals: &'a [Val]) -> BoxFuture<'a, StoreResult<u64>>;
    fn rows<'a>(
        &'a mut self,
        sql: &'a str,
        vals: &'a [Val],
        tys: &'a [Ty],
    ) -> BoxFuture<'a, StoreResult<Vec<Vec<Val>>>>;
    fn is_postgres(&self) -> bool;
    /// Inserts `cells.len() / columns.len()` rows (row-major) the fastest way each engine has:
    /// on SQLite prepared multi-row statements stepped through the C API with the strings bound
    /// in place, on PostgreSQL `COPY … FROM STDIN`. With `ids`, each row's `id` is assigned
    /// (SQLite: after the table's largest; PostgreSQL: drawn from the column's sequence) and
    /// returned in row order.
    ///
    /// On SQLite a row that breaks a UNIQUE constraint is skipped and listed in
    /// [`Inserted::conflicts`]; on PostgreSQL any error ends the transaction, so callers check
    /// uniqueness before.
    fn insert_rows<'a>(
        &'a mut self,
        table: &'static str,
        columns: &'static [&'static str],
        cells: &'a [Cell<'a>],
        ids: bool,
    ) -> BoxFuture<'a, StoreResult<Inserted>>;
}

macro_rules! bind_all {
    ($q:expr, $vals:expr) => {{
        let mut q = $q;
        for v in $vals {
            q = match v {
                Val::I64(x) => q.bind(*x),
                Val::Str(x) => q.bind(x.clone()),
                Val::Bool(x) => q.bind(*x),
                Val::F64(x) => q.bind(*x),
            };
        }
        q
    }};
}

macro_rules! impl_tx {
    ($db:ty, $pg:expr, $insert_rows:ident) => {
        impl Tx for sqlx::Transaction<'_, $db> {
            fn exec<'a>(
                &'a mut self,
                sql: &'a str,
                vals: &'a [Val],
            ) -> BoxFuture<'a, StoreResult<u64>> {
                Box::pin(async move {
                    let q = bind_all!(sqlx::query(AssertSqlSafe(sql)), vals);
                    Ok(q.execute(&mut **self).await?.rows_affected())
                })
            }

            fn rows<'a>(
                &'a mut self,
                sql: &'a str,
                vals: &'a [Val],
                tys: &'a [Ty],
            ) -> BoxFuture<'a, StoreResult<Vec<Vec<Val>>>> {
                Box::pin(async move {
                    let q = bind_all!(sqlx::query(AssertSqlSafe(sql)), vals);
                    let rows = q.fetch_all(&mut **self).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for row in rows {
                        let mut vals = Vec::with_capacity(tys.len());
                        for (i, ty) in tys.iter().enumerate() {
                            vals.push(match ty {
                                Ty::I64 => Val::I64(row.try_get(i)?),
                                Ty::Str => Val::Str(row.try_get(i)?),
                                Ty::Bool => Val::Bool(row.try_get(i)?),
                                Ty::F64 => Val::F64(row.try_get(i)?),
                            });
                        }
                        out.push(vals);
                    }
                    Ok(out)
                })
            }

            fn is_postgres(&self) -> bool {
                $pg
            }

            fn insert_rows<'a>(
                &'a mut self,
                table: &'static str,
                columns: &'static [&'static str],
                cells: &'a [Cell<'a>],
                ids: bool,
            ) -> BoxFuture<'a, StoreResult<Inserted>> {
                Box::pin($insert_rows(self, table, columns, cells, ids))
            }
        }
    };
}

impl_tx!(sqlx::Sqlite, false, sqlite_insert_rows);
impl_tx!(sqlx::Postgres, true, pg_insert_rows);

async fn sqlite_insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    table: &'static str,
    columns: &'static [&'static str],
    cells: &[Cell<'_>],
    ids: bool,
) -> StoreResult<Inserted> {
    if cells.is_empty() || columns.is_empty() {
        return Ok(Inserted::default());
    }
    let mut handle = tx.lock_handle().await?;
    // No await from here on: the raw handle is used on this thread only, while sqlx's worker
    // is locked out (that is what the guard is for).
    sqlite_bulk::insert(handle.as_raw_handle(), table, columns, cells, ids)
}

async fn pg_insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &'static str,
    columns: &'static [&'static str],
    cells: &[Cell<'_>],
    ids: bool,
) -> StoreResult<Inserted> {
    let width = columns.len();
    if cells.is_empty() || width == 0 {
        return Ok(Inserted::default());
    }
    let n = cells.len() / width;
    let mut out = Inserted::default();
    if ids {
        // Identity columns take explicit values: draw them first, then COPY them with the rows.
        out.ids = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
        )))
        .bind(n as i64)
        .fetch_all(&mut **tx)
        .await?;
    }
    let column_list = if ids {
        format!("id, {}", columns.join(", "))
    } else {
        columns.join(", ")
    };
    let mut copy = tx
        .copy_in_raw(&format!("COPY {table} ({column_list}) FROM STDIN"))
        .await?;
    // Text format, sent in pieces of about 1 MiB.
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    for (r, row) in cells.chunks(width).enumerate() {
        if ids {
            buf.extend_from_slice(out.ids[r].to_string().as_bytes());
            buf.push(b'\t');
        }
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            match c {
                Cell::Null => buf.extend_from_slice(b"\\N"),
                Cell::I64(v) => buf.extend_from_slice(v.to_string().as_bytes()),
                Cell::Bool(b) => buf.push(if *b { b't' } else { b'f' }),
                Cell::Str(s) => {
                    for &b in s.as_bytes() {
                        match b {
                            b'\\' => buf.extend_from_slice(b"\\\\"),
                            b'\t' => buf.extend_from_slice(b"\\t"),
                            b'\n' => buf.extend_from_slice(b"\\n"),
                            b'\r' => buf.extend_from_slice(b"\\r"),
                            _ => buf.push(b),
                        }
                    }
                }
            }
        }
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf)).await?;
            buf.reserve(1 << 20);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await?;
    }
    copy.finish().await?;
    Ok(out)
}

/// Bulk inserts through the SQLite C API on a connection sqlx has handed over (see
/// `sqlite_insert_rows`). The library is the one sqlx links (`libsqlite3-sys`, pinned with
/// sqlx in Cargo.lock).
mod sqlite_bulk {
    use super::{Cell, Inserted};
    use crate::{StoreError, StoreResult};
    use libsqlite3_sys as ffi;
    use std::ffi::{CStr, CString, c_char, c_int};
    use std::ptr::{self, NonNull};

    /// Finalizes the statement however the function is left.
    struct Statement(*mut ffi::sqlite3_stmt);

    impl Drop for Statement {
        fn drop(&mut self) {
            // SAFETY: the statement came from sqlite3_prepare_v3 and is finalized once, here.
            unsafe {
                ffi::sqlite3_finalize(self.0);
            }
        }
    }

    fn error(db: *mut ffi::sqlite3, what: &str) -> StoreError {
        // SAFETY: db is a live connection handle; sqlite3_errmsg returns a NUL-terminated
        // string owned by SQLite, copied out at once.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above; the primary result code of the last call on this connection.
        let code = unsafe { ffi::sqlite3_errcode(db) } & 0xff;
        if code == ffi::SQLITE_BUSY || code == ffi::SQLITE_LOCKED {
            return StoreError::Unavailable("数据库繁忙，请稍后重试".into());
        }
        StoreError::Internal(format!("数据库错误（{what}）：{message}"))
    }

    /// Rows per multi-row statement. One statement per row would make SQLite copy every page
    /// it touches into its statement journal for every row; one per 64 rows amortises that.
    const BATCH: usize = 64;

    fn prepare(db: *mut ffi::sqlite3, sql: &str) -> StoreResult<Statement> {
        let sql =
            CString::new(sql).map_err(|_| StoreError::Internal("SQL 含有 NUL 字符".into()))?;
        let mut raw: *mut ffi::sqlite3_stmt = ptr::null_mut();
        // SAFETY: db is the live handle sqlx locked for us; sql is NUL-terminated.
        let rc =
            unsafe { ffi::sqlite3_prepare_v3(db, sql.as_ptr(), -1, 0, &mut raw, ptr::null_mut()) };
        if rc != ffi::SQLITE_OK || raw.is_null() {
            return Err(error(db, "prepare"));
        }
        Ok(Statement(raw))
    }

    /// Binds one row at parameter `first` (1-based) on: its id when given, then its cells.
    fn bind_row(
        db: *mut ffi::sqlite3,
        stmt: &Statement,
        first: usize,
        id: Option<i64>,
        row: &[Cell<'_>],
    ) -> StoreResult<()> {
        let mut index = first as c_int;
        if let Some(id) = id {
            // SAFETY: stmt is live.
            if unsafe { ffi::sqlite3_bind_int64(stmt.0, index, id) } != ffi::SQLITE_OK {
                return Err(error(db, "bind"));
            }
            index += 1;
        }
        for c in row {
            // SAFETY: stmt is live; strings are bound SQLITE_STATIC, which is sound because
            // every parameter is bound again before the next step and the statements are
            // finalized before `insert` returns, while the borrowed strings still live.
            let rc = unsafe {
                match c {
                    Cell::Null => ffi::sqlite3_bind_null(stmt.0, index),
                    Cell::I64(v) => ffi::sqlite3_bind_int64(stmt.0, index, *v),
                    Cell::Bool(b) => ffi::sqlite3_bind_int64(stmt.0, index, i64::from(*b)),
                    Cell::Str(s) => ffi::sqlite3_bind_text64(
                        stmt.0,
                        index,
                        s.as_ptr() as *const c_char,
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(db, "bind"));
            }
            index += 1;
        }
        Ok(())
    }

    /// Steps a bound INSERT: Ok(None) when done, Ok(Some(message)) when a UNIQUE constraint
    /// refused it (nothing of it was written), Err otherwise.
    fn step(db: *mut ffi::sqlite3, stmt: &Statement) -> StoreResult<Option<String>> {
        // SAFETY: stmt is live and fully bound; db is live.
        let rc = unsafe { ffi::sqlite3_step(stmt.0) };
        let result = if rc == ffi::SQLITE_DONE {
            Ok(None)
        } else if unsafe { ffi::sqlite3_extended_errcode(db) } == ffi::SQLITE_CONSTRAINT_UNIQUE {
            // SAFETY: as in `error`.
            Ok(Some(
                unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
                    .to_string_lossy()
                    .into_owned(),
            ))
        } else {
            Err(error(db, "insert"))
        };
        // SAFETY: stmt is live. After a failed step reset returns the same error again, which
        // was handled above.
        unsafe {
            ffi::sqlite3_reset(stmt.0);
        }
        result
    }

    /// Inserts the rows of `cells` (row-major, `columns.len()` wide): whole batches with one
    /// multi-row statement, the rest (and any batch a UNIQUE constraint refused, to find the
    /// rows at fault) one row at a time. With `ids`, ids follow the table's largest: this runs
    /// inside the import's write transaction, so no one else can take them meanwhile.
    pub(super) fn insert(
        db: NonNull<ffi::sqlite3>,
        table: &str,
        columns: &[&str],
        cells: &[Cell<'_>],
        ids: bool,
    ) -> StoreResult<Inserted> {
        let db = db.as_ptr();
        let width = columns.len();
        let n = cells.len() / width;
        let first_id = if ids {
            let max = prepare(db, &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))?;
            // SAFETY: max is live; one row of one integer column.
            let rc = unsafe { ffi::sqlite3_step(max.0) };
            if rc != ffi::SQLITE_ROW {
                return Err(error(db, "max id"));
            }
            // SAFETY: the row is current.
            (unsafe { ffi::sqlite3_column_int64(max.0, 0) }) + 1
        } else {
            0
        };
        let id_of = |r: usize| ids.then(|| first_id + r as i64);
        let column_list = if ids {
            format!("id, {}", columns.join(", "))
        } else {
            columns.join(", ")
        };
        let one = format!("({})", vec!["?"; width + usize::from(ids)].join(", "));
        let single = prepare(
            db,
            &format!("INSERT INTO {table} ({column_list}) VALUES {one}"),
        )?;
        let batch = if n >= BATCH {
            Some(prepare(
                db,
                &format!(
                    "INSERT INTO {table} ({column_list}) VALUES {}",
                    vec![one.as_str(); BATCH].join(", ")
                ),
            )?)
        } else {
            None
        };
        let per_row = width + usize::from(ids);
        let mut out = Inserted {
            ids: Vec::new(),
            conflicts: Vec::new(),
        };
        let mut r = 0;
        while r < n {
            if let Some(batch) = batch.as_ref().filter(|_| n - r >= BATCH) {
                for k in 0..BATCH {
                    bind_row(
                        db,
                        batch,
                        1 + k * per_row,
                        id_of(r + k),
                        &cells[(r + k) * width..(r + k + 1) * width],
                    )?;
                }
                if step(db, batch)?.is_none() {
                    r += BATCH;
                    continue;
                }
                // Refused as a whole (and rolled back by SQLite): find the rows at fault.
                for k in r..r + BATCH {
                    bind_row(db, &single, 1, id_of(k), &cells[k * width..(k + 1) * width])?;
                    if let Some(message) = step(db, &single)? {
                        out.conflicts.push((k, message));
                    }
                }
                r += BATCH;
            } else {
                bind_row(db, &single, 1, id_of(r), &cells[r * width..(r + 1) * width])?;
                if let Some(message) = step(db, &single)? {
                    out.conflicts.push((r, message));
                }
                r += 1;
            }
        }
        if ids {
            out.ids = (0..n).map(|r| first_id + r as i64).collect();
            for (r, _) in &out.conflicts {
                out.ids[*r] = 0;
            }
        }
        drop(batch);
        drop(single);
        Ok(out)
    }
}

/// Rows per multi-row INSERT statement: under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
fn rows_per_statement(columns: usize) -> usize {
    (30_000 / columns.max(1)).clamp(1, 2_000)
}

/// Inserts many rows with multi-row INSERT statements; returns the `returning` columns of
/// every inserted row (in no particular order, so return a key with the id).
pub fn insert_many<'a, T: Tx>(
    tx: &'a mut T,
    table: &'static str,
    columns: &'static [&'static str],
    rows: &'a [Vec<Val>],
    returning: &'static [(&'static str, Ty)],
) -> BoxFuture<'a, StoreResult<Vec<Vec<Val>>>> {
    Box::pin(async move {
        let mut out = Vec::new();
        let pg = tx.is_postgres();
        let per = rows_per_statement(columns.len());
        let ret_sql = if returning.is_empty() {
            String::new()
        } else {
            format!(
                " RETURNING {}",
                returning.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
            )
        };
        let tys: Vec<Ty> = returning.iter().map(|r| r.1).collect();
        for chunk in rows.chunks(per) {
            let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
            let mut n = 0;
            for (i, _) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for c in 0..columns.len() {
                    if c > 0 {
                        sql.push(',');
                    }
                    n += 1;
                    push_placeholder(&mut sql, pg, n);
                }
                sql.push(')');
            }
            sql.push_str(&ret_sql);
            let vals: Vec<Val> = chunk.iter().flat_map(|r| r.iter().cloned()).collect();
            if returning.is_empty() {
                tx.exec(&sql, &vals).await?;
            } else {
                out.extend(tx.rows(&sql, &vals, &tys).await?);
            }
        }
        Ok(out)
    })
}

/// Placeholders for `count` parameters numbered from `start` (1-based): `$n` on PostgreSQL,
/// `?` on SQLite. SQLite treats `$n` as a *named* parameter and looks names up linearly, which
/// makes a statement with thousands of them quadratic to prepare and bind.
pub fn placeholders_for(pg: bool, start: usize, count: usize) -> String {
    let mut s = String::with_capacity(count * 4);
    for i in start..start + count {
        if i > start {
            s.push_str(", ");
        }
        push_placeholder(&mut s, pg, i);
    }
    s
}

/// "$a, $b, …" placeholders numbered from `start` (1-based), for short lists; long lists
/// should use [`placeholders_for`].
pub fn placeholders(start: usize, count: usize) -> String {
    placeholders_for(true, start, count)
}

fn push_placeholder(sql: &mut String, pg: bool, n: usize) {
    if pg {
        sql.push('$');
        sql.push_str(&n.to_string());
    } else {
        sql.push('?');
    }
}
