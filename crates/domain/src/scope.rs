//! Access scope: which part of the registry a caller may read or write. Resolved once per
//! request and passed into every store call that touches registry data.

use crate::region::RegionCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The city office and auditors: everything.
    Everything,
    /// Cadres and district offices: these region subtrees only.
    Regions(Vec<RegionCode>),
    /// Organisation users: records of this organisation only.
    Organisation(i64),
}

impl Scope {
    pub fn allows_region(&self, code: RegionCode) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Regions(roots) => roots.iter().any(|r| r.contains(code)),
            Scope::Organisation(_) => false,
        }
    }

    /// Half-open region-key ranges this scope covers, or None for everything.
    pub fn region_ranges(&self) -> Option<Vec<(i64, i64)>> {
        match self {
            Scope::Everything => None,
            Scope::Regions(roots) => Some(roots.iter().map(|r| r.subtree_key_range()).collect()),
            Scope::Organisation(_) => Some(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_scope_covers_subtrees_only() {
        let s = Scope::Regions(vec![RegionCode::parse("441621").unwrap()]);
        assert!(s.allows_region(RegionCode::parse("441621103212").unwrap()));
        assert!(!s.allows_region(RegionCode::parse("441622").unwrap()));
        assert!(Scope::Everything.allows_region(RegionCode::parse("65").unwrap()));
        assert!(!Scope::Organisation(1).allows_region(RegionCode::parse("65").unwrap()));
    }
}
