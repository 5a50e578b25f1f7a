//! Users, login sessions and API tokens, and the resolution of a user into a `Caller` (role,
//! scope, permissions). Passwords are argon2 hashes; session and API tokens are random and
//! only their SHA-256 is stored, so a copy of the database logs nobody in. Every login, failed
//! login, logout and change to an account is written to the audit log; passwords never are.

use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::auth::{self as rules, LoginState, SessionState};
use domain::validation::Problems;
use domain::{Caller, RegionCode, RegionLevel, Role, Scope};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// An account as shown to administrators; never carries the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub role_name: &'static str,
    pub region_code: Option<RegionCode>,
    pub region_name: Option<String>,
    pub organisation_id: Option<i64>,
    pub organisation_name: Option<String>,
    pub can_reveal: bool,
    pub disabled: bool,
    pub locked_until: Option<String>,
    pub created_at: String,
}

/// A new account as given on the command line or by a test.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub role: String,
    /// Region code (county for `county`, village for `village`).
    pub region: Option<String>,
    pub organisation_id: Option<i64>,
    pub can_reveal: bool,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// The result of a login attempt. Wrong user names and wrong passwords look the same.
#[derive(Debug)]
pub enum LoginOutcome {
    /// `token` goes into the session cookie; it is not stored.
    Success {
        token: String,
        caller: Caller,
        expires_at: String,
    },
    Invalid,
    Locked {
        minutes: i64,
    },
    Disabled,
}

/// A changed password: what else ended with the old one.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PasswordReplaced {
    pub tokens_revoked: u64,
    pub sessions_ended: u64,
}

/// The result of a user's own change of password.
#[derive(Debug)]
pub enum PasswordChange {
    Changed(PasswordReplaced),
    /// The current password was wrong (counted toward the lockout).
    WrongCurrent,
    Locked {
        minutes: i64,
    },
}

/// A password check against an account, counted toward the lockout.
enum Checked {
    Right,
    Wrong {
        failures: i64,
        locked: bool,
    },
    Locked {
        minutes: i64,
    },
    /// Longer than any password can be; not counted.
    TooLong,
}

fn failure_detail(what: &str, failures: i64, locked: bool) -> String {
    if locked {
        format!(
            "{what}，连续 {failures} 次，账户锁定 {} 分钟",
            rules::LOCKOUT_SECONDS / 60
        )
    } else {
        format!("{what}（连续第 {failures} 次）")
    }
}

fn too_long_detail(what: &str) -> String {
    format!(
        "{what}超过 {} 字节，不可能正确，未计入连续错误次数",
        rules::MAX_PASSWORD_BYTES
    )
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    role: String,
    region_key: Option<i64>,
    region_name: Option<String>,
    organisation_id: Option<i64>,
    organisation_name: Option<String>,
    can_reveal: bool,
    disabled: bool,
    locked_until: Option<String>,
    created_at: String,
    password_hash: String,
}

const USER_SELECT: &str = "SELECT u.id, u.username, u.role, u.region_key, r.name AS region_name, u.organisation_id,
    o.name AS organisation_name, u.can_reveal, u.disabled, u.locked_until, u.created_at, u.password_hash
    FROM users u LEFT JOIN regions r ON r.key = u.region_key LEFT JOIN organisations o ON o.id = u.organisation_id";

/// id, user_id, expires_at, revoked_at, last_used_at.
type TokenRow = (i64, i64, Option<String>, Option<String>, Option<String>);

const TOKEN_SELECT: &str = "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.expires_at, t.revoked_at, t.last_used_at
    FROM api_tokens t JOIN users u ON u.id = t.user_id";

/// Writes to `last_seen_at`/`last_used_at` at most this often, not on every request.
const TOUCH_SECONDS: i64 = 60;
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
pub const MAX_TOKEN_DAYS: i64 = 3650;

impl UserRow {
    fn into_user(self) -> User {
        row_user(&self)
    }
}

