//! 统一社会信用代码 (GB 32100-2015) of organisations, enterprises and cooperatives.
//!
//! Unlike personal ID numbers these codes are public (they are printed on business licences),
//! so error messages may quote them.

use crate::text;

/// The 31 characters of the code, in value order: a character's value is its index. I, O, S,
/// V and Z are left out because they are easily confused with 1, 0, 5, U and 2.
pub const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("统一社会信用代码为空")]
    Empty,
    #[error("统一社会信用代码应为18位，实际为{len}位")]
    Length { len: usize },
    #[error(
        "统一社会信用代码第{position}位字符“{ch}”不合法（只能是数字和除 I、O、S、V、Z 以外的大写字母）"
    )]
    IllegalChar { position: usize, ch: char },
    #[error("统一社会信用代码校验位错误：第18位应为 {expected}，实际为 {actual}")]
    CheckChar { expected: char, actual: char },
}

fn value_of(c: char) -> Option<u32> {
    ALPHABET.find(c).map(|i| i as u32)
}

/// Validates a code and returns it normalised (NFKC, whitespace removed, uppercase), ready to
/// store and compare.
pub fn validate(s: &str) -> Result<String, CreditCodeError> {
    let code = text::normalize_compact(s).to_uppercase();
    if code.is_empty() {
        return Err(CreditCodeError::Empty);
    }
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(CreditCodeError::Length { len: chars.len() });
    }
    for (i, &ch) in chars.iter().enumerate() {
        if value_of(ch).is_none() {
            return Err(CreditCodeError::IllegalChar {
                position: i + 1,
                ch,
            });
        }
    }
    let expected = check_char(&code[..17]).expect("17 validated characters");
    if chars[17] != expected {
        return Err(CreditCodeError::CheckChar {
            expected,
            actual: chars[17],
        });
    }
    Ok(code)
}

/// The check character for the first 17 characters, or `None` if `first17` is not exactly 17
/// characters of [`ALPHABET`] (lowercase is accepted). Demo data uses it to build valid codes.
pub fn check_char(first17: &str) -> Option<char> {
    let chars: Vec<char> = first17.chars().map(|c| c.to_ascii_uppercase()).collect();
    if chars.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in chars.into_iter().zip(WEIGHTS) {
        sum += value_of(c)? * w;
    }
    // 31 − (sum mod 31) is 1..=31; the value 31 has no character and is written as 0.
    let value = (31 - sum % 31) % 31;
    ALPHABET.chars().nth(value as usize)
}

