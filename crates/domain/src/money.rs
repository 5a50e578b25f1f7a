//! Money as an exact integer number of fen (分). Floats never touch an amount: aid statistics
//! are summed over tens of thousands of transactions and must reconcile to the fen.

use crate::text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Neg, Sub};
use std::str::FromStr;

/// An amount in fen (1 元 = 100 fen). Serialised as the bare integer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

/// Input is quoted in messages (amounts are not personal information), cut to this many
/// characters so a pasted paragraph does not flood an error report.
const MAX_QUOTED_CHARS: usize = 40;

fn quote(s: &str) -> String {
    let t = s.trim();
    if t.chars().count() <= MAX_QUOTED_CHARS {
        t.to_string()
    } else {
        let mut q: String = t.chars().take(MAX_QUOTED_CHARS).collect();
        q.push('…');
        q
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("金额为空")]
    Empty,
    #[error("金额“{0}”无效：不是有效的数字")]
    Invalid(String),
    #[error("金额“{0}”无效：最多两位小数")]
    TooManyDecimals(String),
    #[error("金额“{0}”无效：超出可处理的范围")]
    Overflow(String),
}

const FEN_PER_YUAN: i64 = 100;
const FEN_PER_WAN: u64 = 1_000_000; // 1 万元
const FEN_PER_YI: u64 = 10_000_000_000; // 1 亿元

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Whole yuan. Panics on overflow (beyond ±9.2×10¹⁶ 元), which only a bug can reach.
    pub const fn from_yuan(yuan: i64) -> Fen {
        match yuan.checked_mul(FEN_PER_YUAN) {
            Some(f) => Fen(f),
            None => panic!("金额溢出"),
        }
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }

    pub fn checked_mul(self, factor: i64) -> Option<Fen> {
        self.0.checked_mul(factor).map(Fen)
    }

    /// Division rounded half away from zero, as 人均纯收入 = 家庭纯收入 ÷ 人口 is published.
    /// `None` for a zero divisor or overflow.
    pub fn checked_div_round(self, divisor: i64) -> Option<Fen> {
        if divisor == 0 {
            return None;
        }
        let (n, d) = (i128::from(self.0), i128::from(divisor));
        let q = n / d;
        let r = n % d;
        let q = if 2 * r.abs() >= d.abs() {
            q + if (n < 0) == (d < 0) { 1 } else { -1 }
        } else {
            q
        };
        i64::try_from(q).ok().map(Fen)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses an amount in yuan as typed in spreadsheets: "1234", "1,234.50", "1234.5元",
    /// "￥1,234.5", "１２３４．５", "-12.3", with spaces anywhere.
    ///
    /// More than two decimals are rejected rather than rounded, because silently dropping a
    /// fraction of a fen would break reconciliation; trailing zeros beyond the second decimal
    /// ("12.500") lose nothing and are accepted. Commas are thousands separators wherever they
    /// stand in the integer part: their placement carries no meaning worth rejecting a row for.
    pub fn parse_yuan(s: &str) -> Result<Fen, MoneyError> {
        let bad = || MoneyError::Invalid(quote(s));
        // NFKC folds ￥ to ¥, full-width digits, ，and ．; whitespace may separate the sign,
        // the currency sign and digit groups.
        let t = text::normalize_compact(s);
        if t.is_empty() {
            return Err(MoneyError::Empty);
        }
        let mut rest = t.strip_suffix('元').unwrap_or(&t);
        let mut negative = None;
        let mut currency = false;
        loop {
            if let Some(r) = rest.strip_prefix(['-', '−', '+']) {
                if negative.is_some() {
                    return Err(bad());
                }
                negative = Some(rest.starts_with(['-', '−']));
                rest = r;
            } else if let Some(r) = rest.strip_prefix('¥') {
                if currency {
                    return Err(bad());
                }
                currency = true;
                rest = r;
            } else {
                break;
            }
        }
        let negative = negative.unwrap_or(false);
        let (int_part, frac_part) = match rest.split_once('.') {
            Some((i, f)) => (i, f),
            None => (rest, ""),
        };
        if !int_part.bytes().all(|b| b.is_ascii_digit() || b == b',')
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || !rest.bytes().any(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        if frac_part.len() > 2 && frac_part.bytes().skip(2).any(|b| b != b'0') {
            return Err(MoneyError::TooManyDecimals(quote(s)));
        }
        let overflow = || MoneyError::Overflow(quote(s));
        let mut fen: i128 = 0;
        for b in int_part.bytes().filter(|&b| b != b',') {
            fen = fen * 10 + i128::from(b - b'0');
            // Bail out early so that no digit string, however long, overflows i128.
            if fen > i128::from(i64::MAX) {
                return Err(overflow());
            }
        }
        let mut frac = frac_part.bytes().take(2).map(|b| i128::from(b - b'0'));
        let tenths = frac.next().unwrap_or(0);
        let hundredths = frac.next().unwrap_or(0);
        fen = fen * 100 + tenths * 10 + hundredths;
        if negative {
            fen = -fen;
        }
        i64::try_from(fen).map(Fen).map_err(|_| overflow())
    }

    /// "1234.50", "-0.05": always two decimals, no grouping, exact.
    pub fn yuan_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// "419.23亿" for dashboards: 亿元 with two decimals, truncated toward zero so a total is
    /// never shown as reached before it is. A value that truncates to zero has no sign.
    pub fn to_yi_string(self) -> String {
        scaled_string(self.0, FEN_PER_YI, "亿")
    }

    /// "12.34万", like [`Fen::to_yi_string`] in 万元.
    pub fn to_wan_string(self) -> String {
        scaled_string(self.0, FEN_PER_WAN, "万")
    }

    /// The amount as Chinese finance readers expect it on a page: below 1万 in 元 with
    /// thousands separators and fen ("9,999.99元"), below 1亿 in 万元 ("2,857.49万元"), from
    /// 1亿 in 亿元 ("421.63亿元"); the unit chosen by the absolute value. Two decimals,
    /// truncated toward zero like [`Fen::to_yi_string`]: a figure is never shown as reached
    /// before it is, and 99,999,999.99 元 reads 9,999.99万元, not 10,000.00万元. The one
    /// helper every page's money goes through (with [`Fen::to_exact_string`] as its tooltip);
    /// files and the API keep the exact raw value.
    pub fn to_reader_string(self) -> String {
        let (number, unit) = self.to_reader_parts();
        format!("{number}{unit}")
    }

    /// [`Fen::to_reader_string`] as (number, unit), for layouts that set the unit apart:
    /// ("421.63", "亿元").
    pub fn to_reader_parts(self) -> (String, &'static str) {
        let abs = self.0.unsigned_abs();
        let (per_unit, unit) = if abs >= FEN_PER_YI {
            (FEN_PER_YI, "亿元")
        } else if abs >= FEN_PER_WAN {
            (FEN_PER_WAN, "万元")
        } else {
            (100, "元")
        };
        let hundredths = abs / (per_unit / 100);
        let sign = if self.0 < 0 && hundredths != 0 {
            "-"
        } else {
            ""
        };
        let number = format!(
            "{sign}{}.{:02}",
            group_thousands(hundredths / 100),
            hundredths % 100
        );
        (number, unit)
    }

    /// The exact amount in 元 with thousands separators: "42,163,500,000.00元".
    pub fn to_exact_string(self) -> String {
        let abs = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}元", group_thousands(abs / 100), abs % 100)
    }
}

