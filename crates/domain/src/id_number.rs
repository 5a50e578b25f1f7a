//! 公民身份号码 (GB 11643-1999) and the masking of personal identifiers.
//!
//! An ID number is personal information (个人信息保护法): nothing in this module ever puts a
//! full number into an error message or a `Debug` string, so logging an error or a struct that
//! holds one cannot leak it.

use crate::text;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Province-level prefixes accepted as the first two digits: the 31 mainland provinces of the
/// code list plus 81/82/83, which residence permits for Hong Kong, Macau and Taiwan residents
/// use. Finer address codes are deliberately not checked: counties are merged and renamed,
/// but the numbers of their residents stay valid for life.
pub const PROVINCE_PREFIXES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 81, 82, 83,
];

/// Earliest and latest birth years accepted. The bounds only catch typos in the century;
/// whether a birth date lies in the future is for the caller, who knows today's date.
pub const MIN_BIRTH_YEAR: i32 = 1880;
pub const MAX_BIRTH_YEAR: i32 = 2100;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// GB/T 2261.1 code, the same as `sex.csv`.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    pub fn from_code(code: &str) -> Option<Sex> {
        match code.trim() {
            "1" => Some(Sex::Male),
            "2" => Some(Sex::Female),
            _ => None,
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_zh())
    }
}

/// Why a string is not a valid 公民身份号码. No variant carries the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("公民身份号码为空")]
    Empty,
    #[error(
        "公民身份号码被显示为科学计数法（如 4.41621E+17），原号码已丢失：请把该列设为文本格式后重新录入"
    )]
    ScientificNotation,
    #[error("公民身份号码应为18位（或旧式15位；残疾人证号为20位），实际为{len}位")]
    Length { len: usize },
    #[error("公民身份号码第{position}位不是数字（只有18位号码的最后一位可以是 X）")]
    NonDigit { position: usize },
    #[error("公民身份号码前两位“{prefix:02}”不是有效的省级行政区划代码")]
    Province { prefix: u32 },
    #[error("公民身份号码中的出生年份{year}不在{MIN_BIRTH_YEAR}—{MAX_BIRTH_YEAR}年之间")]
    BirthYear { year: i32 },
    #[error("公民身份号码中的出生日期不是有效的日期（月份或日期不存在）")]
    BirthDate,
    #[error("公民身份号码校验位错误：最后一位与前17位计算的结果不符，请核对号码")]
    CheckChar,
    #[error(
        "残疾人证号第19位是残疾类别，应为 1–7（1 视力、2 听力、3 言语、4 肢体、5 智力、6 精神、7 多重），实际为“{digit}”"
    )]
    DisabilityCategory { digit: char },
    #[error("残疾人证号第20位是残疾等级，应为 1–4（一级至四级），实际为“{digit}”")]
    DisabilityGrade { digit: char },
}

/// The two digits a 20-digit 残疾人证号 (disability certificate number of the second generation)
/// adds to its holder's 18-digit ID number: category and grade. Disability is sensitive personal
/// information: shown only where the household's file is shown, never in public output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Disability {
    /// 1 视力, 2 听力, 3 言语, 4 肢体, 5 智力, 6 精神, 7 多重.
    pub category: u8,
    /// 1–4 (一级 the most severe).
    pub grade: u8,
}

const DISABILITY_CATEGORIES: [&str; 7] = ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"];
const DISABILITY_GRADES: [&str; 4] = ["一级", "二级", "三级", "四级"];

impl Disability {
    /// Category and grade from their digits; the error names the one that is wrong.
    pub fn from_digits(category: char, grade: char) -> Result<Disability, IdNumberError> {
        let c = category.to_digit(10).filter(|d| (1..=7).contains(d));
        let Some(c) = c else {
            return Err(IdNumberError::DisabilityCategory { digit: category });
        };
        let g = grade.to_digit(10).filter(|d| (1..=4).contains(d));
        let Some(g) = g else {
            return Err(IdNumberError::DisabilityGrade { digit: grade });
        };
        Ok(Disability {
            category: c as u8,
            grade: g as u8,
        })
    }