/// Characters 3–8: the county-level division code of the registering authority, which places
/// an organisation without asking for its address. `None` unless `code` is valid.
pub fn region_code(code: &str) -> Option<String> {
    validate(code).ok().map(|c| c[2..8].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_is_valid() {
        assert_eq!(
            validate("91350100M000100Y43").unwrap(),
            "91350100M000100Y43"
        );
        assert_eq!(check_char("91350100M000100Y4"), Some('3'));
    }

    #[test]
    fn input_is_normalised() {
        assert_eq!(
            validate(" 91350100m000100y43 ").unwrap(),
            "91350100M000100Y43"
        );
        assert_eq!(
            validate("９１３５０１００Ｍ０００１００Ｙ４３").unwrap(),
            "91350100M000100Y43"
        );
        assert_eq!(
            validate("9135 0100 M000 100Y 43").unwrap(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn alphabet_has_31_characters_without_confusables() {
        assert_eq!(ALPHABET.chars().count(), 31);
        for c in ['I', 'O', 'S', 'V', 'Z'] {
            assert!(!ALPHABET.contains(c));
        }
        let mut sorted: Vec<char> = ALPHABET.chars().collect();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    #[test]
    fn length_errors() {
        assert_eq!(validate(""), Err(CreditCodeError::Empty));
        assert_eq!(validate("  "), Err(CreditCodeError::Empty));
        assert_eq!(
            validate("91350100M000100Y4"),
            Err(CreditCodeError::Length { len: 17 })
        );
        assert_eq!(
            validate("91350100M000100Y433"),
            Err(CreditCodeError::Length { len: 19 })
        );
        // Old 9-digit organisation codes are not credit codes.
        assert_eq!(
            validate("M000100Y4"),
            Err(CreditCodeError::Length { len: 9 })
        );
    }

    #[test]
    fn illegal_characters_are_named_with_position() {
        assert_eq!(
            validate("91350100I000100Y43"),
            Err(CreditCodeError::IllegalChar {
                position: 9,
                ch: 'I'
            })
        );
        assert_eq!(
            validate("91350100o000100Y43"),
            Err(CreditCodeError::IllegalChar {
                position: 9,
                ch: 'O'
            })
        );
        assert_eq!(
            validate("S1350100M000100Y43"),
            Err(CreditCodeError::IllegalChar {
                position: 1,
                ch: 'S'
            })
        );
        assert_eq!(
            validate("91350100M000100Y4Z"),
            Err(CreditCodeError::IllegalChar {
                position: 18,
                ch: 'Z'
            })
        );
        assert_eq!(
            validate("91350100M000100Y4-"),
            Err(CreditCodeError::IllegalChar {
                position: 18,
                ch: '-'
            })
        );
        assert_eq!(
            validate("91350100M000100Y4码"),
            Err(CreditCodeError::IllegalChar {
                position: 18,
                ch: '码'
            })
        );
        let msg = CreditCodeError::IllegalChar {
            position: 9,
            ch: 'I',
        }
        .to_string();
        assert!(
            msg.starts_with("统一社会信用代码第9位字符“I”不合法"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_check_character() {
        assert_eq!(
            validate("91350100M000100Y44"),
            Err(CreditCodeError::CheckChar {
                expected: '3',
                actual: '4'
            })
        );
        assert_eq!(
            CreditCodeError::CheckChar {
                expected: 'X',
                actual: 'Y'
            }
            .to_string(),
            "统一社会信用代码校验位错误：第18位应为 X，实际为 Y"
        );
    }

    #[test]
    fn every_single_substitution_is_detected() {
        let good: Vec<char> = "91350100M000100Y43".chars().collect();
        for pos in 0..18 {
            for c in ALPHABET.chars() {
                if c == good[pos] {
                    continue;
                }
                let mut v = good.clone();
                v[pos] = c;
                let s: String = v.into_iter().collect();
                assert!(validate(&s).is_err(), "{s}");
            }
        }
    }

    #[test]
    fn check_value_31_is_written_as_zero() {
        // Search for bodies whose weighted sum is a multiple of 31 (and others) and make sure
        // the generated codes validate; the zero case must appear.
        let mut saw_zero = false;
        let mut saw_y = false;
        for n in 0..2000u32 {
            let body = format!("9144030{n:04}ABCDE0");
            assert_eq!(body.len(), 17);
            let c = check_char(&body).unwrap();
            saw_zero |= c == '0';
            saw_y |= c == 'Y';
            let code = format!("{body}{c}");
            assert_eq!(validate(&code).unwrap(), code);
        }
        assert!(saw_zero && saw_y);
        // A direct case: a body of all '0' has sum 0, so 31 − 0 = 31, written 0.
        assert_eq!(check_char("00000000000000000"), Some('0'));
        // Sum 1 (value 1 at weight 1): 31 − 1 = 30 = 'Y'.
        assert_eq!(check_char("10000000000000000"), Some('Y'));
    }

    #[test]
    fn check_char_rejects_bad_input() {
        assert_eq!(check_char("91350100M000100Y"), None);
        assert_eq!(check_char("91350100M000100Y43"), None);
        assert_eq!(check_char("91350100I000100Y4"), None);
        assert_eq!(check_char("91350100m000100y4"), Some('3'));
    }

    #[test]
    fn region_code_of_valid_codes_only() {
        assert_eq!(region_code("91350100M000100Y43").as_deref(), Some("350100"));
        assert_eq!(region_code("91350100M000100Y44"), None);
    }
}
