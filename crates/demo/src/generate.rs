//! Turns the plan into records: region attributes, organisations, pairings with yearly targets,
//! registry households with members, incomes, status histories, cadres and measures, projects
//! with locations, organisations, status histories, indicators and loans, and the hash-chained
//! fund ledger. Everything flows through a [`Sink`] in dependency order.
//!
//! Pairing targets use three indicators the dashboard compares with actuals:
//! `财政帮扶资金` (万元), `实施项目` (个) and `脱贫人口` (人, from 2014).

use crate::DemoError;
use crate::people::{PeopleMaker, Person, phone, pick};
use crate::plan::{FIRST_REGISTRY_YEAR, LAST_YEAR, PeopleKind, Plan};
use crate::scenario::{County, Scenario};
use crate::sink::{Sink, Table, V};
use domain::kinds::{OrgKind, PairingType, Theme};
use domain::ledger::{Entry, FundSource, GENESIS_HASH, TxType};
use domain::money::Fen;
use domain::poverty_status::PovertyStatus;
use domain::project::{Indicator, ProjectStatus};
use domain::registry::per_capita;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::HashMap;
use store::regions::Progress;

pub const RECORDED_BY: &str = "演示数据";

#[derive(Debug, Clone)]
pub struct Village {
    pub key: i64,
    pub code: String,
    pub name: String,
    pub town_name: String,
}

/// The real towns and villages of each scenario county, read from the region list.
#[derive(Debug, Clone, Default)]
pub struct CountyPlaces {
    pub villages: Vec<Village>,
}

/// Where numbering continues: the demo is loaded into a database without registry, project or
/// ledger records, but organisations may exist.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartIds {
    pub organisation: i64,
    pub pairing: i64,
    pub batch: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub organisations: i64,
    pub pairings: i64,
    pub households: i64,
    pub members: i64,
    pub incomes: i64,
    pub projects: i64,
    pub ledger_entries: i64,
    pub people_out_of_poverty: i64,
    pub people_remaining: i64,
    pub fiscal_funds_fen: i64,
}

macro_rules! table {
    ($name:ident, $table:literal, [$($col:literal),* $(,)?]) => {
        pub static $name: Table = Table { name: $table, columns: &[$($col),*] };
    };
}

table!(
    REGION_POPULATION,
    "region_population",
    ["region_key", "year", "rural_population"]
);
table!(
    ORGANISATIONS,
    "organisations",
    [
        "id",
        "name",
        "kind",
        "region_key",
        "shenzhen_side",
        "note",
        "created_at",
        "updated_at"
    ]
);
table!(
    PAIRINGS,
    "pairings",
    [
        "id",
        "organisation_id",
        "region_key",
        "pairing_type",
        "start_year",
        "end_year",
        "note",
        "created_at",
        "updated_at"
    ]
);
table!(
    PAIRING_TARGETS,
    "pairing_targets",
    ["pairing_id", "indicator", "unit", "year", "target"]
);
table!(
    IMPORT_BATCHES,
    "import_batches",
    [
        "id",
        "kind",
        "file_name",
        "sha256",
        "username",
        "started_at",
        "rows",
        "households_added",
        "households_updated",
        "members_added",
        "members_updated"
    ]
);
table!(
    HOUSEHOLDS,
    "households",
    [
        "id",
        "household_no",
        "village_key",
        "county_key",
        "group_name",
        "identification_standard",
        "attribute",
        "main_cause",
        "other_causes",
        "identified_year",
        "status",
        "exit_year",
        "housing_dangerous",
        "housing_structure",
        "safe_water",
        "food_secure",
        "clothing_secure",
        "education_secure",
        "medical_secure",
        "housing_secure",
        "phone",
        "head_name",
        "member_count",
        "last_batch_id",
        "created_at",
        "updated_at",
    ]
);
table!(
    MEMBERS,
    "members",
    [
        "household_id",
        "member_no",
        "name",
        "sex",
        "id_number",
        "relation",
        "ethnicity",
        "education",
        "schooling",
        "health",
        "labour",
        "migrant_months",
        "phone",
        "last_batch_id",
        "created_at",
        "updated_at",
    ]
);
table!(
    STATUS_HISTORY,
    "household_status_history",
    [
        "household_id",
        "status",
        "year",
        "note",
        "recorded_at",
        "recorded_by",
        "source"
    ]
);
table!(
    INCOMES,
    "household_incomes",
    [
        "household_id",
        "year",
        "wage_fen",
        "business_fen",
        "property_fen",
        "transfer_fen",
        "business_cost_fen",
        "net_fen",
        "household_size",
        "per_capita_fen",
        "recorded_at",
    ]
);
table!(
    CADRES,
    "household_cadres",
    [
        "household_id",
        "name",
        "unit",
        "unit_level",
        "phone",
        "start_date",
        "recorded_at"
    ]
);
table!(
    MEASURES,
    "household_measures",
    [
        "household_id",
        "measure_type",
        "amount_fen",
        "measure_date",
        "relocated_from_key",
        "relocated_to_key",
        "note",
        "recorded_at",
    ]
);
table!(
    PROJECTS,
    "projects",
    [
        "id",
        "code",
        "name",
        "theme",
        "sub_type",
        "livelihood",
        "pairing_id",
        "approved_on",
        "start_date",
        "end_date",
        "status",
        "status_date",
        "budget",
        "description",
        "created_at",
        "updated_at",
    ]
);
table!(
    PROJECT_LOCATIONS,
    "project_locations",
    ["project_id", "region_key", "weight", "position"]
);
table!(
    PROJECT_ORGANISATIONS,
    "project_organisations",
    ["project_id", "organisation_id", "role"]
);
table!(
    PROJECT_STATUS,
    "project_status_history",
    [
        "project_id",
        "status",
        "changed_on",
        "changed_by",
        "note",
        "recorded_at"
    ]
);
table!(
    PROJECT_INDICATORS,
    "project_indicators",
    ["project_id", "year", "indicator", "value"]
);
table!(
    PROJECT_LOANS,
    "project_loans",
    [
        "project_id",
        "household_id",
        "borrower",
        "amount",
        "term_months",
        "issued_on",
        "outstanding",
        "overdue"
    ]
);
table!(
    LEDGER,
    "ledger_entries",
    [
        "id",
        "tx_type",
        "amount",
        "value_date",
        "provider_id",
        "receiver_id",
        "provider_shenzhen",
        "receiver_shenzhen",
        "fund_source",
        "project_id",
        "voucher_no",
        "memo",
        "passes_on",
        "reverses",
        "over_commitment_reason",
        "invested",
        "recorded_at",
        "recorded_by",
        "prev_hash",
        "hash",
    ]
);
table!(APP_SETTINGS, "app_settings", ["key", "value"]);
table!(
    AUDIT,
    "audit_log",
    [
        "at",
        "user_id",
        "username",
        "action",
        "entity",
        "entity_id",
        "batch_id",
        "detail"
    ]
);