    /// The stored form: the two digits, "42".
    pub fn suffix(&self) -> &'static str {
        const SUFFIXES: [[&str; 4]; 7] = [
            ["11", "12", "13", "14"],
            ["21", "22", "23", "24"],
            ["31", "32", "33", "34"],
            ["41", "42", "43", "44"],
            ["51", "52", "53", "54"],
            ["61", "62", "63", "64"],
            ["71", "72", "73", "74"],
        ];
        SUFFIXES[self.category as usize - 1][self.grade as usize - 1]
    }

    /// From the stored form; None for anything else.
    pub fn from_suffix(s: &str) -> Option<Disability> {
        let mut chars = s.chars();
        let (Some(c), Some(g), None) = (chars.next(), chars.next(), chars.next()) else {
            return None;
        };
        Disability::from_digits(c, g).ok()
    }

    /// "肢体残疾".
    pub fn category_zh(&self) -> String {
        format!("{}残疾", DISABILITY_CATEGORIES[self.category as usize - 1])
    }

    /// "二级".
    pub fn grade_zh(&self) -> &'static str {
        DISABILITY_GRADES[self.grade as usize - 1]
    }
}

/// A 证件号码 cell: a 公民身份号码 (18 or old 15 digits) or a 20-digit 残疾人证号, which is a valid
/// 18-digit ID number followed by the category (1–7) and grade (1–4) digits (DOMAIN §4). The ID
/// number is the person's identity either way, so the same person is found under both.
pub fn parse_id_or_certificate(s: &str) -> Result<(IdNumber, Option<Disability>), IdNumberError> {
    let t: String = text::normalize_compact(s)
        .chars()
        .map(|c| if c == 'x' { 'X' } else { c })
        .collect();
    if t.chars().count() != 20 {
        return IdNumber::parse(s).map(|n| (n, None));
    }
    let chars: Vec<char> = t.chars().collect();
    let id: String = chars[..18].iter().collect();
    let n = IdNumber::parse(&id)?;
    let d = Disability::from_digits(chars[18], chars[19])?;
    Ok((n, Some(d)))
}

/// A valid 公民身份号码, always held in its 18-character form so that the same person is
/// found whether a file carried the old 15-digit number or the new one.
///
/// Equality, ordering and hashing look only at the 18-character form.
#[derive(Clone)]
pub struct IdNumber {
    canonical: String,
    was_15: bool,
}

