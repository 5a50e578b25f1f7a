//! Code tables of the household registry (性别, 民族, 致贫原因 …): versioned data, not code.
//!
//! Files from county offices carry names, old names and local spellings rather than codes, so
//! every table maps a code, its name and its aliases to one entry after the same normalisation
//! (NFKC, all whitespace removed). An administrator can add a value with the year it starts to
//! apply; records of earlier years must not use it.

use crate::text;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// 因婚 joined the causes of poverty after the first registration of 2014 (DOMAIN.md §4).
pub const MARRIAGE_CAUSE_CODE: &str = "05";
pub const MARRIAGE_CAUSE_VALID_FROM: i32 = 2015;

/// File stems of the tables, in the order of [`CodeTables`]' fields.
pub const TABLE_STEMS: [&str; 12] = [
    "sex",
    "ethnicity",
    "relation",
    "education",
    "schooling",
    "health",
    "labour",
    "household_attribute",
    "identification_standard",
    "cause",
    "poverty_status",
    "monitoring_type",
];

/// The Chinese field name of a table, as in the import templates; unknown tables (added by an
/// administrator) are shown by their own name.
pub fn table_label_zh(table_name: &str) -> &str {
    match table_name {
        "sex" => "性别",
        "ethnicity" => "民族",
        "relation" => "与户主关系",
        "education" => "文化程度",
        "schooling" => "在校生状况",
        "health" => "健康状况",
        "labour" => "劳动技能",
        "household_attribute" => "贫困户属性",
        "identification_standard" => "识别标准",
        "cause" => "致贫原因",
        "poverty_status" => "脱贫状态",
        "monitoring_type" => "监测对象类型",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeEntry {
    pub code: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// First year the value may be used; `None` = always.
    pub valid_from: Option<i32>,
}

impl CodeEntry {
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> CodeEntry {
        CodeEntry {
            code: code.into(),
            name: name.into(),
            aliases: Vec::new(),
            valid_from: None,
        }
    }

    pub fn with_aliases<S: AsRef<str>>(mut self, aliases: &[S]) -> CodeEntry {
        self.aliases
            .extend(aliases.iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn with_valid_from(mut self, year: i32) -> CodeEntry {
        self.valid_from = Some(year);
        self
    }

    pub fn is_valid_in(&self, year: i32) -> bool {
        self.valid_from.is_none_or(|from| year >= from)
    }

    /// Every spelling that identifies this entry, normalised for the index.
    fn keys(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(&self.code)
            .chain(std::iter::once(&self.name))
            .chain(&self.aliases)
            .map(|k| text::normalize_compact(k))
            .filter(|k| !k.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeTableError {
    #[error("代码表“{label}”缺少表头（应为 code,name,aliases）", label = table_label_zh(.table))]
    MissingHeader { table: String },
    #[error("代码表“{label}”的表头缺少 {column} 列", label = table_label_zh(.table))]
    MissingColumn { table: String, column: &'static str },
    #[error("代码表“{label}”第{line}行：引号未闭合", label = table_label_zh(.table))]
    UnterminatedQuote { table: String, line: usize },
    #[error("代码表“{label}”第{line}行：{column} 为空", label = table_label_zh(.table))]
    EmptyField {
        table: String,
        line: usize,
        column: &'static str,
    },
    #[error("代码表“{label}”第{line}行：起始年份“{value}”无效", label = table_label_zh(.table))]
    BadYear {
        table: String,
        line: usize,
        value: String,
    },
    #[error("代码表“{label}”中代码 {code} 重复", label = table_label_zh(.table))]
    DuplicateCode { table: String, code: String },
    #[error("代码表“{label}”中“{value}”同时对应代码 {first} 和 {second}", label = table_label_zh(.table))]
    Ambiguous {
        table: String,
        value: String,
        first: String,
        second: String,
    },
    #[error("代码表“{label}”没有任何条目", label = table_label_zh(.table))]
    NoEntries { table: String },
}

/// Why a cell does not resolve to a code. `table` is the Chinese field name. The cell is quoted
/// so the user can find it; for 健康状况 it may be sensitive, so callers should show these
/// errors to the importing user only, not write them to logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeLookupError {
    #[error("{table}为空")]
    Empty { table: String },
    #[error("{table}“{value}”不在代码表中，可选值：{choices}")]
    Unknown {
        table: String,
        value: String,
        choices: String,
    },
    #[error("{table}“{value}”自{valid_from}年起才启用，不能用于{year}年的记录")]
    NotYetValid {
        table: String,
        value: String,
        year: i32,
        valid_from: i32,
    },
}

#[derive(Debug, Clone)]
pub struct CodeTable {
    pub name: String,
    entries: Vec<CodeEntry>,
    /// Normalised spelling → index into `entries` (Fx-hashed: every imported cell is looked
    /// up here, and the keys are not attacker-chosen).
    index: FxHashMap<String, usize>,
}

const MAX_QUOTED_CHARS: usize = 30;

fn quote(cell: &str) -> String {
    let t = text::normalize(cell);
    if t.chars().count() <= MAX_QUOTED_CHARS {
        t
    } else {
        let mut q: String = t.chars().take(MAX_QUOTED_CHARS).collect();
        q.push('…');
        q
    }
}

impl CodeTable {
    pub fn new(name: impl Into<String>) -> CodeTable {
        CodeTable {
            name: name.into(),
            entries: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    /// Parses the `code,name,aliases` format (aliases `|`-separated). Columns are found by
    /// their header so a fourth `valid_from` column (a year) can carry versions. A BOM, CRLF
    /// line ends, blank lines and simple double-quoted fields are tolerated; codes that repeat
    /// or spellings that would resolve to two entries are errors, since an import would
    /// otherwise pick one silently.
    pub fn from_csv(table_name: &str, csv_text: &str) -> Result<CodeTable, CodeTableError> {
        let table = || table_name.to_string();
        let text = csv_text.strip_prefix('\u{feff}').unwrap_or(csv_text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty());

        let (header_line, header) = lines
            .next()
            .ok_or_else(|| CodeTableError::MissingHeader { table: table() })?;
        let header = split_csv_line(header).ok_or_else(|| CodeTableError::UnterminatedQuote {
            table: table(),
            line: header_line,
        })?;
        let column = |name: &str| {
            header.iter().position(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            })
        };
        let (Some(code_col), Some(name_col)) = (column("code"), column("name")) else {
            // A first row without the expected names is data, not a header: say so rather
            // than misreading it.
            return Err(if column("code").is_some() {
                CodeTableError::MissingColumn {
                    table: table(),
                    column: "name",
                }
            } else if column("name").is_some() {
                CodeTableError::MissingColumn {
                    table: table(),
                    column: "code",
                }
            } else {
                CodeTableError::MissingHeader { table: table() }
            });
        };
        let aliases_col = column("aliases");
        let valid_from_col = column("valid_from");

        let mut result = CodeTable::new(table_name);
        for (line, raw) in lines {
            let fields = split_csv_line(raw).ok_or_else(|| CodeTableError::UnterminatedQuote {
                table: table(),
                line,
            })?;
            let field = |i: Option<usize>| {
                i.and_then(|i| fields.get(i))
                    .map(|f| f.trim())
                    .unwrap_or("")
            };
            let code = field(Some(code_col));
            let name = field(Some(name_col));
            for (value, column) in [(code, "code"), (name, "name")] {
                if value.is_empty() {
                    return Err(CodeTableError::EmptyField {
                        table: table(),
                        line,
                        column,
                    });
                }
            }
            let aliases: Vec<&str> = field(aliases_col)
                .split('|')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            let mut entry = CodeEntry::new(code, name).with_aliases(&aliases);
            let year = field(valid_from_col);
            if !year.is_empty() {
                let y = year.parse().map_err(|_| CodeTableError::BadYear {
                    table: table(),
                    line,
                    value: year.to_string(),
                })?;
                entry.valid_from = Some(y);
            }
            result.try_add_entry(entry)?;
        }
        if result.entries.is_empty() {
            return Err(CodeTableError::NoEntries { table: table() });
        }
        Ok(result)
    }

    /// Adds an entry, refusing a code that exists or a spelling that already names another
    /// entry.
    pub fn try_add_entry(&mut self, entry: CodeEntry) -> Result<(), CodeTableError> {
        if text::normalize_compact(&entry.code).is_empty() {
            return Err(CodeTableError::EmptyField {
                table: self.name.clone(),
                line: 0,
                column: "code",
            });
        }
        if self.entries.iter().any(|e| e.code == entry.code) {
            return Err(CodeTableError::DuplicateCode {
                table: self.name.clone(),
                code: entry.code,
            });
        }
        for key in entry.keys() {
            if let Some(&i) = self.index.get(&key) {
                return Err(CodeTableError::Ambiguous {
                    table: self.name.clone(),
                    value: key,
                    first: self.entries[i].code.clone(),
                    second: entry.code.clone(),
                });
            }
        }
        let i = self.entries.len();
        for key in entry.keys() {
            self.index.insert(key, i);
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Adds an entry, or replaces the entry with the same code (to correct a name or add an
    /// alias). It never fails: a spelling that already names another entry keeps naming that
    /// one, so existing imports resolve as before. Use [`CodeTable::try_add_entry`] to be told.
    pub fn add_entry(&mut self, entry: CodeEntry) {
        match self.entries.iter().position(|e| e.code == entry.code) {
            Some(i) => self.entries[i] = entry,
            None => self.entries.push(entry),
        }
        self.rebuild_index();
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        for (i, entry) in self.entries.iter().enumerate() {
            for key in entry.keys() {
                self.index.entry(key).or_insert(i);
            }
        }
    }

    /// Resolves a cell by code, name or alias after NFKC and whitespace removal, whatever the
    /// year. In the schooling table a grade ("初二", "小学三年级") resolves to its stage.
    pub fn lookup(&self, cell: &str) -> Option<&CodeEntry> {
        // Most cells are already a clean spelling: try them as they are before normalising.
        if let Some(&i) = self.index.get(cell) {
            return Some(&self.entries[i]);
        }
        let key = text::normalize_compact(cell);
        if key.is_empty() {
            return None;
        }
        let found = self.index.get(&key).or_else(|| {
            // Exact spellings win; the grade rewrite is only a fallback, so a table value that
            // happens to look like a grade is never shadowed.
            (self.name == "schooling")
                .then(|| normalize_schooling(&key))
                .and_then(|stage| self.index.get(&stage))
        });
        found.map(|&i| &self.entries[i])
    }

    /// Like [`CodeTable::lookup`], for a record of `year`: a value introduced later (因婚
    /// before 2015) is refused, and errors name the table and list the valid choices.
    pub fn lookup_in_year(&self, cell: &str, year: i32) -> Result<&CodeEntry, CodeLookupError> {
        // The common case first, without building an error's strings (every key is non-empty,
        // so a hit is never an empty cell).
        if let Some(entry) = self.lookup(cell)
            && entry.is_valid_in(year)
        {
            return Ok(entry);
        }
        let table = self.label_zh().to_string();
        if text::normalize_compact(cell).is_empty() {
            return Err(CodeLookupError::Empty { table });
        }
        let entry = self.lookup(cell).ok_or_else(|| CodeLookupError::Unknown {
            table: table.clone(),
            value: quote(cell),
            choices: self.choices_zh_in_year(year),
        })?;
        match entry.valid_from {
            Some(from) if year < from => Err(CodeLookupError::NotYetValid {
                table,
                value: entry.name.clone(),
                year,
                valid_from: from,
            }),
            _ => Ok(entry),
        }
    }

    /// The entry with exactly this code (surrounding whitespace ignored).
    pub fn by_code(&self, code: &str) -> Option<&CodeEntry> {
        let code = code.trim();
        self.entries.iter().find(|e| e.code == code)
    }

    pub fn name_of(&self, code: &str) -> Option<&str> {
        self.by_code(code).map(|e| e.name.as_str())
    }

    pub fn entries(&self) -> &[CodeEntry] {
        &self.entries
    }

    pub fn label_zh(&self) -> &str {
        table_label_zh(&self.name)
    }

    /// "男、女": names for error messages.
    pub fn choices_zh(&self) -> String {
        join_names(self.entries.iter())
    }

    /// Names of the values usable in `year`.
    pub fn choices_zh_in_year(&self, year: i32) -> String {
        join_names(self.entries.iter().filter(|e| e.is_valid_in(year)))
    }
}

fn join_names<'a>(entries: impl Iterator<Item = &'a CodeEntry>) -> String {
    entries
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join("、")
}

/// Splits one CSV line. Quoted fields may contain commas and doubled quotes; `None` if a quote
/// is left open. The tables need no more than this, and a CSV dependency would be IO-shaped.
fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
            at_field_start = true;
            continue;
        } else if c == '"' && at_field_start {
            field.clear();
            in_quotes = true;
        } else {
            field.push(c);
        }
        at_field_start = false;
    }
    if in_quotes {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// A school grade parsed from "3", "三", "十二", optionally followed by 年级.
fn parse_grade(s: &str, require_suffix: bool) -> Option<u32> {
    let number = match s.strip_suffix("年级") {
        Some(n) => n,
        None if require_suffix => return None,
        None => s,
    };
    if !number.is_empty() && number.len() <= 2 && number.bytes().all(|b| b.is_ascii_digit()) {
        return number.parse().ok();
    }
    const NUMERALS: [&str; 12] = [
        "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二",
    ];
    NUMERALS
        .iter()
        .position(|&n| n == number)
        .map(|i| i as u32 + 1)
}

/// Stage prefixes, longest first so that "初中" is tried before "初" and "高职" before "高",
/// with the grades each stage has and the schooling-table name it maps to. 初中 accepts 七–九
/// 年级 as well, the current national naming of its grades; 初四 and 大五 exist in five-four
/// systems and five-year programmes.
const STAGES: [(&str, &str, &[u32]); 15] = [
    ("研究生", "本科及以上", &[1, 2, 3]),
    ("小学", "小学", &[1, 2, 3, 4, 5, 6]),
    ("初中", "初中", &[1, 2, 3, 4, 7, 8, 9]),
    ("高中", "高中", &[1, 2, 3, 10, 11, 12]),
    ("中职", "中职", &[1, 2, 3, 4]),
    ("中专", "中职", &[1, 2, 3, 4]),
    ("技校", "中职", &[1, 2, 3, 4]),
    ("高职", "高职", &[1, 2, 3]),
    ("大专", "高职", &[1, 2, 3]),
    ("大学", "本科及以上", &[1, 2, 3, 4, 5]),
    ("本科", "本科及以上", &[1, 2, 3, 4, 5]),
    ("初", "初中", &[1, 2, 3, 4]),
    ("高", "高中", &[1, 2, 3]),
    ("大", "本科及以上", &[1, 2, 3, 4, 5]),
    ("研", "本科及以上", &[1, 2, 3]),
];

/// Suffixes saying the pupil is enrolled ("初中在读"); stripped only when what remains is a
/// stage, so "非在校生" is left alone.
const ENROLLED_SUFFIXES: [&str; 4] = ["在校生", "在读", "在校", "就读"];

/// Kindergarten classes and the pre-school year.
const PRESCHOOL: [&str; 8] = [
    "学前班",
    "幼儿园大班",
    "幼儿园中班",
    "幼儿园小班",
    "大班",
    "中班",
    "小班",
    "托班",
];

fn schooling_stage(key: &str) -> Option<&'static str> {
    if PRESCHOOL.contains(&key) {
        return Some("学前教育");
    }
    if let Some(grade) = parse_grade(key, true) {
        return match grade {
            1..=6 => Some("小学"),
            7..=9 => Some("初中"),
            10..=12 => Some("高中"),
            _ => None,
        };
    }
    STAGES.iter().find_map(|&(prefix, stage, grades)| {
        let rest = key.strip_prefix(prefix)?;
        // Single-character prefixes ("初", "大") need a grade; a full stage word may stand
        // alone once an enrolment suffix has been stripped.
        let grade = parse_grade(rest, false)?;
        grades.contains(&grade).then_some(stage)
    })
}

/// Rewrites a school grade to its stage as named in the schooling table: 小学三年级 / 三年级 →
/// 小学, 初二 / 初中二年级 / 八年级 → 初中, 高一 / 高中一年级 → 高中, 大一 … 大五 / 大学二年级 /
/// 研一 → 本科及以上, 中专二年级 → 中职, 大专一年级 → 高职, 学前班 / 大班 → 学前教育, and an
/// enrolment suffix such as 在读 is dropped ("初中在读" → 初中). Anything else is returned
/// normalised (NFKC, whitespace removed) but otherwise unchanged, for the lookup to judge.
pub fn normalize_schooling(cell: &str) -> String {
    let key = text::normalize_compact(cell);
    if let Some(stage) = schooling_stage(&key) {
        return stage.to_string();
    }
    for suffix in ENROLLED_SUFFIXES {
        if let Some(rest) = key.strip_suffix(suffix) {
            if let Some(stage) = schooling_stage(rest) {
                return stage.to_string();
            }
            if let Some(&(_, stage, _)) = STAGES
                .iter()
                .find(|(prefix, _, _)| prefix.chars().count() > 1 && *prefix == rest)
            {
                return stage.to_string();
            }
        }
    }
    key
}

/// The twelve tables of the household registry.
#[derive(Debug, Clone)]
pub struct CodeTables {
    pub sex: CodeTable,
    pub ethnicity: CodeTable,
    pub relation: CodeTable,
    pub education: CodeTable,
    pub schooling: CodeTable,
    pub health: CodeTable,
    pub labour: CodeTable,
    pub household_attribute: CodeTable,
    pub identification_standard: CodeTable,
    pub cause: CodeTable,
    pub poverty_status: CodeTable,
    pub monitoring_type: CodeTable,
}

/// The tables shipped with the program (`crates/domain/codes/`), by file stem.
pub fn builtin_csv(stem: &str) -> Option<&'static str> {
    Some(match stem {
        "sex" => include_str!("../codes/sex.csv"),
        "ethnicity" => include_str!("../codes/ethnicity.csv"),
        "relation" => include_str!("../codes/relation.csv"),
        "education" => include_str!("../codes/education.csv"),
        "schooling" => include_str!("../codes/schooling.csv"),
        "health" => include_str!("../codes/health.csv"),
        "labour" => include_str!("../codes/labour.csv"),
        "household_attribute" => include_str!("../codes/household_attribute.csv"),
        "identification_standard" => include_str!("../codes/identification_standard.csv"),
        "cause" => include_str!("../codes/cause.csv"),
        "poverty_status" => include_str!("../codes/poverty_status.csv"),
        "monitoring_type" => include_str!("../codes/monitoring_type.csv"),
        _ => return None,
    })
}

/// The built-in tables; see [`CodeTables::builtin`].
pub fn builtin() -> CodeTables {
    CodeTables::builtin()
}

impl CodeTables {
    /// Builds the tables from CSV texts given by file stem (`"cause"` → contents of
    /// cause.csv), so the caller decides where they come from.
    pub fn from_csv_texts<'a>(get: impl Fn(&str) -> &'a str) -> Result<CodeTables, CodeTableError> {
        let load = |stem: &str| CodeTable::from_csv(stem, get(stem));
        let mut cause = load("cause")?;
        // The CSV files have no version column, but 因婚 must not be accepted for 2014
        // records; a start year given explicitly in the CSV wins.
        if let Some(entry) = cause
            .entries
            .iter_mut()
            .find(|e| e.code == MARRIAGE_CAUSE_CODE && e.valid_from.is_none())
        {
            entry.valid_from = Some(MARRIAGE_CAUSE_VALID_FROM);
        }
        Ok(CodeTables {
            sex: load("sex")?,
            ethnicity: load("ethnicity")?,
            relation: load("relation")?,
            education: load("education")?,
            schooling: load("schooling")?,
            health: load("health")?,
            labour: load("labour")?,
            household_attribute: load("household_attribute")?,
            identification_standard: load("identification_standard")?,
            cause,
            poverty_status: load("poverty_status")?,
            monitoring_type: load("monitoring_type")?,
        })
    }

    /// The tables shipped in the binary. Panics only if those files are broken, which the
    /// tests rule out.
    pub fn builtin() -> CodeTables {
        CodeTables::from_csv_texts(|stem| builtin_csv(stem).unwrap_or(""))
            .expect("built-in code tables are valid")
    }

    pub fn get(&self, stem: &str) -> Option<&CodeTable> {
        self.iter().find(|t| t.name == stem)
    }

    pub fn get_mut(&mut self, stem: &str) -> Option<&mut CodeTable> {
        self.iter_mut().find(|t| t.name == stem)
    }

    /// All tables in [`TABLE_STEMS`] order.
    pub fn iter(&self) -> impl Iterator<Item = &CodeTable> {
        [
            &self.sex,
            &self.ethnicity,
            &self.relation,
            &self.education,
            &self.schooling,
            &self.health,
            &self.labour,
            &self.household_attribute,
            &self.identification_standard,
            &self.cause,
            &self.poverty_status,
            &self.monitoring_type,
        ]
        .into_iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut CodeTable> {
        [
            &mut self.sex,
            &mut self.ethnicity,
            &mut self.relation,
            &mut self.education,
            &mut self.schooling,
            &mut self.health,
            &mut self.labour,
            &mut self.household_attribute,
            &mut self.identification_standard,
            &mut self.cause,
            &mut self.poverty_status,
            &mut self.monitoring_type,
        ]
        .into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> CodeTables {
        CodeTables::builtin()
    }

    fn code(table: &CodeTable, cell: &str) -> Option<String> {
        table.lookup(cell).map(|e| e.code.clone())
    }

    #[test]
    fn builtin_tables_load_completely() {
        let t = tables();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, TABLE_STEMS);
        assert_eq!(t.sex.entries().len(), 2);
        assert_eq!(t.ethnicity.entries().len(), 58);
        assert_eq!(t.relation.entries().len(), 20);
        assert_eq!(t.education.entries().len(), 7);
        assert_eq!(t.schooling.entries().len(), 8);
        assert_eq!(t.health.entries().len(), 4);
        assert_eq!(t.labour.entries().len(), 5);
        assert_eq!(t.household_attribute.entries().len(), 3);
        assert_eq!(t.identification_standard.entries().len(), 3);
        assert_eq!(t.cause.entries().len(), 13);
        assert_eq!(t.poverty_status.entries().len(), 4);
        assert_eq!(t.monitoring_type.entries().len(), 3);
        for stem in TABLE_STEMS {
            assert_eq!(t.get(stem).unwrap().name, stem);
            assert_ne!(table_label_zh(stem), stem);
        }
        assert!(t.get("nope").is_none());
        assert!(builtin_csv("nope").is_none());
    }

    #[test]
    fn every_builtin_spelling_resolves_to_its_own_entry() {
        for table in tables().iter() {
            for entry in table.entries() {
                for key in [&entry.code, &entry.name].into_iter().chain(&entry.aliases) {
                    assert_eq!(
                        table.lookup(key).map(|e| &e.code),
                        Some(&entry.code),
                        "{} {key}",
                        table.name
                    );
                }
            }
        }
    }

    #[test]
    fn poverty_status_spellings() {
        let t = tables().poverty_status;
        for cell in [
            "已脱贫(享受政策)",
            "已脱贫（享受政策）",
            "已脱贫",
            " 已脱贫 ",
            "已脱贫 （享受 政策）",
            "1",
        ] {
            assert_eq!(code(&t, cell).as_deref(), Some("1"), "{cell}");
        }
        assert_eq!(code(&t, "已脱贫(不再享受政策)").as_deref(), Some("4"));
        assert_eq!(code(&t, "已脱贫（不再享受政策）").as_deref(), Some("4"));
        assert_eq!(code(&t, "未脱贫").as_deref(), Some("0"));
        assert_eq!(code(&t, "返贫").as_deref(), Some("3"));
        assert_eq!(code(&t, "已脱"), None);
        assert_eq!(t.name_of("1"), Some("已脱贫（享受政策）"));
    }

    #[test]
    fn ethnicity_with_and_without_zu() {
        let t = tables().ethnicity;
        assert_eq!(code(&t, "汉").as_deref(), Some("01"));
        assert_eq!(code(&t, "汉族").as_deref(), Some("01"));
        assert_eq!(code(&t, "汉 族").as_deref(), Some("01"));
        assert_eq!(code(&t, "01").as_deref(), Some("01"));
        assert_eq!(code(&t, "０１").as_deref(), Some("01"));
        assert_eq!(code(&t, "壮").as_deref(), Some("08"));
        assert_eq!(code(&t, "维吾尔族").as_deref(), Some("05"));
        assert_eq!(code(&t, "水").as_deref(), Some("25"));
        assert_eq!(code(&t, "土").as_deref(), Some("30"));
        assert_eq!(code(&t, "土家").as_deref(), Some("15"));
        assert_eq!(code(&t, "外国血统中国籍人士").as_deref(), Some("98"));
        // Codes are exact: Excel's loss of the leading zero is not guessed back.
        assert_eq!(code(&t, "1"), None);
        assert_eq!(code(&t, "汉人"), None);
    }

    #[test]
    fn household_attribute_old_names() {
        let t = tables().household_attribute;
        assert_eq!(code(&t, "五保户").as_deref(), Some("3"));
        assert_eq!(code(&t, "五保贫困户").as_deref(), Some("3"));
        assert_eq!(code(&t, "特困供养").as_deref(), Some("3"));
        assert_eq!(code(&t, "特困供养贫困户").as_deref(), Some("3"));
        assert_eq!(code(&t, "低保户").as_deref(), Some("2"));
        assert_eq!(code(&t, "一般户").as_deref(), Some("1"));
    }

    #[test]
    fn other_tables_aliases() {
        let t = tables();
        assert_eq!(code(&t.sex, "男").as_deref(), Some("1"));
        assert_eq!(code(&t.sex, "女").as_deref(), Some("2"));
        assert_eq!(code(&t.sex, "2").as_deref(), Some("2"));
        assert_eq!(code(&t.relation, "本人").as_deref(), Some("01"));
        assert_eq!(code(&t.relation, "妻子").as_deref(), Some("02"));
        assert_eq!(code(&t.relation, "子").as_deref(), Some("03"));
        assert_eq!(code(&t.relation, "女").as_deref(), Some("04"));
        assert_eq!(code(&t.relation, "外孙").as_deref(), Some("09"));
        assert_eq!(code(&t.relation, "奶奶").as_deref(), Some("18"));
        assert_eq!(code(&t.relation, "妹").as_deref(), Some("19"));
        assert_eq!(code(&t.relation, "其它").as_deref(), Some("99"));
        assert_eq!(code(&t.education, "半文盲").as_deref(), Some("1"));
        assert_eq!(code(&t.education, "本科").as_deref(), Some("6"));
        assert_eq!(code(&t.education, "技校").as_deref(), Some("5"));
        assert_eq!(code(&t.education, "学龄前").as_deref(), Some("0"));
        assert_eq!(code(&t.health, "大病").as_deref(), Some("3"));
        assert_eq!(code(&t.health, "慢性病").as_deref(), Some("2"));
        assert_eq!(code(&t.labour, "无").as_deref(), Some("5"));
        assert_eq!(code(&t.labour, "半劳动力").as_deref(), Some("3"));
        assert_eq!(
            code(&t.identification_standard, "省标").as_deref(),
            Some("2")
        );
        assert_eq!(
            code(&t.identification_standard, "国家").as_deref(),
            Some("1")
        );
        assert_eq!(code(&t.cause, "缺劳动力").as_deref(), Some("09"));
        assert_eq!(code(&t.cause, "交通落后").as_deref(), Some("11"));
        assert_eq!(code(&t.cause, "内生动力不足").as_deref(), Some("12"));
        assert_eq!(code(&t.cause, "其它").as_deref(), Some("99"));
        assert_eq!(code(&t.monitoring_type, "边缘户").as_deref(), Some("2"));
        assert_eq!(code(&t.schooling, "否").as_deref(), Some("00"));
        assert_eq!(code(&t.schooling, "幼儿园").as_deref(), Some("10"));
    }

    #[test]
    fn blank_cells_resolve_to_nothing() {
        let t = tables();
        for table in t.iter() {
            assert!(table.lookup("").is_none());
            assert!(table.lookup(" \u{3000} ").is_none());
        }
    }

    #[test]
    fn schooling_grades_resolve_to_stages() {
        let t = tables().schooling;
        let cases = [
            ("小学三年级", "21"),
            ("小学3年级", "21"),
            ("小学一年级", "21"),
            ("小学六年级", "21"),
            ("三年级", "21"),
            ("３年级", "21"),
            ("小学", "21"),
            ("小学在读", "21"),
            ("初一", "31"),
            ("初二", "31"),
            ("初三", "31"),
            ("初中一年级", "31"),
            ("初中2年级", "31"),
            ("七年级", "31"),
            ("九年级", "31"),
            ("初中在读", "31"),
            ("初二在读", "31"),
            ("高一", "41"),
            ("高二", "41"),
            ("高三", "41"),
            ("高中一年级", "41"),
            ("高中三年级", "41"),
            ("十二年级", "41"),
            ("中职一年级", "42"),
            ("中专二年级", "42"),
            ("技校一年级", "42"),
            ("高职一年级", "51"),
            ("大专三年级", "51"),
            ("大一", "61"),
            ("大二", "61"),
            ("大三", "61"),
            ("大四", "61"),
            ("大学二年级", "61"),
            ("研一", "61"),
            ("学前班", "10"),
            ("幼儿园大班", "10"),
            ("中班", "10"),
            (" 初 二 ", "31"),
            ("非在校生", "00"),
            ("不在校", "00"),
            ("高职", "51"),
            ("高职高专", "51"),
        ];
        for (cell, expected) in cases {
            assert_eq!(code(&t, cell).as_deref(), Some(expected), "{cell}");
        }
        for bad in [
            "小学七年级",
            "初五",
            "高四",
            "大六",
            "十三年级",
            "初中毕业",
            "在读",
            "大",
        ] {
            assert_eq!(code(&t, bad), None, "{bad}");
        }
    }

    #[test]
    fn normalize_schooling_outputs() {
        assert_eq!(normalize_schooling("小学三年级"), "小学");
        assert_eq!(normalize_schooling("初二"), "初中");
        assert_eq!(normalize_schooling("高一"), "高中");
        assert_eq!(normalize_schooling("初中一年级"), "初中");
        assert_eq!(normalize_schooling("大一"), "本科及以上");
        assert_eq!(normalize_schooling("五年级"), "小学");
        assert_eq!(normalize_schooling("八年级"), "初中");
        assert_eq!(normalize_schooling("初十"), "初十");
        // Not a grade: returned normalised, unchanged otherwise.
        assert_eq!(normalize_schooling(" 非在校生 "), "非在校生");
        assert_eq!(normalize_schooling("ＡＢ Ｃ"), "ABC");
        assert_eq!(normalize_schooling("高"), "高");
        assert_eq!(normalize_schooling("年级"), "年级");
    }

    #[test]
    fn grade_rewrite_applies_only_to_schooling() {
        let t = tables();
        // In the education table "初二" is not a level of attainment.
        assert_eq!(code(&t.education, "初二"), None);
        assert_eq!(code(&t.education, "初中").as_deref(), Some("3"));
    }

    #[test]
    fn marriage_cause_is_versioned() {
        let t = tables().cause;
        let marriage = t.lookup("因婚").unwrap();
        assert_eq!(marriage.code, "05");
        assert_eq!(marriage.valid_from, Some(2015));
        assert!(!marriage.is_valid_in(2014));
        assert!(marriage.is_valid_in(2015));
        assert_eq!(t.lookup_in_year("因婚", 2015).unwrap().code, "05");
        assert_eq!(t.lookup_in_year("因婚", 2020).unwrap().code, "05");
        let err = t.lookup_in_year("因婚", 2014).unwrap_err();
        assert_eq!(
            err,
            CodeLookupError::NotYetValid {
                table: "致贫原因".into(),
                value: "因婚".into(),
                year: 2014,
                valid_from: 2015
            }
        );
        assert_eq!(
            err.to_string(),
            "致贫原因“因婚”自2015年起才启用，不能用于2014年的记录"
        );
        // Other causes have no start year.
        assert_eq!(t.lookup_in_year("因病", 2014).unwrap().code, "01");
        assert!(
            t.entries()
                .iter()
                .filter(|e| e.valid_from.is_some())
                .count()
                == 1
        );
    }

    #[test]
    fn lookup_in_year_errors() {
        let t = tables();
        assert_eq!(
            t.sex.lookup_in_year("  ", 2020),
            Err(CodeLookupError::Empty {
                table: "性别".into()
            })
        );
        let err = t.sex.lookup_in_year("未知", 2020).unwrap_err();
        assert_eq!(err.to_string(), "性别“未知”不在代码表中，可选值：男、女");
        // The choices of a year leave out values not yet valid.
        let err = t
            .cause
            .lookup_in_year("因穷", 2014)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("因婚"), "{err}");
        assert!(err.contains("因病、因残、因学、因灾、缺土地"), "{err}");
        let err = t
            .cause
            .lookup_in_year("因穷", 2016)
            .unwrap_err()
            .to_string();
        assert!(err.contains("因灾、因婚、缺土地"), "{err}");
        let long = "很".repeat(100);
        let msg = t.sex.lookup_in_year(&long, 2020).unwrap_err().to_string();
        assert!(msg.contains('…') && msg.chars().count() < 60, "{msg}");
        assert_eq!(
            t.poverty_status
                .lookup_in_year("已脱贫", 2016)
                .unwrap()
                .code,
            "1"
        );
    }

    #[test]
    fn choices_and_names() {
        let t = tables();
        assert_eq!(t.sex.choices_zh(), "男、女");
        assert_eq!(t.health.choices_zh(), "健康、长期慢性病、患有大病、残疾");
        assert_eq!(t.cause.name_of("05"), Some("因婚"));
        assert_eq!(t.cause.name_of(" 99 "), Some("其他"));
        assert_eq!(t.cause.name_of("5"), None);
        assert_eq!(t.cause.name_of("因婚"), None);
        assert_eq!(t.cause.label_zh(), "致贫原因");
        assert_eq!(t.cause.by_code("09").unwrap().aliases, vec!["缺劳动力"]);
    }

    #[test]
    fn explicit_valid_from_column_wins() {
        let csvs = |stem: &str| -> &'static str {
            if stem == "cause" {
                "code,name,aliases,valid_from\n01,因病,,\n05,因婚,,2016\n13,因疫,,2020\n"
            } else {
                builtin_csv(stem).unwrap()
            }
        };
        let t = CodeTables::from_csv_texts(csvs).unwrap();
        assert_eq!(t.cause.by_code("05").unwrap().valid_from, Some(2016));
        assert_eq!(t.cause.by_code("13").unwrap().valid_from, Some(2020));
        assert_eq!(t.cause.by_code("01").unwrap().valid_from, None);
    }

    #[test]
    fn from_csv_texts_accepts_borrowed_texts() {
        let owned: std::collections::HashMap<String, String> = TABLE_STEMS
            .iter()
            .map(|s| (s.to_string(), builtin_csv(s).unwrap().replace("\r\n", "\n")))
            .collect();
        let t = CodeTables::from_csv_texts(|stem| owned[stem].as_str()).unwrap();
        assert_eq!(code(&t.ethnicity, "汉").as_deref(), Some("01"));
    }

    #[test]
    fn from_csv_texts_reports_missing_table() {
        let err = CodeTables::from_csv_texts(|stem| {
            if stem == "labour" {
                ""
            } else {
                builtin_csv(stem).unwrap()
            }
        })
        .unwrap_err();
        assert_eq!(
            err,
            CodeTableError::MissingHeader {
                table: "labour".into()
            }
        );
        assert!(err.to_string().contains("劳动技能"));
    }

    #[test]
    fn csv_format_tolerance() {
        let text = "\u{feff}code,name,aliases\r\n\r\n1,甲,a|b| |c\r\n2,乙\r\n\"3\",\"丙,丁\",\"x|\"\"y\"\"\"\r\n";
        let t = CodeTable::from_csv("demo", text).unwrap();
        assert_eq!(t.entries().len(), 3);
        assert_eq!(t.entries()[0].aliases, vec!["a", "b", "c"]);
        assert!(t.entries()[1].aliases.is_empty());
        assert_eq!(t.entries()[2].name, "丙,丁");
        assert_eq!(t.entries()[2].aliases, vec!["x", "\"y\""]);
        assert_eq!(code(&t, "丙,丁").as_deref(), Some("3"));
        assert_eq!(code(&t, "c").as_deref(), Some("1"));
        // Columns are found by header, in any order and case.
        let t = CodeTable::from_csv("demo", "Name,CODE\n甲,1").unwrap();
        assert_eq!(t.name_of("1"), Some("甲"));
    }

    #[test]
    fn csv_errors() {
        use CodeTableError::*;
        let t = || "demo".to_string();
        assert_eq!(
            CodeTable::from_csv("demo", "").unwrap_err(),
            MissingHeader { table: t() }
        );
        assert_eq!(
            CodeTable::from_csv("demo", "\u{feff}\r\n  \r\n").unwrap_err(),
            MissingHeader { table: t() }
        );
        assert!(matches!(
            CodeTable::from_csv("demo", "1,甲,\n2,乙,"),
            Err(MissingHeader { .. })
        ));
        assert!(matches!(
            CodeTable::from_csv("demo", "code,label\n1,甲"),
            Err(MissingColumn { column: "name", .. })
        ));
        assert!(matches!(
            CodeTable::from_csv("demo", "code,name\n"),
            Err(NoEntries { .. })
        ));
        assert!(matches!(
            CodeTable::from_csv("demo", "code,name\n1,\"甲\n"),
            Err(UnterminatedQuote { line: 2, .. })
        ));
        assert!(matches!(
            CodeTable::from_csv("demo", "code,name\n1,甲\n\n,乙"),
            Err(EmptyField {
                line: 4,
                column: "code",
                ..
            })
        ));
        assert!(matches!(
            CodeTable::from_csv("demo", "code,name\n1,甲\n2"),
            Err(EmptyField {
                line: 3,
                column: "name",
                ..
            })
        ));
        assert!(matches!(
            CodeTable::from_csv("demo", "code,name,aliases,valid_from\n1,甲,,二〇一五"),
            Err(BadYear { line: 2, .. })
        ));
        assert_eq!(
            CodeTable::from_csv("demo", "code,name\n1,甲\n1,乙").unwrap_err(),
            DuplicateCode {
                table: t(),
                code: "1".into()
            }
        );
        let err = CodeTable::from_csv("demo", "code,name,aliases\n1,甲,X\n2,乙,Ｘ").unwrap_err();
        assert_eq!(
            err,
            Ambiguous {
                table: t(),
                value: "X".into(),
                first: "1".into(),
                second: "2".into()
            }
        );
        assert_eq!(err.to_string(), "代码表“demo”中“X”同时对应代码 1 和 2");
        // A code equal to another entry's name is ambiguous too.
        assert!(matches!(
            CodeTable::from_csv("demo", "code,name\n甲,乙\n乙,丙"),
            Err(Ambiguous { .. })
        ));
    }

    #[test]
    fn add_entry_extends_and_replaces() {
        let mut t = tables().cause;
        t.add_entry(
            CodeEntry::new("13", "因疫")
                .with_aliases(&["疫情"])
                .with_valid_from(2020),
        );
        assert_eq!(t.lookup("疫情").unwrap().code, "13");
        assert!(t.lookup_in_year("因疫", 2019).is_err());
        assert!(t.lookup_in_year("因疫", 2020).is_ok());
        assert!(t.choices_zh().ends_with("其他、因疫"));

        // Replacing by code keeps the position and drops old spellings.
        t.add_entry(CodeEntry::new("09", "缺劳力").with_aliases(&["劳力不足"]));
        assert_eq!(t.lookup("劳力不足").unwrap().code, "09");
        assert!(t.lookup("缺劳动力").is_none());
        assert_eq!(t.entries()[8].code, "09");

        // A clashing alias keeps naming its first entry.
        t.add_entry(CodeEntry::new("14", "因残疾").with_aliases(&["因残"]));
        assert_eq!(t.lookup("因残").unwrap().code, "02");
        assert_eq!(t.lookup("因残疾").unwrap().code, "14");

        assert!(matches!(
            t.try_add_entry(CodeEntry::new("15", "x").with_aliases(&["因病"])),
            Err(CodeTableError::Ambiguous { .. })
        ));
        assert!(matches!(
            t.try_add_entry(CodeEntry::new("01", "y")),
            Err(CodeTableError::DuplicateCode { .. })
        ));
        assert!(matches!(
            t.try_add_entry(CodeEntry::new(" ", "y")),
            Err(CodeTableError::EmptyField { .. })
        ));
        assert!(t.lookup("x").is_none() && t.lookup("y").is_none());
    }

    #[test]
    fn schooling_rewrite_follows_table_name() {
        let text = builtin_csv("schooling").unwrap();
        let renamed = CodeTable::from_csv("在校情况", text).unwrap();
        assert!(renamed.lookup("初二").is_none());
        let t = CodeTable::from_csv("schooling", text).unwrap();
        assert_eq!(t.lookup("初二").unwrap().code, "31");
    }

    #[test]
    fn split_csv_line_cases() {
        assert_eq!(split_csv_line("a,b,c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(split_csv_line("a,,").unwrap(), vec!["a", "", ""]);
        assert_eq!(split_csv_line("\"a,b\",c").unwrap(), vec!["a,b", "c"]);
        assert_eq!(split_csv_line("\"\"").unwrap(), vec![""]);
        assert_eq!(split_csv_line("a\"b,c").unwrap(), vec!["a\"b", "c"]);
        assert_eq!(split_csv_line("\"a"), None);
    }
}
