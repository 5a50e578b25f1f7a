//! Login rules, free of IO: the password policy, the lockout after repeated failures, session
//! lifetimes, and the shape of user names. Times are Unix seconds; the store converts.

/// At least this many characters (not bytes: 中文 passwords count per character).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer passwords cannot be set. At login a longer input is refused for every account, known
/// or unknown, after the same argon2 work as any other attempt (a dummy check of a fixed
/// string, so a megabyte of input costs no more than a normal password), and it is NOT counted
/// toward the lockout: it cannot be the password, and counting it would let anyone lock an
/// account with requests that never reach the password check.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The failure that reaches this count locks the account.
pub const LOCKOUT_THRESHOLD: i64 = 5;
pub const LOCKOUT_SECONDS: i64 = 15 * 60;
pub const DEFAULT_IDLE_MINUTES: i64 = 30;
/// However active, a session ends after this long and the user logs in again.
pub const SESSION_MAX_SECONDS: i64 = 12 * 3600;
pub const MAX_USERNAME_CHARS: usize = 64;

/// Revealing a full ID number needs a reason that says something: at least this many
/// characters after trimming (中文 counts per character).
pub const MIN_REVEAL_REASON_CHARS: usize = 5;
/// The reason is stored in the audit log; longer ones are refused rather than cut.
pub const MAX_REVEAL_REASON_CHARS: usize = 200;

const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether the password is on the shipped list of common passwords (case and surrounding
/// spaces ignored).
pub fn is_common_password(password: &str) -> bool {
    let p = password.trim().to_lowercase();
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == p)
}

/// Every way the password breaks the policy, as Chinese messages; empty when it is acceptable.
pub fn password_problems(username: &str, password: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        problems.push(format!(
            "密码至少 {MIN_PASSWORD_CHARS} 个字符（现为 {chars} 个）"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        problems.push(format!("密码过长（最多 {MAX_PASSWORD_BYTES} 字节）"));
    }
    let lower = password.trim().to_lowercase();
    let name = username.trim().to_lowercase();
    if !name.is_empty() && (lower == name || (name.chars().count() >= 3 && lower.contains(&name))) {
        problems.push("密码不能是用户名，也不能包含用户名".to_string());
    }
    if is_common_password(password) {
        problems.push("这是常见密码，容易被猜中，请换一个".to_string());
    }
    if !password.is_empty() && password.chars().all(|c| password.starts_with(c)) {
        problems.push("密码不能由同一个字符重复组成".to_string());
    }
    problems
}

/// Checks the reason given for revealing a full ID number; returns it trimmed.
pub fn check_reveal_reason(reason: &str) -> Result<String, String> {
    let reason = reason.trim();
    let chars = reason.chars().count();
    if chars == 0 {
        return Err("查看完整号码须填写事由".into());
    }
    if chars < MIN_REVEAL_REASON_CHARS {
        return Err(format!(
            "事由至少 {MIN_REVEAL_REASON_CHARS} 个字，请写明为何需要查看完整号码（现为 {chars} 个字）"
        ));
    }
    if chars > MAX_REVEAL_REASON_CHARS {
        return Err(format!("事由不能超过 {MAX_REVEAL_REASON_CHARS} 个字"));
    }
    Ok(reason.to_string())
}

/// Checks a user name: 1–64 characters, letters (any script), digits, `.`, `_`, `-`, `@`.
pub fn check_username(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("请填写用户名".into());
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(format!("用户名不能超过 {MAX_USERNAME_CHARS} 个字符"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(format!(
            "用户名不能包含“{c}”，只能用字母、数字、汉字和 . _ - @"
        ));
    }
    Ok(name.to_string())
}

/// When `failures_in_a_row` wrong passwords (counted after the latest one) lock the account,
/// until when. The store applies this rule (LOCKOUT_THRESHOLD, LOCKOUT_SECONDS) inside the one
/// SQL statement that checks the lock and counts an attempt before its password is checked.
pub fn lock_after(failures_in_a_row: i64, now: i64) -> Option<i64> {
    (failures_in_a_row >= LOCKOUT_THRESHOLD).then_some(now + LOCKOUT_SECONDS)
}

/// An account's login state as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginState {
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
}

impl LoginState {
    /// Locked accounts refuse even the right password until the lock ends.
    pub fn locked_at(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }

    /// Whole minutes (rounded up) until the lock ends.
    pub fn minutes_left(&self, now: i64) -> i64 {
        self.locked_until
            .map(|t| ((t - now).max(0) + 59) / 60)
            .unwrap_or(0)
    }

    /// The state after a wrong password. The failure that reaches the threshold locks the
    /// account and restarts the count, so after the lock the user again has five tries.
    pub fn after_failure(&self, now: i64) -> LoginState {
        let failed = self.failed_attempts + 1;
        match lock_after(failed, now) {
            Some(until) => LoginState {
                failed_attempts: 0,
                locked_until: Some(until),
            },
            None => LoginState {
                failed_attempts: failed,
                locked_until: None,
            },
        }
    }

    /// The state after a successful login.
    pub fn after_success() -> LoginState {
        LoginState {
            failed_attempts: 0,
            locked_until: None,
        }
    }
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Alive,
    /// No request for longer than the idle limit.
    Idle,
    /// Past its absolute end.
    Expired,
}

pub fn session_state(last_seen: i64, expires: i64, now: i64, idle_seconds: i64) -> SessionState {
    if now >= expires {
        SessionState::Expired
    } else if now - last_seen >= idle_seconds {
        SessionState::Idle
    } else {
        SessionState::Alive
    }
}

/// Parses the idle limit in minutes (BANGFU_SESSION_IDLE_MINUTES); unset means the default.
pub fn parse_idle_minutes(value: Option<&str>) -> Result<i64, String> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_IDLE_MINUTES),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|m| (1..=24 * 60).contains(m))
            .ok_or_else(|| format!("会话空闲时限应为 1–1440 分钟的整数，而不是“{s}”")),
    }
}

