//! Regions: the 2023 statistical division list shipped in the binary, lookups by code, children,
//! ancestors, subtree and name, yearly list imports that retire instead of deleting, and the
//! attributes later figures need (area, elevation, rural registered population).

use crate::activity::ImportKind;
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::{Caller, RegionCode, RegionLevel};
use serde::Serialize;
use sqlx::AssertSqlSafe;

/// The 2023 list, five levels, as `code<TAB>name` lines, zstd-compressed (≈3.8 MB for 665k units).
static SHIPPED_REGIONS: &[u8] = include_bytes!("../data/regions-2023.tsv.zst");
pub const SHIPPED_YEAR: i64 = 2023;

/// Reports progress of long work to whoever drives it (a terminal bar, a page, nothing).
pub trait Progress: Sync {
    fn start(&self, _what: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Serialize)]
pub struct Region {
    pub code: RegionCode,
    pub name: String,
    pub level: RegionLevel,
    pub parent_code: Option<RegionCode>,
    pub retired_year: Option<i64>,
    pub area_km2: Option<f64>,
    pub elevation_m: Option<i64>,
}

/// Attributes of one region to set; None leaves a value as it is.
#[derive(Debug, Clone)]
pub struct RegionAttributes {
    pub code: RegionCode,
    pub area_km2: Option<f64>,
    pub elevation_m: Option<i64>,
    /// (year, rural registered population).
    pub population: Option<(i64, i64)>,
}

/// Region attributes and populations are reference data shared by everyone: the city office's.
fn require_region_editor(caller: &Caller) -> StoreResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(
            "只有市级管理员可以修改区划资料".into(),
        ))
    }
}

/// Writes one region's attributes on a transaction (either engine) and evaluates to the values
/// it touched before and after, as JSON for the audit log.
macro_rules! apply_region_attributes {
    ($tx:expr, $change:expr) => {{
        let c: &RegionAttributes = $change;
        let key = c.code.key();
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        if c.area_km2.is_some() || c.elevation_m.is_some() {
            let (area, elevation): (Option<f64>, Option<i64>) =
                sqlx::query_as("SELECT area_km2, elevation_m FROM regions WHERE key = $1").bind(key).fetch_one(&mut **$tx).await?;
            sqlx::query("UPDATE regions SET area_km2 = COALESCE($1, area_km2), elevation_m = COALESCE($2, elevation_m) WHERE key = $3")
                .bind(c.area_km2).bind(c.elevation_m).bind(key).execute(&mut **$tx).await?;
            if let Some(a) = c.area_km2 {
                before.insert("area_km2".into(), serde_json::json!(area));
                after.insert("area_km2".into(), serde_json::json!(a));
            }
            if let Some(e) = c.elevation_m {
                before.insert("elevation_m".into(), serde_json::json!(elevation));
                after.insert("elevation_m".into(), serde_json::json!(e));
            }
        }
        if let Some((year, population)) = c.population {
            let old: Option<i64> = sqlx::query_scalar("SELECT rural_population FROM region_population WHERE region_key = $1 AND year = $2")
                .bind(key).bind(year).fetch_optional(&mut **$tx).await?;
            sqlx::query(
                "INSERT INTO region_population (region_key, year, rural_population) VALUES ($1, $2, $3)
                 ON CONFLICT (region_key, year) DO UPDATE SET rural_population = excluded.rural_population")
                .bind(key).bind(year).bind(population).execute(&mut **$tx).await?;
            before.insert("year".into(), serde_json::json!(year));
            before.insert("rural_population".into(), serde_json::json!(old));
            after.insert("year".into(), serde_json::json!(year));
            after.insert("rural_population".into(), serde_json::json!(population));
        }
        (serde_json::Value::Object(before), serde_json::Value::Object(after))
    }};
}

#[derive(sqlx::FromRow)]
struct RegionRow {
    key: i64,
    name: String,
    retired_year: Option<i64>,
    area_km2: Option<f64>,
    elevation_m: Option<i64>,
}

const REGION_COLUMNS: &str = "key, name, retired_year, area_km2, elevation_m";

impl RegionRow {
    fn into_region(self) -> Region {
        let code = RegionCode::from_key(self.key).expect("region keys are written by this crate");
        Region {
            code,
            name: self.name,
            level: code.level(),
            parent_code: code.parent(),
            retired_year: self.retired_year,
            area_km2: self.area_km2,
            elevation_m: self.elevation_m,
        }
    }
}

/// One unit of a division list, as read from a file.
#[derive(Debug, Clone)]
pub struct RegionRecord {
    pub code: RegionCode,
    pub name: String,
}

/// What a list import changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RegionImportSummary {
    pub rows: u64,
    pub added: u64,
    pub renamed: u64,
    pub restored: u64,
    pub retired: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RegionFilter {
    pub parent: Option<RegionCode>,
    /// Everything below this unit (the unit itself excluded): one key range.
    pub within: Option<RegionCode>,
    pub level: Option<RegionLevel>,
    pub name_contains: Option<String>,
    pub include_retired: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct YearValue {
    pub year: i64,
    pub rural_population: i64,
}

/// Decodes the shipped list. Sorted by code within each level; every parent precedes its children.
pub fn shipped_records() -> StoreResult<Vec<RegionRecord>> {
    let text = zstd::decode_all(SHIPPED_REGIONS)
        .map_err(|e| StoreError::Internal(format!("内置区划数据损坏：{e}")))?;
    let text = String::from_utf8(text)
        .map_err(|e| StoreError::Internal(format!("内置区划数据损坏：{e}")))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (code, name) = line.split_once('\t').unwrap_or((line, ""));
            let code = RegionCode::parse(code)
                .map_err(|e| StoreError::Internal(format!("内置区划数据损坏：{e}")))?;
            Ok(RegionRecord {
                code,
                name: name.to_string(),
            })
        })
        .collect()
}

