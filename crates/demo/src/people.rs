//! Fictitious people: names, checksum-valid ID numbers that are unique in the demo, and member
//! attributes drawn from the registry's code tables, consistent with each other (the sex digit
//! agrees with 性别, schooling with age, labour capacity with age and health).

use domain::id_number::check_char;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::HashSet;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "梁", "郑", "谢", "宋", "唐", "韦", "蓝", "覃", "农", "黎", "莫", "廖",
    "邓", "冯", "曾", "彭", "潘", "袁", "蒋", "田",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "军", "勇", "杰", "涛", "明", "超", "华", "平", "刚", "波", "辉", "建", "国", "文",
    "福", "贵", "林", "海", "金", "志", "永", "春", "德", "成", "荣", "新", "庆", "宏",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娟", "敏", "静", "丽", "艳", "霞", "燕", "玲", "英", "梅", "兰", "秀", "红", "凤", "月",
    "琴", "桂", "花", "萍", "翠", "珍", "莲", "妹", "慧", "婷", "雪", "春", "金", "美",
];
// Uyghur and Tajik names as written in Chinese (fictitious combinations).
const XJ_MALE: &[&str] = &[
    "买买提",
    "艾力",
    "吐尔逊",
    "阿不都",
    "艾合买提",
    "努尔",
    "热合曼",
    "亚森",
    "库尔班",
    "依明",
];
const XJ_FEMALE: &[&str] = &[
    "阿依古丽",
    "古丽",
    "热依汗",
    "帕提古丽",
    "阿米娜",
    "祖丽皮亚",
    "努尔古丽",
    "玛依拉",
    "海丽切姆",
    "布海丽",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Head,
    Spouse,
    Child,
    Parent,
    Grandchild,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub male: bool,
    pub age: i64,
    pub relation: &'static str,
    pub id_number: String,
    pub ethnicity: &'static str,
    pub education: &'static str,
    pub schooling: &'static str,
    pub health: &'static str,
    pub labour: &'static str,
    pub migrant_months: Option<i64>,
}

/// The roles of a household of `size`: a head, usually a spouse, children, sometimes parents
/// or grandchildren.
pub fn household_roles(size: i64, rng: &mut StdRng) -> Vec<Role> {
    let mut roles = vec![Role::Head];
    if size >= 2 && rng.random_bool(0.85) {
        roles.push(Role::Spouse);
    }
    while (roles.len() as i64) < size {
        let r = rng.random_range(0..10);
        roles.push(match r {
            0..=5 => Role::Child,
            6..=7 => Role::Parent,
            _ => Role::Grandchild,
        });
    }
    roles
}

/// Ethnicity codes (GB 3304) by county, with weights: the main peoples of each area.
fn ethnicities(county: i64) -> &'static [(&'static str, u32)] {
    match county {
        653101 => &[("05", 85), ("01", 15)],
        653131 => &[("41", 80), ("05", 15), ("01", 5)],
        451226 => &[("36", 40), ("08", 30), ("01", 30)],
        451225 => &[("32", 40), ("08", 30), ("01", 30)],
        451227..=451229 => &[("13", 40), ("08", 40), ("01", 20)],
        450000..=459999 => &[("08", 70), ("13", 10), ("06", 5), ("01", 15)],
        533301..=533323 => &[("20", 60), ("42", 15), ("01", 25)],
        533324 => &[("51", 40), ("42", 30), ("20", 20), ("01", 10)],
        533325 => &[("14", 50), ("40", 15), ("20", 15), ("01", 20)],
        532927 => &[("07", 50), ("03", 15), ("01", 35)],
        513300..=513399 | 540000..=549999 => &[("04", 90), ("01", 10)],
        500237 => &[("01", 90), ("15", 10)],
        _ => &[("01", 97), ("22", 3)],
    }
}

pub(crate) fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for (v, w) in weighted {
        if r < *w {
            return *v;
        }
        r -= w;
    }
    weighted[0].0
}

pub struct PeopleMaker {
    used_ids: HashSet<u64>,
    pub xinjiang_names: bool,
}

impl Default for PeopleMaker {
    fn default() -> Self {
        PeopleMaker::new()
    }
}

impl PeopleMaker {
    pub fn new() -> PeopleMaker {
        PeopleMaker {
            used_ids: HashSet::with_capacity(1 << 21),
            xinjiang_names: false,
        }
    }

    /// A checksum-valid 18-digit number with the county's address code, the birth date and an
    /// odd (male) or even (female) sequence digit, never issued twice in the demo.
    fn id_number(&mut self, rng: &mut StdRng, county: i64, birth_year: i64, male: bool) -> String {
        loop {
            let month = rng.random_range(1..=12u32);
            let day = rng.random_range(1..=28u32);
            let seq = rng.random_range(0..500u32) * 2 + u32::from(male);
            let first17 = format!("{county:06}{birth_year:04}{month:02}{day:02}{seq:03}");
            let key: u64 = first17.parse().unwrap_or(0);
            if self.used_ids.insert(key) {
                let check = check_char(&first17).unwrap_or('0');
                return format!("{first17}{check}");
            }
        }
    }

    fn name(&self, rng: &mut StdRng, surname: &str, male: bool, uyghur: bool) -> String {
        if uyghur {
            let given = if male { XJ_MALE } else { XJ_FEMALE };
            return format!(
                "{}·{}",
                given[rng.random_range(0..given.len())],
                XJ_MALE[rng.random_range(0..XJ_MALE.len())]
            );
        }
        let given = if male { GIVEN_MALE } else { GIVEN_FEMALE };
        let mut n = surname.to_string();
        n.push_str(given[rng.random_range(0..given.len())]);
        if rng.random_bool(0.6) {
            n.push_str(given[rng.random_range(0..given.len())]);
        }
        n
    }

