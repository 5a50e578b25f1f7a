//! The household registry's rows: the column headers of the county templates, and the checks
//! of one member row or one income row. Checks that span rows (one 户主 per household,
//! household columns agreeing, one person in one household) are in `check_household_group`
//! and in the store, which sees the whole registry.

use crate::codes::{CodeLookupError, CodeTable, CodeTables};
use crate::id_number::{
    Disability, IdNumber, looks_like_masked, mask_id, mask_phone, parse_id_or_certificate,
};
use crate::money::Fen;
use crate::region::{RegionCode, RegionLevel};
use crate::text;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::borrow::Cow;

pub const HEAD_RELATION: &str = "01";
pub use crate::poverty_status::STATUS_NOT_OUT;
/// 脱贫状态 of a rural household that was never registered as poor (一般农户), kept in the
/// registry only for monitoring (边缘易致贫户). Not a value of the poverty_status code table, so it
/// can never be chosen for a registered household, and every poverty figure (which counts the
/// statuses 0/3 as poor and 1/4 as exited) leaves it out. Such households store '' for
/// 贫困户属性/识别标准/主要致贫原因 and 0 for 识别年度: the columns are NOT NULL and SQLite cannot
/// relax that without rebuilding the table (and its summary triggers).
pub const STATUS_NOT_REGISTERED: &str = "N";
/// The name shown for [`STATUS_NOT_REGISTERED`] wherever a 脱贫状态 is shown.
pub const NOT_REGISTERED_NAME: &str = "一般农户（未建档立卡）";
/// Values of the optional 户类型 column.
pub const HOUSEHOLD_TYPE_REGISTERED: &str = "建档立卡户";
pub const HOUSEHOLD_TYPE_NOT_REGISTERED: &str = "一般农户";

/// Parses a 户类型 cell: Some(true) registered, Some(false) 一般农户, None unknown. Empty = registered,
/// so files without the column (or with it blank) keep today's rules.
pub fn parse_household_type(cell: &str) -> Option<bool> {
    match text::normalize_compact(cell).as_str() {
        "" | "建档立卡户" | "建档立卡" | "贫困户" | "是" | "registered" => Some(true),
        "一般农户" | "非建档立卡户" | "非建档立卡" | "非贫困户" | "监测户" | "否"
        | "not_registered" => Some(false),
        _ => None,
    }
}
pub const FIRST_IDENTIFICATION_YEAR: i64 = 2014;

/// Columns of the members template, in template order. `true` marks household-level columns,
/// which must agree across all rows of one 户编号.
pub const MEMBER_COLUMNS: [(&str, bool); 21] = [
    ("户编号", true),
    ("人编号", false),
    ("行政区划代码", true),
    ("姓名", false),
    ("性别", false),
    ("证件号码", false),
    ("与户主关系", false),
    ("民族", false),
    ("文化程度", false),
    ("在校生状况", false),
    ("健康状况", false),
    ("劳动技能", false),
    ("务工时间（月）", false),
    ("贫困户属性", true),
    ("识别标准", true),
    ("主要致贫原因", true),
    ("其他致贫原因", true),
    ("识别年度", true),
    ("脱贫状态", true),
    ("脱贫年度", true),
    ("联系电话", false),
];

/// Optional household-level columns a template may carry.
pub const OPTIONAL_HOUSEHOLD_COLUMNS: [&str; 10] = [
    "组",
    "住房是否危房",
    "住房结构",
    "是否安全饮水",
    "不愁吃",
    "不愁穿",
    "义务教育有保障",
    "基本医疗有保障",
    "住房安全有保障",
    "户类型",
];

pub const INCOME_COLUMNS: [&str; 7] = [
    "户编号",
    "年度",
    "工资性收入",
    "生产经营性收入",
    "财产性收入",
    "转移性收入",
    "生产经营性支出",
];

/// Columns only registered households fill in: a file with a 户类型 column may leave them out
/// (a file of 一般农户 only has nothing to put there).
const REGISTERED_ONLY_COLUMNS: [&str; 4] = ["贫困户属性", "识别标准", "主要致贫原因", "识别年度"];

/// Columns that must be present for a members file (人编号, 其他致贫原因, 脱贫年度 and 联系电话 may be absent).
const REQUIRED_MEMBER_COLUMNS: [&str; 17] = [
    "户编号",
    "行政区划代码",
    "姓名",
    "性别",
    "证件号码",
    "与户主关系",
    "民族",
    "文化程度",
    "在校生状况",
    "健康状况",
    "劳动技能",
    "务工时间（月）",
    "贫困户属性",
    "识别标准",
    "主要致贫原因",
    "识别年度",
    "脱贫状态",
];

/// Where each known column sits in a file; headers are matched after NFKC with spaces removed,
/// so 务工时间(月) and 务工时间（月） are the same column.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// Fx-hashed: looked up for every cell of every row.
    positions: FxHashMap<&'static str, usize>,
    pub headers: Vec<String>,
}

fn header_key(h: &str) -> String {
    text::normalize_compact(h)
        .trim_start_matches('\u{feff}')
        .to_string()
}