fn escape_copy(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Rows per multi-row INSERT on SQLite: 6 parameters each, well under its 32,766 limit.
const SQLITE_CHUNK: usize = 2_000;

impl Db {
    pub async fn region_count(&self) -> StoreResult<i64> {
        Ok(
            on_db!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM regions").fetch_one(p).await)?,
        )
    }

    /// Loads the shipped 2023 list into an empty regions table.
    pub async fn load_shipped_regions(&self, progress: &dyn Progress) -> StoreResult<u64> {
        let records = shipped_records()?;
        progress.start("载入 2023 年区划代码", records.len() as u64);
        let n = records.len() as u64;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            tx.bulk_regions("regions", &records, SHIPPED_YEAR, progress).await?;
            crate::commit!(tx)?;
        });
        progress.finish();
        Ok(n)
    }

    /// Imports a (newer) yearly list of one level: new codes are added, renamed units updated,
    /// retired units restored, and units of that level missing from the file — within the
    /// provinces the file covers — marked retired in `year`. Nothing is deleted. One transaction.
    pub async fn import_regions(
        &self,
        level: RegionLevel,
        records: &[RegionRecord],
        year: i64,
        progress: &dyn Progress,
    ) -> StoreResult<RegionImportSummary> {
        if let Some(bad) = records.iter().find(|r| r.code.level() != level) {
            return Err(StoreError::invalid_field(
                "code",
                format!("代码 {} 不是{}代码", bad.code, level.name_zh()),
            ));
        }
        let mut provinces: Vec<i64> = records.iter().map(|r| r.code.province_prefix()).collect();
        provinces.sort_unstable();
        provinces.dedup();
        let province_list = provinces
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let now = now_rfc3339();
        let rank = level.rank() as i64;
        progress.start("导入区划代码", records.len() as u64);
        crate::activity::count_import_rows(ImportKind::Regions, records.len() as u64);

        // Statements shared by both engines once the staging table is filled.
        let changes_added =
            "INSERT INTO region_changes (region_key, year, change, old_name, new_name, recorded_at)
             SELECT s.key, $1, 'added', NULL, s.name, $2 FROM region_staging s
             WHERE NOT EXISTS (SELECT 1 FROM regions r WHERE r.key = s.key)";
        let changes_renamed = "INSERT INTO region_changes (region_key, year, change, old_name, new_name, recorded_at)
             SELECT s.key, $1, 'renamed', r.name, s.name, $2 FROM region_staging s JOIN regions r ON r.key = s.key
             WHERE r.name <> s.name";
        let changes_restored = "INSERT INTO region_changes (region_key, year, change, old_name, new_name, recorded_at)
             SELECT s.key, $1, 'restored', r.name, s.name, $2 FROM region_staging s JOIN regions r ON r.key = s.key
             WHERE r.retired_year IS NOT NULL";
        let upsert = "INSERT INTO regions (key, code, level, name, parent_key, source_year)
             SELECT key, code, level, name, parent_key, source_year FROM region_staging WHERE true
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, source_year = excluded.source_year, retired_year = NULL";
        let missing = format!(
            "FROM regions r WHERE r.level = {rank} AND r.retired_year IS NULL
             AND (r.key / 100000000000) IN ({province_list})
             AND NOT EXISTS (SELECT 1 FROM region_staging s WHERE s.key = r.key)"
        );
        let changes_retired = format!(
            "INSERT INTO region_changes (region_key, year, change, old_name, new_name, recorded_at)
             SELECT r.key, $1, 'retired', r.name, NULL, $2 {missing}"
        );
        let retire =
            format!("UPDATE regions SET retired_year = $1 WHERE key IN (SELECT r.key {missing})");
        let count = |cond: &str| {
            format!(
                "SELECT COUNT(*) FROM region_staging s LEFT JOIN regions r ON r.key = s.key WHERE {cond}"
            )
        };
        let counts_sql = [
            count("r.key IS NULL"),
            count("r.name <> s.name"),
            count("r.retired_year IS NOT NULL"),
            count("(r.name <> s.name OR r.retired_year IS NOT NULL)"),
            format!("SELECT COUNT(*) {missing}"),
        ];

        let summary = on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::raw_sql(STAGING_DDL[self.backend() as usize]).execute(&mut *tx).await?;
            tx.bulk_regions("region_staging", records, year, progress).await?;
            let mut counts = [0u64; 5];
            for (i, sql) in counts_sql.iter().enumerate() {
                if i == 4 && provinces.is_empty() {
                    continue;
                }
                let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_one(&mut *tx).await?;
                counts[i] = n as u64;
            }
            for sql in [changes_added, changes_renamed, changes_restored] {
                sqlx::query(sql).bind(year).bind(&now).execute(&mut *tx).await?;
            }
            sqlx::query(upsert).execute(&mut *tx).await?;
            if !provinces.is_empty() {
                sqlx::query(AssertSqlSafe(changes_retired.as_str())).bind(year).bind(&now).execute(&mut *tx).await?;
                sqlx::query(AssertSqlSafe(retire.as_str())).bind(year).execute(&mut *tx).await?;
            }
            if self.backend() == crate::Backend::Sqlite {
                sqlx::raw_sql("DROP TABLE region_staging").execute(&mut *tx).await?;
            }
            crate::commit!(tx)?;
            let [added, renamed, restored, changed, retired] = counts;
            RegionImportSummary {
                rows: records.len() as u64,
                added,
                renamed,
                restored,
                retired,
                unchanged: records.len() as u64 - added - changed,
            }
        });
        progress.finish();
        Ok(summary)
    }

    pub async fn get_region(&self, code: RegionCode) -> StoreResult<Option<Region>> {
        let sql = format!("SELECT {REGION_COLUMNS} FROM regions WHERE key = $1");
        let row: Option<RegionRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(code.key()).fetch_optional(p).await)?;
        Ok(row.map(RegionRow::into_region))
    }

    pub async fn require_region(&self, code: RegionCode) -> StoreResult<Region> {
        self.get_region(code)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("区划代码 {code} 不存在")))
    }

    /// The unit's ancestors from the province down, as they are stored.
    pub async fn region_ancestors(&self, code: RegionCode) -> StoreResult<Vec<Region>> {
        let keys: Vec<i64> = code.ancestors().iter().map(|c| c.key()).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list = keys
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql =
            format!("SELECT {REGION_COLUMNS} FROM regions WHERE key IN ({list}) ORDER BY key");
        let rows: Vec<RegionRow> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(p).await)?;
        let mut regions: Vec<Region> = rows.into_iter().map(RegionRow::into_region).collect();
        regions.sort_by_key(|r| r.level);
        Ok(regions)
    }

    /// Lists regions in code order with keyset pagination (`after` is the last key seen).
    pub async fn list_regions(
        &self,
        filter: &RegionFilter,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Region>> {
        let mut sql = format!("SELECT {REGION_COLUMNS} FROM regions WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if filter.parent.is_some() {
            sql += &format!(" AND parent_key = {}", next());
        } else if let Some(within) = filter.within {
            let (lo, hi) = within.subtree_key_range();
            sql += &format!(" AND key > {lo} AND key < {hi}");
        } else if filter.level.is_none() && filter.name_contains.is_none() {
            sql += " AND parent_key IS NULL";
        }
        if filter.level.is_some() {
            sql += &format!(" AND level = {}", next());
        }
        if filter.name_contains.is_some() {
            sql += &format!(" AND name LIKE {} ESCAPE '\\'", next());
        }
        if !filter.include_retired {
            sql += " AND retired_year IS NULL";
        }
        // A name search lists higher levels first (紫金 most likely means 紫金县, not a
        // village named 紫金…); the level is the key's last digit, so the cursor stays one key.
        let by_level = filter.name_contains.is_some();
        if let Some(after) = after {
            if by_level {
                let level = after % 10;
                sql += &format!(" AND (level > {level} OR (level = {level} AND key > {after}))");
            } else {
                sql += &format!(" AND key > {after}");
            }
        }
        let order = if by_level { "level, key" } else { "key" };
        sql += &format!(" ORDER BY {order} LIMIT {}", next());
        let pattern = filter
            .name_contains
            .as_ref()
            .map(|q| format!("%{}%", escape_like(q)));
        let rows: Vec<RegionRow> = on_db!(self, p => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            if let Some(parent) = filter.parent {
                q = q.bind(parent.key());
            }
            if let Some(level) = filter.level {
                q = q.bind(level.rank() as i64);
            }
            if let Some(pattern) = &pattern {
                q = q.bind(pattern.clone());
            }
            q.bind(limit).fetch_all(p).await
        })?;
        Ok(rows.into_iter().map(RegionRow::into_region).collect())
    }

    /// Counts of units per level below a region (the whole list for None).
    pub async fn region_level_counts(
        &self,
        root: Option<RegionCode>,
    ) -> StoreResult<Vec<(RegionLevel, i64)>> {
        let (lo, hi) = root.map(|r| r.subtree_key_range()).unwrap_or((0, i64::MAX));
        let rows: Vec<(i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT level, COUNT(*) FROM regions WHERE key >= $1 AND key < $2 AND retired_year IS NULL GROUP BY level ORDER BY level")
            .bind(lo).bind(hi).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(l, n)| RegionLevel::from_rank(l).map(|l| (l, n)))
            .collect())
    }

    /// Sets a region's area and elevation (None leaves a value as it is), recorded in the audit
    /// log in the same transaction (before and after).
    pub async fn set_region_attributes(
        &self,
        caller: &Caller,
        code: RegionCode,
        area_km2: Option<f64>,
        elevation_m: Option<i64>,
    ) -> StoreResult<Region> {
        require_region_editor(caller)?;
        self.require_region(code).await?;
        let change = RegionAttributes {
            code,
            area_km2,
            elevation_m,
            population: None,
        };
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let (before, after) = apply_region_attributes!(&mut tx, &change);
            audit!(&mut *tx, caller, "update", "region", Some(code.to_string()), None, Some(before), Some(after), "区划属性".to_string());
            crate::commit!(tx)?;
        });
        self.require_region(code).await
    }

    /// Sets a region's rural registered population of one year, recorded in the audit log in the
    /// same transaction (before and after).
    pub async fn set_rural_population(
        &self,
        caller: &Caller,
        code: RegionCode,
        year: i64,
        population: i64,
    ) -> StoreResult<()> {
        require_region_editor(caller)?;
        self.require_region(code).await?;
        let change = RegionAttributes {
            code,
            area_km2: None,
            elevation_m: None,
            population: Some((year, population)),
        };
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let (before, after) = apply_region_attributes!(&mut tx, &change);
            audit!(&mut *tx, caller, "update", "region", Some(code.to_string()), None, Some(before), Some(after), format!("{year} 年农业户籍人口"));
            crate::commit!(tx)?;
        });
        Ok(())
    }

    /// Applies a file of region attributes (`bangfu import region-attributes`): every row or
    /// none, in one transaction with one audit entry for the file (name, SHA-256, row count)
    /// that lists each region's values before and after. Regions must exist (checked earlier).
    pub async fn import_region_attributes(
        &self,
        caller: &Caller,
        rows: &[RegionAttributes],
        file_name: &str,
        file_bytes: &[u8],
    ) -> StoreResult<usize> {
        require_region_editor(caller)?;
        crate::activity::count_import_rows(ImportKind::RegionAttributes, rows.len() as u64);
        use sha2::{Digest, Sha256};
        let sha256 = hex::encode(Sha256::digest(file_bytes));
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let mut changes = Vec::with_capacity(rows.len());
            for r in rows {
                let (before, after) = apply_region_attributes!(&mut tx, r);
                changes.push(serde_json::json!({ "code": r.code.to_string(), "before": before, "after": after }));
            }
            audit!(&mut *tx, caller, "import", "region", None, None, None,
                Some(serde_json::json!({ "file": file_name, "sha256": sha256, "rows": rows.len(), "changes": changes })),
                format!("导入区划属性 {file_name}（{} 行）", rows.len()));
            crate::commit!(tx)?;
        });
        Ok(rows.len())
    }

    pub async fn rural_population(&self, code: RegionCode) -> StoreResult<Vec<YearValue>> {
        let rows: Vec<(i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT year, rural_population FROM region_population WHERE region_key = $1 ORDER BY year")
            .bind(code.key()).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|(year, rural_population)| YearValue {
                year,
                rural_population,
            })
            .collect())
    }

    /// The change log of one unit (added, renamed, retired, restored by list imports).
    pub async fn region_changes(&self, code: RegionCode) -> StoreResult<Vec<RegionChange>> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT year, change, old_name, new_name FROM region_changes WHERE region_key = $1 ORDER BY id")
            .bind(code.key()).fetch_all(p).await)?)
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RegionChange {
    pub year: i64,
    pub change: String,
    pub old_name: Option<String>,
    pub new_name: Option<String>,
}

