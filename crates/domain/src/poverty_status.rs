//! Changes of a registered household's 脱贫状态 (codes of `shared/data/codes/poverty_status.csv`):
//! the one table of allowed transitions, used by the status-change door (API and household page)
//! and by the exit procedure's 销号. Imports and the demo carry historical statuses from before
//! the system existed; they are recorded as history with the source [`SOURCE_IMPORT`] and are not
//! transitions.

/// A registered household's 脱贫状态: the values of the poverty_status code table. The one
/// definition of which statuses count as exited and which as still poor; every figure, rule and
/// SQL filter asks this type (SQL lists come from [`PovertyStatus::sql_list`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PovertyStatus {
    /// 未脱贫
    NotOut,
    /// 已脱贫（享受政策）
    Exited,
    /// 返贫
    Returned,
    /// 已脱贫（不再享受政策）
    ExitedNoPolicy,
}

impl PovertyStatus {
    pub const ALL: [PovertyStatus; 4] = [
        PovertyStatus::NotOut,
        PovertyStatus::Exited,
        PovertyStatus::Returned,
        PovertyStatus::ExitedNoPolicy,
    ];

    /// The stored code (`households.status`).
    pub const fn code(self) -> &'static str {
        match self {
            PovertyStatus::NotOut => "0",
            PovertyStatus::Exited => "1",
            PovertyStatus::Returned => "3",
            PovertyStatus::ExitedNoPolicy => "4",
        }
    }

    /// The status of a stored code; None for anything else, such as
    /// [`crate::registry::STATUS_NOT_REGISTERED`] (一般农户, never registered as poor).
    pub fn from_code(code: &str) -> Option<PovertyStatus> {
        PovertyStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Out of poverty (享受政策 or not): counted as 脱贫 by exit year.
    pub const fn is_exited(self) -> bool {
        matches!(self, PovertyStatus::Exited | PovertyStatus::ExitedNoPolicy)
    }

    /// Still poor (未脱贫 or 返贫): the 剩余贫困人口 and the candidates of an exit assessment.
    pub const fn is_poor(self) -> bool {
        !self.is_exited()
    }

    pub const fn name(self) -> &'static str {
        match self {
            PovertyStatus::NotOut => "未脱贫",
            PovertyStatus::Exited => "已脱贫（享受政策）",
            PovertyStatus::ExitedNoPolicy => "已脱贫（不再享受政策）",
            PovertyStatus::Returned => "返贫",
        }
    }

    /// The quoted codes of the statuses `pred` selects, for an SQL `IN (…)`: `'1', '4'`.
    pub fn sql_list(pred: fn(PovertyStatus) -> bool) -> String {
        PovertyStatus::ALL
            .into_iter()
            .filter(|s| pred(*s))
            .map(|s| format!("'{}'", s.code()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a stored status code is an exited one (false for unknown codes and 一般农户).
pub fn is_exited_code(code: &str) -> bool {
    PovertyStatus::from_code(code).is_some_and(PovertyStatus::is_exited)
}

/// Whether a stored status code is a still-poor one (false for unknown codes and 一般农户).
pub fn is_poor_code(code: &str) -> bool {
    PovertyStatus::from_code(code).is_some_and(PovertyStatus::is_poor)
}

pub const STATUS_NOT_OUT: &str = PovertyStatus::NotOut.code();
pub const STATUS_EXITED: &str = PovertyStatus::Exited.code();
pub const STATUS_RETURNED: &str = PovertyStatus::Returned.code();
pub const STATUS_EXITED_NO_POLICY: &str = PovertyStatus::ExitedNoPolicy.code();

/// Sources of a status history row.
pub const SOURCE_IMPORT: &str = "导入";
pub const SOURCE_CHANGE: &str = "状态变更";
pub const SOURCE_EXIT_PROCEDURE: &str = "退出程序";

/// Through which door a status change comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusDoor {
    /// 状态变更: `POST /api/v1/households/{id}/status` and the form on the household page.
    Change,
    /// The 销号 step of the exit procedure.
    ExitProcedure,
}

/// What happens to `exit_year` when a transition is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitYear {
    /// Becomes the year of the change (the 销号 year).
    SetToYear,
    Keep,
}

/// One allowed transition.
#[derive(Debug, Clone, Copy)]
pub struct StatusTransition {
    pub from: &'static [&'static str],
    pub to: &'static str,
    pub door: StatusDoor,
    pub exit_year: ExitYear,
    /// Only for years up to the rules' `returned_status_last_year` (from then on a new
    /// difficulty is a monitoring case, not a return to poverty).
    pub until_returned_last_year: bool,
}

