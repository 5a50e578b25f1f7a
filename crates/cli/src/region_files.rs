//! Reading division lists and region attribute files. Every row is checked before anything is
//! written; problems are reported all at once with the spreadsheet row number (header = 1).

use crate::progress::TerminalProgress;
use anyhow::{Result, bail};
use domain::{RegionCode, RegionLevel};
use std::path::Path;
use store::Db;
use store::regions::RegionRecord;

/// Which level a division file holds, from its header (the format of the 2023 list).
pub fn detect_level(headers: &[String]) -> Option<RegionLevel> {
    let has = |h: &str| headers.iter().any(|x| x == h);
    if !has("code") || !has("name") {
        return None;
    }
    Some(if has("streetCode") {
        RegionLevel::Village
    } else if has("areaCode") {
        RegionLevel::Town
    } else if has("cityCode") {
        RegionLevel::County
    } else if has("provinceCode") {
        RegionLevel::Prefecture
    } else {
        RegionLevel::Province
    })
}

fn parent_column(level: RegionLevel) -> Option<&'static str> {
    match level {
        RegionLevel::Province => None,
        RegionLevel::Prefecture => Some("provinceCode"),
        RegionLevel::County => Some("cityCode"),
        RegionLevel::Town => Some("areaCode"),
        RegionLevel::Village => Some("streetCode"),
    }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("无法读取文件 {}：{e}", path.display()))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => {
            let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
            if had_errors {
                bail!(
                    "文件 {} 既不是 UTF-8 也不是 GBK/GB18030 编码",
                    path.display()
                );
            }
            Ok(text.into_owned())
        }
    }
}

/// Parses a division list; all problems or all records.
pub fn parse_division_file(text: &str) -> Result<(RegionLevel, Vec<RegionRecord>), Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => return Err(vec![format!("第 1 行：无法读取表头：{e}")]),
    };
    let Some(level) = detect_level(&headers) else {
        return Err(vec![
            "第 1 行：无法识别区划文件的表头，应含 code、name 列（以及 provinceCode/cityCode/areaCode/streetCode 之一）".into(),
        ]);
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (code_col, name_col) = (col("code").unwrap_or(0), col("name").unwrap_or(1));
    let parent_col = parent_column(level).and_then(col);
    let mut problems = Vec::new();
    let mut records = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("第 {line} 行：无法解析：{e}"));
                continue;
            }
        };
        let code_text = row.get(code_col).unwrap_or("").trim();
        let name = domain::text::normalize(row.get(name_col).unwrap_or(""));
        let code = match RegionCode::parse(code_text) {
            Ok(c) if c.level() == level => c,
            Ok(_) | Err(_) => {
                problems.push(format!(
                    "第 {line} 行 code 列：“{code_text}”不是{}代码（应为 {} 位数字）",
                    level.name_zh(),
                    level.digits()
                ));
                continue;
            }
        };
        if name.is_empty() {
            problems.push(format!("第 {line} 行 name 列：名称为空"));
        }
        if let Some(pc) = parent_col {
            let parent_text = row.get(pc).unwrap_or("").trim();
            if code.parent().map(|p| p.to_string()).as_deref() != Some(parent_text) {
                problems.push(format!(
                    "第 {line} 行 {} 列：上级代码“{parent_text}”与代码 {code} 不符",
                    headers[pc]
                ));
            }
        }
        if !seen.insert(code) {
            problems.push(format!("第 {line} 行 code 列：代码 {code} 重复"));
        }
        records.push(RegionRecord { code, name });
    }
    if problems.is_empty() {
        Ok((level, records))
    } else {
        Err(problems)
    }
}

fn report(problems: &[String]) -> anyhow::Error {
    const SHOWN: usize = 200;
    for p in problems.iter().take(SHOWN) {
        eprintln!("{p}");
    }
    if problems.len() > SHOWN {
        eprintln!("……另有 {} 处问题未列出", problems.len() - SHOWN);
    }
    anyhow::anyhow!("发现 {} 处问题，未写入任何数据", problems.len())
}