/// "1234567" → "1,234,567".
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn scaled_string(fen: i64, fen_per_unit: u64, unit: &str) -> String {
    let hundredths = fen.unsigned_abs() / (fen_per_unit / 100);
    let sign = if fen < 0 && hundredths != 0 { "-" } else { "" };
    format!("{sign}{}.{:02}{unit}", hundredths / 100, hundredths % 100)
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.yuan_string())
    }
}

impl FromStr for Fen {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fen::parse_yuan(s)
    }
}

/// Panics on overflow, in release builds too: a wrapped amount would be a silent accounting
/// error, far worse than a crash. Use the `checked_*` methods on untrusted input.
impl Add for Fen {
    type Output = Fen;
    fn add(self, other: Fen) -> Fen {
        self.checked_add(other).expect("金额溢出")
    }
}

impl Sub for Fen {
    type Output = Fen;
    fn sub(self, other: Fen) -> Fen {
        self.checked_sub(other).expect("金额溢出")
    }
}

impl Neg for Fen {
    type Output = Fen;
    fn neg(self) -> Fen {
        Fen(self.0.checked_neg().expect("金额溢出"))
    }
}

impl Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        iter.fold(Fen::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Fen> for Fen {
    fn sum<I: Iterator<Item = &'a Fen>>(iter: I) -> Fen {
        iter.copied().sum()
    }
}

