//! Where generated rows go: one open transaction on either engine. SQLite gets prepared
//! statements on a connection of its own (rusqlite on the same bundled library: millions of
//! rows a minute need no async round trip per row); PostgreSQL gets COPY. Either way the whole
//! demo is one transaction: interrupted, it leaves the database as it was.

use crate::DemoError;
use sqlx::postgres::PgPool;
use std::collections::HashMap;
use std::fmt::Write as _;
use store::Backend;
use store::summaries::{self, TriggerToggle};

/// One value of a generated row.
#[derive(Debug, Clone, Copy)]
pub enum V<'a> {
    I(i64),
    T(&'a str),
    B(bool),
    F(f64),
    Null,
}

impl<'a> From<i64> for V<'a> {
    fn from(v: i64) -> V<'a> {
        V::I(v)
    }
}
impl<'a> From<&'a str> for V<'a> {
    fn from(v: &'a str) -> V<'a> {
        V::T(v)
    }
}
impl<'a> From<&'a String> for V<'a> {
    fn from(v: &'a String) -> V<'a> {
        V::T(v)
    }
}
impl<'a> From<bool> for V<'a> {
    fn from(v: bool) -> V<'a> {
        V::B(v)
    }
}
impl<'a> From<f64> for V<'a> {
    fn from(v: f64) -> V<'a> {
        V::F(v)
    }
}
impl<'a, T: Into<V<'a>>> From<Option<T>> for V<'a> {
    fn from(v: Option<T>) -> V<'a> {
        v.map_or(V::Null, Into::into)
    }
}