impl ColumnMap {
    pub fn new(headers: &[String], known: &[&'static str]) -> ColumnMap {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let mut positions = FxHashMap::default();
        for name in known {
            let k = header_key(name);
            if let Some(i) = keys.iter().position(|h| *h == k) {
                positions.insert(*name, i);
            }
        }
        ColumnMap {
            positions,
            headers: headers.to_vec(),
        }
    }

    pub fn members(headers: &[String]) -> ColumnMap {
        let known: Vec<&'static str> = MEMBER_COLUMNS
            .iter()
            .map(|c| c.0)
            .chain(OPTIONAL_HOUSEHOLD_COLUMNS)
            .collect();
        ColumnMap::new(headers, &known)
    }

    pub fn incomes(headers: &[String]) -> ColumnMap {
        ColumnMap::new(headers, &INCOME_COLUMNS)
    }

    pub fn has(&self, name: &str) -> bool {
        self.positions.contains_key(name)
    }

    pub fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        self.positions
            .get(name)
            .and_then(|&i| row.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Required columns absent from the header row.
    pub fn missing(&self, required: &[&str]) -> Vec<String> {
        required
            .iter()
            .filter(|c| !self.has(c))
            .map(|c| c.to_string())
            .collect()
    }

    pub fn missing_member_columns(&self) -> Vec<String> {
        if self.has("户类型") {
            let required: Vec<&str> = REQUIRED_MEMBER_COLUMNS
                .iter()
                .copied()
                .filter(|c| !REGISTERED_ONLY_COLUMNS.contains(c) && *c != "脱贫状态")
                .collect();
            return self.missing(&required);
        }
        self.missing(&REQUIRED_MEMBER_COLUMNS)
    }

    pub fn missing_income_columns(&self) -> Vec<String> {
        self.missing(&INCOME_COLUMNS)
    }
}

/// One problem with one cell (or one row, when `column` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellProblem {
    pub column: String,
    /// Masked when the column holds personal data.
    pub value: String,
    pub message: String,
}

/// Masks a cell value for error reports according to its column.
pub fn mask_cell(column: &str, value: &str) -> String {
    match column {
        "证件号码" => mask_id(value),
        "联系电话" => mask_phone(value),
        // Health is sensitive personal information: never echoed.
        "健康状况" if !value.trim().is_empty() => "***".into(),
        _ => value.trim().to_string(),
    }
}

/// Household-level values of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HouseholdFields {
    pub household_no: String,
    pub village: RegionCode,
    pub attribute: String,
    pub identification_standard: String,
    pub main_cause: String,
    pub other_causes: Vec<String>,
    pub identified_year: i64,
    pub status: String,
    pub exit_year: Option<i64>,
    pub group_name: Option<String>,
    pub housing_dangerous: Option<bool>,
    pub housing_structure: Option<String>,
    pub safe_water: Option<bool>,
    pub food_secure: Option<bool>,
    pub clothing_secure: Option<bool>,
    pub education_secure: Option<bool>,
    pub medical_secure: Option<bool>,
    pub housing_secure: Option<bool>,
}

impl HouseholdFields {
    /// A registered poor household (建档立卡户), as opposed to a 一般农户 kept for monitoring.
    pub fn is_registered(&self) -> bool {
        self.status != STATUS_NOT_REGISTERED
    }
}

/// The person's ID as given: a valid number, a masked cell (unchanged on re-import), or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdCell {
    Number(IdNumber),
    Masked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFields {
    pub member_no: Option<String>,
    pub name: String,
    pub sex: String,
    pub id: IdCell,
    /// Category and grade when the 证件号码 was a 20-digit 残疾人证号 (None when masked or a
    /// plain ID number).
    pub disability: Option<Disability>,
    pub relation: String,
    pub ethnicity: String,
    pub education: String,
    pub schooling: String,
    pub health: String,
    pub labour: String,
    pub migrant_months: Option<i64>,
    /// None when masked (unchanged) or absent.
    pub phone: Option<String>,
}

impl MemberFields {
    pub fn is_head(&self) -> bool {
        self.relation == HEAD_RELATION
    }

    pub fn id_number(&self) -> Option<&IdNumber> {
        match &self.id {
            IdCell::Number(n) => Some(n),
            IdCell::Masked => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub household: HouseholdFields,
    pub member: MemberFields,
}

/// Context of a check: the code tables in force and today's date (in Beijing, from the caller's
/// clock: the domain never reads one).
pub struct CheckContext<'a> {
    pub tables: &'a CodeTables,
    pub today: crate::date::Date,
    /// The last year of 建档立卡 identification (rule `registry_closed_after_year`).
    pub registry_closed_after_year: i64,
}

struct RowChecker<'a> {
    map: &'a ColumnMap,
    row: &'a [String],
    problems: Vec<CellProblem>,
}

impl<'a> RowChecker<'a> {
    fn cell(&self, column: &str) -> String {
        text::normalize(self.map.get(self.row, column))
    }