/// Splits `total` into parts proportional to `weights` that add up exactly to `total`
/// (largest remainder / Hamilton method): every part gets the floor of its quota, and the fen
/// left over go one each to the largest remainders, ties to the lower index so the result is
/// deterministic. All-zero weights split equally; no weights give no parts. A negative total is
/// split by its absolute value and negated, so a reversing entry mirrors the original split.
pub fn split_largest_remainder(total: Fen, weights: &[u64]) -> Vec<Fen> {
    if weights.is_empty() {
        return Vec::new();
    }
    let weight_sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let equal = weight_sum == 0;
    let weight = |i: usize| if equal { 1 } else { u128::from(weights[i]) };
    let denominator = if equal {
        weights.len() as u128
    } else {
        weight_sum
    };
    // |total| < 2^63 and each weight < 2^64, so every product fits in 128 bits.
    let abs = u128::from(total.0.unsigned_abs());
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut allocated: u128 = 0;
    for i in 0..weights.len() {
        let product = abs * weight(i);
        parts.push(product / denominator);
        remainders.push(product % denominator);
        allocated += product / denominator;
    }
    let leftover = (abs - allocated) as usize;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(a.cmp(&b)));
    for &i in order.iter().take(leftover) {
        parts[i] += 1;
    }
    parts
        .into_iter()
        .map(|p| {
            let p = p as i128;
            let signed = if total.0 < 0 { -p } else { p };
            Fen(i64::try_from(signed).expect("a part never exceeds the total"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Fen, MoneyError> {
        Fen::parse_yuan(s)
    }

    #[test]
    fn parse_plain_and_grouped() {
        assert_eq!(p("1234"), Ok(Fen(123_400)));
        assert_eq!(p("1,234.50"), Ok(Fen(123_450)));
        assert_eq!(p("1,234,567.89"), Ok(Fen(123_456_789)));
        assert_eq!(p("1234.5元"), Ok(Fen(123_450)));
        assert_eq!(p("￥1,234.5"), Ok(Fen(123_450)));
        assert_eq!(p("¥1234.5"), Ok(Fen(123_450)));
        assert_eq!(p("１２３４．５"), Ok(Fen(123_450)));
        assert_eq!(p("１，２３４．５０元"), Ok(Fen(123_450)));
        assert_eq!(p("  1234.5 元 "), Ok(Fen(123_450)));
        assert_eq!(p("1 234.5"), Ok(Fen(123_450)));
        assert_eq!(p("0"), Ok(Fen(0)));
        assert_eq!(p("0.01"), Ok(Fen(1)));
        assert_eq!(p("0.1"), Ok(Fen(10)));
        assert_eq!(p(".5"), Ok(Fen(50)));
        assert_eq!(p("12."), Ok(Fen(1200)));
        assert_eq!(p("007"), Ok(Fen(700)));
        assert_eq!(p("12.500"), Ok(Fen(1250)));
        assert_eq!(p("12,34"), Ok(Fen(123_400)));
    }

    #[test]
    fn parse_signs() {
        assert_eq!(p("-12.3"), Ok(Fen(-1230)));
        assert_eq!(p("+12.3"), Ok(Fen(1230)));
        assert_eq!(p("- 12.3"), Ok(Fen(-1230)));
        assert_eq!(p("－12.3"), Ok(Fen(-1230)));
        assert_eq!(p("−12.3"), Ok(Fen(-1230)));
        assert_eq!(p("-￥12.3"), Ok(Fen(-1230)));
        assert_eq!(p("￥-12.3元"), Ok(Fen(-1230)));
        assert_eq!(p("-0.01"), Ok(Fen(-1)));
        assert_eq!(p("-0"), Ok(Fen(0)));
    }

    #[test]
    fn parse_rejections() {
        assert_eq!(p(""), Err(MoneyError::Empty));
        assert_eq!(p("   "), Err(MoneyError::Empty));
        assert_eq!(p("1.234"), Err(MoneyError::TooManyDecimals("1.234".into())));
        assert_eq!(p("0.001"), Err(MoneyError::TooManyDecimals("0.001".into())));
        assert_eq!(
            p("12.5001"),
            Err(MoneyError::TooManyDecimals("12.5001".into()))
        );
        for bad in [
            "abc", "元", "￥", "-", "+", ".", ",", "1.2.3", "1,2.3,4", "12万", "1e5", "--1", "+-1",
            "¥¥1", "1-", "12元元", "0x10", "1/2", "NaN", "一百",
        ] {
            assert_eq!(p(bad), Err(MoneyError::Invalid(bad.into())), "{bad:?}");
        }
    }

    #[test]
    fn parse_limits() {
        assert_eq!(p("92233720368547758.07"), Ok(Fen(i64::MAX)));
        assert_eq!(p("-92233720368547758.08"), Ok(Fen(i64::MIN)));
        assert_eq!(
            p("92233720368547758.08"),
            Err(MoneyError::Overflow("92233720368547758.08".into()))
        );
        assert_eq!(
            p("-92233720368547758.09"),
            Err(MoneyError::Overflow("-92233720368547758.09".into()))
        );
        let huge = "9".repeat(100);
        assert!(matches!(p(&huge), Err(MoneyError::Overflow(_))));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            p("1.234").unwrap_err().to_string(),
            "金额“1.234”无效：最多两位小数"
        );
        assert_eq!(
            p("abc").unwrap_err().to_string(),
            "金额“abc”无效：不是有效的数字"
        );
        assert_eq!(p("").unwrap_err().to_string(), "金额为空");
        let long = format!("{}x", "1".repeat(100));
        let msg = p(&long).unwrap_err().to_string();
        assert!(msg.contains('…') && msg.chars().count() < 70, "{msg}");
    }

    #[test]
    fn reader_strings_change_unit_at_wan_and_yi() {
        let r = |f: i64| Fen(f).to_reader_string();
        let e = |f: i64| Fen(f).to_exact_string();
        assert_eq!(r(0), "0.00元");
        assert_eq!(e(0), "0.00元");
        assert_eq!(r(1), "0.01元");
        assert_eq!(r(123_456), "1,234.56元");
        assert_eq!(r(999_999), "9,999.99元", "9,999.99 元 stays in 元");
        assert_eq!(r(1_000_000), "1.00万元", "10,000 元 is 1万");
        assert_eq!(r(2_857_492_427), "2,857.49万元");
        assert_eq!(
            r(9_999_999_999),
            "9,999.99万元",
            "99,999,999.99 元 stays below 1亿 (truncated, never 10,000.00万元)"
        );
        assert_eq!(r(10_000_000_000), "1.00亿元", "1亿");
        assert_eq!(r(4_216_350_000_000), "421.63亿元");
        assert_eq!(e(4_216_350_000_000), "42,163,500,000.00元");
        assert_eq!(r(i64::MAX), "922,337,203.68亿元");
        assert_eq!(e(i64::MAX), "92,233,720,368,547,758.07元");
        // Negative amounts: the unit by the absolute value, the sign in front.
        assert_eq!(r(-5), "-0.05元");
        assert_eq!(r(-999_999), "-9,999.99元");
        assert_eq!(r(-1_000_000), "-1.00万元");
        assert_eq!(r(-1_239_999), "-1.23万元");
        assert_eq!(r(-10_000_000_000), "-1.00亿元");
        assert_eq!(e(-123_456_789), "-1,234,567.89元");
        assert_eq!(r(i64::MIN), "-922,337,203.68亿元");
        assert_eq!(e(i64::MIN), "-92,233,720,368,547,758.08元");
        assert_eq!(e(100_000), "1,000.00元");
        assert_eq!(e(99_999), "999.99元");
    }

    #[test]
    fn yuan_string_is_exact() {
        assert_eq!(Fen(123_450).yuan_string(), "1234.50");
        assert_eq!(Fen(0).yuan_string(), "0.00");
        assert_eq!(Fen(1).yuan_string(), "0.01");
        assert_eq!(Fen(-5).yuan_string(), "-0.05");
        assert_eq!(Fen(-123_456).yuan_string(), "-1234.56");
        assert_eq!(Fen(i64::MAX).yuan_string(), "92233720368547758.07");
        assert_eq!(Fen(i64::MIN).yuan_string(), "-92233720368547758.08");
        assert_eq!(Fen(100).to_string(), "1.00");
        assert_eq!(format!("{:>8}", Fen(100)), "    1.00");
    }

    #[test]
    fn yuan_string_round_trips() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = Fen(x as i64 >> (x % 60));
            assert_eq!(p(&v.yuan_string()), Ok(v));
        }
        for v in [i64::MIN, i64::MAX, 0, 1, -1, 99, -99, 100, -100] {
            assert_eq!(p(&Fen(v).yuan_string()), Ok(Fen(v)));
        }
    }

    #[test]
    fn yi_and_wan_strings_truncate() {
        assert_eq!(Fen(4_192_345_678_901).to_yi_string(), "419.23亿");
        assert_eq!(Fen(4_192_999_999_999).to_yi_string(), "419.29亿");
        assert_eq!(Fen(10_000_000_000).to_yi_string(), "1.00亿");
        assert_eq!(Fen(99_999_999).to_yi_string(), "0.00亿");
        assert_eq!(Fen(100_000_000).to_yi_string(), "0.01亿");
        assert_eq!(Fen(-100_000_000).to_yi_string(), "-0.01亿");
        assert_eq!(Fen(-99_999_999).to_yi_string(), "0.00亿");
        assert_eq!(Fen(0).to_yi_string(), "0.00亿");
        // Shenzhen's 2021 consumption aid: 115亿元.
        assert_eq!(Fen::from_yuan(11_500_000_000).to_yi_string(), "115.00亿");
        assert_eq!(Fen(i64::MIN).to_yi_string(), "-922337203.68亿");
        assert_eq!(Fen(1_234_567).to_wan_string(), "1.23万");
        assert_eq!(Fen(-1_239_999).to_wan_string(), "-1.23万");
        assert_eq!(Fen(9_999).to_wan_string(), "0.00万");
    }

    #[test]
    fn arithmetic() {
        assert_eq!(Fen::from_yuan(12), Fen(1200));
        assert_eq!(Fen::from_yuan(-12), Fen(-1200));
        assert_eq!(Fen(1).checked_add(Fen(2)), Some(Fen(3)));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(1).checked_sub(Fen(2)), Some(Fen(-1)));
        assert_eq!(Fen(i64::MIN).checked_sub(Fen(1)), None);
        assert_eq!(Fen(150).checked_mul(3), Some(Fen(450)));
        assert_eq!(Fen(150).checked_mul(-3), Some(Fen(-450)));
        assert_eq!(Fen(i64::MAX / 2 + 1).checked_mul(2), None);
        assert_eq!(Fen(1) + Fen(2) - Fen(4), Fen(-1));
        assert_eq!(-Fen(5), Fen(-5));
        assert_eq!([Fen(1), Fen(2), Fen(3)].iter().sum::<Fen>(), Fen(6));
        assert_eq!(Vec::<Fen>::new().into_iter().sum::<Fen>(), Fen::ZERO);
        assert!(Fen(-1).is_negative() && !Fen(0).is_negative());
        assert!(Fen::default().is_zero());
        assert!(Fen(-1) < Fen(0));
    }

    #[test]
    #[should_panic(expected = "金额溢出")]
    fn add_overflow_panics() {
        let _ = Fen(i64::MAX) + Fen(1);
    }

    #[test]
    #[should_panic(expected = "金额溢出")]
    fn from_yuan_overflow_panics() {
        let _ = Fen::from_yuan(i64::MAX / 10);
    }

    #[test]
    fn div_round_half_away_from_zero() {
        assert_eq!(Fen(1000).checked_div_round(3), Some(Fen(333)));
        assert_eq!(Fen(1000).checked_div_round(6), Some(Fen(167)));
        assert_eq!(Fen(5).checked_div_round(2), Some(Fen(3)));
        assert_eq!(Fen(-5).checked_div_round(2), Some(Fen(-3)));
        assert_eq!(Fen(5).checked_div_round(-2), Some(Fen(-3)));
        assert_eq!(Fen(-5).checked_div_round(-2), Some(Fen(3)));
        assert_eq!(Fen(7).checked_div_round(4), Some(Fen(2)));
        assert_eq!(Fen(0).checked_div_round(4), Some(Fen(0)));
        assert_eq!(Fen(1).checked_div_round(0), None);
        assert_eq!(Fen(i64::MIN).checked_div_round(-1), None);
        assert_eq!(Fen(i64::MAX).checked_div_round(1), Some(Fen(i64::MAX)));
    }

    #[test]
    fn serde_is_transparent() {
        use serde::de::value::{Error, I64Deserializer};
        let f = Fen::deserialize(I64Deserializer::<Error>::new(1234)).unwrap();
        assert_eq!(f, Fen(1234));
    }

    #[test]
    fn split_examples() {
        assert_eq!(
            split_largest_remainder(Fen(100), &[1, 1, 1]),
            vec![Fen(34), Fen(33), Fen(33)]
        );
        assert_eq!(
            split_largest_remainder(Fen(-100), &[1, 1, 1]),
            vec![Fen(-34), Fen(-33), Fen(-33)]
        );
        assert_eq!(
            split_largest_remainder(Fen(10), &[1, 2, 3, 4]),
            vec![Fen(1), Fen(2), Fen(3), Fen(4)]
        );
        // Quotas 3.33.., 6.66..: the larger remainder (index 1) gets the extra fen.
        assert_eq!(
            split_largest_remainder(Fen(10), &[1, 2]),
            vec![Fen(3), Fen(7)]
        );
        // Ties go to the lower index.
        assert_eq!(
            split_largest_remainder(Fen(1), &[5, 5]),
            vec![Fen(1), Fen(0)]
        );
        assert_eq!(
            split_largest_remainder(Fen(2), &[1, 1, 1]),
            vec![Fen(1), Fen(1), Fen(0)]
        );
        // A zero weight gets nothing even when fen are left over elsewhere.
        assert_eq!(
            split_largest_remainder(Fen(5), &[0, 1, 1]),
            vec![Fen(0), Fen(3), Fen(2)]
        );
    }

    #[test]
    fn split_degenerate_inputs() {
        assert!(split_largest_remainder(Fen(100), &[]).is_empty());
        assert_eq!(
            split_largest_remainder(Fen(100), &[0, 0, 0]),
            vec![Fen(34), Fen(33), Fen(33)]
        );
        assert_eq!(
            split_largest_remainder(Fen(0), &[3, 4]),
            vec![Fen(0), Fen(0)]
        );
        assert_eq!(split_largest_remainder(Fen(7), &[9]), vec![Fen(7)]);
        assert_eq!(split_largest_remainder(Fen(7), &[0]), vec![Fen(7)]);
    }

    #[test]
    fn split_extreme_values_do_not_overflow() {
        let parts = split_largest_remainder(Fen(i64::MAX), &[u64::MAX, u64::MAX, 1]);
        assert_eq!(
            parts.iter().map(|f| i128::from(f.0)).sum::<i128>(),
            i128::from(i64::MAX)
        );
        let parts = split_largest_remainder(Fen(i64::MIN), &[u64::MAX, 0]);
        assert_eq!(parts, vec![Fen(i64::MIN), Fen(0)]);
        let parts = split_largest_remainder(Fen(i64::MIN), &[1, 1]);
        assert_eq!(parts, vec![Fen(i64::MIN / 2), Fen(i64::MIN / 2)]);
    }

    /// xorshift64*, enough to drive property-style loops without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn split_properties_hold() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for round in 0..20_000 {
            let total = match round % 4 {
                0 => rng.below(1000) as i64,
                1 => -(rng.below(1_000_000_000) as i64),
                2 => rng.next() as i64,
                _ => rng.below(10) as i64 - 5,
            };
            let n = 1 + rng.below(12) as usize;
            let weights: Vec<u64> = (0..n)
                .map(|_| match rng.below(5) {
                    0 => 0,
                    1 => rng.below(3),
                    2 => rng.next(),
                    _ => rng.below(10_000),
                })
                .collect();
            let parts = split_largest_remainder(Fen(total), &weights);
            assert_eq!(parts.len(), n);
            let sum: i128 = parts.iter().map(|f| i128::from(f.0)).sum();
            assert_eq!(sum, i128::from(total), "{total} {weights:?}");

            // Each part is within one fen of its exact quota |total|·w/W: its magnitude is
            // the floor of the quota, or one more when the quota is not a whole number.
            // Checked in u128, where |total|·w cannot overflow (i128 part·W could).
            let all_zero = weights.iter().all(|&w| w == 0);
            let ws: Vec<u128> = weights
                .iter()
                .map(|&w| if all_zero { 1 } else { u128::from(w) })
                .collect();
            let w_sum: u128 = ws.iter().sum();
            let abs = u128::from(total.unsigned_abs());
            for (part, w) in parts.iter().zip(&ws) {
                let floor = abs * w / w_sum;
                let exact = abs * w % w_sum == 0;
                let got = u128::from(part.0.unsigned_abs());
                assert!(
                    got == floor || (!exact && got == floor + 1),
                    "{total} {weights:?} {parts:?}"
                );
                // Parts share the sign of the total (or are zero).
                assert!(part.0 == 0 || (part.0 < 0) == (total < 0));
            }
            // Negating the total mirrors the split exactly.
            if total != i64::MIN {
                let mirrored = split_largest_remainder(Fen(-total), &weights);
                assert!(mirrored.iter().zip(&parts).all(|(a, b)| a.0 == -b.0));
            }
        }
    }

    #[test]
    fn split_hands_extra_fen_to_largest_remainders() {
        let mut rng = Rng(42);
        for _ in 0..5000 {
            let total = rng.below(10_000) as i64;
            let n = 2 + rng.below(6) as usize;
            let weights: Vec<u64> = (0..n).map(|_| 1 + rng.below(100)).collect();
            let parts = split_largest_remainder(Fen(total), &weights);
            let w_sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            let rems: Vec<u128> = weights
                .iter()
                .map(|&w| (total as u128 * u128::from(w)) % w_sum)
                .collect();
            let got_extra: Vec<bool> = weights
                .iter()
                .zip(&parts)
                .map(|(&w, p)| p.0 as u128 > total as u128 * u128::from(w) / w_sum)
                .collect();
            // No part without an extra fen may have a strictly larger remainder (or an equal one
            // at a lower index) than a part with one.
            for i in 0..n {
                for j in 0..n {
                    if got_extra[i] && !got_extra[j] {
                        assert!(
                            rems[i] > rems[j] || (rems[i] == rems[j] && i < j),
                            "{total} {weights:?} {parts:?}"
                        );
                    }
                }
            }
        }
    }
}
