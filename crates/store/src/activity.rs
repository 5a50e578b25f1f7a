//! What this process has done and holds, for the operator's `/metrics`: rows read by each kind
//! of import (counted here, where every door's import passes, so the web and the command line
//! need no copy) and the database pool's connections.

use crate::Db;
use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of file import, as they appear in the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Members,
    Incomes,
    Projects,
    Transactions,
    Visits,
    Regions,
    RegionAttributes,
}

impl ImportKind {
    pub const ALL: [ImportKind; 7] = [
        ImportKind::Members,
        ImportKind::Incomes,
        ImportKind::Projects,
        ImportKind::Transactions,
        ImportKind::Visits,
        ImportKind::Regions,
        ImportKind::RegionAttributes,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ImportKind::Members => "members",
            ImportKind::Incomes => "incomes",
            ImportKind::Projects => "projects",
            ImportKind::Transactions => "transactions",
            ImportKind::Visits => "visits",
            ImportKind::Regions => "regions",
            ImportKind::RegionAttributes => "region_attributes",
        }
    }
}

static IMPORT_ROWS: [AtomicU64; ImportKind::ALL.len()] =
    [const { AtomicU64::new(0) }; ImportKind::ALL.len()];

/// Counts rows an import read and checked, whether the file was then written, refused or a
/// dry run: the work done, not the records kept (those are in the database).
pub fn count_import_rows(kind: ImportKind, rows: u64) {
    IMPORT_ROWS[kind as usize].fetch_add(rows, Ordering::Relaxed);
}

/// Rows read by each kind of import since this process started.
pub fn import_rows() -> Vec<(ImportKind, u64)> {
    ImportKind::ALL
        .iter()
        .map(|&k| (k, IMPORT_ROWS[k as usize].load(Ordering::Relaxed)))
        .collect()
}

/// The connection pool right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle and in use).
    pub size: u32,
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}

impl Db {
    pub fn pool_stats(&self) -> PoolStats {
        crate::on_db!(self, p => PoolStats {
            size: p.size(),
            idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
            max: p.options().get_max_connections(),
        })
    }
}
