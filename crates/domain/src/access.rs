//! Who is asking: the caller's role, scope and permissions, resolved once per request (or per
//! CLI command) and passed to every store call that reads or writes registry data.

use crate::scope::Scope;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 市级管理员: everything.
    Admin,
    /// 区级/前方指挥部: the regions and projects of its own organisation's pairings.
    District,
    /// 受援县干部: its county.
    County,
    /// 驻村第一书记: its village; records visits, incomes and measures.
    Village,
    /// 企业/基金会/社会组织: its own organisation's projects and transactions.
    Org,
    /// 审计: reads everything, masked; changes nothing.
    Auditor,
    /// 公众: no login; public information and aggregates only.
    Public,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::District,
        Role::County,
        Role::Village,
        Role::Org,
        Role::Auditor,
        Role::Public,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::District => "district",
            Role::County => "county",
            Role::Village => "village",
            Role::Org => "org",
            Role::Auditor => "auditor",
            Role::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Role::Admin => "市级管理员",
            Role::District => "区级/前方指挥部",
            Role::County => "县级干部",
            Role::Village => "驻村第一书记",
            Role::Org => "机构用户",
            Role::Auditor => "审计人员",
            Role::Public => "公众",
        }
    }
}

/// The caller of a store function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// None for the public and for the command line's system actor.
    pub user_id: Option<i64>,
    /// Recorded in the audit log ("admin", "system", "public"…).
    pub username: String,
    pub role: Role,
    pub scope: Scope,
    /// May reveal full ID and phone numbers (each reveal is recorded).
    pub can_reveal: bool,
    /// The user's own organisation (district offices and organisation users): a district sees
    /// the projects of this organisation, an organisation user its own records.
    pub organisation_id: Option<i64>,
}

impl Caller {
    /// The command line and the server before login exists: full scope, recorded as `system`.
    pub fn system() -> Caller {
        Caller {
            user_id: None,
            username: "system".into(),
            role: Role::Admin,
            scope: Scope::Everything,
            can_reveal: true,
            organisation_id: None,
        }
    }

    /// No login: public information and aggregates only.
    pub fn public() -> Caller {
        Caller {
            user_id: None,
            username: "public".into(),
            role: Role::Public,
            scope: Scope::Regions(Vec::new()),
            can_reveal: false,
            organisation_id: None,
        }
    }

    /// May this caller read personal records (households, members) at all?
    pub fn can_read_registry(&self) -> bool {
        !matches!(self.role, Role::Public | Role::Org)
    }

    /// May this caller change registry records: create and edit households and members,
    /// record 动态调整 events, status changes and 帮扶责任人, import files, run exit assessments,
    /// move exit procedures and open or close monitoring cases? The city office and county
    /// cadres (who keep the registry of their county). District offices manage projects and
    /// funds, not the registry; first secretaries only record field work (see below).
    pub fn can_write_registry(&self) -> bool {
        matches!(self.role, Role::Admin | Role::County)
    }

    /// May this caller record field work on a household of its scope: visits (with what they
    /// find: rigid expenses, shocks), incomes and measures (帮扶措施, also a monitoring case's)?
    /// Everyone who writes the registry, and village first secretaries.
    pub fn can_record_field_work(&self) -> bool {
        self.can_write_registry() || self.role == Role::Village
    }

    /// May this caller register and change projects and their money (transactions)? The city
    /// office, district offices (in the regions of their pairings) and organisation users
    /// (their own organisation's). County and village cadres read them.
    pub fn can_write_projects(&self) -> bool {
        matches!(self.role, Role::Admin | Role::District | Role::Org)
    }

    /// Logged in (anyone but the public).
    pub fn is_authenticated(&self) -> bool {
        self.role != Role::Public
    }

    /// May change anything at all. The web layer refuses every state-changing request of a
    /// caller for whom this is false (the public: 401, auditors: 403) before any handler runs.
    pub fn can_write(&self) -> bool {
        !matches!(self.role, Role::Public | Role::Auditor)
    }