/// The allowed transitions (issue 13 item 4); anything else is refused.
pub const STATUS_TRANSITIONS: [StatusTransition; 4] = [
    StatusTransition {
        from: &[STATUS_NOT_OUT],
        to: STATUS_EXITED,
        door: StatusDoor::ExitProcedure,
        exit_year: ExitYear::SetToYear,
        until_returned_last_year: false,
    },
    StatusTransition {
        from: &[STATUS_EXITED],
        to: STATUS_EXITED_NO_POLICY,
        door: StatusDoor::Change,
        exit_year: ExitYear::Keep,
        until_returned_last_year: false,
    },
    StatusTransition {
        from: &[STATUS_EXITED, STATUS_EXITED_NO_POLICY],
        to: STATUS_RETURNED,
        door: StatusDoor::Change,
        exit_year: ExitYear::Keep,
        until_returned_last_year: true,
    },
    // A re-exit: the new 销号 year becomes exit_year; the first exit stays in the history.
    StatusTransition {
        from: &[STATUS_RETURNED],
        to: STATUS_EXITED,
        door: StatusDoor::ExitProcedure,
        exit_year: ExitYear::SetToYear,
        until_returned_last_year: false,
    },
];

/// The names of the poverty_status code table, for messages.
pub fn status_name(code: &str) -> &'static str {
    PovertyStatus::from_code(code).map_or("未知状态", PovertyStatus::name)
}

impl StatusTransition {
    /// "未脱贫 → 已脱贫（享受政策）：只能经退出程序销号，脱贫年度为销号年度".
    pub fn describe(&self, returned_last_year: i64) -> String {
        let from: Vec<&str> = self.from.iter().map(|c| status_name(c)).collect();
        let how = match (self.door, self.exit_year) {
            (StatusDoor::ExitProcedure, _) => "只能经退出程序销号，脱贫年度为销号年度".to_string(),
            (StatusDoor::Change, _) if self.until_returned_last_year => format!(
                "状态变更，仅限 {returned_last_year} 年及以前（此后新发生的困难按防返贫监测处理），脱贫年度不变"
            ),
            (StatusDoor::Change, _) => "状态变更，脱贫年度不变".to_string(),
        };
        format!("{} → {}：{how}", from.join("或"), status_name(self.to))
    }
}

/// Every allowed way, for pages and refusals.
pub fn allowed_ways(returned_last_year: i64) -> String {
    STATUS_TRANSITIONS
        .iter()
        .map(|t| t.describe(returned_last_year))
        .collect::<Vec<_>>()
        .join("；")
}

