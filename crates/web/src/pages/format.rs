//! How pages show money: the one helper. A figure reads the way Chinese finance readers expect
//! (元 below 1万, 万元 below 1亿, 亿元 from there, two decimals: [`Fen::to_reader_string`]) and
//! carries the exact amount, 元 with separators and fen, in its `title` tooltip. CSV, XLSX and
//! the JSON API keep exact raw values and never come here.
//!
//! In a template: `{{ p.budget.shown() }}` (a [`Fen`], an `i64` of fen, or an exact 元 string
//! such as a store's `amount_yuan`), with `use crate::pages::format::ShowMoney;` in the module
//! that defines the template.

use domain::money::Fen;
use std::fmt;

/// A money figure as page HTML: `<span class="money" title="1,234,567.89元">123.45万元</span>`.
/// Its output is digits, separators and units only, so it is marked HTML-safe.
pub enum MoneyHtml {
    Amount(Fen),
    /// A text that is not an amount (never expected): shown escaped, as it is.
    Unparsed(String),
}

impl fmt::Display for MoneyHtml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyHtml::Amount(fen) => write!(
                f,
                "<span class=\"money\" title=\"{}\">{}</span>",
                fen.to_exact_string(),
                fen.to_reader_string()
            ),
            MoneyHtml::Unparsed(s) => {
                for c in s.chars() {
                    match c {
                        '<' => f.write_str("&lt;")?,
                        '>' => f.write_str("&gt;")?,
                        '&' => f.write_str("&amp;")?,
                        '"' => f.write_str("&quot;")?,
                        '\'' => f.write_str("&#39;")?,
                        c => write!(f, "{c}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl askama::filters::HtmlSafe for MoneyHtml {}

/// The page HTML of an amount.
pub fn money(fen: Fen) -> MoneyHtml {
    MoneyHtml::Amount(fen)
}

/// The page HTML of an amount in whole 元 (the rules' lines and limits).
pub fn whole_yuan(yuan: impl std::borrow::Borrow<i64>) -> MoneyHtml {
    money(Fen(yuan.borrow().saturating_mul(100)))
}

/// The short text of an amount, where no tooltip can be attached (chart labels).
pub fn money_text(fen: Fen) -> String {
    fen.to_reader_string()
}

/// `.shown()` in templates.
pub trait ShowMoney {
    fn shown(&self) -> MoneyHtml;
}

impl ShowMoney for Fen {
    fn shown(&self) -> MoneyHtml {
        money(*self)
    }
}

/// An amount held as bare fen.
impl ShowMoney for i64 {
    fn shown(&self) -> MoneyHtml {
        money(Fen(*self))
    }
}

/// An exact amount in 元 as the store formats it for the API ("1234.50").
impl ShowMoney for str {
    fn shown(&self) -> MoneyHtml {
        match Fen::parse_yuan(self) {
            Ok(fen) => money(fen),
            Err(_) => MoneyHtml::Unparsed(self.to_string()),
        }
    }
}

impl ShowMoney for String {
    fn shown(&self) -> MoneyHtml {
        self.as_str().shown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_carries_the_exact_amount_in_its_tooltip() {
        assert_eq!(
            money(Fen(4_216_350_000_000)).to_string(),
            "<span class=\"money\" title=\"42,163,500,000.00元\">421.63亿元</span>"
        );
        assert_eq!(
            Fen(2_857_492_427).shown().to_string(),
            "<span class=\"money\" title=\"28,574,924.27元\">2,857.49万元</span>"
        );
        assert_eq!(
            "9999.99".shown().to_string(),
            "<span class=\"money\" title=\"9,999.99元\">9,999.99元</span>"
        );
        assert_eq!(
            (-1_000_000i64).shown().to_string(),
            "<span class=\"money\" title=\"-10,000.00元\">-1.00万元</span>"
        );
        assert_eq!(
            "<b>".to_string().shown().to_string(),
            "&lt;b&gt;",
            "a text that is no amount is escaped"
        );
        assert_eq!(money_text(Fen(0)), "0.00元");
    }
}