pub(crate) fn escape_like(q: &str) -> String {
    q.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Indexed by `Backend as usize`.
const STAGING_DDL: [&str; 2] = [
    "CREATE TEMP TABLE region_staging (key BIGINT PRIMARY KEY, code TEXT NOT NULL, level BIGINT NOT NULL,
        name TEXT NOT NULL, parent_key BIGINT, source_year BIGINT NOT NULL)",
    "CREATE TEMP TABLE region_staging (key BIGINT PRIMARY KEY, code TEXT NOT NULL, level BIGINT NOT NULL,
        name TEXT NOT NULL, parent_key BIGINT, source_year BIGINT NOT NULL) ON COMMIT DROP",
];

/// Bulk writers for region rows, one per engine, so shared code can fill a table either way.
trait BulkRegions {
    fn bulk_regions<'a>(
        &'a mut self,
        table: &'a str,
        records: &'a [RegionRecord],
        year: i64,
        progress: &'a dyn Progress,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send + 'a;
}

impl BulkRegions for sqlx::Transaction<'_, sqlx::Sqlite> {
    fn bulk_regions<'a>(
        &'a mut self,
        table: &'a str,
        records: &'a [RegionRecord],
        year: i64,
        progress: &'a dyn Progress,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send + 'a {
        sqlite_insert_regions(self, table, records, year, progress)
    }
}