impl IdNumber {
    /// Parses after trimming, NFKC (full-width digits), removing inner whitespace (numbers are
    /// often typed in groups) and uppercasing x.
    pub fn parse(s: &str) -> Result<IdNumber, IdNumberError> {
        // Imports parse millions of numbers that are already clean: those are used as they are
        // (the slow path below would yield the very same text).
        let trimmed = s.trim();
        let clean = trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'X');
        let owned: String;
        let t: &str = if clean {
            trimmed
        } else {
            owned = text::normalize_compact(s)
                .chars()
                .map(|c| if c == 'x' { 'X' } else { c })
                .collect();
            &owned
        };
        if t.is_empty() {
            return Err(IdNumberError::Empty);
        }
        if t.contains(['E', 'e']) && looks_like_scientific(t) {
            return Err(IdNumberError::ScientificNotation);
        }
        let len = t.chars().count();
        if len != 15 && len != 18 {
            return Err(IdNumberError::Length { len });
        }
        for (i, c) in t.chars().enumerate() {
            let last_of_18 = len == 18 && i == 17;
            if !(c.is_ascii_digit() || (last_of_18 && c == 'X')) {
                return Err(IdNumberError::NonDigit { position: i + 1 });
            }
        }
        // From here on every char is ASCII, so byte slicing is safe.
        let prefix: u32 = t[..2].parse().expect("two ASCII digits");
        if !PROVINCE_PREFIXES.contains(&prefix) {
            return Err(IdNumberError::Province { prefix });
        }
        let mut first17 = String::with_capacity(18);
        let was_15 = len == 15;
        if was_15 {
            first17.push_str(&t[..6]);
            first17.push_str("19");
            first17.push_str(&t[6..15]);
        } else {
            first17.push_str(&t[..17]);
        }
        let (year, month, day) = birth_date_of(&first17);
        if !(MIN_BIRTH_YEAR..=MAX_BIRTH_YEAR).contains(&year) {
            return Err(IdNumberError::BirthYear { year });
        }
        if !is_valid_date(year, month, day) {
            return Err(IdNumberError::BirthDate);
        }
        let check = check_char(&first17).expect("17 ASCII digits");
        if !was_15 && t.as_bytes()[17] != check as u8 {
            return Err(IdNumberError::CheckChar);
        }
        let mut canonical = first17;
        canonical.push(check);
        Ok(IdNumber { canonical, was_15 })
    }

    /// The canonical 18-character form, with an uppercase X. This is the full number: use
    /// [`IdNumber::masked`] for anything shown to people who do not need it.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// True if the input was an old 15-digit number converted on parsing.
    pub fn was_15_digit(&self) -> bool {
        self.was_15
    }

    /// (year, month, day) of birth.
    pub fn birth_date(&self) -> (i32, u32, u32) {
        birth_date_of(&self.canonical)
    }

    /// Odd 17th digit = male.
    pub fn sex(&self) -> Sex {
        let d = self.canonical.as_bytes()[16] - b'0';
        if d % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// First two digits, e.g. 44 for 广东.
    pub fn province_prefix(&self) -> u32 {
        self.canonical[..2].parse().expect("validated digits")
    }

    /// The 6-digit address code where the number was first issued (possibly no longer in use).
    pub fn address_code(&self) -> &str {
        &self.canonical[..6]
    }

    /// Completed years of age on the given date (birthdays on 29 February count from 1 March
    /// in non-leap years, since that day does not exist). Negative if born after that date.
    pub fn age_on(&self, year: i32, month: u32, day: u32) -> i32 {
        let (by, bm, bd) = self.birth_date();
        let mut age = year - by;
        if (month, day) < (bm, bd) {
            age -= 1;
        }
        age
    }

    /// "4416**********0010".
    pub fn masked(&self) -> String {
        mask_id(&self.canonical)
    }
}

/// Excel turns a long digit string into "4.41621E+17": the digits are lost for good, so the
/// user needs to be told to fix the source rather than that a digit is wrong.
fn looks_like_scientific(t: &str) -> bool {
    let upper = t.to_ascii_uppercase();
    let Some((mantissa, exponent)) = upper.split_once('E') else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// Birth date from the 8 digits at positions 7–14 of an 18-character form (or of its first
/// 17 characters).
fn birth_date_of(first17: &str) -> (i32, u32, u32) {
    let year = first17[6..10].parse().expect("digits");
    let month = first17[10..12].parse().expect("digits");
    let day = first17[12..14].parse().expect("digits");
    (year, month, day)
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

pub fn is_valid_date(year: i32, month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// The check character for the first 17 digits, or `None` if `first17` is not exactly 17
/// ASCII digits. Useful to build valid numbers for demo data and tests.
pub fn check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(char::from(CHECK_CHARS[(sum % 11) as usize]))
}

impl PartialEq for IdNumber {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for IdNumber {}

impl std::hash::Hash for IdNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl PartialOrd for IdNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.canonical.cmp(&other.canonical)
    }
}

/// Masked on purpose: a `{:?}` in a log line or a panic message must not leak the number.
/// There is no `Display` so that printing the full number is always an explicit `as_str()`.
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdNumber").field(&self.masked()).finish()
    }
}

impl FromStr for IdNumber {
    type Err = IdNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse(s)
    }
}

impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        IdNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Masks anything that may be an ID number, valid or not (error reports quote invalid cells
/// too): the first 4 and last 4 characters stay, every character between becomes '*', so the
/// length is still visible. Strings of 8 characters or fewer have no safe part and become all
/// '*'. Surrounding whitespace is dropped first so it does not count as a kept character.
pub fn mask_id(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    let n = chars.len();
    if n <= 8 {
        return "*".repeat(n);
    }
    let mut out = String::with_capacity(n + 6);
    out.extend(&chars[..4]);
    out.extend(std::iter::repeat_n('*', n - 8));
    out.extend(&chars[n - 4..]);
    out
}

/// "138****1234" for an 11-digit mobile number (spaces and hyphens inside it are tolerated);
/// any other non-empty string keeps only its last 2 characters. Strings of 2 characters or
/// fewer are starred entirely, as keeping 2 would keep all of them.
pub fn mask_phone(s: &str) -> String {
    let t = text::normalize(s);
    let digits: String = t.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.len() == 11 && digits.starts_with('1') && digits.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{}****{}", &digits[..3], &digits[7..]);
    }
    let chars: Vec<char> = t.chars().collect();
    let n = chars.len();
    if n <= 2 {
        return "*".repeat(n);
    }
    let mut out: String = std::iter::repeat_n('*', n - 2).collect();
    out.extend(&chars[n - 2..]);
    out
}