    /// The members of one household, head first.
    pub fn household(
        &mut self,
        rng: &mut StdRng,
        county: i64,
        size: i64,
        year: i64,
    ) -> Vec<Person> {
        let roles = household_roles(size, rng);
        let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
        let uyghur = (653100..653200).contains(&county);
        let head_male = rng.random_bool(0.8);
        let head_age = rng.random_range(28..=72i64);
        let ethnic_table = ethnicities(county);
        let household_ethnicity = pick(rng, ethnic_table);
        let mut out = Vec::with_capacity(roles.len());
        for role in roles {
            let (male, age) = match role {
                Role::Head => (head_male, head_age),
                Role::Spouse => (!head_male, (head_age + rng.random_range(-5..=5)).max(20)),
                Role::Child => (
                    rng.random_bool(0.52),
                    (head_age - rng.random_range(20..=34)).max(0),
                ),
                Role::Parent => (
                    rng.random_bool(0.4),
                    (head_age + rng.random_range(22..=32)).min(98),
                ),
                Role::Grandchild => (
                    rng.random_bool(0.52),
                    (head_age - rng.random_range(45..=58)).max(0),
                ),
            };
            let relation = match (role, male) {
                (Role::Head, _) => domain::registry::HEAD_RELATION,
                (Role::Spouse, _) => "02",
                (Role::Child, true) => "03",
                (Role::Child, false) => "04",
                (Role::Parent, true) => "11",
                (Role::Parent, false) => "12",
                (Role::Grandchild, true) => "07",
                (Role::Grandchild, false) => "08",
            };
            let own_surname = match role {
                Role::Spouse | Role::Parent if !male => {
                    SURNAMES[rng.random_range(0..SURNAMES.len())]
                }
                _ => surname,
            };
            let ethnicity = if role == Role::Spouse {
                pick(rng, ethnic_table)
            } else {
                household_ethnicity
            };
            let health = pick(rng, &[("1", 80), ("2", 11), ("3", 4), ("4", 5)]);
            let schooling = match age {
                3..=5 => "10",
                6..=11 => "21",
                12..=14 => "31",
                15..=17 => pick(rng, &[("41", 60), ("42", 30), ("00", 10)]),
                18..=21 => pick(rng, &[("51", 15), ("61", 10), ("00", 75)]),
                _ => "00",
            };
            let education = match age {
                0..=5 => "0",
                6..=11 => "2",
                12..=14 => "3",
                15..=17 => "4",
                18..=40 => pick(rng, &[("2", 20), ("3", 50), ("4", 18), ("5", 7), ("6", 5)]),
                41..=60 => pick(rng, &[("1", 10), ("2", 45), ("3", 38), ("4", 7)]),
                _ => pick(rng, &[("1", 45), ("2", 45), ("3", 10)]),
            };
            let labour = match (age, health) {
                (0..=15, _) => "5",
                (_, "3") | (_, "4") => pick(rng, &[("3", 40), ("4", 60)]),
                (16..=59, "2") => "3",
                (16..=59, _) => pick(rng, &[("1", 72), ("2", 20), ("3", 8)]),
                (60..=69, _) => pick(rng, &[("3", 70), ("4", 30)]),
                _ => "5",
            };
            let migrant_months = if matches!(labour, "1" | "2") && rng.random_bool(0.55) {
                Some(rng.random_range(3..=12))
            } else {
                None
            };
            let birth_year = year - age;
            let id_number = self.id_number(rng, county, birth_year, male);
            let name = self.name(rng, own_surname, male, uyghur);
            out.push(Person {
                name,
                male,
                age,
                relation,
                id_number,
                ethnicity,
                education,
                schooling,
                health,
                labour,
                migrant_months,
            });
        }
        out
    }
}

/// A fictitious mobile number (never a real subscriber's: the 170 block is virtual carriers').
pub fn phone(rng: &mut StdRng) -> String {
    format!("170{:08}", rng.random_range(0..100_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::id_number::IdNumber;
    use rand::SeedableRng;

    #[test]
    fn members_carry_valid_unique_ids_that_agree_with_their_sex() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut maker = PeopleMaker::new();
        let mut seen = HashSet::new();
        for i in 0..2000 {
            let county = if i % 2 == 0 { 451024 } else { 653131 };
            for p in maker.household(&mut rng, county, 1 + i % 6, 2020) {
                let id = IdNumber::parse(&p.id_number).expect("valid ID number");
                assert_eq!(
                    id.sex() == domain::id_number::Sex::Male,
                    p.male,
                    "{}",
                    p.id_number
                );
                assert_eq!(id.address_code(), county.to_string());
                assert!(
                    seen.insert(p.id_number.clone()),
                    "duplicate {}",
                    p.id_number
                );
                if p.age < 16 {
                    assert_eq!(p.labour, "5");
                }
            }
        }
    }

    #[test]
    fn a_household_has_exactly_one_head() {
        let mut rng = StdRng::seed_from_u64(3);
        for size in 1..=8 {
            let roles = household_roles(size, &mut rng);
            assert_eq!(roles.len() as i64, size);
            assert_eq!(roles.iter().filter(|r| **r == Role::Head).count(), 1);
        }
    }
}
