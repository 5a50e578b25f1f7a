//! Test harness: every test gets a fresh database (SQLite file, or a PostgreSQL database when
//! BANGFU_TEST_POSTGRES_URL is set) with the full region list, and a real HTTP server on an
//! ephemeral port. The list is loaded once per test process into a template and copied.

use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use store::Db;
use store::regions::NoProgress;

pub fn postgres_base() -> Option<String> {
    std::env::var("BANGFU_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

enum Template {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Replaces the database name of a postgres URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base.rfind('/').expect("postgres URL has a database name");
    format!("{}/{name}{query}", &base[..cut])
}

fn database_name(url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    base.rsplit('/').next().unwrap_or("test").to_string()
}

fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| {
        // A plain thread with its own runtime: tests each run on their own runtime, and pools
        // must not outlive the runtime that made them.
        std::thread::spawn(|| match postgres_base() {
            Some(url) => {
                let name = format!("{}_tmpl", database_name(&url));
                block_on(async {
                    let admin = Db::connect(&url)
                        .await
                        .expect("PostgreSQL reachable at BANGFU_TEST_POSTGRES_URL");
                    admin_exec(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )
                    .await;
                    admin_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                    admin.close().await;
                    let db = Db::open(&with_database(&url, &name), &NoProgress)
                        .await
                        .expect("template migrates");
                    db.close().await;
                });
                Template::Postgres {
                    admin_url: url,
                    name,
                }
            }
            None => {
                let dir = std::env::temp_dir().join(format!("bangfu-it-{}", std::process::id()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join("template.db");
                let _ = std::fs::remove_file(&path);
                block_on(async {
                    let db = Db::open(path.to_str().expect("utf-8 path"), &NoProgress)
                        .await
                        .expect("template migrates");
                    if let Db::Sqlite(p) = &db {
                        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                            .execute(p)
                            .await
                            .expect("checkpoint");
                    }
                    db.close().await;
                });
                Template::Sqlite(path)
            }
        })
        .join()
        .expect("template thread")
    })
}

async fn admin_exec(db: &Db, sql: &str) {
    if let Db::Postgres(p) = db {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// A fresh database copied from the template; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub struct TestDb {
    pub target: String,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub fn new() -> TestDb {
        TestDb::create(true)
    }

    /// A database without any schema (SQLite: a path not yet created), as before `migrate`.
    pub fn empty() -> TestDb {
        TestDb::create(false)
    }

    fn create(from_template: bool) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        match template() {
            Template::Sqlite(path) => {
                let copy = path.with_file_name(format!("t{n}.db"));
                if from_template {
                    std::fs::copy(path, &copy).expect("copy template");
                }
                TestDb {
                    target: copy.to_string_lossy().into_owned(),
                    cleanup: Some(Cleanup::File(copy)),
                }
            }
            Template::Postgres { admin_url, name } => {
                let db_name = format!("{}_t{}_{n}", database_name(admin_url), std::process::id());
                let (admin_url, template) = (admin_url.clone(), name.clone());
                let create = if from_template {
                    format!("CREATE DATABASE {db_name} TEMPLATE {template}")
                } else {
                    format!("CREATE DATABASE {db_name}")
                };
                let url = admin_url.clone();
                std::thread::spawn(move || {
                    block_on(async {
                        let admin = Db::connect(&url).await.expect("PostgreSQL reachable");
                        admin_exec(&admin, &create).await;
                        admin.close().await;
                    })
                })
                .join()
                .expect("create database");
                TestDb {
                    target: with_database(&admin_url, &db_name),
                    cleanup: Some(Cleanup::Database {
                        admin_url,
                        name: db_name,
                    }),
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Some(Cleanup::Database { .. }))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.cleanup.take() {
            Some(Cleanup::File(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Some(Cleanup::Database { admin_url, name }) => {
                let _ = std::thread::spawn(move || {
                    block_on(async {
                        if let Ok(admin) = Db::connect(&admin_url).await {
                            admin_exec(
                                &admin,
                                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                            )
                            .await;
                            admin.close().await;
                        }
                    })
                })
                .join();
            }
            None => {}
        }
    }
}

/// A running server on a fresh database. `client` is authenticated as an administrator
/// (`ADMIN_USER`, by a bearer token); `anonymous_client()` is the public; `client_as(…)` /
/// `user_as(…)` make users of other roles.
pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub client: reqwest::Client,
    pub test_db: TestDb,
}

/// The administrator every test app starts with.
pub const ADMIN_USER: &str = "test-admin";

/// A user made for a test, with its password and a client using an API token of its own.
pub struct TestUser {
    pub username: String,
    pub password: String,
    pub client: reqwest::Client,
}

static USER_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A client that follows no redirects, optionally sending a bearer token with every request.
pub fn http_client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with_limits(store::tabular::ReadLimits::default()).await
    }

    /// A server with these upload limits (the server's configuration, not the environment).
    pub async fn spawn_with_limits(limits: store::tabular::ReadLimits) -> TestApp {
        let test_db = TestDb::new();
        let db = Db::open(&test_db.target, &NoProgress)
            .await
            .expect("open test database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = web::AppState::new(db.clone(), limits);
        tokio::spawn(async move {
            web::serve(listener, state).await.expect("server");
        });
        let password = "Harness-pass-2024!";
        let admin = store::auth::NewUser {
            username: ADMIN_USER.into(),
            role: "admin".into(),
            can_reveal: true,
            ..Default::default()
        };
        db.create_user(&domain::Caller::system(), &admin, password)
            .await
            .expect("test administrator");
        let (token, _) = db
            .create_api_token(&domain::Caller::system(), ADMIN_USER, "tests", None)
            .await
            .expect("test administrator token");
        let client = http_client(Some(&token));
        TestApp {
            base,
            db,
            client,
            test_db,
        }
    }

    /// The public: no token, no cookie.
    pub fn anonymous_client(&self) -> reqwest::Client {
        http_client(None)
    }

    /// A new user of this role (`county`/`village` need `region`, `district`/`org` need `org`),
    /// with a generated name, a password, a token, and a client authenticated by that token.
    pub async fn user_as(&self, role: &str, region: Option<&str>, org: Option<i64>) -> TestUser {
        let username = format!("{role}-{}", USER_COUNTER.fetch_add(1, Ordering::SeqCst));
        let password = format!("Kq7-harness-{}", username.len() * 7919);
        let input = store::auth::NewUser {
            username: username.clone(),
            role: role.into(),
            region: region.map(String::from),
            organisation_id: org,
            can_reveal: false,
        };
        self.db
            .create_user(&domain::Caller::system(), &input, &password)
            .await
            .unwrap_or_else(|e| panic!("user {role}: {e:?}"));
        let (token, _) = self
            .db
            .create_api_token(&domain::Caller::system(), &username, "tests", None)
            .await
            .expect("token");
        TestUser {
            client: http_client(Some(&token)),
            username,
            password,
        }
    }

    /// A client authenticated as a new user of this role (see `user_as`).
    pub async fn client_as(
        &self,
        role: &str,
        region: Option<&str>,
        org: Option<i64>,
    ) -> reqwest::Client {
        self.user_as(role, region, org).await.client
    }

    /// Sends a request with any client; the body is JSON when given. Returns status and JSON body
    /// (Null when the body is not JSON).
    pub async fn send(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut r = client.request(method, self.url(path));
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        (r.status(), r.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Follows `next_cursor` to the end and returns every item.
    pub async fn get_all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next: Option<String> = None;
        loop {
            let url = match &next {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_string(),
            };
            let (status, body) = self.get(&url).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            items.extend(body["items"].as_array().expect("items").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => next = Some(c.to_string()),
                None => return items,
            }
        }
    }

    /// Runs the real binary against this test's database.
    pub fn bangfu(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_bangfu"))
            .arg("--database")
            .arg(&self.test_db.target)
            .args(args)
            .env("BANGFU_LOG", "warn")
            .output()
            .expect("run bangfu")
    }
}

/// The `error.details[].field` values of an error body.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|e| e["field"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
