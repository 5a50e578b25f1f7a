//! Pages in real Chromium, driven by scripts in crates/cli/tests/browser/ through playwright-core
//! and Debian's /usr/bin/chromium (never a downloaded browser): the dashboard (and the
//! exit-progress map) on a database with the dashboard scenario (marked as demo data), and the
//! account page's change of password. Screenshots go to `target/screenshots/<backend>/` of the
//! workspace (or BANGFU_SCREENSHOTS).
//!
//! Ignored by a plain `cargo test` (a fresh clone need not have Chromium); `.ci/run` installs
//! Chromium and runs it on both backends.

use crate::dashboard::dashboard_scenario;
use crate::harness::TestApp;
use std::path::PathBuf;
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
#[ignore = "needs Chromium (/usr/bin/chromium) and Node.js; run by .ci/run"]
async fn the_dashboard_renders_in_chromium_and_drills_down_to_masked_households() {
    let app = TestApp::spawn().await;
    dashboard_scenario(&app).await;
    app.db.set_demo(true).await.expect("mark demo");
    // An exit assessment for the exit-progress map.
    for code in ["451024", "653131"] {
        let (status, body) = app
            .put(
                &format!("/api/v1/regions/{code}/population/2019"),
                &serde_json::json!({"rural_population": 1000}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let out = app.bangfu(&["assess", "--year", "2019"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let viewer = app.user_as("admin", None, None).await;
    run_script(
        &app,
        "dashboard.mjs",
        &[&viewer.username, &viewer.password],
        &[],
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Chromium (/usr/bin/chromium) and Node.js; run by .ci/run"]
async fn the_account_page_changes_the_password_in_chromium() {
    let app = TestApp::spawn().await;
    let user = app.user_as("county", Some("441621"), None).await;
    run_script(
        &app,
        "account.mjs",
        &[&user.username, &user.password, "Zijin-browser-2024-new"],
        &[],
    )
    .await;
}

/// Runs a script of crates/cli/tests/browser against the test's server: `node SCRIPT BASE
/// CREDENTIALS… SCREENSHOTS EXTRA…`; fails the test with the script's output when a check fails.
async fn run_script(app: &TestApp, script: &str, credentials: &[&str], extra: &[&str]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(&dir)
            .status()
            .expect("run npm (Node.js is needed for the browser test)");
        assert!(status.success(), "npm ci in {}", dir.display());
    }
    let backend = if app.test_db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let shots = std::env::var("BANGFU_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target/screenshots"))
        .join(backend);
    let mut args: Vec<String> = vec![dir.join(script).display().to_string(), app.base.clone()];
    args.extend(credentials.iter().map(|s| s.to_string()));
    args.push(shots.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    // The server runs on this test's runtime: wait for the browser on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").args(&args).output().expect("run node")
    })
    .await
    .expect("browser thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks of {script} failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
#[ignore = "needs Chromium (/usr/bin/chromium) and Node.js; run by .ci/run"]
async fn the_exit_procedure_page_offers_only_the_next_steps_in_chromium() {
    use crate::assessment::{EAST_VILLAGE, household_id, import, poor, run_ok};
    let app = TestApp::spawn().await;
    import(
        &app,
        &[poor("B-EXIT", EAST_VILLAGE, 1)],
        &[("B-EXIT", 2018, "3500"), ("B-EXIT", 2019, "4200")],
    );
    run_ok(&app, &["assess", "--year", "2019"]);
    let id = household_id(&app, "B-EXIT").await;
    for (state, date) in [
        ("proposed", "2019-11-01"),
        ("review", "2019-11-05"),
        ("verification", "2019-11-06"),
    ] {
        let (status, body) = app
            .post(
                &format!("/api/v1/households/{id}/exit-procedure"),
                &serde_json::json!({"year": 2019, "state": state, "date": date, "responsible": "驻村第一书记 张明"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let admin = app.user_as("admin", None, None).await;
    run_script(
        &app,
        "exit_procedure.mjs",
        &[&admin.username, &admin.password],
        &[&id.to_string()],
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Chromium (/usr/bin/chromium) and Node.js; run by .ci/run"]
async fn the_elimination_procedure_is_recorded_on_a_phone_in_chromium() {
    use crate::assessment::{EAST_VILLAGE, Hh, exited, household_id, import};
    let app = TestApp::spawn().await;
    import(
        &app,
        &[Hh {
            labour: "弱劳动力",
            ..exited("PHONE-1", EAST_VILLAGE, 71)
        }],
        &[("PHONE-1", 2021, "3000")],
    );
    let id = household_id(&app, "PHONE-1").await;
    let (status, case) = app
        .post(
            &format!("/api/v1/households/{id}/monitoring-cases"),
            &serde_json::json!({"channel": "declaration", "identified_at": "2021-08-01", "note": "因病申报"}),
        )
        .await;
    assert!(status.is_success(), "{case}");
    for date in ["2021-08-31", "2022-02-28"] {
        let (status, body) = app
            .post(
                &format!("/api/v1/households/{id}/visits"),
                &serde_json::json!({"visit_date": date, "visitor": "驻村第一书记", "income_12m": "7000"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let admin = app.user_as("admin", None, None).await;
    run_script(
        &app,
        "monitoring.mjs",
        &[&admin.username, &admin.password],
        &[&case["id"].to_string()],
    )
    .await;
}