/// The SHA-256 of a token, as stored.
/// The read-only login `bangfu demo` creates for visitors of a demo database.
pub const DEMO_USER: &str = "demo";

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut buf = [0u8; N];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// A fresh random token: 256 bits, hex, with a prefix saying what it is.
fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(random_bytes::<32>()))
}

/// A random password that meets the policy for this user name.
pub fn generate_password(username: &str) -> String {
    loop {
        let p = rules::password_from_bytes(&random_bytes::<{ rules::GENERATED_PASSWORD_CHARS }>());
        if rules::password_problems(username, &p).is_empty() {
            return p;
        }
    }
}

fn argon2_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("密码处理失败：{e}"))
}

/// Hashes a password with argon2id (default parameters), off the async threads.
pub async fn hash_password(password: &str) -> StoreResult<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(argon2_error)
    })
    .await
    .map_err(argon2_error)?
}

/// Checks a password against a stored hash, off the async threads.
async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A hash to check unknown user names against, so that they take as long as known ones.
async fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return h;
    }
    let h = hash_password(&generate_password(""))
        .await
        .unwrap_or_default();
    DUMMY.get_or_init(|| h)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(unix: i64) -> String {
    crate::time::rfc3339_from_unix(unix)
}

/// Formats Unix seconds as the store's timestamps (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn format_unix(unix: i64) -> String {
    rfc3339(unix)
}

/// Parses the timestamps this store writes (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn unix_from_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = domain::date::Date::new(y as i32, m as u32, d as u32)?.days_since_epoch();
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// What the audit log shows of an account (never the password or its hash).
fn user_json(u: &User) -> serde_json::Value {
    json!({
        "username": u.username,
        "role": u.role.as_str(),
        "region_code": u.region_code.map(|c| c.to_string()),
        "organisation_id": u.organisation_id,
        "can_reveal": u.can_reveal,
        "disabled": u.disabled,
    })
}

fn require_admin(caller: &Caller) -> StoreResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(
            "只有市级管理员可以管理用户和令牌".into(),
        ))
    }
}

/// The name recorded for a login attempt by an unknown or malformed user name.
fn attempted_name(username: &str) -> String {
    let name: String = username
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(rules::MAX_USERNAME_CHARS)
        .collect();
    if name.is_empty() {
        "（空）".into()
    } else {
        name
    }
}

