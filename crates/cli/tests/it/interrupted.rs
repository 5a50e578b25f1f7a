//! Work interrupted by a process that died or was stopped (issue 19): an assessment run left
//! `running` is marked `interrupted` at the next start, never while its process lives, and can
//! be run again; a server stopped by SIGTERM marks its own background runs.

use crate::assessment::{EAST_VILLAGE, import, poor, post_form, wait_for_run};
use crate::harness::{ADMIN_USER, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use store::Db;
use store::regions::NoProgress;

fn one_household(app: &TestApp) {
    import(
        app,
        &[poor("R1", EAST_VILLAGE, 1)],
        &[("R1", 2018, "5000"), ("R1", 2019, "5000")],
    );
}

async fn run_json(app: &TestApp, id: i64) -> Value {
    let (status, run) = app.get(&format!("/api/v1/assessment-runs/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    run
}

async fn set_owner(db: &Db, id: i64, owner: &str) {
    let sql = "UPDATE assessment_runs SET owner = $1 WHERE id = $2";
    match db {
        Db::Sqlite(p) => sqlx::query(sql)
            .bind(owner)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql)
            .bind(owner)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()),
    }
    .expect("owner set");
}

async fn owner_of(db: &Db, id: i64) -> String {
    let sql = "SELECT owner FROM assessment_runs WHERE id = $1";
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).bind(id).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar(sql).bind(id).fetch_one(p).await,
    }
    .expect("owner read")
}

