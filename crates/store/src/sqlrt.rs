//! A small dynamic layer over a transaction of either engine, so that long multi-step logic
//! (imports, batch assessments) is written once as ordinary generic Rust instead of twice or
//! inside a macro. Values cross it as `Val`; SQL uses `$n` placeholders, which both engines accept.

use crate::StoreResult;
use sqlx::{AssertSqlSafe, Row};
use futures::future::BoxFuture;

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
    fn rows<'a>(&'a mut self, sql: &'a str, vals: &'a [Val], tys: &'a [Ty]) -> BoxFuture<'a, StoreResult<Vec<Vec<Val>>>>;
    fn is_postgres(&self) -> bool;
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
    ($db:ty, $pg:expr) => {
        impl Tx for sqlx::Transaction<'_, $db> {
            fn exec<'a>(&'a mut self, sql: &'a str, vals: &'a [Val]) -> BoxFuture<'a, StoreResult<u64>> {
                Box::pin(async move {
                    let q = bind_all!(sqlx::query(AssertSqlSafe(sql)), vals);
                    Ok(q.execute(&mut **self).await?.rows_affected())
                })
            }

            fn rows<'a>(&'a mut self, sql: &'a str, vals: &'a [Val], tys: &'a [Ty]) -> BoxFuture<'a, StoreResult<Vec<Vec<Val>>>> {
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
        }
    };
}

impl_tx!(sqlx::Sqlite, false);
impl_tx!(sqlx::Postgres, true);

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
            format!(" RETURNING {}", returning.iter().map(|r| r.0).collect::<Vec<_>>().join(", "))
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