    /// Why this caller may not change anything, in Chinese; None when it may.
    pub fn write_refusal(&self) -> Option<&'static str> {
        match self.role {
            Role::Public => Some("请先登录"),
            Role::Auditor => Some("审计人员只能查看，不能修改任何数据"),
            _ => None,
        }
    }

    /// May read the audit log.
    pub fn can_read_audit(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Auditor)
    }

    /// May read the operator's metrics (`/metrics` on the main address): counts and timings of
    /// the whole system, no records, but still not for every account.
    pub fn can_read_metrics(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Auditor)
    }

    /// Manages reference data shared by everyone: region attributes, pairings, users.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// May create organisations (admin) or change this one (admin, or the organisation's own user).
    pub fn can_edit_organisation(&self, id: Option<i64>) -> bool {
        match (self.role, id) {
            (Role::Admin, _) => true,
            (Role::Org, Some(id)) => self.organisation_id == Some(id),
            _ => false,
        }
    }

    /// The scope in which pairings are visible. Pairings are public information, so the public
    /// sees them all; logged-in callers see those of their own scope, so a county cadre's lists
    /// hold only its county.
    pub fn pairing_scope(&self) -> Scope {
        match self.role {
            Role::Public => Scope::Everything,
            _ => self.scope.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn auditors_read_but_do_not_write_and_the_public_reads_no_registry() {
        let auditor = Caller {
            role: Role::Auditor,
            ..Caller::system()
        };
        assert!(auditor.can_read_registry() && !auditor.can_write_registry());
        assert!(!Caller::public().can_read_registry());
        assert!(
            !Caller::public()
                .scope
                .allows_region(crate::RegionCode::parse("44").unwrap())
        );
    }

    #[test]
    fn first_secretaries_record_field_work_and_district_offices_projects() {
        let with = |role| Caller {
            role,
            ..Caller::system()
        };
        let field: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| with(*r).can_record_field_work())
            .collect();
        assert_eq!(field, [Role::Admin, Role::County, Role::Village]);
        let registry: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| with(*r).can_write_registry())
            .collect();
        assert_eq!(registry, [Role::Admin, Role::County]);
        let projects: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| with(*r).can_write_projects())
            .collect();
        assert_eq!(projects, [Role::Admin, Role::District, Role::Org]);
    }

    #[test]
    fn only_logged_in_non_auditors_write() {
        assert!(Caller::system().can_write());
        assert!(!Caller::public().can_write());
        assert_eq!(Caller::public().write_refusal(), Some("请先登录"));
        let auditor = Caller {
            role: Role::Auditor,
            can_reveal: false,
            ..Caller::system()
        };
        assert!(!auditor.can_write() && auditor.can_read_audit());
        assert!(auditor.write_refusal().unwrap().contains("审计"));
        let county = Caller {
            role: Role::County,
            scope: Scope::Regions(vec![crate::RegionCode::parse("441621").unwrap()]),
            ..Caller::system()
        };
        assert!(county.can_write() && !county.can_read_audit() && !county.is_admin());
    }

    #[test]
    fn organisation_users_edit_only_their_own_organisation() {
        let org = Caller {
            role: Role::Org,
            scope: Scope::Organisation(7),
            organisation_id: Some(7),
            ..Caller::system()
        };
        assert!(org.can_edit_organisation(Some(7)));
        assert!(!org.can_edit_organisation(Some(8)));
        assert!(
            !org.can_edit_organisation(None),
            "only the city office registers new organisations"
        );
        assert!(Caller::system().can_edit_organisation(None));
    }

    #[test]
    fn the_public_sees_every_pairing_but_a_county_only_its_own() {
        assert_eq!(Caller::public().pairing_scope(), Scope::Everything);
        let county = Scope::Regions(vec![crate::RegionCode::parse("441621").unwrap()]);
        let c = Caller {
            role: Role::County,
            scope: county.clone(),
            ..Caller::system()
        };
        assert_eq!(c.pairing_scope(), county);
    }
}