/// The owner name a process that has exited had, as `store::interrupted` documents it: on
/// SQLite a finished child process, on PostgreSQL a closed connection.
async fn gone_owner(db: &Db, live: &str) -> String {
    match db {
        Db::Sqlite(_) => {
            let out = Command::new("sh")
                .args(["-c", "cat /proc/$$/stat"])
                .output()
                .expect("sh");
            let stat = String::from_utf8_lossy(&out.stdout).into_owned();
            let pid = stat.split_whitespace().next().unwrap().to_string();
            let rest = &stat[stat.rfind(')').unwrap() + 1..];
            let start = rest.split_whitespace().nth(19).unwrap();
            let parts: Vec<&str> = live.split(':').collect();
            assert_eq!(parts.len(), 5, "{live}");
            format!("local:{}:{}:{pid}:{start}", parts[1], parts[2])
        }
        Db::Postgres(p) => {
            let mut c = p.acquire().await.unwrap().detach();
            let (pid, start): (i32, i64) = sqlx::query_as(
                "SELECT pid, (extract(epoch FROM backend_start) * 1000000)::bigint
                 FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            sqlx::Connection::close(c).await.unwrap();
            wait_until_backend_gone(p, pid).await;
            format!("pg:{pid}:{start}")
        }
    }
}

async fn wait_until_backend_gone(p: &sqlx::PgPool, pid: i32) {
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(p)
            .await
            .unwrap();
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("backend {pid} still there");
}

#[tokio::test]
async fn a_run_left_by_a_dead_process_is_marked_interrupted_at_the_next_start_and_runs_again() {
    let app = TestApp::spawn().await;
    one_household(&app);
    // A run recorded and never executed: its owner (this process) is alive.
    let run = app
        .db
        .start_assessment_run(&domain::Caller::system(), 2019, None)
        .await
        .unwrap();
    let again = Db::open(&app.test_db.target, &NoProgress).await.unwrap();
    assert_eq!(run_json(&app, run.id).await["status"], "running");
    assert!(again.mark_interrupted_runs(false).await.unwrap().is_empty());

    // The same run as a process that has exited left it.
    let live = owner_of(&app.db, run.id).await;
    set_owner(&app.db, run.id, &gone_owner(&app.db, &live).await).await;
    again.close().await;
    let next = Db::open(&app.test_db.target, &NoProgress).await.unwrap();
    next.close().await;
    let marked = run_json(&app, run.id).await;
    assert_eq!(marked["status"], "interrupted", "{marked}");
    assert_eq!(marked["status_name"], "已中断", "{marked}");
    assert_eq!(marked["progress"]["interrupted"], true, "{marked}");
    assert!(marked["finished_at"].is_string(), "{marked}");
    assert!(
        marked["error"]
            .as_str()
            .unwrap_or("")
            .contains("可重新评估"),
        "{marked}"
    );

    // Its page says so and offers to run the same year again, which completes.
    let (status, page) = app.get_text(&format!("/assessment/runs/{}", run.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("评估已中断"), "{page}");
    assert!(page.contains("重新评估 2019 年"), "{page}");
    let (status, location) = post_form(
        &app,
        "/assessment/runs",
        &[("year", "2019"), ("region", "")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let rerun: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    assert_ne!(rerun, run.id);
    let done = wait_for_run(&app, rerun).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["summary"]["assessed"], 1, "{done}");
    // The interrupted run stays as it was.
    assert_eq!(run_json(&app, run.id).await["status"], "interrupted");
}

/// A `bangfu` process started on this test's database.
fn spawn_bangfu(app: &TestApp, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bangfu"))
        .arg("--database")
        .arg(&app.test_db.target)
        .args(args)
        .env("BANGFU_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bangfu")
}

/// Waits until a backend of this database waits for a lock while running a statement that
/// contains `query_part`.
async fn wait_for_lock_wait(p: &sqlx::PgPool, query_part: &str) {
    for _ in 0..600 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND position($1 in query) > 0",
        )
        .bind(query_part)
        .fetch_one(p)
        .await
        .unwrap();
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no backend waits for a lock in “{query_part}”");
}

/// PostgreSQL only (SQLite has no lock on one table to hold the run at a known point):
/// `bangfu assess` SIGKILLed mid-run while another process checks, and then the next start.
#[tokio::test]
async fn a_killed_assess_command_is_not_marked_while_alive_and_is_after_it_died() {
    let app = TestApp::spawn().await;
    let Db::Postgres(pool) = &app.db else {
        return;
    };
    one_household(&app);
    // Holds the run where it reads the households, after its row is committed.
    let mut hold = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE households IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();
    let mut child = spawn_bangfu(&app, &["assess", "--year", "2019"]);
    wait_for_lock_wait(pool, "households").await;
    let (_, runs) = app.get("/api/v1/assessment-runs").await;
    let id = runs["items"][0]["id"].as_i64().expect("a run recorded");
    assert_eq!(runs["items"][0]["status"], "running", "{runs}");
    // Another process starting now leaves the live run alone.
    let other = Db::open(&app.test_db.target, &NoProgress).await.unwrap();
    assert!(other.mark_interrupted_runs(false).await.unwrap().is_empty());
    assert_eq!(run_json(&app, id).await["status"], "running");

    child.kill().unwrap();
    child.wait().unwrap();
    hold.rollback().await.unwrap();
    let owner = owner_of(&app.db, id).await;
    let lease: i32 = owner.split(':').nth(1).unwrap().parse().unwrap();
    wait_until_backend_gone(pool, lease).await;
    let marked = other.mark_interrupted_runs(false).await.unwrap();
    other.close().await;
    assert_eq!(marked, vec![id]);
    let run = run_json(&app, id).await;
    assert_eq!(run["status"], "interrupted", "{run}");
    let decisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM exit_decisions WHERE run_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(decisions, 0, "an interrupted run leaves no decision");
}

/// PostgreSQL only, for the same reason: `bangfu serve` stopped by SIGTERM while its background
/// run is under way marks that run interrupted before it exits, and exits normally.
#[tokio::test]
async fn sigterm_stops_the_servers_background_run_and_marks_it_interrupted() {
    let app = TestApp::spawn().await;
    let Db::Postgres(pool) = &app.db else {
        return;
    };
    one_household(&app);
    let (token, _) = app
        .db
        .create_api_token(&domain::Caller::system(), ADMIN_USER, "sigterm", None)
        .await
        .unwrap();
    let mut child = spawn_bangfu(&app, &["serve", "--addr", "127.0.0.1:0"]);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(at) = line.find("http://") {
                let url = line[at..].split('/').take(3).collect::<Vec<_>>().join("/");
                let _ = tx.send(url);
            }
        }
    });
    let base = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the server announces its address");
    let mut hold = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE households IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();
    let client = crate::harness::http_client(Some(&token));
    let r = client
        .post(format!("{base}/api/v1/assessment-runs"))
        .json(&json!({"year": 2019}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_for_lock_wait(pool, "households").await;

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // The server stops the run (its transaction still holds the run's row) and waits to mark it.
    wait_for_lock_wait(pool, "'interrupted'").await;
    hold.rollback().await.unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let run = run_json(&app, id).await;
    assert_eq!(run["status"], "interrupted", "{run}");
    assert_eq!(run["summary"], Value::Null, "{run}");
}
