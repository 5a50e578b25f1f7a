//! Property tests (fuzzing on stable Rust) for the parsers every uploaded cell and every
//! parameter goes through: ID numbers, credit codes, money, dates, region codes and text.
//! Each parser must answer any input with a value or an error, never a panic, and what it
//! accepts must survive a round trip through its own canonical form.

use domain::credit_code;
use domain::id_number::{IdNumber, check_char, looks_like_masked, mask_id, mask_phone};
use domain::money::Fen;
use domain::project::parse_date;
use domain::text;
use domain::{RegionCode, RegionLevel};
use proptest::prelude::*;

/// Strings that look like what people type into spreadsheets: digits, the letters and signs
/// parsers care about, full-width forms, whitespace, and arbitrary Unicode.
fn cellish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9Xx ]{0,24}",
        "[0-9０-９,.，．¥￥元+\\-−eE ]{0,30}",
        "[0-9A-Z]{16,20}",
        "\\PC{0,40}",
        any::<String>(),
    ]
}

fn config() -> ProptestConfig {
    // Enough cases to find panics on odd input; cheap enough for every CI run.
    ProptestConfig {
        cases: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A valid 18-digit ID number built from parts (province 44, a real date, any sequence).
fn valid_id() -> impl Strategy<Value = String> {
    (1930i32..2020, 1u32..13, 1u32..29, 0u32..1000).prop_map(|(y, m, d, seq)| {
        let first17 = format!("441621{y:04}{m:02}{d:02}{seq:03}");
        let check = check_char(&first17).expect("17 digits");
        format!("{first17}{check}")
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn id_numbers_never_panic_and_accepted_ones_are_canonical(s in cellish()) {
        if let Ok(id) = IdNumber::parse(&s) {
            prop_assert_eq!(id.as_str().len(), 18);
            prop_assert_eq!(IdNumber::parse(id.as_str()).map(|i| i.as_str().to_string()), Ok(id.as_str().to_string()));
            let masked = id.masked();
            prop_assert!(!masked.contains(&id.as_str()[6..14]), "the birth date never shows in the masked form");
            prop_assert!(looks_like_masked(&masked));
        }
        let _ = mask_id(&s);
        let _ = mask_phone(&s);
        let _ = looks_like_masked(&s);
    }

    #[test]
    fn valid_id_numbers_are_accepted_in_any_typed_form(id in valid_id(), spaced in any::<bool>(), lower in any::<bool>()) {
        let mut typed = id.clone();
        if spaced {
            typed = format!(" {} {} {} ", &id[..6], &id[6..14], &id[14..]);
        }
        if lower {
            typed = typed.replace('X', "x");
        }
        let parsed = IdNumber::parse(&typed);
        prop_assert!(parsed.is_ok(), "{typed}: {parsed:?}");
        prop_assert_eq!(parsed.unwrap().as_str().to_string(), id);
    }

    #[test]
    fn a_changed_digit_breaks_the_check_character(id in valid_id(), pos in 14usize..17, delta in 1u8..10) {
        let mut bytes = id.into_bytes();
        bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(IdNumber::parse(&changed).is_err());
    }

    #[test]
    fn credit_codes_never_panic_and_accepted_ones_check(s in cellish()) {
        if let Ok(code) = credit_code::validate(&s) {
            prop_assert_eq!(code.chars().count(), 18);
            prop_assert_eq!(credit_code::check_char(&code[..17]), code.chars().last());
            prop_assert_eq!(credit_code::validate(&code), Ok(code.clone()));
            let _ = credit_code::region_code(&code);
        }
    }

    #[test]
    fn money_never_panics(s in cellish()) {
        if let Ok(f) = Fen::parse_yuan(&s) {
            prop_assert_eq!(Fen::parse_yuan(&f.yuan_string()), Ok(f));
        }
    }

    #[test]
    fn every_amount_round_trips_through_its_text(fen in any::<i64>()) {
        let f = Fen(fen);
        prop_assert_eq!(Fen::parse_yuan(&f.yuan_string()), Ok(f));
        let _ = (f.to_yi_string(), f.to_wan_string());
    }

    #[test]
    fn dates_never_panic_and_accepted_ones_are_iso(s in prop_oneof![cellish(), "[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?"]) {
        if let Ok(d) = parse_date(&s) {
            prop_assert_eq!(d.len(), 10);
            prop_assert_eq!(parse_date(&d), Ok(d.clone()));
        }
    }

    #[test]
    fn region_codes_never_panic_and_round_trip(s in prop_oneof![cellish(), "[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12}"]) {
        if let Ok(code) = RegionCode::parse(&s) {
            prop_assert_eq!(RegionCode::parse(&code.to_string()), Ok(code));
            prop_assert_eq!(RegionCode::from_key(code.key()), Some(code));
            for a in code.ancestors() {
                prop_assert!(a.contains(code));
            }
            prop_assert!(code.level() == RegionLevel::from_digits(code.to_string().len()).unwrap());
        }
    }

    #[test]
    fn text_normalisation_is_idempotent_and_integers_never_panic(s in cellish()) {
        let n = text::normalize(&s);
        prop_assert_eq!(text::normalize(&n), n.clone());
        let _ = text::normalize_compact(&s);
        let _ = text::split_multi(&s);
        let _ = text::parse_int_cell(&s);
    }
}