impl Db {
    async fn user_row(&self, username: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("{USER_SELECT} WHERE u.username = $1");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(username.trim()).fetch_optional(p).await)?,
        )
    }

    async fn user_row_by_id(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let sql = format!("{USER_SELECT} WHERE u.id = $1");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(p).await)?,
        )
    }

    pub async fn get_user(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(self.user_row(username).await?.map(UserRow::into_user))
    }

    pub async fn require_user(&self, username: &str) -> StoreResult<User> {
        self.get_user(username).await?.ok_or_else(|| {
            StoreError::NotFound(format!("用户 {} 不存在", attempted_name(username)))
        })
    }

    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("{USER_SELECT} ORDER BY u.id");
        let rows: Vec<UserRow> = on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(p).await)?;
        Ok(rows.into_iter().map(UserRow::into_user).collect())
    }

    pub async fn user_count(&self) -> StoreResult<i64> {
        Ok(on_db!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await)?)
    }

    /// The caller a user acts as: role, scope from the role, and permissions.
    ///
    /// admin → everything; auditor → everything, read-only, never reveals; district → the
    /// regions of its organisation's pairings (and, through `organisation_id`, its projects);
    /// county / village → its own region; org → its own organisation.
    pub async fn caller_for_user(&self, user: &User) -> StoreResult<Caller> {
        let scope = match user.role {
            Role::Admin | Role::Auditor => Scope::Everything,
            Role::District => {
                let keys: Vec<i64> = match user.organisation_id {
                    None => Vec::new(),
                    Some(org) => on_db!(self, p => sqlx::query_scalar(
                        "SELECT DISTINCT region_key FROM pairings WHERE organisation_id = $1 ORDER BY region_key")
                        .bind(org).fetch_all(p).await)?,
                };
                Scope::Regions(keys.into_iter().filter_map(RegionCode::from_key).collect())
            }
            Role::County | Role::Village => Scope::Regions(user.region_code.into_iter().collect()),
            Role::Org => match user.organisation_id {
                Some(org) => Scope::Organisation(org),
                None => Scope::Regions(Vec::new()),
            },
            Role::Public => Scope::Regions(Vec::new()),
        };
        Ok(Caller {
            user_id: Some(user.id),
            username: user.username.clone(),
            role: user.role,
            scope,
            can_reveal: user.can_reveal && user.role != Role::Auditor,
            organisation_id: user.organisation_id,
        })
    }

    /// Checks a new account against the rules and the database; every problem at once.
    async fn check_new_user(
        &self,
        input: &NewUser,
        password: &str,
    ) -> StoreResult<(String, Role, Option<RegionCode>)> {
        let mut problems = Problems::default();
        let username = match rules::check_username(&input.username) {
            Ok(name) => {
                if self.user_row(&name).await?.is_some() {
                    problems.push("username", format!("用户名 {name} 已被使用"));
                }
                Some(name)
            }
            Err(m) => {
                problems.push("username", m);
                None
            }
        };
        let role = Role::parse(&input.role).filter(|r| *r != Role::Public);
        if role.is_none() {
            problems.push(
                "role",
                format!(
                    "角色“{}”无效，应为：admin、district、county、village、org、auditor",
                    input.role
                ),
            );
        }
        let region_text = input
            .region
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut region = None;
        if let Some(role) = role {
            let wanted_level = match role {
                Role::County => Some(RegionLevel::County),
                Role::Village => Some(RegionLevel::Village),
                _ => None,
            };
            match (wanted_level, region_text) {
                (Some(level), None) => problems.push(
                    "region",
                    format!(
                        "{}须指定所属{}（--region 区划代码）",
                        role.name_zh(),
                        level.name_zh()
                    ),
                ),
                (None, Some(_)) => problems.push(
                    "region",
                    format!("{}不按区划限定范围，不能指定 --region", role.name_zh()),
                ),
                (Some(level), Some(text)) => match RegionCode::parse(text) {
                    Err(e) => problems.push("region", e.to_string()),
                    Ok(code) if code.level() != level => problems.push(
                        "region",
                        format!(
                            "{}的区划应为{}，{code} 是{}",
                            role.name_zh(),
                            level.name_zh(),
                            code.level().name_zh()
                        ),
                    ),
                    Ok(code) => match self.get_region(code).await? {
                        None => problems.push("region", format!("区划代码 {code} 不存在")),
                        Some(_) => region = Some(code),
                    },
                },
                (None, None) => {}
            }
            let needs_org = matches!(role, Role::District | Role::Org);
            match (needs_org, input.organisation_id) {
                (true, None) => problems.push(
                    "organisation_id",
                    format!("{}须指定所属机构（--org 机构编号）", role.name_zh()),
                ),
                (false, Some(_)) => problems.push(
                    "organisation_id",
                    format!("{}不属于某个机构，不能指定 --org", role.name_zh()),
                ),
                (true, Some(id)) => {
                    if self.get_organisation(id).await?.is_none() {
                        problems.push("organisation_id", format!("机构 {id} 不存在"));
                    }
                }
                (false, None) => {}
            }
            if input.can_reveal && role == Role::Auditor {
                problems.push(
                    "can_reveal",
                    "审计人员只能查看脱敏数据，不能授予查看完整证件号的权限",
                );
            }
        }
        for m in rules::password_problems(username.as_deref().unwrap_or(&input.username), password)
        {
            problems.push("password", m);
        }
        problems.into_result().map_err(StoreError::invalid)?;
        Ok((username.expect("checked"), role.expect("checked"), region))
    }

    /// Creates an account with this password (already chosen or generated by the caller).
    pub async fn create_user(
        &self,
        caller: &Caller,
        input: &NewUser,
        password: &str,
    ) -> StoreResult<User> {
        require_admin(caller)?;
        let (username, role, region) = self.check_new_user(input, password).await?;
        let hash = hash_password(password).await?;
        let now = now_rfc3339();
        let id = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, role, region_key, organisation_id, can_reveal, disabled,
                 failed_attempts, locked_until, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE, 0, NULL, $7, $7) ON CONFLICT (username) DO NOTHING RETURNING id")
                .bind(&username).bind(&hash).bind(role.as_str()).bind(region.map(|r| r.key()))
                .bind(input.organisation_id).bind(input.can_reveal).bind(&now)
                .fetch_optional(&mut *tx).await?;
            let Some(id) = id else {
                return Err(StoreError::invalid_field("username", format!("用户名 {username} 已被使用")));
            };
            let after = json!({"username": username, "role": role.as_str(), "region_code": region.map(|r| r.to_string()),
                               "organisation_id": input.organisation_id, "can_reveal": input.can_reveal});
            audit!(&mut *tx, caller, "create", "user", Some(id.to_string()), None, None, Some(after), String::new());
            crate::commit!(tx)?;
            id
        });
        Ok(self
            .user_row_by_id(id)
            .await?
            .expect("just created")
            .into_user())
    }

    /// On a database without any account, creates the administrator `admin` with a random
    /// password and returns that password (to be shown once); otherwise None.
    pub async fn bootstrap_admin(&self) -> StoreResult<Option<String>> {
        if self.user_count().await? > 0 {
            return Ok(None);
        }
        let password = generate_password("admin");
        let hash = hash_password(&password).await?;
        let now = now_rfc3339();
        let created = on_db!(self, p => {
            let mut tx = p.begin().await?;
            // Two processes opening a fresh database at once: only one inserts.
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (username, password_hash, role, can_reveal, disabled, failed_attempts, created_at, updated_at)
                 SELECT 'admin', $1, 'admin', TRUE, FALSE, 0, $2, $2 WHERE NOT EXISTS (SELECT 1 FROM users)
                 ON CONFLICT (username) DO NOTHING RETURNING id")
                .bind(&hash).bind(&now)
                .fetch_optional(&mut *tx).await?;
            if let Some(id) = id {
                let after = json!({"username": "admin", "role": "admin", "can_reveal": true});
                audit!(&mut *tx, &Caller::system(), "create", "user", Some(id.to_string()), None, None, Some(after),
                       "新数据库的初始管理员".to_string());
            }
            crate::commit!(tx)?;
            id.is_some()
        });
        Ok(created.then_some(password))
    }

    /// Disables (or enables again) an account; a disabled account's sessions end at once and
    /// its tokens stop working.
    pub async fn set_user_disabled(
        &self,
        caller: &Caller,
        username: &str,
        disabled: bool,
    ) -> StoreResult<User> {
        require_admin(caller)?;
        let before = self.require_user(username).await?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled).bind(&now).bind(before.id).execute(&mut *tx).await?;
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(before.id).execute(&mut *tx).await?;
            }
            let after = User { disabled, ..before.clone() };
            audit!(&mut *tx, caller, if disabled { "disable" } else { "enable" }, "user", Some(before.id.to_string()), None,
                   Some(user_json(&before)), Some(user_json(&after)), String::new());
            crate::commit!(tx)?;
        });
        self.require_user(username).await
    }

    /// An administrator's reset: sets a new password, lifts any lock, ends every session of the
    /// account and revokes all its API tokens (whoever knew the old password may have made
    /// them). Users change their own password with `change_own_password`.
    pub async fn set_password(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
    ) -> StoreResult<PasswordReplaced> {
        require_admin(caller)?;
        let user = self.require_user(username).await?;
        let problems = rules::password_problems(&user.username, password);
        if !problems.is_empty() {
            return Err(StoreError::invalid(
                problems
                    .into_iter()
                    .map(|m| domain::validation::FieldError::new("password", m))
                    .collect(),
            ));
        }
        let hash = hash_password(password).await?;
        self.replace_password(caller, user.id, &hash, None, "管理员重设密码")
            .await
    }

    /// A user's own change of password, which needs the current one. A wrong current password
    /// counts toward the lockout exactly like a wrong password at login (and is refused while
    /// the account is locked), so a left-open session cannot be used to guess it. On success
    /// every API token of the account is revoked and every other session ended;
    /// `keep_session` (the cookie token of the request, if it came with one) stays logged in.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> StoreResult<PasswordChange> {
        let Some(user_id) = caller.user_id.filter(|_| caller.is_authenticated()) else {
            return Err(StoreError::LoginRequired("请先登录再修改密码".into()));
        };
        let Some(row) = self.user_row_by_id(user_id).await? else {
            return Err(StoreError::NotFound(format!("用户 {user_id} 不存在")));
        };
        // Every visitor of a demo shares its login: one of them must not lock the others out.
        if row.username == DEMO_USER && self.is_demo().await? {
            return Err(StoreError::Forbidden(
                "演示账户由所有访客共用，不能修改密码".into(),
            ));
        }
        let mut problems = Problems::default();
        if current.is_empty() {
            problems.push("current_password", "请填写当前密码");
        }
        for m in rules::password_problems(&row.username, new) {
            problems.push("new_password", m);
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let now = now_unix();
        let who = self.caller_for_user(&row_user(&row)).await?;
        match self.check_password_counted(&row, current, now).await? {
            Checked::TooLong => {
                self.record_event(
                    &who,
                    "login_failed",
                    "user",
                    Some(row.id.to_string()),
                    too_long_detail("修改密码时的当前密码"),
                )
                .await?;
                Ok(PasswordChange::WrongCurrent)
            }
            Checked::Locked { minutes } => {
                self.record_event(
                    &who,
                    "login_locked",
                    "user",
                    Some(row.id.to_string()),
                    format!("修改密码：账户锁定中，尚余 {minutes} 分钟"),
                )
                .await?;
                Ok(PasswordChange::Locked { minutes })
            }
            Checked::Wrong { failures, locked } => {
                self.record_event(
                    &who,
                    "login_failed",
                    "user",
                    Some(row.id.to_string()),
                    failure_detail("修改密码时当前密码错误", failures, locked),
                )
                .await?;
                Ok(PasswordChange::WrongCurrent)
            }
            Checked::Right => {
                let hash = hash_password(new).await?;
                let done = self
                    .replace_password(&who, row.id, &hash, keep_session, "本人修改密码")
                    .await?;
                Ok(PasswordChange::Changed(done))
            }
        }
    }

    /// Stores a new password hash, lifts any lock, revokes every API token of the account and
    /// ends its sessions except `keep_session`; one transaction with its audit entry.
    async fn replace_password(
        &self,
        caller: &Caller,
        user_id: i64,
        hash: &str,
        keep_session: Option<&str>,
        what: &str,
    ) -> StoreResult<PasswordReplaced> {
        let now = now_rfc3339();
        // A hash no session has: with no session to keep, every session ends.
        let kept = keep_session.map(token_hash).unwrap_or_default();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1, failed_attempts = 0, locked_until = NULL, updated_at = $2 WHERE id = $3")
                .bind(hash).bind(&now).bind(user_id).execute(&mut *tx).await?;
            let sessions_ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(user_id).bind(&kept).execute(&mut *tx).await?.rows_affected();
            let tokens_revoked = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(&now).bind(user_id).execute(&mut *tx).await?.rows_affected();
            let kept_note = if keep_session.is_some() { "其他" } else { "" };
            audit!(&mut *tx, caller, "set_password", "user", Some(user_id.to_string()), None, None, None,
                   format!("{what}：结束{kept_note}会话 {sessions_ended} 个，吊销访问令牌 {tokens_revoked} 个"));
            crate::commit!(tx)?;
            Ok(PasswordReplaced { tokens_revoked, sessions_ended })
        })
    }

    /// Counts the attempt as a failure BEFORE checking the password, in the same statement
    /// that checks the lock, so that parallel guesses cannot all pass a lock check made
    /// before any of them was counted: of a burst, only the attempts counted before the
    /// threshold get a password check at all. A right password then takes its count back.
    async fn check_password_counted(
        &self,
        row: &UserRow,
        password: &str,
        now: i64,
    ) -> StoreResult<Checked> {
        if password.len() > rules::MAX_PASSWORD_BYTES {
            // See MAX_PASSWORD_BYTES: the same work as any check, and not counted.
            verify_password("", dummy_hash().await).await;
            return Ok(Checked::TooLong);
        }
        let stamp = rfc3339(now);
        let lock_until = rfc3339(now + rules::LOCKOUT_SECONDS);
        // The failure that reaches the threshold locks the account and restarts the count
        // (domain::auth::LoginState::after_failure); timestamps compare as text.
        let counted: Option<(i64, Option<String>)> = on_db!(self, p => sqlx::query_as(
            "UPDATE users SET
                 failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END,
                 locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE NULL END
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $4)
             RETURNING failed_attempts, locked_until")
            .bind(row.id).bind(rules::LOCKOUT_THRESHOLD).bind(&lock_until).bind(&stamp)
            .fetch_optional(p).await)?;
        let Some((failures, locked_until)) = counted else {
            let locked_until: Option<String> = on_db!(self, p => sqlx::query_scalar("SELECT locked_until FROM users WHERE id = $1")
                .bind(row.id).fetch_optional(p).await)?.flatten();
            let state = LoginState {
                failed_attempts: 0,
                locked_until: locked_until.as_deref().and_then(unix_from_rfc3339),
            };
            return Ok(Checked::Locked {
                minutes: state.minutes_left(now).max(1),
            });
        };
        if verify_password(password, &row.password_hash).await {
            on_db!(self, p => sqlx::query("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1")
                .bind(row.id).execute(p).await.map(|_| ()))?;
            return Ok(Checked::Right);
        }
        let locked = locked_until.is_some();
        Ok(Checked::Wrong {
            failures: if locked {
                rules::LOCKOUT_THRESHOLD
            } else {
                failures
            },
            locked,
        })
    }

    /// Checks a user name and password. On success opens a session and returns its token.
    /// An account locked by five wrong passwords refuses even the right one until the lock ends.
    pub async fn login(&self, username: &str, password: &str) -> StoreResult<LoginOutcome> {
        let now = now_unix();
        let row = if rules::check_username(username).is_ok() {
            self.user_row(username).await?
        } else {
            None
        };
        let Some(row) = row else {
            // Same work as for a real account, so response times do not tell names apart.
            let detail = if password.len() > rules::MAX_PASSWORD_BYTES {
                verify_password("", dummy_hash().await).await;
                too_long_detail("用户名不存在；密码")
            } else {
                verify_password(password, dummy_hash().await).await;
                "用户名不存在".into()
            };
            let who = Caller {
                username: attempted_name(username),
                ..Caller::public()
            };
            self.record_event(&who, "login_failed", "user", None, detail)
                .await?;
            return Ok(LoginOutcome::Invalid);
        };
        let user = row_user(&row);
        let caller = self.caller_for_user(&user).await?;
        let id = Some(user.id.to_string());
        match self.check_password_counted(&row, password, now).await? {
            Checked::TooLong => {
                self.record_event(&caller, "login_failed", "user", id, too_long_detail("密码"))
                    .await?;
                return Ok(LoginOutcome::Invalid);
            }
            Checked::Locked { minutes } => {
                self.record_event(
                    &caller,
                    "login_locked",
                    "user",
                    id,
                    format!("账户锁定中，尚余 {minutes} 分钟"),
                )
                .await?;
                return Ok(LoginOutcome::Locked { minutes });
            }
            Checked::Wrong { failures, locked } => {
                self.record_event(
                    &caller,
                    "login_failed",
                    "user",
                    id,
                    failure_detail("密码错误", failures, locked),
                )
                .await?;
                return Ok(LoginOutcome::Invalid);
            }
            Checked::Right => {}
        }
        if user.disabled {
            self.record_event(&caller, "login_refused", "user", id, "账户已停用".into())
                .await?;
            return Ok(LoginOutcome::Disabled);
        }
        let token = new_token("");
        let expires_at = rfc3339(now + rules::SESSION_MAX_SECONDS);
        let stamp = rfc3339(now);
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            // Sessions that can no longer be used are removed as logins happen.
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(&stamp).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)")
                .bind(token_hash(&token)).bind(user.id).bind(&stamp).bind(&expires_at)
                .execute(&mut *tx).await?;
            audit!(&mut *tx, &caller, "login", "user", Some(user.id.to_string()), None, None, None, String::new());
            crate::commit!(tx)?;
        });
        Ok(LoginOutcome::Success {
            token,
            caller,
            expires_at,
        })
    }

    /// The caller of a session cookie, or None when the session is unknown, idle for longer than
    /// `idle_seconds`, past its end, or its account disabled. Refreshes the idle clock.
    pub async fn session_caller(
        &self,
        token: &str,
        idle_seconds: i64,
    ) -> StoreResult<Option<Caller>> {
        let row: Option<(i64, i64, String, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT id, user_id, last_seen_at, expires_at FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token)).fetch_optional(p).await)?;
        let Some((session_id, user_id, last_seen, expires)) = row else {
            return Ok(None);
        };
        let now = now_unix();
        let last_seen = unix_from_rfc3339(&last_seen).unwrap_or(0);
        let expires = unix_from_rfc3339(&expires).unwrap_or(0);
        if rules::session_state(last_seen, expires, now, idle_seconds) != SessionState::Alive {
            on_db!(self, p => sqlx::query("DELETE FROM sessions WHERE id = $1").bind(session_id).execute(p).await.map(|_| ()))?;
            return Ok(None);
        }
        let Some(row) = self.user_row_by_id(user_id).await? else {
            return Ok(None);
        };
        if row.disabled {
            return Ok(None);
        }
        if now - last_seen >= TOUCH_SECONDS {
            on_db!(self, p => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(rfc3339(now)).bind(session_id).execute(p).await.map(|_| ()))?;
        }
        Ok(Some(self.caller_for_user(&row.into_user()).await?))
    }

    /// Ends the session of this cookie token; records the logout. False if there was none.
    pub async fn logout(&self, token: &str) -> StoreResult<bool> {
        let row: Option<(i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT id, user_id FROM sessions WHERE token_hash = $1").bind(token_hash(token)).fetch_optional(p).await)?;
        let Some((session_id, user_id)) = row else {
            return Ok(false);
        };
        let Some(user) = self.user_row_by_id(user_id).await? else {
            return Ok(false);
        };
        let caller = self.caller_for_user(&user.into_user()).await?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(session_id).execute(&mut *tx).await?;
            audit!(&mut *tx, &caller, "logout", "user", Some(user_id.to_string()), None, None, None, String::new());
            crate::commit!(tx)?;
        });
        Ok(true)
    }

    /// Creates an API token for a user; returns the token (shown once, stored only hashed).
    /// `expires_days` defaults to 90.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        username: &str,
        name: &str,
        expires_days: Option<i64>,
    ) -> StoreResult<(String, ApiToken)> {
        require_admin(caller)?;
        let mut problems = Problems::default();
        let user = self.get_user(username).await?;
        if user.is_none() {
            problems.push("user", format!("用户 {} 不存在", attempted_name(username)));
        }
        let days = expires_days.unwrap_or(DEFAULT_TOKEN_DAYS);
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            problems.push("expires", format!("有效期应为 1–{MAX_TOKEN_DAYS} 天"));
        }
        let name = domain::text::normalize(name);
        if name.chars().count() > 100 {
            problems.push("name", "令牌名称不能超过 100 个字");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let user = user.expect("checked");
        let expires_at = rfc3339(now_unix() + days * 86_400);
        self.insert_api_token(caller, &user, &name, &expires_at)
            .await
    }

    /// Inserts a token with an explicit end (tests use a past one to see it refused).
    pub async fn insert_api_token(
        &self,
        caller: &Caller,
        user: &User,
        name: &str,
        expires_at: &str,
    ) -> StoreResult<(String, ApiToken)> {
        require_admin(caller)?;
        let token = new_token("bft_");
        let now = now_rfc3339();
        let id = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_tokens (token_hash, user_id, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(token_hash(&token)).bind(user.id).bind(name).bind(&now).bind(expires_at)
                .fetch_one(&mut *tx).await?;
            audit!(&mut *tx, caller, "create", "api_token", Some(id.to_string()), None, None,
                   Some(json!({"user": user.username, "name": name, "expires_at": expires_at})), String::new());
            crate::commit!(tx)?;
            id
        });
        Ok((token, self.require_api_token(id).await?))
    }

    pub async fn require_api_token(&self, id: i64) -> StoreResult<ApiToken> {
        let sql = format!("{TOKEN_SELECT} WHERE t.id = $1");
        let row: Option<ApiToken> = on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("令牌 {id} 不存在")))
    }

    pub async fn list_api_tokens(&self, username: Option<&str>) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("{TOKEN_SELECT} WHERE ($1 IS NULL OR u.username = $1) ORDER BY t.id");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(username).fetch_all(p).await)?,
        )
    }

    /// Revokes a token for good.
    pub async fn revoke_api_token(&self, caller: &Caller, id: i64) -> StoreResult<ApiToken> {
        require_admin(caller)?;
        let before = self.require_api_token(id).await?;
        if before.revoked_at.is_some() {
            return Err(StoreError::Conflict(format!(
                "令牌 {id} 已于 {} 吊销",
                before.revoked_at.unwrap_or_default()
            )));
        }
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2").bind(&now).bind(id).execute(&mut *tx).await?;
            audit!(&mut *tx, caller, "revoke", "api_token", Some(id.to_string()), None, None, None,
                   format!("用户 {} 的令牌“{}”", before.username, before.name));
            crate::commit!(tx)?;
        });
        self.require_api_token(id).await
    }

    /// The caller of a bearer token, or None when it is unknown, revoked, expired, or its
    /// account disabled.
    pub async fn token_caller(&self, token: &str) -> StoreResult<Option<Caller>> {
        let row: Option<TokenRow> = on_db!(self, p => sqlx::query_as(
            "SELECT id, user_id, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash(token)).fetch_optional(p).await)?;
        let Some((id, user_id, expires_at, revoked_at, last_used)) = row else {
            return Ok(None);
        };
        let now = now_unix();
        if revoked_at.is_some()
            || expires_at
                .as_deref()
                .is_some_and(|e| unix_from_rfc3339(e).is_none_or(|e| e <= now))
        {
            return Ok(None);
        }
        let Some(row) = self.user_row_by_id(user_id).await? else {
            return Ok(None);
        };
        if row.disabled {
            return Ok(None);
        }
        if last_used
            .as_deref()
            .and_then(unix_from_rfc3339)
            .is_none_or(|t| now - t >= TOUCH_SECONDS)
        {
            on_db!(self, p => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(rfc3339(now)).bind(id).execute(p).await.map(|_| ()))?;
        }
        Ok(Some(self.caller_for_user(&row.into_user()).await?))
    }
}

fn row_user(row: &UserRow) -> User {
    let role = Role::parse(&row.role).unwrap_or(Role::Public);
    User {
        id: row.id,
        username: row.username.clone(),
        role,
        role_name: role.name_zh(),
        region_code: row.region_key.and_then(RegionCode::from_key),
        region_name: row.region_name.clone(),
        organisation_id: row.organisation_id,
        organisation_name: row.organisation_name.clone(),
        can_reveal: row.can_reveal,
        disabled: row.disabled,
        locked_until: row.locked_until.clone(),
        created_at: row.created_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for t in [0, 951_782_400, 1_600_473_600, 1_764_000_000] {
            assert_eq!(unix_from_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(unix_from_rfc3339("2020-09-19"), None);
        assert_eq!(unix_from_rfc3339("2020-13-19T00:00:00Z"), None);
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token("bft_"), new_token("bft_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn generated_passwords_meet_the_policy() {
        for _ in 0..50 {
            assert!(rules::password_problems("admin", &generate_password("admin")).is_empty());
        }
    }
}