    /// The normalised cell, borrowed when it needs no rewriting: for values that are parsed,
    /// not kept.
    fn cell_ref(&self, column: &str) -> Cow<'a, str> {
        text::normalized(self.map.get(self.row, column))
    }

    fn fail(&mut self, column: &str, message: impl Into<String>) {
        let raw = self.map.get(self.row, column);
        self.problems.push(CellProblem {
            column: column.into(),
            value: mask_cell(column, raw),
            message: message.into(),
        });
    }

    fn required(&mut self, column: &str) -> Option<String> {
        let v = self.cell(column);
        if v.is_empty() {
            self.fail(column, format!("{column}不能为空"));
            return None;
        }
        Some(v)
    }

    fn code(&mut self, column: &str, table: &CodeTable, year: Option<i64>) -> Option<String> {
        let raw = self.map.get(self.row, column);
        let found = match year {
            Some(y) => table.lookup_in_year(raw, y as i32).map(|e| e.code.clone()),
            None => table.lookup(raw).map(|e| e.code.clone()).ok_or_else(|| {
                if text::normalize(raw).is_empty() {
                    CodeLookupError::Empty {
                        table: column.into(),
                    }
                } else {
                    CodeLookupError::Unknown {
                        table: column.into(),
                        value: String::new(),
                        choices: table.choices_zh(),
                    }
                }
            }),
        };
        match found {
            Ok(code) => Some(code),
            Err(e) => {
                let message = match e {
                    CodeLookupError::Empty { .. } => format!("{column}不能为空"),
                    CodeLookupError::Unknown { choices, .. } => {
                        format!("{column}的值不在代码表中，可选：{choices}")
                    }
                    other => other.to_string(),
                };
                self.fail(column, message);
                None
            }
        }
    }

    fn year(&mut self, column: &str, required: bool, range: (i64, i64)) -> Option<i64> {
        let v = self.cell_ref(column);
        if v.is_empty() {
            if required {
                self.fail(column, format!("{column}不能为空"));
            }
            return None;
        }
        match text::parse_int_cell(&v) {
            Some(y) if (range.0..=range.1).contains(&y) => Some(y),
            _ => {
                self.fail(
                    column,
                    format!("{column}应为 {}–{} 之间的年份", range.0, range.1),
                );
                None
            }
        }
    }

    fn flag(&mut self, column: &str) -> Option<bool> {
        let v = text::normalize_compact(self.map.get(self.row, column));
        match v.as_str() {
            "" => None,
            "是" | "有" | "Y" | "y" | "1" | "true" => Some(true),
            "否" | "无" | "N" | "n" | "0" | "false" => Some(false),
            _ => {
                self.fail(column, format!("{column}应填“是”或“否”"));
                None
            }
        }
    }
}