/// Tables whose secondary indexes are rebuilt after the load (the big ones).
pub const BULK_TABLES: &[&str] = &[
    "households",
    "members",
    "household_status_history",
    "household_incomes",
    "household_cadres",
    "household_measures",
];

/// The organisations the seed names, with their kind and the themes they fund.
const NAMED: &[(&str, OrgKind, &[Theme])] = &[
    (
        "中广核集团",
        OrgKind::Enterprise,
        &[Theme::Industry, Theme::Rural],
    ),
    (
        "深圳市华强公益基金会",
        OrgKind::Foundation,
        &[Theme::Education],
    ),
    ("中国建设银行深圳市分行", OrgKind::Bank, &[Theme::Finance]),
    (
        "深圳能源集团",
        OrgKind::Enterprise,
        &[Theme::Industry, Theme::Technology],
    ),
    (
        "平安银行",
        OrgKind::Bank,
        &[Theme::Finance, Theme::Consumption],
    ),
    (
        "腾讯公益慈善基金会",
        OrgKind::Foundation,
        &[Theme::Education, Theme::Technology],
    ),
    ("华侨城集团", OrgKind::Enterprise, &[Theme::Tourism]),
    ("本来生活", OrgKind::Enterprise, &[Theme::Consumption]),
    (
        "深圳商报",
        OrgKind::Enterprise,
        &[Theme::Consumption, Theme::Pairing],
    ),
];

const DISTRICTS: &[(&str, &str)] = &[
    ("福田区", "440304"),
    ("罗湖区", "440303"),
    ("盐田区", "440308"),
    ("南山区", "440305"),
    ("宝安区", "440306"),
    ("龙岗区", "440307"),
    ("龙华区", "440309"),
    ("坪山区", "440310"),
    ("光明区", "440311"),
    ("大鹏新区", ""),
];

const GENERATED_TRADES: &[&str] = &[
    "科技",
    "实业",
    "农业发展",
    "电子",
    "供应链",
    "食品",
    "建设",
    "物流",
    "生物",
    "文化传媒",
];
const GENERATED_WORDS: &[&str] = &[
    "鹏程", "前海", "南山", "华星", "海天", "创维", "金地", "粤海", "深蓝", "东部", "光明", "大湾",
];

fn key_of(code: &str) -> Option<i64> {
    domain::RegionCode::parse(code).ok().map(|c| c.key())
}

/// Month lengths of a common year: generated dates count days of a 365-day year.
const MONTH_DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

fn date(year: i64, day_of_year: i64) -> String {
    let (mut m, mut d) = (1, day_of_year.clamp(1, 365));
    for len in MONTH_DAYS {
        if d <= len {
            break;
        }
        d -= len;
        m += 1;
    }
    format!("{year:04}-{m:02}-{d:02}")
}

fn day_number(date: &str) -> i64 {
    let m: i64 = date[5..7].parse().unwrap_or(1);
    let d: i64 = date[8..10].parse().unwrap_or(1);
    MONTH_DAYS[..(m - 1) as usize].iter().sum::<i64>() + d
}

struct Org {
    id: i64,
    kind: OrgKind,
}

/// Numbers organisations as it writes them.
struct OrgWriter {
    next: i64,
    now: String,
}

impl OrgWriter {
    fn add(
        &mut self,
        sink: &mut dyn Sink,
        name: &str,
        kind: OrgKind,
        region: Option<i64>,
        shenzhen: bool,
    ) -> Result<Org, DemoError> {
        let id = self.next;
        self.next += 1;
        sink.row(
            &ORGANISATIONS,
            &[
                id.into(),
                name.into(),
                kind.as_str().into(),
                region.into(),
                shenzhen.into(),
                RECORDED_BY.into(),
                self.now.as_str().into(),
                self.now.as_str().into(),
            ],
        )?;
        Ok(Org { id, kind })
    }
}

struct CountyState {
    pairing_id: i64,
    /// The Shenzhen-side organisation of the county's pairing (city office or district).
    funder: i64,
    government: i64,
    contractor: i64,
    /// Registered poor people per village, for the rural population.
    registered: Vec<i64>,
    village_weights: Vec<u32>,
    village_weight_total: u64,
    next_household_no: Vec<u32>,
    /// A few households per county to name as microloan borrowers: (id, head name).
    borrowers: Vec<(i64, String)>,
}

pub struct Generator<'a> {
    pub scenario: &'a Scenario,
    pub places: &'a [CountyPlaces],
    pub plan: &'a Plan,
    pub rng: StdRng,
    pub now: String,
    pub start: StartIds,
    pub progress: &'a dyn Progress,
}