impl BulkRegions for sqlx::Transaction<'_, sqlx::Postgres> {
    fn bulk_regions<'a>(
        &'a mut self,
        table: &'a str,
        records: &'a [RegionRecord],
        year: i64,
        progress: &'a dyn Progress,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send + 'a {
        pg_copy_regions(self, table, records, year, progress)
    }
}

async fn sqlite_insert_regions(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    table: &str,
    records: &[RegionRecord],
    year: i64,
    progress: &dyn Progress,
) -> StoreResult<()> {
    let head =
        format!("INSERT INTO {table} (key, code, level, name, parent_key, source_year) VALUES ");
    for chunk in records.chunks(SQLITE_CHUNK) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * 16);
        sql.push_str(&head);
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?,?,?,?,?,?)");
        }
        let mut q = sqlx::query(AssertSqlSafe(sql.as_str()));
        for r in chunk {
            q = q
                .bind(r.code.key())
                .bind(r.code.to_string())
                .bind(r.code.level().rank() as i64)
                .bind(r.name.as_str())
                .bind(r.code.parent().map(|p| p.key()))
                .bind(year);
        }
        q.execute(&mut **tx).await?;
        progress.advance(chunk.len() as u64);
    }
    Ok(())
}

async fn pg_copy_regions(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    records: &[RegionRecord],
    year: i64,
    progress: &dyn Progress,
) -> StoreResult<()> {
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {table} (key, code, level, name, parent_key, source_year) FROM STDIN"
        ))
        .await?;
    for chunk in records.chunks(20_000) {
        let mut buf = String::with_capacity(chunk.len() * 64);
        for r in chunk {
            let parent = r
                .code
                .parent()
                .map(|p| p.key().to_string())
                .unwrap_or_else(|| "\\N".into());
            buf.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                r.code.key(),
                r.code,
                r.code.level().rank(),
                escape_copy(&r.name),
                parent,
                year
            ));
        }
        copy.send(buf.into_bytes()).await?;
        progress.advance(chunk.len() as u64);
    }
    copy.finish().await?;
    Ok(())
}