/// The identification columns of a registered household (建档立卡户), checked as always.
#[allow(clippy::type_complexity)]
fn registered_fields(
    c: &mut RowChecker,
    t: &CodeTables,
    this_year: i64,
    closed_after: i64,
) -> (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<String>,
    Option<String>,
    Option<i64>,
) {
    let map = c.map;
    let row = c.row;
    let first_problem = c.problems.len();
    let mut identified_year = c.year("识别年度", true, (FIRST_IDENTIFICATION_YEAR, this_year));
    if let Some(y) = identified_year
        && y > closed_after
    {
        c.fail(
            "识别年度",
            format!("建档立卡识别截至{closed_after}年，{y}年不再新识别贫困户；之后出现的困难户请纳入防返贫监测（户类型填“{HOUSEHOLD_TYPE_NOT_REGISTERED}”后登记监测对象）"),
        );
        identified_year = None;
    }
    let attribute = c.code("贫困户属性", &t.household_attribute, None);
    let standard = c.code("识别标准", &t.identification_standard, None);
    let main_cause = c.code("主要致贫原因", &t.cause, identified_year);
    let mut other_causes = Vec::new();
    // As `text::split_multi`, without a string per item.
    let others_text = text::normalized(map.get(row, "其他致贫原因"));
    let others: Vec<&str> = others_text
        .split(|ch: char| text::is_list_separator(ch) || ch.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    if others.len() > 2 {
        c.fail("其他致贫原因", "其他致贫原因最多填两项");
    } else {
        for &o in &others {
            match identified_year
                .map(|y| t.cause.lookup_in_year(o, y as i32))
                .unwrap_or_else(|| {
                    t.cause.lookup(o).ok_or(CodeLookupError::Empty {
                        table: String::new(),
                    })
                }) {
                Ok(e) if Some(&e.code) == main_cause.as_ref() => {
                    c.fail("其他致贫原因", format!("“{}”已是主要致贫原因", e.name))
                }
                Ok(e) if other_causes.contains(&e.code) => {
                    c.fail("其他致贫原因", format!("“{}”重复", e.name))
                }
                Ok(e) => other_causes.push(e.code.clone()),
                Err(_) => c.fail(
                    "其他致贫原因",
                    format!(
                        "其他致贫原因“{o}”不在代码表中，可选：{}",
                        t.cause.choices_zh()
                    ),
                ),
            }
        }
    }
    let status = c.code("脱贫状态", &t.poverty_status, None);
    let exit_year = c.year("脱贫年度", false, (FIRST_IDENTIFICATION_YEAR, this_year));
    match (status.as_deref(), exit_year) {
        (Some(STATUS_NOT_OUT), Some(_)) => c.fail("脱贫年度", "未脱贫户不应填写脱贫年度"),
        (Some(s), None) if s != STATUS_NOT_OUT => c.fail("脱贫年度", "已脱贫户须填写脱贫年度"),
        (Some(_), Some(y)) if identified_year.is_some_and(|i| y < i) => {
            c.fail("脱贫年度", "脱贫年度不能早于识别年度")
        }
        _ => {}
    }
    // With a 户类型 column the file mixes both kinds: say which kind needs the value.
    if map.has("户类型") {
        for p in &mut c.problems[first_problem..] {
            if p.message == format!("{}不能为空", p.column) {
                p.message = format!(
                    "建档立卡户须填写{}（未建档立卡的一般农户请将户类型填为“{HOUSEHOLD_TYPE_NOT_REGISTERED}”）",
                    p.column
                );
            }
        }
    }
    (
        identified_year,
        attribute,
        standard,
        main_cause,
        other_causes,
        status,
        exit_year,
    )
}

/// Checks one row of a members file. Returns the parsed row, or every problem found in it.
pub fn check_member_row(
    map: &ColumnMap,
    row: &[String],
    ctx: &CheckContext,
) -> Result<MemberRow, Vec<CellProblem>> {
    let t = ctx.tables;
    let this_year = ctx.today.year() as i64;
    let mut c = RowChecker {
        map,
        row,
        problems: Vec::new(),
    };

    let household_no = c.required("户编号");
    if let Some(no) = &household_no
        && no.chars().count() > 64
    {
        c.fail("户编号", "户编号不能超过 64 个字符");
    }
    let village_text = c.cell_ref("行政区划代码");
    let village = if village_text.is_empty() {
        c.fail("行政区划代码", "行政区划代码不能为空");
        None
    } else {
        match RegionCode::parse(&village_text) {
            Ok(code) if code.level() == RegionLevel::Village => Some(code),
            _ => {
                c.fail("行政区划代码", "行政区划代码应为 12 位村级代码");
                None
            }
        }
    };
    let registered = match parse_household_type(map.get(row, "户类型")) {
        Some(r) => r,
        None => {
            c.fail("户类型", format!("户类型应填“{HOUSEHOLD_TYPE_REGISTERED}”或“{HOUSEHOLD_TYPE_NOT_REGISTERED}”（空白为建档立卡户）"));
            true
        }
    };
    // A 一般农户 has no identification data: the columns must stay empty, so that a registered
    // household mistyped as 一般农户 is caught rather than silently losing its record.
    let (identified_year, attribute, standard, main_cause, other_causes, status, exit_year);
    if registered {
        (
            identified_year,
            attribute,
            standard,
            main_cause,
            other_causes,
            status,
            exit_year,
        ) = registered_fields(&mut c, t, this_year, ctx.registry_closed_after_year);
    } else {
        for column in [
            "识别年度",
            "贫困户属性",
            "识别标准",
            "主要致贫原因",
            "其他致贫原因",
            "脱贫状态",
            "脱贫年度",
        ] {
            if !c.cell_ref(column).is_empty() {
                c.fail(column, format!("一般农户（未建档立卡）不填写{column}；如是建档立卡户，请将户类型填为“{HOUSEHOLD_TYPE_REGISTERED}”"));
            }
        }
        identified_year = Some(0);
        attribute = Some(String::new());
        standard = Some(String::new());
        main_cause = Some(String::new());
        other_causes = Vec::new();
        status = Some(STATUS_NOT_REGISTERED.to_string());
        exit_year = None;
    }

    let member_no = Some(c.cell("人编号")).filter(|s| !s.is_empty());
    let name = c.required("姓名");
    let sex = c.code("性别", &t.sex, None);
    let id_raw = map.get(row, "证件号码");
    let mut disability = None;
    let id = if looks_like_masked(id_raw) {
        if member_no.is_none() {
            c.fail(
                "证件号码",
                "脱敏的证件号码只能用于更新已有成员：请同时填写人编号，或填写完整号码",
            );
        }
        Some(IdCell::Masked)
    } else {
        match parse_id_or_certificate(id_raw) {
            Err(e) => {
                c.fail("证件号码", e.to_string());
                None
            }
            Ok((n, d)) => {
                disability = d;
                let (y, m, d) = n.birth_date();
                if (y, m, d) > ctx.today.ymd() {
                    c.fail("证件号码", "证件号码中的出生日期晚于今天");
                }
                if let Some(s) = &sex
                    && n.sex().code() != s
                {
                    c.fail(
                        "性别",
                        format!(
                            "性别与证件号码第 17 位不符（号码显示为{}）",
                            n.sex().name_zh()
                        ),
                    );
                }
                Some(IdCell::Number(n))
            }
        }
    };
    let relation = c.code("与户主关系", &t.relation, None);
    let ethnicity = c.code("民族", &t.ethnicity, None);
    let education = c.code("文化程度", &t.education, None);
    let schooling = c.code("在校生状况", &t.schooling, None);
    let health = c.code("健康状况", &t.health, None);
    let labour = c.code("劳动技能", &t.labour, None);
    let months_text = c.cell_ref("务工时间（月）");
    let migrant_months = if months_text.is_empty() {
        None
    } else {
        match text::parse_int_cell(&months_text) {
            Some(m) if (0..=12).contains(&m) => Some(m),
            _ => {
                c.fail("务工时间（月）", "务工时间应为 0–12 的整数（月）");
                None
            }
        }
    };
    let phone_raw = map.get(row, "联系电话");
    let phone = if looks_like_masked(phone_raw) {
        None
    } else {
        let p = text::normalize_compact(phone_raw);
        let p = if p.contains('-') {
            p.replace('-', "")
        } else {
            p
        };
        if !p.is_empty() && (!(7..=12).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            c.fail("联系电话", "联系电话应为 7–12 位数字");
        }
        Some(p)
    };
    let optional = |c: &mut RowChecker, col: &str| if map.has(col) { c.flag(col) } else { None };
    let group_name = map.has("组").then(|| c.cell("组"));
    let housing_structure = map.has("住房结构").then(|| c.cell("住房结构"));
    let housing_dangerous = optional(&mut c, "住房是否危房");
    let safe_water = optional(&mut c, "是否安全饮水");
    let food_secure = optional(&mut c, "不愁吃");
    let clothing_secure = optional(&mut c, "不愁穿");
    let education_secure = optional(&mut c, "义务教育有保障");
    let medical_secure = optional(&mut c, "基本医疗有保障");
    let housing_secure = optional(&mut c, "住房安全有保障");

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let some = "checked above";
    Ok(MemberRow {
        household: HouseholdFields {
            household_no: household_no.expect(some),
            village: village.expect(some),
            attribute: attribute.expect(some),
            identification_standard: standard.expect(some),
            main_cause: main_cause.expect(some),
            other_causes,
            identified_year: identified_year.expect(some),
            status: status.expect(some),
            exit_year,
            group_name,
            housing_dangerous,
            housing_structure,
            safe_water,
            food_secure,
            clothing_secure,
            education_secure,
            medical_secure,
            housing_secure,
        },
        member: MemberFields {
            member_no,
            name: name.expect(some),
            sex: sex.expect(some),
            id: id.expect(some),
            disability,
            relation: relation.expect(some),
            ethnicity: ethnicity.expect(some),
            education: education.expect(some),
            schooling: schooling.expect(some),
            health: health.expect(some),
            labour: labour.expect(some),
            migrant_months,
            phone,
        },
    })
}

/// Names the household-level columns on which two rows of one household disagree.
pub fn household_differences(a: &HouseholdFields, b: &HouseholdFields) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.village != b.village {
        out.push("行政区划代码");
    }
    if a.is_registered() != b.is_registered() {
        out.push("户类型");
        return out;
    }
    if a.attribute != b.attribute {
        out.push("贫困户属性");
    }
    if a.identification_standard != b.identification_standard {
        out.push("识别标准");
    }
    if a.main_cause != b.main_cause {
        out.push("主要致贫原因");
    }
    if a.other_causes != b.other_causes {
        out.push("其他致贫原因");
    }
    if a.identified_year != b.identified_year {
        out.push("识别年度");
    }
    if a.status != b.status {
        out.push("脱贫状态");
    }
    if a.exit_year != b.exit_year {
        out.push("脱贫年度");
    }
    if a.group_name != b.group_name {
        out.push("组");
    }
    out
}