impl Generator<'_> {
    pub fn run(mut self, sink: &mut dyn Sink) -> Result<Counts, DemoError> {
        let mut counts = Counts::default();
        let s = self.scenario;
        let now = self.now.clone();
        let batch = self.start.batch;

        // Region attributes: the county's area and elevation; each village's elevation around it.
        self.progress
            .start("区划属性与结对", s.counties.len() as u64);
        for (c, places) in s.counties.iter().zip(self.places) {
            sink.execute(
                "UPDATE regions SET area_km2 = ?, elevation_m = ? WHERE key = ?",
                &[c.area_km2.into(), c.elevation_m.into(), c.code.key().into()],
            )?;
            for v in &places.villages {
                let e = (c.elevation_m as f64 * self.rng.random_range(0.85..1.15)).round() as i64;
                sink.execute(
                    "UPDATE regions SET elevation_m = ? WHERE key = ?",
                    &[
                        e.clamp(s.figures.altitude.min_m, s.figures.altitude.max_m)
                            .into(),
                        v.key.into(),
                    ],
                )?;
            }
        }

        // Organisations: the city office, the districts, the named and generated Shenzhen
        // enterprises, and in each county its government and a local builder.
        let mut orgs = OrgWriter {
            next: self.start.organisation,
            now: now.clone(),
        };
        let mut org =
            |sink: &mut dyn Sink,
             name: &str,
             kind: OrgKind,
             region: Option<i64>,
             shenzhen: bool| { orgs.add(sink, name, kind, region, shenzhen) };
        let city = org(
            sink,
            "深圳市乡村振兴和协作交流局",
            OrgKind::CityOffice,
            key_of("4403"),
            true,
        )?;
        let mut districts = HashMap::new();
        for (name, code) in DISTRICTS {
            let o = org(
                sink,
                &format!("深圳市{name}人民政府"),
                OrgKind::DistrictOffice,
                key_of(code),
                true,
            )?;
            districts.insert(*name, o);
        }
        let mut named = Vec::new();
        for (name, kind, themes) in NAMED {
            named.push((org(sink, name, *kind, key_of("4403"), true)?, *themes));
        }
        let mut generated = Vec::new();
        for i in 0..40 {
            let name = format!(
                "深圳市{}{}有限公司",
                GENERATED_WORDS[i % GENERATED_WORDS.len()],
                GENERATED_TRADES[(i * 7 + i / GENERATED_WORDS.len()) % GENERATED_TRADES.len()]
            );
            generated.push(org(sink, &name, OrgKind::Enterprise, key_of("4403"), true)?);
        }
        let mut states = Vec::new();
        let mut next_pairing = self.start.pairing;
        for (c, places) in s.counties.iter().zip(self.places) {
            let government = org(
                sink,
                &format!("{}人民政府", c.name),
                OrgKind::Government,
                Some(c.code.key()),
                false,
            )?;
            let short: String = c.name.chars().take(2).collect();
            let contractor = org(
                sink,
                &format!("{short}城乡建设有限公司"),
                OrgKind::Enterprise,
                Some(c.code.key()),
                false,
            )?;
            let funder = if c.shenzhen_side == "深圳市" {
                city.id
            } else {
                districts[c.shenzhen_side.as_str()].id
            };
            let pairing_type = PairingType::ALL
                .iter()
                .find(|t| t.name_zh() == c.relation)
                .copied()
                .unwrap_or(PairingType::Counterpart);
            let pairing_id = next_pairing;
            next_pairing += 1;
            sink.row(
                &PAIRINGS,
                &[
                    pairing_id.into(),
                    funder.into(),
                    c.code.key().into(),
                    pairing_type.as_str().into(),
                    c.since_year.into(),
                    c.until_year.into(),
                    RECORDED_BY.into(),
                    now.as_str().into(),
                    now.as_str().into(),
                ],
            )?;
            let village_weights: Vec<u32> = places
                .villages
                .iter()
                .map(|_| self.rng.random_range(2..=20))
                .collect();
            states.push(CountyState {
                pairing_id,
                funder,
                government: government.id,
                contractor: contractor.id,
                registered: vec![0; places.villages.len()],
                village_weight_total: village_weights
                    .iter()
                    .map(|w| u64::from(*w))
                    .sum::<u64>()
                    .max(1),
                village_weights,
                next_household_no: vec![0; places.villages.len()],
                borrowers: Vec::new(),
            });
            self.progress.advance(1);
        }
        counts.organisations = orgs.next - self.start.organisation;
        counts.pairings = next_pairing - self.start.pairing;
        self.progress.finish();

        self.households(sink, &mut states, &mut counts)?;
        self.projects(sink, &states, &named, &generated, &mut counts)?;
        self.targets(sink, &states)?;

        // Rural registered population per village and county: the registered poor are a
        // minority of it, as in the poor counties of the time (incidence from a few to 30%).
        for (ci, (c, places)) in s.counties.iter().zip(self.places).enumerate() {
            let mut county_total = vec![0i64; (LAST_YEAR - FIRST_REGISTRY_YEAR + 1) as usize];
            for (vi, v) in places.villages.iter().enumerate() {
                let poor = states[ci].registered[vi];
                let base = if poor > 0 {
                    poor * self.rng.random_range(4..=9) + self.rng.random_range(100..400)
                } else {
                    self.rng.random_range(600..2500)
                };
                for (i, y) in (FIRST_REGISTRY_YEAR..=LAST_YEAR).enumerate() {
                    let pop = (base as f64 * (1.0 - 0.008 * i as f64)).round() as i64;
                    county_total[i] += pop;
                    sink.row(&REGION_POPULATION, &[v.key.into(), y.into(), pop.into()])?;
                }
            }
            for (i, y) in (FIRST_REGISTRY_YEAR..=LAST_YEAR).enumerate() {
                sink.row(
                    &REGION_POPULATION,
                    &[c.code.key().into(), y.into(), county_total[i].into()],
                )?;
            }
        }

        let rows = counts.members;
        sink.row(
            &IMPORT_BATCHES,
            &[
                batch.into(),
                "demo".into(),
                "bangfu demo".into(),
                "".into(),
                RECORDED_BY.into(),
                now.as_str().into(),
                rows.into(),
                counts.households.into(),
                0i64.into(),
                counts.members.into(),
                0i64.into(),
            ],
        )?;
        // The marker every page and export reads to say 演示数据.
        sink.row(&APP_SETTINGS, &["demo".into(), "true".into()])?;
        let detail = serde_json::to_string(&counts).unwrap_or_default();
        sink.row(
            &AUDIT,
            &[
                now.as_str().into(),
                V::Null,
                "system".into(),
                "demo_load".into(),
                "import_batches".into(),
                batch.to_string().as_str().into(),
                batch.into(),
                format!("载入演示数据 {detail}").as_str().into(),
            ],
        )?;
        Ok(counts)
    }

    fn households(
        &mut self,
        sink: &mut dyn Sink,
        states: &mut [CountyState],
        counts: &mut Counts,
    ) -> Result<(), DemoError> {
        let s = self.scenario;
        let plan = self.plan;
        let total: i64 = plan.people.iter().map(|b| b.people).sum();
        self.progress.start("建档立卡户与成员", total as u64);
        let mut maker = PeopleMaker::new();
        let mut household_id = 0i64;
        let lines = domain::assessment::Rules::default();
        let line = |y: i64| lines.poverty_line(y).map(|f| f.0).unwrap_or(400_000);
        for bucket in &plan.people {
            let c: &County = &s.counties[bucket.county];
            let county_code = c.code.short_value();
            let villages = &self.places[bucket.county].villages;
            if villages.is_empty() {
                return Err(DemoError::Scenario(format!(
                    "{}（{}）在区划中没有村级单位",
                    c.name, county_code
                )));
            }
            let mut left = bucket.people;
            while left > 0 {
                let size = (match self.rng.random_range(0..100) {
                    0..=9 => 1,
                    10..=27 => 2,
                    28..=49 => 3,
                    50..=74 => 4,
                    75..=89 => 5,
                    _ => 6,
                })
                .min(left);
                left -= size;
                household_id += 1;
                // The registry is empty when the demo loads (checked before), so ids start at 1.
                let id = household_id;
                let st = &mut states[bucket.county];
                let vi = pick_index(&mut self.rng, &st.village_weights, st.village_weight_total);
                let village = &villages[vi];
                st.next_household_no[vi] += 1;
                st.registered[vi] += size;
                let household_no = format!("{}{:04}", village.code, st.next_household_no[vi]);

                // Years: identification, exit, relapse; status as of the end of the scenario.
                let (exit_year, relapse_year) = match bucket.kind {
                    PeopleKind::ExitedCounted | PeopleKind::ExitedUncounted => {
                        (Some(bucket.year), None)
                    }
                    PeopleKind::Relapsed => (
                        Some(self.rng.random_range(2016..bucket.year)),
                        Some(bucket.year),
                    ),
                    PeopleKind::Remaining => (None, None),
                };
                let latest_identification =
                    exit_year.map_or(2019, |e| (e - 1).max(FIRST_REGISTRY_YEAR));
                let identified = if self.rng.random_bool(0.78) {
                    FIRST_REGISTRY_YEAR
                } else {
                    self.rng
                        .random_range(FIRST_REGISTRY_YEAR..=latest_identification)
                };
                let status = match (bucket.kind, exit_year) {
                    (PeopleKind::Relapsed, _) => PovertyStatus::Returned,
                    (PeopleKind::Remaining, _) => PovertyStatus::NotOut,
                    (_, Some(e)) if e <= 2017 && self.rng.random_bool(0.25) => {
                        PovertyStatus::ExitedNoPolicy
                    }
                    _ => PovertyStatus::Exited,
                };
                let poor_now = status.is_poor();
                let status = status.code();
                let people: Vec<Person> =
                    maker.household(&mut self.rng, county_code, size, LAST_YEAR);
                let head = &people[0];
                let household_phone = phone(&mut self.rng);
                let main_cause = pick(
                    &mut self.rng,
                    &[
                        ("01", 22),
                        ("02", 8),
                        ("03", 8),
                        ("04", 3),
                        ("06", 5),
                        ("07", 2),
                        ("08", 20),
                        ("09", 8),
                        ("10", 16),
                        ("11", 5),
                        ("12", 3),
                    ],
                );
                let other = if self.rng.random_bool(0.4) {
                    let o = pick(&mut self.rng, &[("08", 3), ("10", 3), ("09", 1), ("11", 1)]);
                    if o == main_cause { "" } else { o }
                } else {
                    ""
                };
                // 两不愁三保障 and safe water: met by every household that exited; a few of the
                // remaining still lack one.
                let mut secure = || !poor_now || self.rng.random_bool(0.96);
                let (food, clothing, education, medical, housing, water) =
                    (secure(), secure(), secure(), secure(), secure(), secure());
                let structure = pick(
                    &mut self.rng,
                    &[("砖混", 55), ("砖木", 20), ("钢混", 15), ("土木", 10)],
                );
                sink.row(
                    &HOUSEHOLDS,
                    &[
                        id.into(),
                        household_no.as_str().into(),
                        village.key.into(),
                        c.code.key().into(),
                        format!("{}组", self.rng.random_range(1..=12))
                            .as_str()
                            .into(),
                        (if self.rng.random_bool(0.9) { "1" } else { "2" }).into(),
                        pick(&mut self.rng, &[("1", 75), ("2", 20), ("3", 5)]).into(),
                        main_cause.into(),
                        other.into(),
                        identified.into(),
                        status.into(),
                        exit_year.into(),
                        (!housing).into(),
                        structure.into(),
                        water.into(),
                        food.into(),
                        clothing.into(),
                        education.into(),
                        medical.into(),
                        housing.into(),
                        household_phone.as_str().into(),
                        head.name.as_str().into(),
                        size.into(),
                        self.start.batch.into(),
                        self.now.as_str().into(),
                        self.now.as_str().into(),
                    ],
                )?;
                self.members(sink, id, &household_no, &household_phone, &people)?;

                // Status history, dated by year.
                let mut history = vec![(
                    PovertyStatus::NotOut.code(),
                    identified,
                    "识别为建档立卡贫困户",
                )];
                if let Some(e) = exit_year {
                    history.push((PovertyStatus::Exited.code(), e, "脱贫退出"));
                }
                if status == PovertyStatus::ExitedNoPolicy.code() {
                    history.push((
                        PovertyStatus::ExitedNoPolicy.code(),
                        exit_year.unwrap_or(2017) + 3,
                        "不再享受扶贫政策",
                    ));
                }
                if let Some(r) = relapse_year {
                    history.push((PovertyStatus::Returned.code(), r, "返贫，重新纳入帮扶"));
                }
                for (code, year, note) in history {
                    let at = format!("{year}-12-20T08:00:00Z");
                    sink.row(
                        &STATUS_HISTORY,
                        &[
                            id.into(),
                            code.into(),
                            year.into(),
                            note.into(),
                            at.as_str().into(),
                            RECORDED_BY.into(),
                            // Historical statuses from before the system existed.
                            domain::poverty_status::SOURCE_IMPORT.into(),
                        ],
                    )?;
                }

                // Incomes: below the year's line while poor, above it from the year before the
                // exit (an exit needs stable income), below again after a relapse. Out of
                // poverty a household keeps its own level (1.2–2.2 × the line, ±8% a year,
                // growing 7% a year since the exit), so only a few recent exits sit under the
                // monitoring threshold (1.5 × the line) and none drops sharply without cause:
                // the monitoring screen then finds a few percent, as DOMAIN.md §7 expects.
                let level = self.rng.random_range(1.2..2.2);
                // From the year before the first one assessed (2013): an exit in 2014 needs
                // the income of the year before it (stable_years), and `assess --year 2014` …
                // `--year 2020` must find every year it asks for. The years before
                // identification are drawn from the household's own stream (cloning the
                // generator does not advance it), so every other figure of the demo stays as
                // it was.
                let mut before = {
                    use rand::SeedableRng;
                    StdRng::seed_from_u64(self.rng.clone().random::<u64>() ^ id as u64)
                };
                for year in (FIRST_REGISTRY_YEAR - 1)..=LAST_YEAR {
                    let rng: &mut StdRng = if year < identified {
                        &mut before
                    } else {
                        &mut self.rng
                    };
                    let poor_in_year = match (exit_year, relapse_year) {
                        (_, Some(r)) if year >= r => true,
                        (Some(e), _) => year < e - 1,
                        (None, _) => true,
                    };
                    let l = line(year);
                    let per_capita_target = if poor_in_year {
                        (l as f64 * rng.random_range(0.55..0.95)) as i64
                    } else {
                        let since = exit_year.map_or(0, |e| (year - e + 1).max(0));
                        (l as f64
                            * level
                            * rng.random_range(0.92..1.08)
                            * (1.0 + 0.07 * since as f64)) as i64
                    };
                    let net = per_capita_target * size;
                    let transfer = (net as f64 * rng.random_range(0.12..0.35)) as i64;
                    let property = (net as f64 * rng.random_range(0.0..0.03)) as i64;
                    let cost = (net as f64 * rng.random_range(0.02..0.08)) as i64;
                    let business = (net as f64 * rng.random_range(0.08..0.3)) as i64 + cost;
                    let wage = net - transfer - property - (business - cost);
                    let per = per_capita(Fen(net), size).map(|f| f.0).unwrap_or(0);
                    let at = format!("{year}-12-31T08:00:00Z");
                    sink.row(
                        &INCOMES,
                        &[
                            id.into(),
                            year.into(),
                            wage.into(),
                            business.into(),
                            property.into(),
                            transfer.into(),
                            cost.into(),
                            net.into(),
                            size.into(),
                            per.into(),
                            at.as_str().into(),
                        ],
                    )?;
                    counts.incomes += 1;
                }

                // The cadre responsible (帮扶责任人) and a measure matching the main cause.
                let (unit, level) = if self.rng.random_bool(0.6) {
                    (format!("{}人民政府", village.town_name), "乡镇")
                } else {
                    let bureau = pick(
                        &mut self.rng,
                        &[
                            ("农业农村局", 3),
                            ("教育局", 2),
                            ("卫生健康局", 2),
                            ("人力资源和社会保障局", 2),
                            ("交通运输局", 1),
                        ],
                    );
                    (format!("{}{bureau}", c.name), "县直")
                };
                let cadre = maker
                    .household(&mut self.rng, county_code, 1, LAST_YEAR)
                    .remove(0);
                let cadre_phone = phone(&mut self.rng);
                sink.row(
                    &CADRES,
                    &[
                        id.into(),
                        cadre.name.as_str().into(),
                        unit.as_str().into(),
                        level.into(),
                        cadre_phone.as_str().into(),
                        date(identified, self.rng.random_range(60..180))
                            .as_str()
                            .into(),
                        self.now.as_str().into(),
                    ],
                )?;
                let measure = match main_cause {
                    "01" | "02" => "医疗",
                    "03" => "教育",
                    "08" | "09" => "务工",
                    "10" => "小额信贷",
                    "06" | "07" | "11" if self.rng.random_bool(0.3) => "易地扶贫搬迁",
                    _ => pick(
                        &mut self.rng,
                        &[
                            ("产业", 5),
                            ("入股分红", 2),
                            ("光伏", 1),
                            ("电商", 1),
                            ("乡村旅游", 1),
                        ],
                    ),
                };
                let measure_year = (identified + 1).min(LAST_YEAR);
                let amount: Option<i64> = match measure {
                    "小额信贷" => Some(self.rng.random_range(1..=5) * 10_000_00),
                    "产业" | "入股分红" | "光伏" => {
                        Some(self.rng.random_range(2..=8) * 1_000_00)
                    }
                    _ => None,
                };
                let (from, to) = if measure == "易地扶贫搬迁" {
                    let target = &villages[self.rng.random_range(0..villages.len())];
                    (Some(village.key), Some(target.key))
                } else {
                    (None, None)
                };
                sink.row(
                    &MEASURES,
                    &[
                        id.into(),
                        measure.into(),
                        amount.into(),
                        date(measure_year, self.rng.random_range(30..300))
                            .as_str()
                            .into(),
                        from.into(),
                        to.into(),
                        "".into(),
                        self.now.as_str().into(),
                    ],
                )?;
                if measure == "小额信贷" && st.borrowers.len() < 400 {
                    st.borrowers.push((id, head.name.clone()));
                }

                counts.households += 1;
                counts.members += size;
                match bucket.kind {
                    PeopleKind::ExitedCounted => counts.people_out_of_poverty += size,
                    PeopleKind::Remaining | PeopleKind::Relapsed => counts.people_remaining += size,
                    PeopleKind::ExitedUncounted => {}
                }
                self.progress.advance(size as u64);
            }
        }
        self.progress.finish();
        self.rural_households(sink, states, &mut maker, household_id)
    }

    /// The members of a household (人编号 = 户编号 + two digits); the head keeps the household's phone.
    fn members(
        &self,
        sink: &mut dyn Sink,
        id: i64,
        household_no: &str,
        household_phone: &str,
        people: &[Person],
    ) -> Result<(), DemoError> {
        for (i, p) in people.iter().enumerate() {
            let member_no = format!("{household_no}{:02}", i + 1);
            let member_phone = if i == 0 { household_phone } else { "" };
            sink.row(
                &MEMBERS,
                &[
                    id.into(),
                    member_no.as_str().into(),
                    p.name.as_str().into(),
                    (if p.male { "1" } else { "2" }).into(),
                    p.id_number.as_str().into(),
                    p.relation.into(),
                    p.ethnicity.into(),
                    p.education.into(),
                    p.schooling.into(),
                    p.health.into(),
                    p.labour.into(),
                    p.migrant_months.into(),
                    member_phone.into(),
                    self.start.batch.into(),
                    self.now.as_str().into(),
                    self.now.as_str().into(),
                ],
            )?;
        }
        Ok(())
    }

    /// A modest number of rural households never registered as poor (一般农户, status 'N'),
    /// kept in the registry for monitoring: about one per 40 registered households, a third
    /// of them with income below the county's monitoring threshold in the last year, so that
    /// `bangfu assess` finds 边缘易致贫户 among them. They count in no poverty figure, and they
    /// draw on a random stream of their own (forked, not advanced), so every other record and
    /// every headline figure of the demo stays as it was.
    fn rural_households(
        &mut self,
        sink: &mut dyn Sink,
        states: &mut [CountyState],
        maker: &mut PeopleMaker,
        last_registered_id: i64,
    ) -> Result<(), DemoError> {
        use rand::SeedableRng;
        let mut rng = StdRng::seed_from_u64(self.rng.clone().random::<u64>() ^ 0x4e4f_4e52_4547);
        let rules = domain::assessment::Rules::default();
        let mut id = last_registered_id;
        for (ci, c) in self.scenario.counties.iter().enumerate() {
            let villages = &self.places[ci].villages;
            let st = &mut states[ci];
            let registered: u32 = st.next_household_no.iter().sum();
            if villages.is_empty() || registered == 0 {
                continue;
            }
            for _ in 0..(registered / 40).max(1) {
                id += 1;
                let vi = rng.random_range(0..villages.len());
                let village = &villages[vi];
                st.next_household_no[vi] += 1;
                let household_no = format!("{}{:04}", village.code, st.next_household_no[vi]);
                let size = rng.random_range(1..=5i64);
                let people: Vec<Person> =
                    maker.household(&mut rng, c.code.short_value(), size, LAST_YEAR);
                let household_phone = phone(&mut rng);
                sink.row(
                    &HOUSEHOLDS,
                    &[
                        id.into(),
                        household_no.as_str().into(),
                        village.key.into(),
                        c.code.key().into(),
                        format!("{}组", rng.random_range(1..=12)).as_str().into(),
                        "".into(),
                        "".into(),
                        "".into(),
                        "".into(),
                        0i64.into(),
                        domain::registry::STATUS_NOT_REGISTERED.into(),
                        V::Null,
                        false.into(),
                        "砖混".into(),
                        true.into(),
                        true.into(),
                        true.into(),
                        true.into(),
                        true.into(),
                        true.into(),
                        household_phone.as_str().into(),
                        people[0].name.as_str().into(),
                        size.into(),
                        self.start.batch.into(),
                        self.now.as_str().into(),
                        self.now.as_str().into(),
                    ],
                )?;
                self.members(sink, id, &household_no, &household_phone, &people)?;
                // Incomes of the last two years around the monitoring threshold: a third below it.
                let at_risk = rng.random_bool(1.0 / 3.0);
                for year in LAST_YEAR - 1..=LAST_YEAR {
                    let threshold = rules
                        .monitoring_threshold(c.code.short_value(), year)
                        .map(|t| t.0.0)
                        .unwrap_or(600_000);
                    let factor = if at_risk && year == LAST_YEAR {
                        rng.random_range(0.75..0.97)
                    } else {
                        rng.random_range(1.15..2.5)
                    };
                    let per_capita_target = (threshold as f64 * factor) as i64;
                    let net = per_capita_target * size;
                    let transfer = (net as f64 * rng.random_range(0.05..0.2)) as i64;
                    let wage = net - transfer;
                    let per = per_capita(Fen(net), size).map(|f| f.0).unwrap_or(0);
                    let at = format!("{year}-12-31T08:00:00Z");
                    sink.row(
                        &INCOMES,
                        &[
                            id.into(),
                            year.into(),
                            wage.into(),
                            0i64.into(),
                            0i64.into(),
                            transfer.into(),
                            0i64.into(),
                            net.into(),
                            size.into(),
                            per.into(),
                            at.as_str().into(),
                        ],
                    )?;
                }
            }
        }
        Ok(())
    }

    fn projects(
        &mut self,
        sink: &mut dyn Sink,
        states: &[CountyState],
        named: &[(Org, &[Theme])],
        generated: &[Org],
        counts: &mut Counts,
    ) -> Result<(), DemoError> {
        let s = self.scenario;
        let as_of = s.figures.as_of.clone();
        let as_of_day = day_number(&as_of);
        self.progress
            .start("项目与资金台账", self.plan.projects.len() as u64);
        let mut prev_hash = GENESIS_HASH.to_string();
        let mut entry_id = 0i64;
        let mut seq_in_year: HashMap<i64, i64> = HashMap::new();
        let plan = self.plan;
        for (i, slot) in plan.projects.iter().enumerate() {
            let project_id = i as i64 + 1;
            let c = &s.counties[slot.county];
            let st = &states[slot.county];
            let villages = &self.places[slot.county].villages;
            let theme = self.theme_for(slot.year);
            let village = &villages[self.rng.random_range(0..villages.len())];
            let last_day = if slot.year == LAST_YEAR {
                as_of_day - 60
            } else {
                300
            };
            let approved_day = self.rng.random_range(10..last_day.min(180));
            let approved_on = date(slot.year, approved_day);
            let start_day = approved_day + self.rng.random_range(5..30);
            let start_date = date(slot.year, start_day);
            let duration = self.rng.random_range(120..540);
            let end_abs = start_day + duration; // days from 1 January of the start year
            let end_year = slot.year + (end_abs - 1) / 365;
            let end_date = date(end_year, (end_abs - 1) % 365 + 1);
            let finished = end_date < as_of;
            let status = if !finished {
                ProjectStatus::InProgress
            } else if self.rng.random_bool(0.9) {
                ProjectStatus::Accepted
            } else {
                ProjectStatus::Completed
            };
            let seq = seq_in_year.entry(slot.year).or_default();
            *seq += 1;
            let code = format!("SZ{}{:05}", slot.year, *seq);
            let name = self.project_name(theme, c, village);
            // Social money from an enterprise or foundation for some projects, in its themes.
            let social = if slot.year >= 2010 && self.rng.random_bool(0.18) {
                let candidates: Vec<i64> = named
                    .iter()
                    .filter(|(_, t)| t.contains(&theme))
                    .map(|(o, _)| o.id)
                    .collect();
                let org = if !candidates.is_empty() && self.rng.random_bool(0.5) {
                    candidates[self.rng.random_range(0..candidates.len())]
                } else {
                    generated[self.rng.random_range(0..generated.len())].id
                };
                let amount =
                    (slot.fiscal_fen as f64 * self.rng.random_range(0.05..0.5)) as i64 / 100 * 100;
                (amount > 0).then_some((org, amount))
            } else {
                None
            };
            let budget = slot.fiscal_fen + social.map_or(0, |s| s.1);
            let livelihood = matches!(theme, Theme::Education | Theme::Industry | Theme::Rural)
                && self.rng.random_bool(0.6);
            let status_date = if finished {
                end_date.clone()
            } else {
                start_date.clone()
            };
            sink.row(
                &PROJECTS,
                &[
                    project_id.into(),
                    code.as_str().into(),
                    name.as_str().into(),
                    theme.as_str().into(),
                    "".into(),
                    livelihood.into(),
                    st.pairing_id.into(),
                    approved_on.as_str().into(),
                    start_date.as_str().into(),
                    (if finished {
                        Some(end_date.as_str())
                    } else {
                        None
                    })
                    .into(),
                    status.as_str().into(),
                    status_date.as_str().into(),
                    budget.into(),
                    format!("{}，{}。{RECORDED_BY}", c.name, theme.name_zh())
                        .as_str()
                        .into(),
                    self.now.as_str().into(),
                    self.now.as_str().into(),
                ],
            )?;
            sink.row(
                &PROJECT_LOCATIONS,
                &[
                    project_id.into(),
                    village.key.into(),
                    1i64.into(),
                    0i64.into(),
                ],
            )?;
            if self.rng.random_bool(0.12) {
                let second = &villages[self.rng.random_range(0..villages.len())];
                if second.key != village.key {
                    sink.row(
                        &PROJECT_LOCATIONS,
                        &[
                            project_id.into(),
                            second.key.into(),
                            1i64.into(),
                            1i64.into(),
                        ],
                    )?;
                }
            }
            sink.row(
                &PROJECT_ORGANISATIONS,
                &[project_id.into(), st.funder.into(), "funding".into()],
            )?;
            sink.row(
                &PROJECT_ORGANISATIONS,
                &[
                    project_id.into(),
                    st.government.into(),
                    "accountable".into(),
                ],
            )?;
            sink.row(
                &PROJECT_ORGANISATIONS,
                &[
                    project_id.into(),
                    st.contractor.into(),
                    "implementing".into(),
                ],
            )?;
            if let Some((org, _)) = social {
                sink.row(
                    &PROJECT_ORGANISATIONS,
                    &[project_id.into(), org.into(), "funding".into()],
                )?;
            }
            let mut steps = vec![
                (ProjectStatus::Approved, approved_on.clone()),
                (ProjectStatus::InProgress, start_date.clone()),
            ];
            if finished {
                steps.push((ProjectStatus::Completed, end_date.clone()));
                if status == ProjectStatus::Accepted {
                    steps.push((ProjectStatus::Accepted, end_date.clone()));
                }
            }
            for (st_status, day) in steps {
                sink.row(
                    &PROJECT_STATUS,
                    &[
                        project_id.into(),
                        st_status.as_str().into(),
                        day.as_str().into(),
                        RECORDED_BY.into(),
                        "".into(),
                        format!("{day}T09:00:00Z").as_str().into(),
                    ],
                )?;
            }
            for (indicator, value) in self.indicators(theme, budget) {
                sink.row(
                    &PROJECT_INDICATORS,
                    &[
                        project_id.into(),
                        slot.year.into(),
                        indicator.as_str().into(),
                        value.into(),
                    ],
                )?;
            }
            if theme == Theme::Finance && !st.borrowers.is_empty() {
                for _ in 0..3 {
                    let (household, borrower) =
                        &st.borrowers[self.rng.random_range(0..st.borrowers.len())];
                    let amount = self.rng.random_range(1..=5) * 10_000_00;
                    let repaid = finished && self.rng.random_bool(0.9);
                    sink.row(
                        &PROJECT_LOANS,
                        &[
                            project_id.into(),
                            (*household).into(),
                            borrower.as_str().into(),
                            amount.into(),
                            36i64.into(),
                            start_date.as_str().into(),
                            (if repaid { 0 } else { amount }).into(),
                            0i64.into(),
                        ],
                    )?;
                }
            }

            // The ledger: commitment, one or two disbursements (投入), expenditure.
            let year_end = if slot.year == LAST_YEAR {
                as_of_day - 1
            } else {
                365
            };
            let mut entries: Vec<(TxType, i64, String, i64, i64, FundSource)> = Vec::new();
            entries.push((
                TxType::Commitment,
                slot.fiscal_fen,
                approved_on.clone(),
                st.funder,
                st.government,
                FundSource::Fiscal,
            ));
            let tranches = if slot.fiscal_fen > 200_000_00 && self.rng.random_bool(0.5) {
                2
            } else {
                1
            };
            let first = if tranches == 2 {
                slot.fiscal_fen / 100 * 60
            } else {
                slot.fiscal_fen
            };
            entries.push((
                TxType::Disbursement,
                first,
                start_date.clone(),
                st.funder,
                st.government,
                FundSource::Fiscal,
            ));
            if tranches == 2 {
                let day = (start_day + self.rng.random_range(30..120)).min(year_end);
                entries.push((
                    TxType::Disbursement,
                    slot.fiscal_fen - first,
                    date(slot.year, day),
                    st.funder,
                    st.government,
                    FundSource::Fiscal,
                ));
            }
            if let Some((org, amount)) = social {
                let source = if named
                    .iter()
                    .any(|(o, _)| o.id == org && o.kind == OrgKind::Foundation)
                {
                    FundSource::Foundation
                } else {
                    FundSource::Enterprise
                };
                entries.push((
                    TxType::Commitment,
                    amount,
                    approved_on.clone(),
                    org,
                    st.government,
                    source,
                ));
                entries.push((
                    TxType::Disbursement,
                    amount,
                    start_date.clone(),
                    org,
                    st.government,
                    source,
                ));
            }
            let spent_share = if finished {
                self.rng.random_range(0.9..1.0)
            } else {
                self.rng.random_range(0.1..0.6)
            };
            let spent = (slot.fiscal_fen as f64 * spent_share) as i64 / 100 * 100;
            if spent > 0 {
                let day = (start_day + self.rng.random_range(20..200))
                    .min(year_end)
                    .max(start_day);
                entries.push((
                    TxType::Expenditure,
                    spent,
                    date(slot.year, day),
                    st.government,
                    st.contractor,
                    FundSource::Fiscal,
                ));
            }
            for (tx_type, amount, value_date, provider, receiver, source) in entries {
                entry_id += 1;
                // Commitments and disbursements come from the Shenzhen side (city office,
                // district, enterprise, foundation); the county government spends.
                let provider_shenzhen = tx_type != TxType::Expenditure;
                let receiver_shenzhen = false;
                let invested =
                    tx_type == TxType::Disbursement && provider_shenzhen && !receiver_shenzhen;
                if invested && source.is_fiscal() {
                    counts.fiscal_funds_fen += amount;
                }
                let mut e = Entry {
                    id: entry_id,
                    tx_type: tx_type.as_str().to_string(),
                    amount,
                    value_date: value_date.clone(),
                    provider_id: provider,
                    receiver_id: receiver,
                    provider_shenzhen,
                    receiver_shenzhen,
                    fund_source: source.as_str().to_string(),
                    project_id,
                    voucher_no: format!("PZ{}{:07}", &value_date[..4], entry_id),
                    memo: format!("{name}{}", tx_type.name_zh()),
                    passes_on: None,
                    receives: None,
                    reverses: None,
                    over_commitment_reason: None,
                    invested,
                    recorded_at: format!("{value_date}T10:00:00Z"),
                    recorded_by: RECORDED_BY.to_string(),
                    prev_hash: std::mem::take(&mut prev_hash),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                sink.row(
                    &LEDGER,
                    &[
                        e.id.into(),
                        e.tx_type.as_str().into(),
                        e.amount.into(),
                        e.value_date.as_str().into(),
                        e.provider_id.into(),
                        e.receiver_id.into(),
                        e.provider_shenzhen.into(),
                        e.receiver_shenzhen.into(),
                        e.fund_source.as_str().into(),
                        e.project_id.into(),
                        e.voucher_no.as_str().into(),
                        e.memo.as_str().into(),
                        V::Null,
                        V::Null,
                        V::Null,
                        e.invested.into(),
                        e.recorded_at.as_str().into(),
                        e.recorded_by.as_str().into(),
                        e.prev_hash.as_str().into(),
                        e.hash.as_str().into(),
                    ],
                )?;
                prev_hash = e.hash;
            }
            counts.projects += 1;
            self.progress.advance(1);
        }
        counts.ledger_entries = entry_id;
        self.progress.finish();
        Ok(())
    }

    /// Yearly agreement targets of each pairing, set around what the plan then delivered.
    fn targets(&mut self, sink: &mut dyn Sink, states: &[CountyState]) -> Result<(), DemoError> {
        let s = self.scenario;
        let mut funds: HashMap<(usize, i64), i64> = HashMap::new();
        let mut projects: HashMap<(usize, i64), i64> = HashMap::new();
        for p in &self.plan.projects {
            *funds.entry((p.county, p.year)).or_default() += p.fiscal_fen;
            *projects.entry((p.county, p.year)).or_default() += 1;
        }
        let mut people: HashMap<(usize, i64), i64> = HashMap::new();
        for b in &self.plan.people {
            if b.kind == PeopleKind::ExitedCounted {
                *people.entry((b.county, b.year)).or_default() += b.people;
            }
        }
        for (ci, c) in s.counties.iter().enumerate() {
            let first = c.since_year.max(2010);
            for year in first..=c.until_year.unwrap_or(LAST_YEAR).min(LAST_YEAR) {
                let target = |indicator: &str,
                              unit: &str,
                              actual: f64,
                              sink: &mut dyn Sink,
                              rng: &mut StdRng| {
                    let t = (actual * rng.random_range(0.9..1.08)).round().max(1.0);
                    sink.row(
                        &PAIRING_TARGETS,
                        &[
                            states[ci].pairing_id.into(),
                            indicator.into(),
                            unit.into(),
                            year.into(),
                            t.into(),
                        ],
                    )
                };
                let f = funds.get(&(ci, year)).copied().unwrap_or(0) as f64 / 1_000_000.0;
                target("财政帮扶资金", "万元", f, sink, &mut self.rng)?;
                target(
                    "实施项目",
                    "个",
                    projects.get(&(ci, year)).copied().unwrap_or(0) as f64,
                    sink,
                    &mut self.rng,
                )?;
                if year >= FIRST_REGISTRY_YEAR && c.poor_weight > 0 {
                    target(
                        "脱贫人口",
                        "人",
                        people.get(&(ci, year)).copied().unwrap_or(0) as f64,
                        sink,
                        &mut self.rng,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn theme_for(&mut self, year: i64) -> Theme {
        let w: &[(Theme, u32)] = &[
            (Theme::Pairing, 10),
            (Theme::Education, 16),
            (Theme::Finance, if year >= 2014 { 7 } else { 0 }),
            (Theme::Industry, 24),
            (Theme::Rural, if year >= 2018 { 18 } else { 0 }),
            (Theme::Technology, 6),
            (Theme::Tourism, if year >= 2005 { 7 } else { 0 }),
            (Theme::Consumption, if year >= 2016 { 12 } else { 0 }),
        ];
        // Before rural revitalisation (2018) village infrastructure counted as industry/pairing.
        pick(&mut self.rng, w)
    }

    fn project_name(&mut self, theme: Theme, c: &County, v: &Village) -> String {
        let crops: &[&str] = match c.province_code() {
            45 => &["百香果", "芒果", "油茶", "桑蚕", "澳洲坚果", "砂糖橘"],
            36 => &["脐橙", "油茶", "蔬菜", "白莲"],
            44 => &["油茶", "茶叶", "蔬菜", "肉鸡"],
            52 => &["刺梨", "茶叶", "马铃薯", "中药材"],
            53 => &["草果", "核桃", "漆树", "中药材"],
            51 | 54 => &["牦牛", "青稞", "藏香猪", "中藏药材"],
            65 => &["巴旦木", "红枣", "牦牛", "无花果"],
            _ => &["脆李", "柑橘", "中药材", "蔬菜"],
        };
        let crop = crops[self.rng.random_range(0..crops.len())];
        let n = self.rng.random_range(0..3);
        match theme {
            Theme::Pairing => format!(
                "{}{}",
                v.name,
                [
                    "结对帮扶资金项目",
                    "帮扶干部工作经费",
                    "村级组织活动场所建设"
                ][n]
            ),
            Theme::Education => format!(
                "{}{}",
                v.name,
                ["小学改扩建工程", "幼儿园建设项目", "教育助学金"][n]
            ),
            Theme::Finance => format!(
                "{}{}",
                c.name,
                ["扶贫小额信贷贴息", "产业发展担保基金", "农业保险保费补贴"][n]
            ),
            Theme::Industry => format!(
                "{}{crop}{}",
                v.name,
                ["种植基地", "产业示范园", "加工车间"][n]
            ),
            Theme::Rural => format!(
                "{}{}",
                v.name,
                ["道路硬化工程", "人居环境整治", "安全饮水巩固提升工程"][n]
            ),
            Theme::Technology => format!(
                "{}{}",
                c.name,
                ["农业科技示范园", "电商服务站建设", "远程医疗系统"][n]
            ),
            Theme::Tourism => format!(
                "{}{}",
                v.name,
                ["乡村旅游民宿改造", "旅游步道建设", "民俗文化村建设"][n]
            ),
            Theme::Consumption => format!(
                "{}{crop}{}",
                c.name,
                ["产销对接", "消费帮扶专柜", "冷链物流中心"][n]
            ),
        }
    }

    fn indicators(&mut self, theme: Theme, budget_fen: i64) -> Vec<(Indicator, i64)> {
        let wan = (budget_fen / 1_000_000).max(1); // 万元
        let mut r = |lo: i64, hi: i64| self.rng.random_range(lo..=hi.max(lo));
        match theme {
            Theme::Pairing => vec![
                (Indicator::CadresDispatched, r(1, 4)),
                (Indicator::ProfessionalsDispatched, r(0, 8)),
            ],
            Theme::Education => vec![
                (Indicator::StudentsSupported, r(wan / 2, wan * 2)),
                (Indicator::TeachersTrained, r(0, wan / 4)),
                (Indicator::SchoolsBuilt, r(0, 1)),
            ],
            Theme::Finance => vec![],
            Theme::Industry => vec![
                (Indicator::EnterprisesIntroduced, r(0, 2)),
                (Indicator::IndustryJobs, r(wan / 4, wan)),
                (Indicator::DividendHouseholds, r(wan / 3, wan * 2)),
                (Indicator::Dividends, r(1, 5) * budget_fen / 100),
            ],
            Theme::Rural => vec![
                (Indicator::VillagesCovered, r(1, 3)),
                (Indicator::InfrastructureItems, r(1, 6)),
            ],
            Theme::Technology => vec![
                (Indicator::PeopleTrained, r(wan / 2, wan * 3)),
                (Indicator::TechProjects, r(1, 3)),
            ],
            Theme::Tourism => vec![
                (Indicator::Visitors, r(wan * 20, wan * 80)),
                (Indicator::TourismRevenue, r(5, 30) * budget_fen / 10),
                (Indicator::TourismJobs, r(wan / 5, wan)),
            ],
            Theme::Consumption => vec![
                (Indicator::ProductsPurchased, r(10, 40) * budget_fen / 10),
                (Indicator::HouseholdsLinked, r(wan / 2, wan * 3)),
            ],
        }
    }
}

fn pick_index(rng: &mut StdRng, weights: &[u32], total: u64) -> usize {
    let mut r = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if r < u64::from(*w) {
            return i;
        }
        r -= u64::from(*w);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_of_a_common_year() {
        assert_eq!(date(2019, 1), "2019-01-01");
        assert_eq!(date(2019, 32), "2019-02-01");
        assert_eq!(date(2019, 365), "2019-12-31");
        assert_eq!(day_number("2020-09-19"), 262);
        assert_eq!(date(2020, day_number("2020-09-19")), "2020-09-19");
    }
}
