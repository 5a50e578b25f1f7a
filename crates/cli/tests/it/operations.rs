//! Issue 19 item 5, for the operator: `/metrics` (what it counts, who may read it, the separate
//! address without login), the configuration file and its precedence (command line >
//! environment > file > default), and JSON logs. The servers here are the real binary.

use crate::harness::{ADMIN_USER, TestApp, TestDb, http_client};
use crate::registry::{HEADER, family};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Settings the test process may have in its environment that would change what a spawned
/// binary does: each test states its own.
const SETTINGS: &[&str] = &[
    "BANGFU_CONFIG",
    "BANGFU_DATABASE_URL",
    "BANGFU_ADDR",
    "BANGFU_DEMO",
    "BANGFU_METRICS_ADDR",
    "BANGFU_METRICS_ALLOW_REMOTE",
    "BANGFU_LOG",
    "BANGFU_LOG_FORMAT",
    "BANGFU_UPLOAD_MAX_BYTES",
    "BANGFU_SHEET_MAX_ROWS",
    "BANGFU_SHEET_MAX_COLUMNS",
    "BANGFU_XLSX_MAX_UNZIPPED_BYTES",
    "BANGFU_XLSX_MAX_SHARED_STRINGS_BYTES",
    "BANGFU_PARSE_SECONDS",
    "BANGFU_SESSION_IDLE_MINUTES",
    "BANGFU_SECURE_COOKIES",
    "BANGFU_ALLOWED_ORIGINS",
];

/// The real binary in `dir`, with only the given `BANGFU_…` variables set.
fn bangfu(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bangfu"));
    c.current_dir(dir).args(args);
    for name in SETTINGS {
        c.env_remove(name);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// A `bangfu serve` process and the lines of its standard error.
struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    arrived: Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts the command; Err holds its standard error when it exits instead of starting.
    fn start(mut command: Command) -> Result<Server, String> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bangfu serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (send, arrived) = std::sync::mpsc::channel();
        let kept = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                let _ = send.send(line);
            }
        });
        let mut server = Server {
            child,
            lines,
            arrived,
            reader: Some(reader),
        };
        match server.wait_for(|l| l.contains("已启动")) {
            Some(_) => Ok(server),
            None => {
                let _ = server.child.wait();
                Err(server.stop())
            }
        }
    }

    /// The next line of standard error that `pred` accepts (earlier ones are kept in `lines`),
    /// or None when the process ended first. The bound only keeps a broken build from hanging.
    fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        loop {
            match self.arrived.recv_timeout(Duration::from_secs(300)) {
                Ok(line) if pred(&line) => return Some(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => panic!("bangfu serve said nothing for 300 s"),
            }
        }
    }

    /// The line that says the server has started (JSON or text).
    fn started(&self) -> String {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("已启动"))
            .expect("started")
            .clone()
    }

    /// Stops the server with SIGTERM (it drains and exits) and returns all it wrote.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http://HOST:PORT` out of a line that contains `http://HOST:PORT/…`.
fn base_in(line: &str) -> String {
    let at = line.find("http://").expect("an address in the line");
    let rest = &line[at..];
    let end = rest["http://".len()..]
        .find('/')
        .map(|i| i + "http://".len())
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

async fn admin_token(app: &TestApp) -> String {
    app.db
        .create_api_token(&domain::Caller::system(), ADMIN_USER, "operations", None)
        .await
        .expect("token")
        .0
}

async fn get_metrics(client: &reqwest::Client, base: &str) -> (StatusCode, String, String) {
    let r = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("request");
    let status = r.status();
    let ty = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ty, r.text().await.expect("body"))
}

fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_for_administrators_and_auditors() {
    let app = TestApp::spawn().await;
    // Two reads of one route with different codes, a miss, an unknown path, a refused write.
    for code in ["653131", "441621"] {
        let (status, _) = app.get(&format!("/api/v1/regions/{code}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app.get("/api/v1/organisations/987654").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/no/such/page/4416211032").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let anonymous = app.anonymous_client();
    let r = anonymous
        .post(app.url("/api/v1/organisations"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A members file read in a dry run: its rows count as imported work, nothing is written.
    let rows = family("OPS-1", "441621103212", 1);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(format!("{HEADER}\n{}\n", rows.join("\n")).into_bytes())
            .file_name("m.csv"),
    );
    let r = app
        .client
        .post(app.url("/api/v1/imports/households?dry_run=true"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    // Who may read it: the public 401, a county cadre 403, in Chinese; auditors and admins 200.
    let (status, _, body) = get_metrics(&anonymous, &app.base).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");
    assert!(has_chinese(v["error"]["message"].as_str().unwrap()), "{v}");
    let county = app.client_as("county", Some("441621"), None).await;
    let (status, _, body) = get_metrics(&county, &app.base).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["error"]["message"],
        "只有系统管理员和审计人员可以查看运行指标"
    );
    let auditor = app.client_as("auditor", None, None).await;
    let (status, ty, _) = get_metrics(&auditor, &app.base).await;
    assert_eq!((status, ty.as_str()), (StatusCode::OK, OPENMETRICS));
    let (status, ty, body) = get_metrics(&app.client, &app.base).await;
    assert_eq!((status, ty.as_str()), (StatusCode::OK, OPENMETRICS));
    assert!(body.ends_with("# EOF\n"), "{body}");

    // Requests by route template and status class; never the path as sent.
    let series = |route: &str, status: &str| {
        format!(
            "bangfu_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}}"
        )
    };
    assert_eq!(
        sample(&body, &series("/api/v1/regions/{code}", "2xx")),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, &series("/api/v1/organisations/{id}", "4xx")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, &series("unmatched", "4xx")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "bangfu_http_requests_total{method=\"POST\",route=\"/api/v1/organisations\",status=\"4xx\"}"
        ),
        Some(1.0),
        "{body}"
    );
    // Metrics requests themselves: 401, 403 and the auditor's 200 so far.
    assert_eq!(
        sample(&body, &series("/metrics", "4xx")),
        Some(2.0),
        "{body}"
    );
    for sent in ["653131", "987654", "4416211032", "OPS-1"] {
        assert!(!body.contains(sent), "{sent} reached a label: {body}");
    }
    assert_eq!(
        sample(
            &body,
            "bangfu_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/regions/{code}\"}"
        ),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "bangfu_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/api/v1/regions/{code}\"}"
        )
        .or_else(|| sample(
            &body,
            "bangfu_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/regions/{code}\",le=\"+Inf\"}"
        )),
        Some(2.0),
        "{body}"
    );
    // The pool as it is, the import's rows (the counter is the process's: other tests add to
    // it), and background jobs, none running now.
    let max = if app.test_db.is_postgres() { 16.0 } else { 8.0 };
    assert_eq!(
        sample(&body, "bangfu_db_pool_max_connections"),
        Some(max),
        "{body}"
    );
    let open = sample(&body, "bangfu_db_pool_connections").expect("pool size");
    let idle = sample(&body, "bangfu_db_pool_idle_connections").expect("idle");
    let in_use = sample(&body, "bangfu_db_pool_in_use_connections").expect("in use");
    assert!(
        open >= 1.0 && open <= max && idle + in_use == open,
        "{body}"
    );
    let imported = sample(&body, "bangfu_import_rows_total{kind=\"members\"}").expect("members");
    assert!(imported >= rows.len() as f64, "{body}");
    assert!(sample(&body, "bangfu_import_rows_total{kind=\"transactions\"}").is_some());
    assert_eq!(
        sample(&body, "bangfu_background_jobs{kind=\"assessment\"}"),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "bangfu_background_jobs{kind=\"export\"}"),
        Some(0.0),
        "{body}"
    );
    assert!(sample(&body, "bangfu_process_resident_memory_bytes").unwrap() > 1e6);
}

#[tokio::test]
async fn the_metrics_address_answers_without_login_and_only_on_loopback() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let target = app.test_db.target.clone();
    // A port alone means 127.0.0.1.
    let mut server = Server::start(bangfu(
        dir.path(),
        &[
            "--database",
            &target,
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "0",
        ],
        &[],
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let main = base_in(&server.started());
    let metrics = base_in(
        &server
            .wait_for(|l| l.contains("运行指标"))
            .expect("the metrics address is printed"),
    );
    assert!(metrics.starts_with("http://127.0.0.1:"), "{metrics}");
    assert_ne!(main, metrics);

    let anonymous = http_client(None);
    let r = anonymous
        .get(format!("{main}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The main address asks for a login; the metrics address does not, and serves nothing else.
    let (status, _, _) = get_metrics(&anonymous, &main).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ty, body) = get_metrics(&anonymous, &metrics).await;
    assert_eq!(
        (status, ty.as_str()),
        (StatusCode::OK, OPENMETRICS),
        "{body}"
    );
    // The same counters at both doors: the main address's /healthz and 401 are there.
    assert_eq!(
        sample(
            &body,
            "bangfu_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"2xx\"}"
        ),
        Some(1.0),
        "{body}"
    );
    let r = anonymous
        .get(format!("{metrics}/api/v1/regions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(has_chinese(&r.text().await.unwrap()));
    let admin = http_client(Some(&admin_token(&app).await));
    let (status, _, _) = get_metrics(&admin, &main).await;
    assert_eq!(status, StatusCode::OK);
    server.stop();

    // An address other machines reach is refused unless allowed, before anything is opened.
    let out = bangfu(
        dir.path(),
        &[
            "--database",
            &target,
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "0.0.0.0:0",
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("不是本机回环地址"), "{stderr}");
    assert!(stderr.contains("--metrics-allow-remote"), "{stderr}");
    let allowed = Server::start(bangfu(
        dir.path(),
        &[
            "--database",
            &target,
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "0.0.0.0:0",
            "--metrics-allow-remote",
        ],
        &[],
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let text = allowed.stop();
    assert!(
        text.contains("运行指标（免登录）：http://0.0.0.0:"),
        "{text}"
    );
}

/// `bangfu migrate` names the database it opened: which of the three sources won.
fn migrated(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = bangfu(dir, args, env).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The end of `migrate`'s message for a database target: its last part (a file or database
/// name of its own, shown whatever a message cuts out of the rest) and the comma after it.
fn shown(target: &str) -> String {
    format!("{}，", target.rsplit('/').next().unwrap_or(target))
}

#[tokio::test]
async fn settings_come_from_the_command_line_then_the_environment_then_the_file() {
    let app = TestApp::spawn().await;
    let (file_db, env_db, flag_db) = (TestDb::new(), TestDb::new(), TestDb::new());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bangfu.toml"),
        format!(
            "# the operator's file\ndatabase_url = \"{}\"\nupload_max_bytes = 1000\nlog_format = \"json\"\naddr = \"127.0.0.1:0\"\n",
            file_db.target
        ),
    )
    .unwrap();
    // ./bangfu.toml is read without --config; the environment wins over it, the flag over both.
    let out = migrated(dir.path(), &["migrate"], &[]);
    assert!(out.contains(&shown(&file_db.target)), "{out}");
    let env = [("BANGFU_DATABASE_URL", env_db.target.as_str())];
    let out = migrated(dir.path(), &["migrate"], &env);
    assert!(out.contains(&shown(&env_db.target)), "{out}");
    let out = migrated(
        dir.path(),
        &["--database", &flag_db.target, "migrate"],
        &env,
    );
    assert!(out.contains(&shown(&flag_db.target)), "{out}");
    // --config names another file; without any file the default is ./bangfu.db here.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, format!("database_url = \"{}\"\n", env_db.target)).unwrap();
    let out = migrated(
        dir.path(),
        &["--config", other.to_str().unwrap(), "migrate"],
        &[],
    );
    assert!(out.contains(&shown(&env_db.target)), "{out}");
    let empty = tempfile::tempdir().unwrap();
    let out = migrated(empty.path(), &["migrate"], &[]);
    assert!(out.contains("./bangfu.db"), "{out}");

    // A serve option: the upload limit of the file (1000 bytes), then the environment's.
    let upload = vec![b'x'; 2000];
    let token = admin_token(&app).await;
    let serve = |env: &[(&str, &str)], args: &[&str]| {
        let mut all = vec!["--database", app.test_db.target.as_str()];
        all.extend(args);
        all.push("serve");
        Server::start(bangfu(dir.path(), &all, env)).unwrap_or_else(|e| panic!("{e}"))
    };
    let post = |base: String| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(upload.clone()).file_name("m.csv"),
        );
        let client = http_client(Some(&token));
        async move {
            let r = client
                .post(format!("{base}/api/v1/imports/households?dry_run=true"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // The file says json: the start line is a JSON object with the address.
    let from_file = serve(&[], &[]);
    let start = from_file.started();
    let v: Value = serde_json::from_str(&start).unwrap_or_else(|e| panic!("{e}: {start}"));
    let base = format!("http://{}", v["addr"].as_str().unwrap());
    let (status, body) = post(base).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("最大 1000 字节"), "{body}");
    from_file.stop();
    // The environment over the file; the flag's text logs over the file's json.
    let from_env = serve(
        &[("BANGFU_UPLOAD_MAX_BYTES", "5000")],
        &["--log-format", "text"],
    );
    let start = from_env.started();
    assert!(serde_json::from_str::<Value>(&start).is_err(), "{start}");
    let (status, body) = post(base_in(&start)).await;
    assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        status.is_client_error(),
        "a file that is no members table: {body}"
    );
    from_env.stop();
    // A wrong value is named with where it came from.
    let out = bangfu(
        dir.path(),
        &["serve"],
        &[("BANGFU_UPLOAD_MAX_BYTES", "many")],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("环境变量 BANGFU_UPLOAD_MAX_BYTES 的值“many”无效"),
        "{stderr}"
    );
    std::fs::write(&other, "log_format = \"xml\"\n").unwrap();
    let out = bangfu(
        dir.path(),
        &["--config", other.to_str().unwrap(), "migrate"],
        &[],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("的 log_format 的值“xml”无效：应为 text 或 json"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unknown_key_in_the_configuration_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new();
    std::fs::write(
        dir.path().join("bangfu.toml"),
        format!("database_url = \"{}\"\nupload_max_byte = 1000\n", db.target),
    )
    .unwrap();
    for args in [&["migrate"][..], &["serve", "--addr", "127.0.0.1:0"][..]] {
        let out = bangfu(dir.path(), args, &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("配置文件 bangfu.toml 中有未知的设置项“upload_max_byte”"),
            "{stderr}"
        );
        assert!(
            stderr.contains("upload_max_bytes"),
            "the known keys are listed: {stderr}"
        );
    }
    // A sections table is no setting either; a file named but missing is an error.
    std::fs::write(
        dir.path().join("bangfu.toml"),
        "[server]\naddr = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let out = bangfu(dir.path(), &["migrate"], &[]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("未知的设置项“server”"));
    let out = bangfu(dir.path(), &["--config", "missing.toml", "migrate"], &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("无法读取配置文件 missing.toml"));
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_name_no_one() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let target = app.test_db.target.clone();
    let server = Server::start(bangfu(
        dir.path(),
        &["--database", &target, "serve", "--addr", "127.0.0.1:0"],
        &[
            ("BANGFU_LOG_FORMAT", "json"),
            ("BANGFU_LOG", "info,bangfu::access=debug"),
        ],
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let start = server.started();
    let v: Value = serde_json::from_str(&start).unwrap_or_else(|e| panic!("{e}: {start}"));
    let base = format!("http://{}", v["addr"].as_str().unwrap());
    // A search for a name and an ID number, a household that does not exist, a refused login.
    let admin = http_client(Some(&admin_token(&app).await));
    let secret_id = "44162119650101002X";
    let r = admin
        .get(format!(
            "{base}/api/v1/households?q=张秘密&id_number={secret_id}"
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_client_error());
    let r = admin
        .get(format!("{base}/api/v1/households/777777"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = http_client(None)
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"username": "张秘密", "password": "wrong-password-1"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let text = server.stop();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 4, "{text}");
    let mut access = Vec::new();
    for line in &lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["message"].is_string(), "{line}");
        if v["target"] == "bangfu::access" {
            access.push(v);
        }
    }
    let routes: Vec<&str> = access.iter().filter_map(|v| v["route"].as_str()).collect();
    assert!(routes.contains(&"/api/v1/households"), "{text}");
    assert!(routes.contains(&"/api/v1/households/{id}"), "{text}");
    assert!(access.iter().any(|v| v["status"] == 404), "{text}");
    for secret in [
        "张秘密",
        secret_id,
        "%E5%BC%A0",
        "777777",
        "wrong-password-1",
    ] {
        assert!(!text.contains(secret), "{secret} was logged: {text}");
    }
}
