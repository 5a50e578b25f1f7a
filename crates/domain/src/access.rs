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
    pub const ALL: [Role; 7] =
        [Role::Admin, Role::District, Role::County, Role::Village, Role::Org, Role::Auditor, Role::Public];

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
}

impl Caller {
    /// The command line and the server before login exists: full scope, recorded as `system`.
    pub fn system() -> Caller {
        Caller { user_id: None, username: "system".into(), role: Role::Admin, scope: Scope::Everything, can_reveal: true }
    }

    /// No login: public information and aggregates only.
    pub fn public() -> Caller {
        Caller { user_id: None, username: "public".into(), role: Role::Public, scope: Scope::Regions(Vec::new()), can_reveal: false }
    }

    /// May this caller read personal records (households, members) at all?
    pub fn can_read_registry(&self) -> bool {
        !matches!(self.role, Role::Public | Role::Org)
    }

    /// May this caller change registry records (households, members, incomes, measures, visits)?
    pub fn can_write_registry(&self) -> bool {
        matches!(self.role, Role::Admin | Role::District | Role::County | Role::Village)
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
        let auditor = Caller { role: Role::Auditor, ..Caller::system() };
        assert!(auditor.can_read_registry() && !auditor.can_write_registry());
        assert!(!Caller::public().can_read_registry());
        assert!(!Caller::public().scope.allows_region(crate::RegionCode::parse("44").unwrap()));
    }
}
