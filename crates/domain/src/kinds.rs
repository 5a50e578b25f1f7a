//! Closed vocabularies of the domain: each value has a stable English id (API, database) and a
//! Chinese name (pages, imports). Parsing accepts either.

use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => ($id:literal, $zh:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $id)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $id),+ }
            }

            pub fn name_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }

            /// Accepts the English id or the Chinese name (after NFKC normalisation).
            pub fn parse(s: &str) -> Option<$name> {
                let t = crate::text::normalize(s);
                Self::ALL.iter().copied().find(|v| v.as_str() == t || v.name_zh() == t)
            }

            /// "a、b、c" list of Chinese names, for error messages.
            pub fn choices_zh() -> String {
                Self::ALL.iter().map(|v| v.name_zh()).collect::<Vec<_>>().join("、")
            }

            pub fn ids() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name_zh())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// The eight themes of the seed (八个话题).
    Theme {
        Pairing => ("pairing", "对口帮扶"),
        Education => ("education", "教育扶贫"),
        Finance => ("finance", "金融扶贫"),
        Industry => ("industry", "产业扶贫"),
        Rural => ("rural", "乡村振兴"),
        Technology => ("technology", "科技扶贫"),
        Tourism => ("tourism", "文旅扶贫"),
        Consumption => ("consumption", "消费扶贫"),
    }
}

vocabulary! {
    /// Types of 对口关系 (DOMAIN.md §3).
    PairingType {
        EastWest => ("east_west", "东西部扶贫协作"),
        Counterpart => ("counterpart_support", "对口支援"),
        Cooperation => ("counterpart_cooperation", "对口合作"),
        IntraProvincial => ("intra_provincial", "省内对口帮扶"),
        Xiaokang => ("xiaokang", "携手奔小康"),
        EnterpriseVillage => ("enterprise_village", "企村结对"),
        SocialOrg => ("social_org", "社会组织结对"),
        School => ("school", "学校结对"),
        Hospital => ("hospital", "医院结对"),
    }
}

vocabulary! {
    /// Kinds of organisation, on the Shenzhen side and the recipient side.
    OrgKind {
        CityOffice => ("city_office", "市级机关"),
        DistrictOffice => ("district_office", "区级机关"),
        FrontCommand => ("front_command", "前方指挥部"),
        Government => ("government", "受援地政府部门"),
        Enterprise => ("enterprise", "企业"),
        Foundation => ("foundation", "基金会"),
        SocialOrg => ("social_org", "社会组织"),
        Bank => ("bank", "银行"),
        Insurer => ("insurer", "保险机构"),
        Research => ("research", "科研院所"),
        Cooperative => ("cooperative", "合作社"),
        VillageCollective => ("village_collective", "村集体经济组织"),
        School => ("school", "学校"),
        Hospital => ("hospital", "医院"),
        Media => ("media", "媒体"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_themes_parse_both_ways() {
        assert_eq!(Theme::ALL.len(), 8);
        for t in Theme::ALL {
            assert_eq!(Theme::parse(t.as_str()), Some(*t));
            assert_eq!(Theme::parse(t.name_zh()), Some(*t));
        }
        assert_eq!(Theme::parse("不存在"), None);
    }

    #[test]
    fn pairing_types_are_the_nine_of_the_domain() {
        assert_eq!(PairingType::ALL.len(), 9);
        assert_eq!(
            PairingType::parse(" 对口支援 "),
            Some(PairingType::Counterpart)
        );
        assert!(PairingType::choices_zh().contains("医院结对"));
    }
}