/// The one-户主 rule: a household has exactly one active member whose relation is
/// [`HEAD_RELATION`]. `complete` says whether `heads` counts all the household's active members
/// (a new household, or the household after a write); otherwise it counts only the rows given for
/// it (a file or form that updates some members may leave the existing head out, but can never
/// bring a second one). The refusal names the household and is the same at every door.
pub fn check_head_count(household_no: &str, heads: usize, complete: bool) -> Result<(), String> {
    match heads {
        1 => Ok(()),
        0 if !complete => Ok(()),
        0 => Err(format!(
            "户编号 {household_no} 没有户主，每户须有且只有一个户主"
        )),
        n => Err(format!(
            "户编号 {household_no} 有 {n} 个户主，每户须有且只有一个户主"
        )),
    }
}

/// Checks the rows of one household taken together: exactly one 户主, household columns
/// agreeing, no person twice. Returns (row index within the group, problem).
pub fn check_household_group(rows: &[&MemberRow]) -> Vec<(usize, CellProblem)> {
    let mut out = Vec::new();
    let Some(first) = rows.first() else {
        return out;
    };
    for (i, r) in rows.iter().enumerate().skip(1) {
        for column in household_differences(&first.household, &r.household) {
            out.push((
                i,
                CellProblem {
                    column: column.into(),
                    value: String::new(),
                    message: format!(
                        "同一户（户编号 {}）各行的{column}不一致",
                        first.household.household_no
                    ),
                },
            ));
        }
    }
    let heads: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.member.is_head())
        .map(|(i, _)| i)
        .collect();
    if let Err(message) = check_head_count(&first.household.household_no, heads.len(), false) {
        for &i in &heads[1..] {
            out.push((
                i,
                CellProblem {
                    column: "与户主关系".into(),
                    value: "户主".into(),
                    message: message.clone(),
                },
            ));
        }
    }
    for (i, r) in rows.iter().enumerate() {
        let Some(id) = r.member.id_number() else {
            continue;
        };
        if let Some(j) = rows[..i]
            .iter()
            .position(|o| o.member.id_number() == Some(id))
        {
            out.push((
                i,
                CellProblem {
                    column: "证件号码".into(),
                    value: id.masked(),
                    message: format!("同一人在本户出现两次（与本户第 {} 个成员行重复）", j + 1),
                },
            ));
        }
    }
    out
}

/// One year of a household's income.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncomeRow {
    pub household_no: String,
    pub year: i64,
    pub wage: Fen,
    pub business: Fen,
    pub property: Fen,
    pub transfer: Fen,
    pub business_cost: Fen,
}

