//! `bangfu user …` and `bangfu token …`: accounts and API tokens, administered on the server's
//! command line. The command line acts as the system (recorded as `system` in the audit log).
//! Passwords and tokens are printed once, to stdout, alone on their line; never logged.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use domain::Caller;
use store::auth::NewUser;
use store::{Db, StoreError};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account and print its generated password (once).
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "district", "county", "village", "org", "auditor"])]
        role: String,
        /// County code for `county`, village code for `village`.
        #[arg(long)]
        region: Option<String>,
        /// Organisation id for `district` and `org`.
        #[arg(long)]
        org: Option<i64>,
        /// May reveal full ID and phone numbers (each reveal is recorded).
        #[arg(long)]
        can_reveal: bool,
    },
    /// List the accounts.
    List,
    /// Disable an account: its sessions end and its tokens stop working.
    Disable { name: String },
    /// Enable a disabled account again.
    Enable { name: String },
    /// Give an account a new generated password (printed once); lifts a lockout, ends its
    /// sessions and revokes its API tokens.
    ResetPassword { name: String },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user (used as `Authorization: Bearer TOKEN`); printed once.
    Create {
        #[arg(long)]
        user: String,
        /// Days until it expires (default 90).
        #[arg(long)]
        expires: Option<i64>,
        /// What the token is for.
        #[arg(long, default_value = "命令行创建")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by its number.
    Revoke { id: i64 },
}

/// A store error with every field problem spelled out.
fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Invalid { message, details } if !details.is_empty() => {
            let lines: Vec<String> = details
                .iter()
                .map(|d| format!("  {}：{}", d.field, d.message))
                .collect();
            anyhow!("{message}\n{}", lines.join("\n"))
        }
        other => anyhow!("{other}"),
    }
}

/// On a database without accounts, creates `admin` and prints its password once, to stderr.
pub async fn bootstrap_admin(db: &Db) -> Result<()> {
    if let Some(password) = db.bootstrap_admin().await.map_err(explain)? {
        eprintln!("==================================================================");
        eprintln!(" 已创建初始管理员账户：admin");
        eprintln!(" 初始密码（只显示这一次，请立即妥善保存）：{password}");
        eprintln!(" 登录：打开网页 /login；忘记密码：bangfu user reset-password admin");
        eprintln!("==================================================================");
    }
    Ok(())
}

pub async fn run_user(db: &Db, command: UserCommand) -> Result<()> {
    let system = Caller::system();
    match command {
        UserCommand::Add {
            name,
            role,
            region,
            org,
            can_reveal,
        } => {
            let password = store::auth::generate_password(&name);
            let input = NewUser {
                username: name,
                role,
                region,
                organisation_id: org,
                can_reveal,
            };
            let user = db
                .create_user(&system, &input, &password)
                .await
                .map_err(explain)?;
            println!(
                "已创建用户 {}（{}{}）",
                user.username,
                user.role_name,
                describe_scope(&user)
            );
            println!("初始密码（只显示这一次，请妥善转交本人）：");
            println!("{password}");
        }
        UserCommand::List => {
            let users = db.list_users().await.map_err(explain)?;
            println!("编号\t用户名\t角色\t范围\t状态");
            for u in users {
                let state = if u.disabled {
                    "已停用"
                } else if u
                    .locked_until
                    .as_deref()
                    .is_some_and(|t| *t > *store::now_rfc3339())
                {
                    "锁定中"
                } else {
                    "正常"
                };
                let mut scope = describe_scope(&u).trim_start_matches('，').to_string();
                if u.can_reveal {
                    scope += if scope.is_empty() {
                        "可查看完整证件号"
                    } else {
                        "；可查看完整证件号"
                    };
                }
                println!(
                    "{}\t{}\t{}\t{}\t{state}",
                    u.id,
                    u.username,
                    u.role_name,
                    if scope.is_empty() { "—" } else { &scope }
                );
            }
        }
        UserCommand::Disable { name } => {
            let u = db
                .set_user_disabled(&system, &name, true)
                .await
                .map_err(explain)?;
            println!("已停用用户 {}，其会话已结束、访问令牌已失效", u.username);
        }
        UserCommand::Enable { name } => {
            let u = db
                .set_user_disabled(&system, &name, false)
                .await
                .map_err(explain)?;
            println!("已启用用户 {}", u.username);
        }
        UserCommand::ResetPassword { name } => {
            let user = db.require_user(&name).await.map_err(explain)?;
            let password = store::auth::generate_password(&user.username);
            let done = db
                .set_password(&system, &user.username, &password)
                .await
                .map_err(explain)?;
            println!(
                "已为用户 {} 重设密码：结束会话 {} 个，吊销访问令牌 {} 个。新密码（只显示这一次）：",
                user.username, done.sessions_ended, done.tokens_revoked
            );
            println!("{password}");
        }
    }
    Ok(())
}

fn describe_scope(u: &store::auth::User) -> String {
    match (
        &u.region_code,
        &u.region_name,
        u.organisation_id,
        &u.organisation_name,
    ) {
        (Some(code), name, _, _) => format!("，{} {code}", name.as_deref().unwrap_or("")),
        (None, _, Some(id), name) => format!("，机构 {id} {}", name.as_deref().unwrap_or("")),
        _ => String::new(),
    }
}

pub async fn run_token(db: &Db, command: TokenCommand) -> Result<()> {
    let system = Caller::system();
    match command {
        TokenCommand::Create {
            user,
            expires,
            name,
        } => {
            let (token, info) = db
                .create_api_token(&system, &user, &name, expires)
                .await
                .map_err(explain)?;
            println!(
                "已为用户 {} 创建访问令牌（编号 {}，有效期至 {}）。请求时加上 Authorization: Bearer 令牌。令牌只显示这一次：",
                info.username,
                info.id,
                info.expires_at.as_deref().unwrap_or("无期限")
            );
            println!("{token}");
        }
        TokenCommand::List { user } => {
            let tokens = db.list_api_tokens(user.as_deref()).await.map_err(explain)?;
            println!("编号\t用户\t名称\t创建\t到期\t状态");
            for t in tokens {
                let state = match (&t.revoked_at, &t.expires_at) {
                    (Some(r), _) => format!("已吊销 {r}"),
                    (None, Some(e)) if *e <= store::now_rfc3339() => "已过期".to_string(),
                    _ => "有效".to_string(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{state}",
                    t.id,
                    t.username,
                    t.name,
                    t.created_at,
                    t.expires_at.as_deref().unwrap_or("—")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let t = db.revoke_api_token(&system, id).await.map_err(explain)?;
            println!("已吊销令牌 {}（用户 {}，{}）", t.id, t.username, t.name);
        }
    }
    Ok(())
}