impl rusqlite::ToSql for V<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            V::I(v) => ToSqlOutput::Owned(Value::Integer(v)),
            V::T(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            V::B(b) => ToSqlOutput::Owned(Value::Integer(i64::from(b))),
            V::F(f) => ToSqlOutput::Owned(Value::Real(f)),
            V::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// A table and the columns the generator fills, in order.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

pub trait Sink {
    fn row(&mut self, table: &'static Table, values: &[V<'_>]) -> Result<(), DemoError>;
    /// A statement run in order with the rows (updates of existing rows).
    fn execute(&mut self, sql: &str, values: &[V<'_>]) -> Result<(), DemoError>;
}

fn insert_sql(t: &Table) -> String {
    let marks = vec!["?"; t.columns.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        t.name,
        t.columns.join(", ")
    )
}

/// SQLite: a connection of its own on the database file, one IMMEDIATE transaction.
pub struct SqliteSink {
    conn: rusqlite::Connection,
    sql: HashMap<&'static str, String>,
}

impl SqliteSink {
    pub fn open(path: &std::path::Path) -> Result<SqliteSink, DemoError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // A large page cache for the load only: the indexes of millions of rows stay in memory.
        conn.execute_batch(
            "PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY; BEGIN IMMEDIATE",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteSink {
            conn,
            sql: HashMap::new(),
        })
    }

    pub fn commit(self) -> Result<(), DemoError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Secondary indexes are dropped for the load and rebuilt from the same definitions at the
    /// end (sorting once is several times faster than millions of random B-tree inserts).
    /// Unique indexes stay, so the load still proves uniqueness row by row.
    pub fn drop_secondary_indexes(&mut self, tables: &[&str]) -> Result<Vec<String>, DemoError> {
        let mut defs = Vec::new();
        for t in tables {
            let mut stmt = self.conn.prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL
                 AND sql NOT LIKE 'CREATE UNIQUE%'",
            )?;
            let rows: Vec<(String, String)> = stmt
                .query_map([t], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (name, sql) in rows {
                self.conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
                defs.push(sql);
            }
        }
        Ok(defs)
    }

    pub fn create_indexes(&mut self, defs: &[String]) -> Result<(), DemoError> {
        for sql in defs {
            self.conn.execute_batch(sql)?;
        }
        Ok(())
    }

    /// Takes the summary triggers out of the load's transaction (see `store::summaries`).
    pub fn suspend_summary_triggers(&mut self) -> Result<Vec<TriggerToggle>, DemoError> {
        let mut stmt = self
            .conn
            .prepare(summaries::summary_triggers_sql(Backend::Sqlite))?;
        let toggles: Vec<TriggerToggle> = stmt
            .query_map([], |r| {
                Ok(TriggerToggle::new(Backend::Sqlite, r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        for t in &toggles {
            self.conn.execute_batch(&t.suspend)?;
        }
        Ok(toggles)
    }

    /// Computes every summary once from the loaded records and puts the triggers back.
    pub fn rebuild_summaries(&mut self, toggles: &[TriggerToggle]) -> Result<(), DemoError> {
        self.conn.execute_batch(summaries::rebuild_sql())?;
        for t in toggles {
            self.conn.execute_batch(&t.restore)?;
        }
        Ok(())
    }
}

impl Sink for SqliteSink {
    fn row(&mut self, table: &'static Table, values: &[V<'_>]) -> Result<(), DemoError> {
        let sql = self
            .sql
            .entry(table.name)
            .or_insert_with(|| insert_sql(table));
        let mut stmt = self.conn.prepare_cached(sql)?;
        stmt.execute(rusqlite::params_from_iter(values.iter()))?;
        Ok(())
    }

    fn execute(&mut self, sql: &str, values: &[V<'_>]) -> Result<(), DemoError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        stmt.execute(rusqlite::params_from_iter(values.iter()))?;
        Ok(())
    }
}

/// PostgreSQL: rows are buffered as COPY text per table and sent in table order whenever the
/// buffers grow large (a referenced table is always sent before the tables that refer to it,
/// because the generator creates tables in dependency order).
pub struct PgSink {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    rt: tokio::runtime::Handle,
    order: Vec<&'static Table>,
    buffers: HashMap<&'static str, String>,
    buffered: usize,
}

const PG_FLUSH_BYTES: usize = 16 << 20;

impl PgSink {
    pub fn begin(pool: &PgPool, rt: tokio::runtime::Handle) -> Result<PgSink, DemoError> {
        let tx = rt.block_on(pool.begin())?;
        Ok(PgSink {
            tx,
            rt,
            order: Vec::new(),
            buffers: HashMap::new(),
            buffered: 0,
        })
    }

    fn flush(&mut self) -> Result<(), DemoError> {
        for t in &self.order {
            let Some(buf) = self.buffers.get_mut(t.name) else {
                continue;
            };
            if buf.is_empty() {
                continue;
            }
            let data = std::mem::take(buf);
            let sql = format!("COPY {} ({}) FROM STDIN", t.name, t.columns.join(", "));
            let conn: &mut sqlx::PgConnection = &mut self.tx;
            self.rt.block_on(async {
                let mut copy = conn.copy_in_raw(&sql).await?;
                copy.send(data.as_bytes()).await?;
                copy.finish().await.map(|_| ())
            })?;
        }
        self.buffered = 0;
        Ok(())
    }

    pub fn commit(mut self) -> Result<(), DemoError> {
        self.flush()?;
        self.rt.block_on(self.tx.commit())?;
        Ok(())
    }

    fn run_sql(&mut self, sql: &str) -> Result<(), DemoError> {
        let conn: &mut sqlx::PgConnection = &mut self.tx;
        self.rt
            .block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(conn))?;
        Ok(())
    }

    /// Takes the summary triggers out of the load's transaction (see `store::summaries`).
    pub fn suspend_summary_triggers(&mut self) -> Result<Vec<TriggerToggle>, DemoError> {
        let conn: &mut sqlx::PgConnection = &mut self.tx;
        let rows: Vec<(String, String)> = self.rt.block_on(
            sqlx::query_as(summaries::summary_triggers_sql(Backend::Postgres)).fetch_all(conn),
        )?;
        let toggles: Vec<TriggerToggle> = rows
            .into_iter()
            .map(|(a, b)| TriggerToggle::new(Backend::Postgres, a, b))
            .collect();
        for t in &toggles {
            self.run_sql(&t.suspend)?;
        }
        Ok(toggles)
    }

    /// Computes every summary once from the loaded records and puts the triggers back.
    pub fn rebuild_summaries(&mut self, toggles: &[TriggerToggle]) -> Result<(), DemoError> {
        self.flush()?;
        self.run_sql(summaries::rebuild_sql())?;
        for t in toggles {
            self.run_sql(&t.restore)?;
        }
        Ok(())
    }

    /// Identity columns continue after the ids the demo assigned.
    pub fn reset_identity(&mut self, tables: &[&str]) -> Result<(), DemoError> {
        self.flush()?;
        for t in tables {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"
            );
            let conn: &mut sqlx::PgConnection = &mut self.tx;
            self.rt
                .block_on(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(conn))?;
        }
        Ok(())
    }
}

fn copy_escape(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

impl Sink for PgSink {
    fn row(&mut self, table: &'static Table, values: &[V<'_>]) -> Result<(), DemoError> {
        if !self.buffers.contains_key(table.name) {
            self.order.push(table);
        }
        let buf = self.buffers.entry(table.name).or_default();
        let before = buf.len();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                buf.push('\t');
            }
            match *v {
                V::I(x) => {
                    let _ = write!(buf, "{x}");
                }
                V::T(s) => copy_escape(buf, s),
                V::B(b) => buf.push(if b { 't' } else { 'f' }),
                V::F(f) => {
                    let _ = write!(buf, "{f}");
                }
                V::Null => buf.push_str("\\N"),
            }
        }
        buf.push('\n');
        self.buffered += buf.len() - before;
        if self.buffered > PG_FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, values: &[V<'_>]) -> Result<(), DemoError> {
        self.flush()?;
        // `?` placeholders are written for SQLite; PostgreSQL numbers them.
        let mut numbered = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                let _ = write!(numbered, "${n}");
            } else {
                numbered.push(ch);
            }
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(numbered));
        for v in values {
            q = match *v {
                V::I(x) => q.bind(x),
                V::T(s) => q.bind(s.to_string()),
                V::B(b) => q.bind(b),
                V::F(f) => q.bind(f),
                V::Null => q.bind(None::<i64>),
            };
        }
        let conn: &mut sqlx::PgConnection = &mut self.tx;
        self.rt.block_on(q.execute(conn))?;
        Ok(())
    }
}