/// Checks a change of a registered household's status from `from` to `to` in `year` through
/// `door`; returns the household's exit year after it, or the Chinese refusal naming the
/// allowed ways.
pub fn check_status_change(
    from: &str,
    to: &str,
    year: i64,
    door: StatusDoor,
    exit_year: Option<i64>,
    returned_last_year: i64,
) -> Result<Option<i64>, String> {
    let ways = allowed_ways(returned_last_year);
    let found = STATUS_TRANSITIONS
        .iter()
        .find(|t| t.from.contains(&from) && t.to == to);
    let Some(t) = found else {
        return Err(format!(
            "不能将脱贫状态由“{}”改为“{}”。允许的方式：{ways}",
            status_name(from),
            status_name(to)
        ));
    };
    if t.door != door {
        return Err(format!(
            "“{}”改为“{}”须经退出程序（拟退出 → … → 销号）完成，销号时自动记录。允许的方式：{ways}",
            status_name(from),
            status_name(to)
        ));
    }
    if t.until_returned_last_year && year > returned_last_year {
        return Err(format!(
            "{returned_last_year} 年以后不再登记返贫：新发生的困难请按防返贫监测登记监测对象。允许的方式：{ways}"
        ));
    }
    if let Some(e) = exit_year
        && year < e
    {
        return Err(format!("状态变更的年份 {year} 不能早于脱贫年度 {e}"));
    }
    Ok(match t.exit_year {
        ExitYear::SetToYear => Some(year),
        ExitYear::Keep => exit_year,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAST: i64 = 2020;

    #[test]
    fn exited_and_poor_are_one_definition() {
        let exited: Vec<&str> = PovertyStatus::ALL
            .into_iter()
            .filter(|s| s.is_exited())
            .map(PovertyStatus::code)
            .collect();
        assert_eq!(exited, ["1", "4"]);
        assert_eq!(
            PovertyStatus::sql_list(PovertyStatus::is_exited),
            "'1', '4'"
        );
        assert_eq!(PovertyStatus::sql_list(PovertyStatus::is_poor), "'0', '3'");
        assert!(is_exited_code("4") && !is_exited_code("3") && !is_exited_code("N"));
        assert!(is_poor_code("3") && is_poor_code("0") && !is_poor_code("N"));
        assert!(!is_exited_code("") && !is_poor_code("x"));
        for s in PovertyStatus::ALL {
            assert_eq!(PovertyStatus::from_code(s.code()), Some(s));
            assert_eq!(status_name(s.code()), s.name());
        }
        assert_eq!(status_name("N"), "未知状态");
    }

    fn change(from: &str, to: &str, year: i64, exit: Option<i64>) -> Result<Option<i64>, String> {
        check_status_change(from, to, year, StatusDoor::Change, exit, LAST)
    }

    #[test]
    fn only_the_exit_procedure_takes_a_household_out_of_poverty() {
        let e = change(STATUS_NOT_OUT, STATUS_EXITED, 2019, None).unwrap_err();
        assert!(e.contains("须经退出程序"), "{e}");
        assert!(
            e.contains("已脱贫（享受政策） → 已脱贫（不再享受政策）"),
            "{e}"
        );
        assert_eq!(
            check_status_change(
                STATUS_NOT_OUT,
                STATUS_EXITED,
                2019,
                StatusDoor::ExitProcedure,
                None,
                LAST
            ),
            Ok(Some(2019))
        );
        let e = change(STATUS_NOT_OUT, STATUS_EXITED_NO_POLICY, 2019, None).unwrap_err();
        assert!(
            e.contains("不能将脱贫状态由“未脱贫”改为“已脱贫（不再享受政策）”"),
            "{e}"
        );
        assert!(change(STATUS_NOT_OUT, STATUS_RETURNED, 2019, None).is_err());
        assert!(change(STATUS_EXITED, STATUS_NOT_OUT, 2019, Some(2018)).is_err());
        assert!(change(STATUS_EXITED_NO_POLICY, STATUS_EXITED, 2019, Some(2018)).is_err());
        assert!(change(STATUS_EXITED, STATUS_EXITED, 2019, Some(2018)).is_err());
    }

    #[test]
    fn no_longer_enjoying_policy_keeps_the_exit_year() {
        assert_eq!(
            change(STATUS_EXITED, STATUS_EXITED_NO_POLICY, 2021, Some(2017)),
            Ok(Some(2017))
        );
        assert!(change(STATUS_EXITED, STATUS_EXITED_NO_POLICY, 2016, Some(2017)).is_err());
    }

    #[test]
    fn a_return_to_poverty_only_up_to_2020_and_a_re_exit_only_by_the_procedure() {
        assert_eq!(
            change(STATUS_EXITED, STATUS_RETURNED, 2020, Some(2017)),
            Ok(Some(2017))
        );
        assert_eq!(
            change(STATUS_EXITED_NO_POLICY, STATUS_RETURNED, 2019, Some(2017)),
            Ok(Some(2017))
        );
        let e = change(STATUS_EXITED, STATUS_RETURNED, 2021, Some(2017)).unwrap_err();
        assert!(e.contains("防返贫监测"), "{e}");
        assert!(
            check_status_change(
                STATUS_EXITED,
                STATUS_RETURNED,
                2021,
                StatusDoor::Change,
                Some(2017),
                2021
            )
            .is_ok(),
            "the last year is a rule"
        );
        assert!(change(STATUS_RETURNED, STATUS_EXITED, 2019, Some(2017)).is_err());
        assert_eq!(
            check_status_change(
                STATUS_RETURNED,
                STATUS_EXITED,
                2019,
                StatusDoor::ExitProcedure,
                Some(2017),
                LAST
            ),
            Ok(Some(2019)),
            "the new 销号 year"
        );
    }
}
