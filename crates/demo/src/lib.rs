//! `bangfu demo`: Shenzhen's thirty years of paired assistance, generated deterministically
//! into an empty database so that the seed document's headline figures come out of ordinary
//! records (never stored constants). All records are fictitious and labelled 演示数据: the
//! load is one `import_batches` row of kind `demo` that every household points to, and the
//! `app_settings` marker 'demo' = 'true' that pages and exports read (`Db::is_demo`).

pub mod generate;
pub mod people;
pub mod plan;
pub mod scenario;
pub mod sink;

use generate::{Counts, CountyPlaces, Generator, StartIds, Village};
use plan::Plan;
use rand::SeedableRng;
use rand::rngs::StdRng;
use scenario::Scenario;
use store::regions::Progress;
use store::{Db, on_db};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("数据库中已有{0}，演示数据只能载入没有业务数据的数据库（请换一个新的数据库文件）")]
    NotEmpty(String),
    #[error("规模应为 full 或 1%–100% 之间的百分比，收到“{0}”")]
    BadScale(String),
    #[error("演示场景有误：{0}")]
    Scenario(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("数据库错误：{0}")]
    Sql(#[from] sqlx::Error),
    #[error("数据库错误：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// `full` or a percentage such as `5%` (of people, projects and money).
pub fn parse_scale(s: &str) -> Result<f64, DemoError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("full") {
        return Ok(1.0);
    }
    let pct: f64 = t
        .strip_suffix('%')
        .unwrap_or(t)
        .trim()
        .parse()
        .map_err(|_| DemoError::BadScale(s.to_string()))?;
    if !(pct > 0.0 && pct <= 100.0) {
        return Err(DemoError::BadScale(s.to_string()));
    }
    Ok(pct / 100.0)
}

#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub scale: f64,
    pub seed: u64,
}

/// Whether the database already holds registry, project, ledger or pairing records.
pub async fn has_records(db: &Db) -> Result<bool, DemoError> {
    Ok(existing_records(db).await?.is_some())
}

/// Business records already present: the demo refuses to mix with them.
async fn existing_records(db: &Db) -> Result<Option<String>, DemoError> {
    Ok(db.existing_records().await?)
}

async fn next_id(db: &Db, table: &str) -> Result<i64, DemoError> {
    let sql = format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}");
    let n: i64 = on_db!(db, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(p).await)?;
    Ok(n + 1)
}

/// A village committee (村民委员会) in the NBS scheme: the 12-digit code's last three digits
/// 200–399 (001–199 are urban residents' committees, 居委会, where no registered poor live).
fn is_village_committee(code: &str) -> bool {
    code.len() == 12
        && code
            .get(9..)
            .and_then(|s| s.parse::<u32>().ok())
            .is_some_and(|n| (200..=399).contains(&n))
}

async fn county_places(db: &Db, s: &Scenario) -> Result<Vec<CountyPlaces>, DemoError> {
    let mut out = Vec::new();
    for c in &s.counties {
        let (lo, hi) = c.code.subtree_key_range();
        let rows: Vec<(i64, String, String, String)> = on_db!(db, p => sqlx::query_as(
            "SELECT v.key, v.code, v.name, t.name FROM regions v JOIN regions t ON t.key = v.parent_key
             WHERE v.level = 5 AND v.key >= $1 AND v.key < $2 AND v.retired_year IS NULL ORDER BY v.key")
            .bind(lo).bind(hi).fetch_all(p).await)?;
        if !rows
            .iter()
            .any(|(_, code, _, _)| is_village_committee(code))
        {
            return Err(DemoError::Scenario(format!(
                "{}（{}）在区划表中没有村民委员会",
                c.name, c.code
            )));
        }
        out.push(CountyPlaces {
            villages: rows
                .into_iter()
                .filter(|(_, code, _, _)| is_village_committee(code))
                .map(|(key, code, name, town_name)| Village {
                    key,
                    code,
                    name,
                    town_name,
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Generates the demo into `db` (one transaction) and returns what it wrote.
pub async fn load(
    db: &Db,
    options: DemoOptions,
    progress: &dyn Progress,
) -> Result<Counts, DemoError> {
    if let Some(what) = existing_records(db).await? {
        return Err(DemoError::NotEmpty(what));
    }
    let scenario = Scenario::shipped();
    let places = county_places(db, &scenario).await?;
    let start = StartIds {
        organisation: next_id(db, "organisations").await?,
        pairing: next_id(db, "pairings").await?,
        batch: next_id(db, "import_batches").await?,
    };
    let mut rng = StdRng::seed_from_u64(options.seed);
    let plan = Plan::new(&scenario, options.scale, &mut rng);
    let generator = Generator {
        scenario: &scenario,
        places: &places,
        plan: &plan,
        rng,
        now: store::now_rfc3339(),
        start,
        progress,
    };
    match db {
        Db::Sqlite(pool) => {
            let path = pool.connect_options().get_filename().to_path_buf();
            tokio::task::block_in_place(|| {
                let mut sink = sink::SqliteSink::open(&path)?;
                let indexes = sink.drop_secondary_indexes(generate::BULK_TABLES)?;
                let triggers = sink.suspend_summary_triggers()?;
                let counts = generator.run(&mut sink)?;
                progress.start("重建索引", indexes.len() as u64);
                sink.create_indexes(&indexes)?;
                progress.finish();
                progress.start("汇总统计", 1);
                sink.rebuild_summaries(&triggers)?;
                progress.finish();
                sink.commit()?;
                Ok::<_, DemoError>(counts)
            })
        }
        Db::Postgres(pool) => tokio::task::block_in_place(|| {
            let mut sink = sink::PgSink::begin(pool, tokio::runtime::Handle::current())?;
            let triggers = sink.suspend_summary_triggers()?;
            let counts = generator.run(&mut sink)?;
            progress.start("汇总统计", 1);
            sink.rebuild_summaries(&triggers)?;
            progress.finish();
            sink.reset_identity(&[
                "organisations",
                "pairings",
                "import_batches",
                "households",
                "projects",
            ])?;
            sink.commit()?;
            Ok(counts)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_full_or_a_percentage() {
        assert_eq!(parse_scale("full").unwrap(), 1.0);
        assert_eq!(parse_scale("5%").unwrap(), 0.05);
        assert_eq!(parse_scale("100%").unwrap(), 1.0);
        for bad in ["0%", "150%", "abc", "-3%", ""] {
            let e = parse_scale(bad).unwrap_err().to_string();
            assert!(e.contains("规模"), "{bad}: {e}");
        }
    }
}
