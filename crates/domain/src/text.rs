//! Cell normalisation shared by every import: spreadsheets from county offices mix full-width
//! and half-width characters, stray spaces and several list separators, and the rest of the
//! domain must only ever see one spelling.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// True when NFKC certainly leaves `s` unchanged, decided without the Unicode tables: ASCII
/// and the CJK Unified Ideographs block (names, code-table values) neither decompose nor
/// combine. Most cells are like that, and the table-driven check costs several times more.
fn plainly_nfkc(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii() || ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

/// NFKC and trimmed: full-width letters, digits and brackets become half-width.
pub fn normalize(s: &str) -> String {
    // Imports normalise tens of millions of cells: skip the rewrite when the text is already
    // in NFKC (ASCII always is; most Chinese text is).
    if plainly_nfkc(s)
        || unicode_normalization::is_nfkc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        return s.trim().to_string();
    }
    s.nfkc().collect::<String>().trim().to_string()
}

/// [`normalize`] without a copy when the cell is already clean (the usual case): the trimmed
/// cell itself, borrowed. Imports check tens of millions of cells and keep few of them.
pub fn normalized(s: &str) -> Cow<'_, str> {
    if plainly_nfkc(s)
        || unicode_normalization::is_nfkc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        return Cow::Borrowed(s.trim());
    }
    Cow::Owned(s.nfkc().collect::<String>().trim().to_string())
}

/// [`normalize`] and every whitespace character removed, even inside the value: typists pad
/// names like "已脱贫 （享受政策）" or "汉  族" to align columns, and no code-table value
/// contains a meaningful space.
pub fn normalize_compact(s: &str) -> String {
    if plainly_nfkc(s)
        || unicode_normalization::is_nfkc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        return s.chars().filter(|c| !c.is_whitespace()).collect();
    }
    s.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// Separators accepted in multi-valued cells (e.g. 其他致贫原因 "缺技术、缺资金"). The
/// full-width ，and ； are listed although NFKC already folds them, so the list reads like the
/// documentation; 、 has no half-width form and survives NFKC.
const LIST_SEPARATORS: [char; 5] = ['、', ',', '，', ';', '；'];

/// True for the separators of multi-valued cells (see [`split_multi`]).
pub fn is_list_separator(c: char) -> bool {
    LIST_SEPARATORS.contains(&c)
}

/// Splits a multi-valued cell on 、 , ， ; ； and whitespace, after [`normalize`], dropping
/// empty items (so "a、、b" and a trailing separator are harmless).
pub fn split_multi(s: &str) -> Vec<String> {
    normalize(s)
        .split(|c: char| LIST_SEPARATORS.contains(&c) || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses an integer cell such as "3", "１２", "1,234" or "-5".
///
/// A fractional part made only of zeros ("3.0") is accepted because numeric Excel cells are
/// floats and often reach us formatted that way; anything else fractional is rejected rather
/// than rounded, since a household size of 2.5 is a data error, not a number to fix.
pub fn parse_int_cell(s: &str) -> Option<i64> {
    let n = normalized(s);
    // Digit grouping commas are dropped; most cells have none, so no copy then.
    let t: Cow<'_, str> = if n.contains(',') {
        Cow::Owned(n.chars().filter(|&c| c != ',').collect())
    } else {
        n
    };
    let t: &str = &t;
    let (sign, body) = match t.as_bytes().first()? {
        b'-' => (-1i128, &t[1..]),
        b'+' => (1, &t[1..]),
        _ => (1, t),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac_part
        && (f.is_empty() || !f.bytes().all(|b| b == b'0'))
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in int_part.bytes() {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        // Stop early so absurdly long inputs cannot overflow even i128.
        if value > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    i64::try_from(sign * value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_full_width_and_trims() {
        assert_eq!(normalize("  （享受政策）　"), "(享受政策)");
        assert_eq!(normalize("１２３ＡＢＣ"), "123ABC");
        assert_eq!(normalize(""), "");
        // Inner spaces are kept: only the compact form removes them.
        assert_eq!(normalize(" a b "), "a b");
    }

    #[test]
    fn normalize_compact_removes_inner_whitespace() {
        assert_eq!(
            normalize_compact(" 已脱贫 （享受 政策）\t"),
            "已脱贫(享受政策)"
        );
        assert_eq!(normalize_compact("汉　族"), "汉族");
        assert_eq!(normalize_compact("   "), "");
    }

    #[test]
    fn split_multi_handles_every_separator() {
        assert_eq!(split_multi("缺技术、缺资金"), vec!["缺技术", "缺资金"]);
        assert_eq!(split_multi("缺技术，缺资金"), vec!["缺技术", "缺资金"]);
        assert_eq!(split_multi("缺技术,缺资金"), vec!["缺技术", "缺资金"]);
        assert_eq!(
            split_multi("缺技术；缺资金;因病"),
            vec!["缺技术", "缺资金", "因病"]
        );
        assert_eq!(
            split_multi("缺技术 缺资金　因病"),
            vec!["缺技术", "缺资金", "因病"]
        );
        assert_eq!(
            split_multi("缺技术\n缺资金\t因病"),
            vec!["缺技术", "缺资金", "因病"]
        );
    }

    #[test]
    fn split_multi_drops_empties() {
        assert!(split_multi("").is_empty());
        assert!(split_multi(" 、,；  ").is_empty());
        assert_eq!(split_multi("、因病、、因残、"), vec!["因病", "因残"]);
        assert_eq!(split_multi("因病"), vec!["因病"]);
    }

    #[test]
    fn split_multi_normalises_items() {
        assert_eq!(split_multi("ＡＢ、（x）"), vec!["AB", "(x)"]);
    }

    #[test]
    fn parse_int_cell_accepts_common_spellings() {
        assert_eq!(parse_int_cell("3"), Some(3));
        assert_eq!(parse_int_cell(" 12 "), Some(12));
        assert_eq!(parse_int_cell("１２"), Some(12));
        assert_eq!(parse_int_cell("1,234"), Some(1234));
        assert_eq!(parse_int_cell("１，２３４"), Some(1234));
        assert_eq!(parse_int_cell("-5"), Some(-5));
        assert_eq!(parse_int_cell("+5"), Some(5));
        assert_eq!(parse_int_cell("0"), Some(0));
        assert_eq!(parse_int_cell("007"), Some(7));
        assert_eq!(parse_int_cell("3.0"), Some(3));
        assert_eq!(parse_int_cell("3.00"), Some(3));
    }

    #[test]
    fn parse_int_cell_rejects_garbage() {
        for bad in [
            "", "  ", "-", "+", "abc", "3人", "2.5", "3.", ".0", "1e3", "--1", "1 2", "一",
        ] {
            assert_eq!(parse_int_cell(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_int_cell_limits() {
        assert_eq!(parse_int_cell("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int_cell("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int_cell("9223372036854775808"), None);
        assert_eq!(parse_int_cell("-9223372036854775809"), None);
        assert_eq!(parse_int_cell(&"9".repeat(60)), None);
    }
}