impl IncomeRow {
    /// 家庭纯收入 = 工资性 + 生产经营性 + 财产性 + 转移性 − 生产经营性支出.
    pub fn net(&self) -> Option<Fen> {
        self.wage
            .checked_add(self.business)?
            .checked_add(self.property)?
            .checked_add(self.transfer)?
            .checked_sub(self.business_cost)
    }
}

/// 人均纯收入, rounded to the fen.
pub fn per_capita(net: Fen, household_size: i64) -> Option<Fen> {
    if household_size <= 0 {
        return None;
    }
    net.checked_div_round(household_size)
}

pub fn check_income_row(
    map: &ColumnMap,
    row: &[String],
    this_year: i64,
) -> Result<IncomeRow, Vec<CellProblem>> {
    let mut c = RowChecker {
        map,
        row,
        problems: Vec::new(),
    };
    let household_no = c.required("户编号");
    let year = c.year("年度", true, (2000, this_year));
    let money = |c: &mut RowChecker, column: &str| -> Option<Fen> {
        let raw = c.cell(column);
        if raw.is_empty() {
            return Some(Fen::ZERO);
        }
        match Fen::parse_yuan(&raw) {
            Ok(f) if f.is_negative() => {
                c.fail(column, format!("{column}不能为负数"));
                None
            }
            Ok(f) => Some(f),
            Err(e) => {
                c.fail(column, e.to_string());
                None
            }
        }
    };
    let wage = money(&mut c, "工资性收入");
    let business = money(&mut c, "生产经营性收入");
    let property = money(&mut c, "财产性收入");
    let transfer = money(&mut c, "转移性收入");
    let business_cost = money(&mut c, "生产经营性支出");
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let some = "checked above";
    let row = IncomeRow {
        household_no: household_no.expect(some),
        year: year.expect(some),
        wage: wage.expect(some),
        business: business.expect(some),
        property: property.expect(some),
        transfer: transfer.expect(some),
        business_cost: business_cost.expect(some),
    };
    if row.net().is_none() {
        return Err(vec![CellProblem {
            column: "工资性收入".into(),
            value: String::new(),
            message: "收入合计超出范围".into(),
        }]);
    }
    Ok(row)
}

/// JSON field names of the API and the template columns they stand for.
pub const HOUSEHOLD_JSON_FIELDS: [(&str, &str); 19] = [
    ("household_no", "户编号"),
    ("village_code", "行政区划代码"),
    ("household_type", "户类型"),
    ("attribute", "贫困户属性"),
    ("identification_standard", "识别标准"),
    ("main_cause", "主要致贫原因"),
    ("other_causes", "其他致贫原因"),
    ("identified_year", "识别年度"),
    ("status", "脱贫状态"),
    ("exit_year", "脱贫年度"),
    ("group_name", "组"),
    ("housing_dangerous", "住房是否危房"),
    ("housing_structure", "住房结构"),
    ("safe_water", "是否安全饮水"),
    ("food_secure", "不愁吃"),
    ("clothing_secure", "不愁穿"),
    ("education_secure", "义务教育有保障"),
    ("medical_secure", "基本医疗有保障"),
    ("housing_secure", "住房安全有保障"),
];

pub const MEMBER_JSON_FIELDS: [(&str, &str); 12] = [
    ("member_no", "人编号"),
    ("name", "姓名"),
    ("sex", "性别"),
    ("id_number", "证件号码"),
    ("relation", "与户主关系"),
    ("ethnicity", "民族"),
    ("education", "文化程度"),
    ("schooling", "在校生状况"),
    ("health", "健康状况"),
    ("labour", "劳动技能"),
    ("migrant_months", "务工时间（月）"),
    ("phone", "联系电话"),
];