pub async fn import_regions(db: &Db, path: &Path, year: Option<i64>) -> Result<()> {
    let text = read_text(path)?;
    let (level, records) = parse_division_file(&text).map_err(|p| report(&p))?;
    let year = year.unwrap_or_else(store::current_year);
    let progress = TerminalProgress::new();
    let s = db
        .import_regions(level, &records, year, &progress)
        .await
        .map_err(anyhow::Error::msg)?;
    println!(
        "已导入{}区划 {} 行（{year} 年）：新增 {}，更名 {}，恢复 {}，撤销 {}，未变 {}",
        level.name_zh(),
        s.rows,
        s.added,
        s.renamed,
        s.restored,
        s.retired,
        s.unchanged
    );
    Ok(())
}

/// One row of a region attribute file.
struct AttributeRow {
    code: RegionCode,
    area_km2: Option<f64>,
    elevation_m: Option<i64>,
    population: Option<(i64, i64)>,
}

const CODE_HEADERS: [&str; 3] = ["code", "行政区划代码", "区划代码"];
const AREA_HEADERS: [&str; 3] = ["area_km2", "面积", "面积（平方公里）"];
const ELEVATION_HEADERS: [&str; 3] = ["elevation_m", "海拔", "海拔（米）"];
const YEAR_HEADERS: [&str; 2] = ["year", "年份"];
const POPULATION_HEADERS: [&str; 2] = ["rural_population", "农业户籍人口"];

pub async fn import_attributes(db: &Db, path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(domain::text::normalize)
        .collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let Some(code_col) = find(&CODE_HEADERS) else {
        bail!("第 1 行：缺少区划代码列（code 或 行政区划代码）")
    };
    let (area_col, elev_col, year_col, pop_col) = (
        find(&AREA_HEADERS),
        find(&ELEVATION_HEADERS),
        find(&YEAR_HEADERS),
        find(&POPULATION_HEADERS),
    );
    if pop_col.is_some() != year_col.is_some() {
        bail!("第 1 行：农业户籍人口列与年份列须同时出现");
    }
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("第 {line} 行：无法解析：{e}"));
                continue;
            }
        };
        let cell = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(domain::text::normalize)
                .filter(|s| !s.is_empty())
        };
        let code_text = cell(Some(code_col)).unwrap_or_default();
        let code = match RegionCode::parse(&code_text) {
            Ok(c) => match db.get_region(c).await.map_err(anyhow::Error::msg)? {
                Some(_) => c,
                None => {
                    problems.push(format!(
                        "第 {line} 行 {} 列：区划代码 {c} 不存在",
                        headers[code_col]
                    ));
                    continue;
                }
            },
            Err(e) => {
                problems.push(format!("第 {line} 行 {} 列：{e}", headers[code_col]));
                continue;
            }
        };
        let mut number = |col: Option<usize>, what: &str| -> Option<f64> {
            let v = cell(col)?;
            match v.replace(',', "").parse::<f64>() {
                Ok(n) if n.is_finite() => Some(n),
                _ => {
                    problems.push(format!(
                        "第 {line} 行 {} 列：{what}“{v}”不是数字",
                        headers[col.unwrap_or(0)]
                    ));
                    None
                }
            }
        };
        let area_km2 = number(area_col, "面积");
        let elevation_m = number(elev_col, "海拔").map(|e| e.round() as i64);
        let year = number(year_col, "年份").map(|y| y as i64);
        let pop = number(pop_col, "人口").map(|p| p as i64);
        rows.push(AttributeRow {
            code,
            area_km2,
            elevation_m,
            population: year.zip(pop),
        });
    }
    if !problems.is_empty() {
        return Err(report(&problems));
    }
    let changes: Vec<store::regions::RegionAttributes> = rows
        .iter()
        .map(|r| store::regions::RegionAttributes {
            code: r.code,
            area_km2: r.area_km2,
            elevation_m: r.elevation_m,
            population: r.population,
        })
        .collect();
    // One transaction and one audit entry for the whole file.
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let raw =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("无法读取文件 {}：{e}", path.display()))?;
    db.import_region_attributes(&domain::Caller::system(), &changes, &file_name, &raw)
        .await
        .map_err(anyhow::Error::msg)?;
    println!("已更新 {} 个区划的属性", rows.len());
    Ok(())
}