/// Alphabet for generated passwords: no 0/O, 1/l/I, so a password read aloud or copied from
/// paper survives.
pub const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const GENERATED_PASSWORD_CHARS: usize = 16;

/// Turns random bytes into a generated password (one character per byte, rejection-free
/// modulo bias is negligible for a 56-letter alphabet at 16 characters: > 90 bits).
pub fn password_from_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| PASSWORD_ALPHABET[*b as usize % PASSWORD_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused_by_character_count() {
        assert!(
            password_problems("li", "Zx9#kq2")
                .iter()
                .any(|p| p.contains("至少 10 个字符"))
        );
        assert!(
            password_problems("li", "扶贫帮扶对口支援协作交流").is_empty(),
            "ten Chinese characters are enough"
        );
        assert!(password_problems("li", "Zx9#kq2Lm4").is_empty());
    }

    #[test]
    fn the_user_name_is_not_a_password() {
        assert!(!password_problems("zhangsan2024", "zhangsan2024").is_empty());
        assert!(
            !password_problems("zhangsan2024", "ZhangSan2024").is_empty(),
            "case is ignored"
        );
        assert!(
            !password_problems("zhangsan", "zhangsan!!2024").is_empty(),
            "nor may it contain it"
        );
        assert!(password_problems("zhangsan", "Kq7m2Rt9xW").is_empty());
    }

    #[test]
    fn common_passwords_are_refused() {
        for p in [
            "1234567890",
            "qwertyuiop",
            "Password123",
            "woaini1314",
            " 1qaz2wsx3edc ",
        ] {
            assert!(is_common_password(p), "{p}");
            assert!(
                password_problems("somebody", p)
                    .iter()
                    .any(|m| m.contains("常见密码")),
                "{p}"
            );
        }
        assert!(!is_common_password(
            "# Common passwords refused by the password policy"
        ));
        assert!(
            !is_common_password(""),
            "blank lines of the list match nothing"
        );
    }

    #[test]
    fn the_list_ships_a_few_hundred_entries() {
        let n = COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert!(n >= 300, "{n}");
    }

    #[test]
    fn repeated_characters_are_refused() {
        assert!(!password_problems("li", "zzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(password_problems("admin", "admin").len(), 3);
    }

    #[test]
    fn the_fifth_failure_locks_for_fifteen_minutes() {
        let now = 1_000_000;
        let mut s = LoginState {
            failed_attempts: 0,
            locked_until: None,
        };
        for i in 1..LOCKOUT_THRESHOLD {
            s = s.after_failure(now);
            assert_eq!(
                s,
                LoginState {
                    failed_attempts: i,
                    locked_until: None
                }
            );
            assert!(!s.locked_at(now));
        }
        s = s.after_failure(now);
        assert!(s.locked_at(now));
        assert!(s.locked_at(now + LOCKOUT_SECONDS - 1));
        assert!(!s.locked_at(now + LOCKOUT_SECONDS));
        assert_eq!(s.minutes_left(now), 15);
        assert_eq!(s.minutes_left(now + LOCKOUT_SECONDS - 61), 2);
        // After the lock, a new wrong password starts a new count of five.
        let later = s.after_failure(now + LOCKOUT_SECONDS + 1);
        assert_eq!(later.failed_attempts, 1);
        assert!(!later.locked_at(now + LOCKOUT_SECONDS + 1));
        assert_eq!(
            LoginState::after_success(),
            LoginState {
                failed_attempts: 0,
                locked_until: None
            }
        );
    }

    #[test]
    fn sessions_end_when_idle_or_past_their_end() {
        let idle = 30 * 60;
        assert_eq!(
            session_state(1000, 100_000, 1000 + idle - 1, idle),
            SessionState::Alive
        );
        assert_eq!(
            session_state(1000, 100_000, 1000 + idle, idle),
            SessionState::Idle
        );
        assert_eq!(
            session_state(99_999, 100_000, 100_000, idle),
            SessionState::Expired
        );
    }

    #[test]
    fn idle_minutes_parse_with_a_default() {
        assert_eq!(parse_idle_minutes(None), Ok(30));
        assert_eq!(parse_idle_minutes(Some(" 5 ")), Ok(5));
        assert!(parse_idle_minutes(Some("0")).is_err());
        assert!(parse_idle_minutes(Some("半小时")).is_err());
    }

    #[test]
    fn user_names_are_checked() {
        assert_eq!(check_username(" zhang.san "), Ok("zhang.san".into()));
        assert_eq!(check_username("紫金县干部01"), Ok("紫金县干部01".into()));
        assert!(check_username("").is_err());
        assert!(check_username("a b").is_err());
        assert!(check_username("x'; DROP TABLE users; --").is_err());
        assert!(check_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn a_reveal_needs_a_reason_of_five_characters() {
        assert!(check_reveal_reason("").is_err());
        assert!(check_reveal_reason("  x  ").is_err());
        assert!(
            check_reveal_reason("核对身份")
                .unwrap_err()
                .contains("至少 5 个字")
        );
        assert_eq!(
            check_reveal_reason("  核对户籍信息 "),
            Ok("核对户籍信息".into())
        );
        assert_eq!(check_reveal_reason("audit"), Ok("audit".into()));
        assert!(check_reveal_reason(&"查".repeat(201)).is_err());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        let p = password_from_bytes(&[
            7, 200, 13, 99, 41, 250, 3, 77, 180, 21, 64, 5, 130, 33, 90, 222,
        ]);
        assert_eq!(p.chars().count(), GENERATED_PASSWORD_CHARS);
        assert!(password_problems("admin", &p).is_empty(), "{p}");
    }
}
