//! Statistical division codes (统计用区划代码): 2, 4, 6, 9 or 12 digits, each level extending
//! its parent. Stored as an integer padded to 12 digits, so a whole subtree is one integer range.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    Prefecture,
    County,
    Town,
    Village,
}

impl RegionLevel {
    pub const ALL: [RegionLevel; 5] = [
        RegionLevel::Province,
        RegionLevel::Prefecture,
        RegionLevel::County,
        RegionLevel::Town,
        RegionLevel::Village,
    ];

    /// 1 for provinces … 5 for villages.
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    pub fn from_rank(rank: i64) -> Option<RegionLevel> {
        match rank {
            1..=5 => Some(Self::ALL[(rank - 1) as usize]),
            _ => None,
        }
    }

    /// Number of significant digits a code of this level has.
    pub fn digits(self) -> usize {
        match self {
            RegionLevel::Province => 2,
            RegionLevel::Prefecture => 4,
            RegionLevel::County => 6,
            RegionLevel::Town => 9,
            RegionLevel::Village => 12,
        }
    }

    pub fn from_digits(len: usize) -> Option<RegionLevel> {
        Self::ALL.into_iter().find(|l| l.digits() == len)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            RegionLevel::Province => "省级",
            RegionLevel::Prefecture => "地级",
            RegionLevel::County => "县级",
            RegionLevel::Town => "乡级",
            RegionLevel::Village => "村级",
        }
    }

    pub fn child(self) -> Option<RegionLevel> {
        RegionLevel::from_rank(self.rank() as i64 + 1)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::Prefecture => "prefecture",
            RegionLevel::County => "county",
            RegionLevel::Town => "town",
            RegionLevel::Village => "village",
        }
    }

    pub fn parse(s: &str) -> Option<RegionLevel> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("区划代码“{0}”无效：应为 2、4、6、9 或 12 位数字")]
    Malformed(String),
}

/// A region code at its natural length. Ordering is by padded value then level, so a parent
/// sorts before its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode {
    padded: i64,
    level: RegionLevel,
}

const PAD: [i64; 5] = [10_000_000_000, 100_000_000, 1_000_000, 1_000, 1];

impl RegionCode {
    /// Parses a code at its natural length ("44", "441621", "441621103212").
    pub fn parse(s: &str) -> Result<RegionCode, RegionCodeError> {
        let t = s.trim();
        let level = RegionLevel::from_digits(t.len())
            .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| RegionCodeError::Malformed(s.to_string()))?;
        let value: i64 = t
            .parse()
            .map_err(|_| RegionCodeError::Malformed(s.to_string()))?;
        if value == 0 {
            return Err(RegionCodeError::Malformed(s.to_string()));
        }
        Ok(RegionCode {
            padded: value * PAD[level.rank() as usize - 1],
            level,
        })
    }

    /// Rebuilds a code from its stored form. The level cannot be derived from the padded value
    /// alone (a town code may end in zeros), so the store keeps both.
    pub fn from_padded(padded: i64, level: RegionLevel) -> RegionCode {
        RegionCode { padded, level }
    }

    pub fn padded(self) -> i64 {
        self.padded
    }

    pub fn level(self) -> RegionLevel {
        self.level
    }

    /// The significant digits as an integer (441621 for 紫金县).
    pub fn short_value(self) -> i64 {
        self.padded / PAD[self.level.rank() as usize - 1]
    }

    pub fn parent(self) -> Option<RegionCode> {
        let parent_level = RegionLevel::from_rank(self.level.rank() as i64 - 1)?;
        let unit = PAD[parent_level.rank() as usize - 1];
        Some(RegionCode {
            padded: self.padded / unit * unit,
            level: parent_level,
        })
    }

    /// From the province down to the parent.
    pub fn ancestors(self) -> Vec<RegionCode> {
        let mut out = Vec::new();
        let mut cur = self.parent();
        while let Some(c) = cur {
            out.push(c);
            cur = c.parent();
        }
        out.reverse();
        out
    }

    /// Half-open range of padded codes covering this unit and everything below it.
    pub fn subtree_range(self) -> (i64, i64) {
        (
            self.padded,
            self.padded + PAD[self.level.rank() as usize - 1],
        )
    }

    pub fn contains(self, other: RegionCode) -> bool {
        let (lo, hi) = self.subtree_range();
        other.level >= self.level && other.padded >= lo && other.padded < hi
    }

    /// The storage key: the padded code times ten plus the level's rank. Padded codes alone
    /// collide (东莞市 4419 and its county-level entry 441900; 金门县 350527 and its town
    /// 350527000), keys do not, and a subtree is still one key range.
    pub fn key(self) -> i64 {
        self.padded * 10 + self.level.rank() as i64
    }

    pub fn from_key(key: i64) -> Option<RegionCode> {
        let level = RegionLevel::from_rank(key % 10)?;
        Some(RegionCode {
            padded: key / 10,
            level,
        })
    }

    /// Half-open key range of this unit and everything below it.
    pub fn subtree_key_range(self) -> (i64, i64) {
        let (lo, hi) = self.subtree_range();
        (lo * 10 + self.level.rank() as i64, hi * 10)
    }

    pub fn province_prefix(self) -> i64 {
        self.padded / PAD[0]
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:0width$}",
            self.short_value(),
            width = self.level.digits()
        )
    }
}

