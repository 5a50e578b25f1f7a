//! Who may supply certified products: registered market entities only (SOCIAL.md §1.2: "法人
//! 市场主体…未登记的农户不能申请"; DOMAIN.md §9: "a legal entity, never an individual"). The
//! 统一社会信用代码 says what an entity is registered as: its first character is the registering
//! authority (9 市场监管, N 农业农村) and its second the kind of entity under that authority
//! (GB 32100-2015, 附录 A).

use crate::credit_code::{self, CreditCodeError};
use crate::kinds::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// What a supplier is (DOMAIN.md §9).
    SupplierType {
        Enterprise => ("enterprise", "企业"),
        Cooperative => ("cooperative", "农民专业合作社"),
        VillageCollective => ("village_collective", "村集体经济组织"),
        FamilyFarm => ("family_farm", "家庭农场"),
    }
}

/// The accepted registrations, named in every refusal so that the user knows what to bring.
pub const ACCEPTED_KINDS_ZH: &str = "企业（代码前两位 91）、农民专业合作社（93）、农村集体经济组织（N1、N2、N3）、登记为家庭农场的个体工商户（92）";

/// What the first two characters of a code register an entity as, if it is a kind of
/// supplier at all.
fn registration_of(prefix: &str) -> Option<(&'static str, &'static [SupplierType])> {
    use SupplierType::*;
    Some(match prefix {
        // A family farm may also register as a company or a sole-proprietorship enterprise.
        "91" => ("企业", &[Enterprise, FamilyFarm]),
        "92" => ("个体工商户", &[FamilyFarm]),
        "93" => ("农民专业合作社", &[Cooperative]),
        "N1" => ("组级集体经济组织", &[VillageCollective]),
        "N2" => ("村级集体经济组织", &[VillageCollective]),
        "N3" => ("乡镇级集体经济组织", &[VillageCollective]),
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("个人或未登记的农户不能作为供应商；只接受：{ACCEPTED_KINDS_ZH}")]
    NoCode,
    #[error("{0}；供应商须为：{ACCEPTED_KINDS_ZH}")]
    BadCode(CreditCodeError),
    #[error(
        "统一社会信用代码 {code} 不是可接受的登记类别（前两位为 {prefix}）；只接受：{ACCEPTED_KINDS_ZH}"
    )]
    NotAccepted { code: String, prefix: String },
    #[error(
        "统一社会信用代码 {code} 登记为{registered}，不能作为“{declared}”登记；只接受：{ACCEPTED_KINDS_ZH}"
    )]
    TypeMismatch {
        code: String,
        registered: &'static str,
        declared: SupplierType,
    },
}

/// Checks that `code` (checksum included, through [`credit_code::validate`]) registers an
/// entity that may be a supplier of the declared type, and returns the normalised code.
pub fn check_supplier_registration(
    code: Option<&str>,
    declared: SupplierType,
) -> Result<String, RegistrationError> {
    let raw = code.map(str::trim).filter(|c| !c.is_empty());
    let Some(raw) = raw else {
        return Err(RegistrationError::NoCode);
    };
    let code = credit_code::validate(raw).map_err(RegistrationError::BadCode)?;
    let prefix = &code[..2];
    let Some((registered, types)) = registration_of(prefix) else {
        return Err(RegistrationError::NotAccepted {
            prefix: prefix.to_string(),
            code,
        });
    };
    if !types.contains(&declared) {
        return Err(RegistrationError::TypeMismatch {
            code,
            registered,
            declared,
        });
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credit_code::check_char;

    /// A checksum-valid code with this two-character prefix.
    fn code(prefix: &str) -> String {
        let first17 = format!("{prefix}445281MA4W12345");
        assert_eq!(first17.len(), 17);
        format!("{first17}{}", check_char(&first17).unwrap())
    }

    #[test]
    fn each_accepted_registration_gives_its_supplier_types() {
        use SupplierType::*;
        let cases = [
            ("91", Enterprise),
            ("91", FamilyFarm),
            ("92", FamilyFarm),
            ("93", Cooperative),
            ("N1", VillageCollective),
            ("N2", VillageCollective),
            ("N3", VillageCollective),
        ];
        for (prefix, t) in cases {
            let c = code(prefix);
            assert_eq!(
                check_supplier_registration(Some(&c), t),
                Ok(c.clone()),
                "{prefix} {t}"
            );
        }
    }

    #[test]
    fn a_sole_trader_only_as_a_family_farm_and_a_cooperative_only_as_one() {
        let c = code("92");
        let err = check_supplier_registration(Some(&c), SupplierType::Enterprise).unwrap_err();
        assert!(matches!(err, RegistrationError::TypeMismatch { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("个体工商户") && msg.contains("“企业”"),
            "{msg}"
        );
        assert!(msg.contains("家庭农场"), "names the accepted kinds: {msg}");
        assert!(
            check_supplier_registration(Some(&code("93")), SupplierType::VillageCollective)
                .is_err()
        );
        assert!(check_supplier_registration(Some(&code("N2")), SupplierType::Cooperative).is_err());
    }

    #[test]
    fn individuals_and_other_registrations_are_refused_naming_the_accepted_kinds() {
        for none in [None, Some(""), Some("   ")] {
            let err = check_supplier_registration(none, SupplierType::FamilyFarm).unwrap_err();
            assert_eq!(err, RegistrationError::NoCode);
            assert!(err.to_string().contains("个人或未登记的农户"));
            assert!(err.to_string().contains(ACCEPTED_KINDS_ZH));
        }
        // Party and government bodies (11), social organisations (51), foundations (53), other
        // market-regulation registrations (99), other agricultural ones (N9).
        for prefix in ["11", "51", "53", "99", "N9", "Y1"] {
            let err = check_supplier_registration(Some(&code(prefix)), SupplierType::Enterprise)
                .unwrap_err();
            assert!(
                matches!(&err, RegistrationError::NotAccepted { prefix: p, .. } if p == prefix),
                "{prefix}: {err:?}"
            );
            assert!(err.to_string().contains(ACCEPTED_KINDS_ZH));
        }
    }

    #[test]
    fn the_existing_checksum_check_is_applied() {
        let mut c = code("93");
        let last = c.pop().unwrap();
        c.push(if last == '0' { '1' } else { '0' });
        let err = check_supplier_registration(Some(&c), SupplierType::Cooperative).unwrap_err();
        assert!(
            matches!(
                err,
                RegistrationError::BadCode(CreditCodeError::CheckChar { .. })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("校验位"));
        // Normalised as the credit-code check normalises (lowercase, spaces).
        let good = code("93").to_lowercase();
        assert_eq!(
            check_supplier_registration(Some(&format!(" {good} ")), SupplierType::Cooperative),
            Ok(code("93"))
        );
    }
}