/// A cell containing '*' (or its full-width form) came from a masked export; on re-import it
/// means "unchanged", never a new value.
pub fn looks_like_masked(s: &str) -> bool {
    s.contains(['*', '＊'])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid 18-digit number from its first 17 digits.
    fn valid(first17: &str) -> String {
        format!("{first17}{}", check_char(first17).unwrap())
    }

    #[test]
    fn a_disability_certificate_is_an_id_number_plus_category_and_grade() {
        let id = "441621198001010010";
        let (n, d) = parse_id_or_certificate(&format!("{id}42")).unwrap();
        assert_eq!(n.as_str(), id);
        let d = d.unwrap();
        assert_eq!((d.category, d.grade), (4, 2));
        assert_eq!(d.category_zh(), "肢体残疾");
        assert_eq!(d.grade_zh(), "二级");
        assert_eq!(d.suffix(), "42");
        assert_eq!(Disability::from_suffix("42"), Some(d));
        // Boundaries of the category digit (grade 1).
        for (cat, ok) in [
            ('0', false),
            ('1', true),
            ('7', true),
            ('8', false),
            ('9', false),
        ] {
            let r = parse_id_or_certificate(&format!("{id}{cat}1"));
            assert_eq!(r.is_ok(), ok, "category {cat}");
            if !ok {
                let e = r.unwrap_err();
                assert_eq!(e, IdNumberError::DisabilityCategory { digit: cat });
                assert!(e.to_string().contains("残疾类别，应为 1–7"), "{e}");
            }
        }
        // Boundaries of the grade digit (category 1).
        for (grade, ok) in [('0', false), ('1', true), ('4', true), ('5', false)] {
            let r = parse_id_or_certificate(&format!("{id}1{grade}"));
            assert_eq!(r.is_ok(), ok, "grade {grade}");
            if !ok {
                let e = r.unwrap_err();
                assert_eq!(e, IdNumberError::DisabilityGrade { digit: grade });
                assert!(e.to_string().contains("残疾等级，应为 1–4"), "{e}");
            }
        }
        assert_eq!(
            Disability::from_digits('1', '1').unwrap().category_zh(),
            "视力残疾"
        );
        assert_eq!(
            Disability::from_digits('7', '4').unwrap().category_zh(),
            "多重残疾"
        );
        // The ID part is checked like any ID number: a wrong check digit is refused as such.
        assert_eq!(
            parse_id_or_certificate("44162119800101001142").unwrap_err(),
            IdNumberError::CheckChar
        );
        // An X check character, lower case and grouped digits are accepted as for ID numbers.
        let x = "11010519491231002X";
        let (n, d) = parse_id_or_certificate("110105 19491231 002x 71").unwrap();
        assert_eq!((n.as_str(), d.map(|d| d.suffix())), (x, Some("71")));
        // A letter in the suffix is a category or grade error, not a silent acceptance.
        assert!(matches!(
            parse_id_or_certificate(&format!("{id}A1")),
            Err(IdNumberError::DisabilityCategory { .. })
        ));
        // 18 and 15 digits are still plain ID numbers; 19 and 21 are wrong lengths.
        assert_eq!(parse_id_or_certificate(id).unwrap().1, None);
        for len in [19, 21] {
            let s = format!("{id}{}", "1".repeat(len - 18));
            let e = parse_id_or_certificate(&s).unwrap_err();
            assert_eq!(e, IdNumberError::Length { len });
            assert!(e.to_string().contains("残疾人证号为20位"), "{e}");
        }
        // Messages never carry the number.
        let e = parse_id_or_certificate(&format!("{id}91")).unwrap_err();
        assert!(!e.to_string().contains(id));
    }

    #[test]
    fn documented_examples_are_valid() {
        for s in [
            "11010519491231002X",
            "441621198001010010",
            "451024197503150025",
        ] {
            let id = IdNumber::parse(s).unwrap();
            assert_eq!(id.as_str(), s);
            assert!(!id.was_15_digit());
        }
    }

    #[test]
    fn fields_of_documented_examples() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), (1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.province_prefix(), 11);
        assert_eq!(id.address_code(), "110105");

        let id = IdNumber::parse("441621198001010010").unwrap();
        assert_eq!(id.birth_date(), (1980, 1, 1));
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.sex().code(), "1");
        assert_eq!(id.province_prefix(), 44);

        let id = IdNumber::parse("451024197503150025").unwrap();
        assert_eq!(id.birth_date(), (1975, 3, 15));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.sex().code(), "2");
        assert_eq!(id.province_prefix(), 45);
    }

    #[test]
    fn check_char_covers_x_and_zero() {
        assert_eq!(check_char("11010519491231002"), Some('X'));
        assert_eq!(check_char("44162119800101001"), Some('0'));
        assert_eq!(check_char("45102419750315002"), Some('5'));
        assert_eq!(check_char("4416211980010100"), None);
        assert_eq!(check_char("441621198001010010"), None);
        assert_eq!(check_char("4416211980010100X"), None);
        assert_eq!(check_char("４4162119800101001"), None);
    }

    #[test]
    fn check_char_hits_all_eleven_values() {
        // Vary the sequence digits until every remainder has appeared, each checked by parse.
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..1000 {
            let first17 = format!("44030519900101{seq:03}");
            let c = check_char(&first17).unwrap();
            seen.insert(c);
            let id = IdNumber::parse(&format!("{first17}{c}")).unwrap();
            assert_eq!(id.as_str().chars().last(), Some(c));
        }
        assert_eq!(seen.len(), 11);
    }

    #[test]
    fn every_wrong_check_char_is_rejected() {
        for first17 in [
            "11010519491231002",
            "44162119800101001",
            "45102419750315002",
        ] {
            let right = check_char(first17).unwrap();
            for c in "0123456789X".chars().filter(|&c| c != right) {
                assert_eq!(
                    IdNumber::parse(&format!("{first17}{c}")),
                    Err(IdNumberError::CheckChar),
                    "{first17}{c}"
                );
            }
        }
    }

    #[test]
    fn single_digit_typos_are_caught() {
        let good = "441621198001010010";
        for pos in 0..17 {
            for d in b'0'..=b'9' {
                let mut bytes = good.as_bytes().to_vec();
                if bytes[pos] == d {
                    continue;
                }
                bytes[pos] = d;
                let s = String::from_utf8(bytes).unwrap();
                assert!(IdNumber::parse(&s).is_err(), "{s}");
            }
        }
    }

    #[test]
    fn input_normalisation() {
        let id = IdNumber::parse("  11010519491231002x ").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        let id = IdNumber::parse("１１０１０５１９４９１２３１００２ｘ").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        let id = IdNumber::parse("４４１６２１１９８００１０１００１０").unwrap();
        assert_eq!(id.as_str(), "441621198001010010");
        let id = IdNumber::parse("441621 19800101 0010").unwrap();
        assert_eq!(id.as_str(), "441621198001010010");
        let id = IdNumber::parse("\u{3000}441621198001010010\u{3000}").unwrap();
        assert_eq!(id.as_str(), "441621198001010010");
    }

    #[test]
    fn fifteen_digit_numbers_convert_to_the_same_person() {
        let old = IdNumber::parse("441621800101001").unwrap();
        let new = IdNumber::parse("441621198001010010").unwrap();
        assert!(old.was_15_digit());
        assert!(!new.was_15_digit());
        assert_eq!(old.as_str(), "441621198001010010");
        assert_eq!(old, new);
        assert_eq!(old.birth_date(), (1980, 1, 1));
        assert_eq!(old.sex(), Sex::Male);

        let mut set = std::collections::HashSet::new();
        set.insert(old);
        assert!(set.contains(&new));

        let old = IdNumber::parse("110105491231002").unwrap();
        assert_eq!(old.as_str(), "11010519491231002X");
        assert_eq!(old.sex(), Sex::Female);
        assert_eq!(old, IdNumber::parse("11010519491231002x").unwrap());
    }

    #[test]
    fn fifteen_digit_numbers_are_in_the_1900s() {
        let id = IdNumber::parse("110105000101001").unwrap();
        assert_eq!(id.birth_date(), (1900, 1, 1));
        let id = IdNumber::parse("110105991231001").unwrap();
        assert_eq!(id.birth_date(), (1999, 12, 31));
        // 1900 is not a leap year: 29 February does not exist.
        assert_eq!(
            IdNumber::parse("110105000229001"),
            Err(IdNumberError::BirthDate)
        );
        assert!(IdNumber::parse("110105960229001").is_ok());
    }

    #[test]
    fn fifteen_digit_numbers_have_no_check_char() {
        assert_eq!(
            IdNumber::parse("11010549123100X"),
            Err(IdNumberError::NonDigit { position: 15 })
        );
    }

    #[test]
    fn length_errors() {
        assert_eq!(IdNumber::parse(""), Err(IdNumberError::Empty));
        assert_eq!(IdNumber::parse("   "), Err(IdNumberError::Empty));
        assert_eq!(
            IdNumber::parse("44162119800101001"),
            Err(IdNumberError::Length { len: 17 })
        );
        assert_eq!(
            IdNumber::parse("4416211980010100100"),
            Err(IdNumberError::Length { len: 19 })
        );
        assert_eq!(
            IdNumber::parse("44162180010100"),
            Err(IdNumberError::Length { len: 14 })
        );
        assert_eq!(
            IdNumber::parse("4416211980010100"),
            Err(IdNumberError::Length { len: 16 })
        );
        // Counted in characters, not bytes.
        assert_eq!(
            IdNumber::parse("四四一六二一一九八零零一零一零零一零"),
            Err(IdNumberError::NonDigit { position: 1 })
        );
    }

    #[test]
    fn non_digit_positions() {
        assert_eq!(
            IdNumber::parse("4416211980010100A0"),
            Err(IdNumberError::NonDigit { position: 17 })
        );
        assert_eq!(
            IdNumber::parse("X41621198001010010"),
            Err(IdNumberError::NonDigit { position: 1 })
        );
        assert_eq!(
            IdNumber::parse("44162119800101001Y"),
            Err(IdNumberError::NonDigit { position: 18 })
        );
        assert_eq!(
            IdNumber::parse("4416211980-1010010"),
            Err(IdNumberError::NonDigit { position: 11 })
        );
    }

    #[test]
    fn scientific_notation_is_explained() {
        assert_eq!(
            IdNumber::parse("4.41621E+17"),
            Err(IdNumberError::ScientificNotation)
        );
        assert_eq!(
            IdNumber::parse("4.41621198001010e17"),
            Err(IdNumberError::ScientificNotation)
        );
        assert!(!looks_like_scientific("E+17"));
        assert!(!looks_like_scientific("441621198001010010"));
    }

    #[test]
    fn province_prefixes() {
        for p in PROVINCE_PREFIXES {
            let s = valid(&format!("{p:02}010519800101001"));
            assert_eq!(IdNumber::parse(&s).unwrap().province_prefix(), p);
        }
        for p in [
            0, 10, 16, 20, 24, 30, 38, 40, 47, 49, 55, 60, 66, 71, 80, 84, 91, 99,
        ] {
            let s = valid(&format!("{p:02}010519800101001"));
            assert_eq!(
                IdNumber::parse(&s),
                Err(IdNumberError::Province { prefix: p }),
                "{p}"
            );
        }
        // Taiwan (71) is in GB/T 2260 but issues no mainland numbers; only 83 permits count.
        assert!(!PROVINCE_PREFIXES.contains(&71));
    }

    #[test]
    fn leap_years_and_february() {
        assert!(IdNumber::parse(&valid("44030520000229001")).is_ok());
        assert!(IdNumber::parse(&valid("44030519960229001")).is_ok());
        assert!(IdNumber::parse(&valid("44030520240229001")).is_ok());
        for first17 in [
            "44030519000229001",
            "44030519970229001",
            "44030521000229001",
            "44030520230229001",
            "44030520000230001",
        ] {
            assert_eq!(
                IdNumber::parse(&valid(first17)),
                Err(IdNumberError::BirthDate),
                "{first17}"
            );
        }
        assert!(IdNumber::parse(&valid("44030519970228001")).is_ok());
    }

    #[test]
    fn impossible_dates() {
        for date in [
            "19800001", "19801301", "19800100", "19800132", "19800431", "19800631",
        ] {
            let s = valid(&format!("440305{date}001"));
            assert_eq!(IdNumber::parse(&s), Err(IdNumberError::BirthDate), "{date}");
        }
        for date in ["19800131", "19800430", "19801231", "19800301"] {
            assert!(IdNumber::parse(&valid(&format!("440305{date}001"))).is_ok());
        }
    }

    #[test]
    fn birth_year_bounds() {
        assert!(IdNumber::parse(&valid("44030518800101001")).is_ok());
        assert!(IdNumber::parse(&valid("44030521001231001")).is_ok());
        assert_eq!(
            IdNumber::parse(&valid("44030518791231001")),
            Err(IdNumberError::BirthYear { year: 1879 })
        );
        assert_eq!(
            IdNumber::parse(&valid("44030521010101001")),
            Err(IdNumberError::BirthYear { year: 2101 })
        );
        assert_eq!(
            IdNumber::parse(&valid("44030509800101001")),
            Err(IdNumberError::BirthYear { year: 980 })
        );
    }

    #[test]
    fn sex_follows_17th_digit() {
        for d in 0..10u32 {
            let id = IdNumber::parse(&valid(&format!("4403051980010100{d}"))).unwrap();
            let expected = if d % 2 == 1 { Sex::Male } else { Sex::Female };
            assert_eq!(id.sex(), expected, "{d}");
        }
        assert_eq!(Sex::from_code("1"), Some(Sex::Male));
        assert_eq!(Sex::from_code("2"), Some(Sex::Female));
        assert_eq!(Sex::from_code("0"), None);
        assert_eq!(Sex::Female.to_string(), "女");
    }

    #[test]
    fn age_on_birthdays() {
        let id = IdNumber::parse("441621198001010010").unwrap();
        assert_eq!(id.age_on(2020, 1, 1), 40);
        assert_eq!(id.age_on(2019, 12, 31), 39);
        assert_eq!(id.age_on(1979, 12, 31), -1);
        let leap = IdNumber::parse(&valid("44030520000229001")).unwrap();
        assert_eq!(leap.age_on(2001, 2, 28), 0);
        assert_eq!(leap.age_on(2001, 3, 1), 1);
        assert_eq!(leap.age_on(2004, 2, 29), 4);
    }

    #[test]
    fn errors_never_contain_the_number() {
        let inputs = [
            "441621198001010011",
            "441621198002300010",
            "991621198001010010",
            "44162119800101001",
            "4416211980010100A0",
            "441621187901010010",
        ];
        for s in inputs {
            let err = IdNumber::parse(s).unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains(&s[..10]), "{msg}");
            assert!(!msg.contains(&s[6..14]), "{msg}");
            assert!(!format!("{err:?}").contains(&s[..10]));
        }
    }

    #[test]
    fn error_messages_are_chinese_and_specific() {
        assert_eq!(
            IdNumberError::Length { len: 17 }.to_string(),
            "公民身份号码应为18位（或旧式15位；残疾人证号为20位），实际为17位"
        );
        assert!(
            IdNumberError::Province { prefix: 9 }
                .to_string()
                .contains("“09”")
        );
        assert!(IdNumberError::CheckChar.to_string().contains("校验位"));
        assert!(
            IdNumberError::BirthYear { year: 1879 }
                .to_string()
                .contains("1880—2100")
        );
    }

    #[test]
    fn debug_is_masked() {
        let id = IdNumber::parse("441621198001010010").unwrap();
        let dbg = format!("{id:?}");
        assert_eq!(dbg, "IdNumber(\"4416**********0010\")");
        assert!(!dbg.contains("198001"));
    }

    #[test]
    fn deserialize_validates() {
        use serde::de::value::{Error, StrDeserializer};
        let de = StrDeserializer::<Error>::new("110105491231002");
        let id = IdNumber::deserialize(de).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        let de = StrDeserializer::<Error>::new("441621198001010011");
        let err = IdNumber::deserialize(de).unwrap_err().to_string();
        assert!(err.contains("校验位"), "{err}");
        let parsed: IdNumber = "11010519491231002X".parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn ordering_follows_canonical_form() {
        let a = IdNumber::parse("110105491231002").unwrap();
        let b = IdNumber::parse("441621198001010010").unwrap();
        assert!(a < b);
        assert_eq!(
            a.cmp(&IdNumber::parse("11010519491231002X").unwrap()),
            std::cmp::Ordering::Equal
        );
    }

    #[test]
    fn masked_and_mask_id() {
        let id = IdNumber::parse("441621198001010010").unwrap();
        assert_eq!(id.masked(), "4416**********0010");
        assert_eq!(mask_id("441621198001010010"), "4416**********0010");
        assert_eq!(mask_id("11010519491231002X"), "1101**********002X");
        assert_eq!(mask_id("441621800101001"), "4416*******1001");
        assert_eq!(mask_id(" 441621198001010010 "), "4416**********0010");
        assert_eq!(mask_id("123456789"), "1234*6789");
        assert_eq!(mask_id("12345678"), "********");
        assert_eq!(mask_id("1"), "*");
        assert_eq!(mask_id(""), "");
        // Characters, not bytes.
        assert_eq!(mask_id("残疾证号一二三四五六七八"), "残疾证号****五六七八");
        assert_eq!(
            mask_id("４４１６２１１９８００１０１００１０")
                .chars()
                .count(),
            18
        );
    }

    #[test]
    fn mask_phone_cases() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone(" 138 1234 1234 "), "138****1234");
        assert_eq!(mask_phone("138-1234-1234"), "138****1234");
        assert_eq!(mask_phone("１３８１２３４１２３４"), "138****1234");
        assert_eq!(mask_phone("0755-12345678"), "***********78");
        assert_eq!(mask_phone("23456789012"), "*********12");
        assert_eq!(mask_phone("12"), "**");
        assert_eq!(mask_phone("123"), "*23");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn masked_cells_are_recognised() {
        assert!(looks_like_masked("4416**********0010"));
        assert!(looks_like_masked("138****1234"));
        assert!(looks_like_masked("138＊＊＊＊1234"));
        assert!(!looks_like_masked("441621198001010010"));
        assert!(!looks_like_masked(""));
        assert!(looks_like_masked(&mask_phone("13812341234")));
        assert!(looks_like_masked(&mask_id("441621198001010010")));
    }

    #[test]
    fn calendar_helpers() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2023));
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2024, 13), 0);
        assert!(!is_valid_date(2024, 0, 1));
    }
}