impl Serialize for RegionCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RegionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// 西部 12 provinces, whose poverty-incidence threshold is 3% instead of 2%.
pub const WESTERN_PROVINCES: [i64; 12] = [15, 45, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_level_and_prints_natural_length() {
        for s in ["44", "4416", "441621", "441621103", "441621103212"] {
            let c = RegionCode::parse(s).unwrap();
            assert_eq!(c.to_string(), s);
        }
        assert_eq!(
            RegionCode::parse("441621").unwrap().padded(),
            441_621_000_000
        );
        assert_eq!(RegionCode::parse("11").unwrap().to_string(), "11");
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        for s in [
            "",
            "4",
            "441",
            "44162",
            "4416211",
            "44162110321",
            "44162110321x",
            "4416a1",
            "00",
        ] {
            assert!(RegionCode::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn ancestors_and_parent() {
        let v = RegionCode::parse("441621103212").unwrap();
        let names: Vec<String> = v.ancestors().iter().map(|c| c.to_string()).collect();
        assert_eq!(names, ["44", "4416", "441621", "441621103"]);
        assert_eq!(RegionCode::parse("44").unwrap().parent(), None);
    }

    #[test]
    fn subtree_is_one_range() {
        let county = RegionCode::parse("441621").unwrap();
        assert_eq!(county.subtree_range(), (441_621_000_000, 441_622_000_000));
        assert!(county.contains(RegionCode::parse("441621103212").unwrap()));
        assert!(!county.contains(RegionCode::parse("441622103212").unwrap()));
        assert!(!county.contains(RegionCode::parse("4416").unwrap()));
    }
    #[test]
    fn keys_are_unique_where_padded_codes_collide() {
        let city = RegionCode::parse("4419").unwrap();
        let county = RegionCode::parse("441900").unwrap();
        assert_eq!(city.padded(), county.padded());
        assert_ne!(city.key(), county.key());
        assert_eq!(RegionCode::from_key(county.key()), Some(county));
        let (lo, hi) = city.subtree_key_range();
        assert!(county.key() >= lo && county.key() < hi);
        assert!(city.key() >= lo);
        let (lo, hi) = county.subtree_key_range();
        assert!(
            city.key() < lo || city.key() >= hi,
            "a parent is not in its child's subtree"
        );
        let town = RegionCode::parse("441900003").unwrap();
        assert!(town.key() >= lo && town.key() < hi);
    }
}