/// The API field for a template column ("证件号码" → "id_number").
pub fn json_field_for(column: &str) -> Option<(&'static str, bool)> {
    HOUSEHOLD_JSON_FIELDS
        .iter()
        .map(|(f, c)| (*f, *c, true))
        .chain(MEMBER_JSON_FIELDS.iter().map(|(f, c)| (*f, *c, false)))
        .find(|(_, c, _)| *c == column)
        .map(|(f, _, household)| (f, household))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<String> {
        MEMBER_COLUMNS.iter().map(|c| c.0.to_string()).collect()
    }

    fn row(overrides: &[(&str, &str)]) -> Vec<String> {
        let base = [
            ("户编号", "4416210001"),
            ("人编号", ""),
            ("行政区划代码", "441621103212"),
            ("姓名", "张三"),
            ("性别", "男"),
            ("证件号码", "441621198001010010"),
            ("与户主关系", "户主"),
            ("民族", "汉"),
            ("文化程度", "初中"),
            ("在校生状况", "非在校生"),
            ("健康状况", "健康"),
            ("劳动技能", "普通劳动力"),
            ("务工时间（月）", "6"),
            ("贫困户属性", "一般贫困户"),
            ("识别标准", "国家标准"),
            ("主要致贫原因", "因病"),
            ("其他致贫原因", "缺技术、缺资金"),
            ("识别年度", "2014"),
            ("脱贫状态", "已脱贫"),
            ("脱贫年度", "2018"),
            ("联系电话", "13800001234"),
        ];
        base.iter()
            .map(|(k, v)| {
                overrides
                    .iter()
                    .find(|(ok, _)| ok == k)
                    .map(|(_, ov)| *ov)
                    .unwrap_or(v)
                    .to_string()
            })
            .collect()
    }

    fn ctx(tables: &CodeTables) -> CheckContext<'_> {
        CheckContext {
            tables,
            today: crate::date::Date::new(2026, 11, 26).unwrap(),
            registry_closed_after_year: 2020,
        }
    }

    #[test]
    fn no_new_identification_after_the_registry_closed() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let closed = check_member_row(&map, &row(&[("识别年度", "2021")]), &ctx(&tables))
            .expect_err("2021 is after the registry closed");
        let p = closed.iter().find(|p| p.column == "识别年度").unwrap();
        assert!(
            p.message.contains("截至2020年") && p.message.contains("防返贫监测"),
            "{}",
            p.message
        );
        assert!(
            check_member_row(
                &map,
                &row(&[("识别年度", "2020"), ("脱贫年度", "2020")]),
                &ctx(&tables)
            )
            .is_ok()
        );
        let later = CheckContext {
            registry_closed_after_year: 2021,
            ..ctx(&tables)
        };
        assert!(
            check_member_row(
                &map,
                &row(&[("识别年度", "2021"), ("脱贫年度", "2021")]),
                &later
            )
            .is_ok(),
            "the year is a rule"
        );
    }

    fn typed(overrides: &[(&str, &str)], household_type: &str) -> (ColumnMap, Vec<String>) {
        let mut h = headers();
        h.push("户类型".into());
        let mut r = row(overrides);
        r.push(household_type.into());
        (ColumnMap::members(&h), r)
    }

    const IDENTIFICATION_EMPTY: [(&str, &str); 7] = [
        ("贫困户属性", ""),
        ("识别标准", ""),
        ("主要致贫原因", ""),
        ("其他致贫原因", ""),
        ("识别年度", ""),
        ("脱贫状态", ""),
        ("脱贫年度", ""),
    ];

    #[test]
    fn a_rural_household_never_registered_needs_no_identification_data() {
        let tables = CodeTables::builtin();
        let (map, r) = typed(&IDENTIFICATION_EMPTY, "一般农户");
        let r = check_member_row(&map, &r, &ctx(&tables)).unwrap();
        assert!(!r.household.is_registered());
        assert_eq!(r.household.status, STATUS_NOT_REGISTERED);
        // A blank type is a registered household, under today's rules.
        let (map, r) = typed(&[], "");
        assert!(
            check_member_row(&map, &r, &ctx(&tables))
                .unwrap()
                .household
                .is_registered()
        );
    }

    #[test]
    fn a_registered_household_without_its_identification_data_is_told_what_it_lacks() {
        let tables = CodeTables::builtin();
        let (map, r) = typed(&IDENTIFICATION_EMPTY, "建档立卡户");
        let problems = check_member_row(&map, &r, &ctx(&tables)).unwrap_err();
        let year = problems.iter().find(|p| p.column == "识别年度").unwrap();
        assert!(
            year.message.contains("建档立卡户须填写识别年度"),
            "{}",
            year.message
        );
        assert!(
            problems
                .iter()
                .any(|p| p.column == "脱贫状态" && p.message.contains("建档立卡户须填写"))
        );
        // A 一般农户 with identification data is a mistake, not a silent loss.
        let (map, r) = typed(&[], "一般农户");
        let problems = check_member_row(&map, &r, &ctx(&tables)).unwrap_err();
        assert!(problems.iter().any(
            |p| p.column == "贫困户属性" && p.message.contains("一般农户（未建档立卡）不填写")
        ));
        let (map, r) = typed(&[], "低保户");
        let problems = check_member_row(&map, &r, &ctx(&tables)).unwrap_err();
        assert!(problems[0].message.contains("户类型应填"));
    }

    #[test]
    fn a_good_row_resolves_names_and_aliases_to_codes() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let r = check_member_row(&map, &row(&[]), &ctx(&tables)).unwrap();
        assert_eq!(r.household.status, "1");
        assert_eq!(r.household.other_causes, ["08", "10"]);
        assert_eq!(r.member.ethnicity, "01");
        assert!(r.member.is_head());
        assert_eq!(r.member.id_number().unwrap().as_str(), "441621198001010010");
    }

    #[test]
    fn every_problem_of_a_row_is_reported_with_its_column() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let bad = row(&[
            ("证件号码", "441621198001010011"),
            ("主要致贫原因", "因懒"),
            ("务工时间（月）", "13"),
            ("性别", "女"),
        ]);
        let problems = check_member_row(&map, &bad, &ctx(&tables)).unwrap_err();
        let cols: Vec<&str> = problems.iter().map(|p| p.column.as_str()).collect();
        assert_eq!(cols, ["主要致贫原因", "证件号码", "务工时间（月）"]);
        assert_eq!(
            problems[1].value, "4416**********0011",
            "ID values are masked in reports"
        );
    }

    #[test]
    fn sex_must_agree_with_the_id_number() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let problems = check_member_row(&map, &row(&[("性别", "女")]), &ctx(&tables)).unwrap_err();
        assert_eq!(problems[0].column, "性别");
        assert!(problems[0].message.contains("第 17 位"));
    }

    #[test]
    fn marriage_cause_is_not_valid_before_it_existed() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let problems =
            check_member_row(&map, &row(&[("主要致贫原因", "因婚")]), &ctx(&tables)).unwrap_err();
        assert_eq!(problems[0].column, "主要致贫原因");
        assert!(
            check_member_row(
                &map,
                &row(&[("主要致贫原因", "因婚"), ("识别年度", "2016")]),
                &ctx(&tables)
            )
            .is_ok()
        );
    }

    #[test]
    fn exit_year_follows_status() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let e = check_member_row(&map, &row(&[("脱贫状态", "未脱贫")]), &ctx(&tables)).unwrap_err();
        assert_eq!(e[0].column, "脱贫年度");
        let e = check_member_row(&map, &row(&[("脱贫年度", "")]), &ctx(&tables)).unwrap_err();
        assert_eq!(e[0].column, "脱贫年度");
        let e = check_member_row(&map, &row(&[("脱贫年度", "2013")]), &ctx(&tables)).unwrap_err();
        assert_eq!(e[0].column, "脱贫年度");
    }

    #[test]
    fn a_disability_certificate_number_is_accepted_instead_of_an_id_number() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let r = check_member_row(
            &map,
            &row(&[("证件号码", "44162119800101001063")]),
            &ctx(&tables),
        )
        .unwrap();
        assert_eq!(
            r.member.id_number().unwrap().as_str(),
            "441621198001010010",
            "the ID part is the person's identity"
        );
        let d = r.member.disability.unwrap();
        assert_eq!((d.category, d.grade), (6, 3));
        // Bad category or grade: refused on the 证件号码 column, in Chinese, without the number.
        for (cell, fragment) in [
            ("44162119800101001083", "残疾类别"),
            ("44162119800101001005", "残疾类别"),
            ("44162119800101001015", "残疾等级"),
            ("44162119800101001010", "残疾等级"),
            ("44162119800101001142", "校验位"),
        ] {
            let e = check_member_row(&map, &row(&[("证件号码", cell)]), &ctx(&tables)).unwrap_err();
            assert_eq!(e[0].column, "证件号码", "{cell}");
            assert!(e[0].message.contains(fragment), "{cell}: {}", e[0].message);
            assert!(!e[0].message.contains("441621198001010010"));
        }
        // The sex still comes from the ID part.
        let e = check_member_row(
            &map,
            &row(&[("证件号码", "44162119800101001063"), ("性别", "女")]),
            &ctx(&tables),
        )
        .unwrap_err();
        assert_eq!(e[0].column, "性别");
    }

    #[test]
    fn fifteen_digit_numbers_are_converted_and_masked_cells_need_a_member_number() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let r = check_member_row(
            &map,
            &row(&[("证件号码", "441621800101001")]),
            &ctx(&tables),
        )
        .unwrap();
        assert!(r.member.id_number().unwrap().was_15_digit());
        let e = check_member_row(
            &map,
            &row(&[("证件号码", "4416**********0010")]),
            &ctx(&tables),
        )
        .unwrap_err();
        assert_eq!(e[0].column, "证件号码");
        let ok = check_member_row(
            &map,
            &row(&[("证件号码", "4416**********0010"), ("人编号", "P1")]),
            &ctx(&tables),
        )
        .unwrap();
        assert_eq!(ok.member.id, IdCell::Masked);
    }

    #[test]
    fn headers_match_across_bracket_widths() {
        let mut h = headers();
        h[12] = "务工时间(月)".into();
        let map = ColumnMap::members(&h);
        assert!(map.missing_member_columns().is_empty());
        let map = ColumnMap::members(&h[..5]);
        assert!(
            map.missing_member_columns()
                .contains(&"证件号码".to_string())
        );
    }

    #[test]
    fn a_household_has_exactly_one_head_and_agreeing_columns() {
        let tables = CodeTables::builtin();
        let map = ColumnMap::members(&headers());
        let head = check_member_row(&map, &row(&[]), &ctx(&tables)).unwrap();
        let second_head = check_member_row(
            &map,
            &row(&[
                ("证件号码", "11010519491231002X"),
                ("性别", "女"),
                ("主要致贫原因", "因残"),
            ]),
            &ctx(&tables),
        )
        .unwrap();
        let problems = check_household_group(&[&head, &second_head]);
        let cols: Vec<&str> = problems.iter().map(|p| p.1.column.as_str()).collect();
        assert_eq!(cols, ["主要致贫原因", "与户主关系"]);
        let twice = check_household_group(&[&head, &head]);
        assert!(twice.iter().any(|p| p.1.column == "证件号码"));
    }

    #[test]
    fn income_sums_and_per_capita() {
        let map = ColumnMap::incomes(
            &INCOME_COLUMNS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        );
        let cells: Vec<String> = ["H1", "2019", "1,234.50", "1234.5元", "０", "300", "100.10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = check_income_row(&map, &cells, 2026).unwrap();
        assert_eq!(r.net(), Some(Fen(1234_50 + 1234_50 + 300_00 - 100_10)));
        assert_eq!(per_capita(Fen(1000), 3), Some(Fen(333)));
        assert_eq!(per_capita(Fen(1000), 0), None);
        let bad: Vec<String> = ["H1", "2019", "1.234", "-5", "", "", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = check_income_row(&map, &bad, 2026).unwrap_err();
        assert_eq!(e.len(), 2);
    }
}
