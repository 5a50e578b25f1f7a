//! The dashboard (and the exit-progress map) in real Chromium: the real server on a database with the dashboard scenario
//! (marked as demo data), driven by crates/cli/tests/browser/dashboard.mjs through
//! playwright-core and Debian's /usr/bin/chromium (never a downloaded browser). Screenshots go
//! to `target/screenshots/<backend>/` of the workspace (or BANGFU_SCREENSHOTS).
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
    run_script(&app, "dashboard.mjs", &viewer, &[]).await;
}

/// Runs a script of crates/cli/tests/browser against the test server as `user`, with the
/// screenshots directory and `extra` arguments after the base URL, user name and password.
async fn run_script(
    app: &TestApp,
    script: &str,
    user: &crate::harness::TestUser,
    extra: &[String],
) {
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
    let base = app.base.clone();
    let (user, password, extra) = (user.username.clone(), user.password.clone(), extra.to_vec());
    // The server runs on this test's runtime: wait for the browser on a blocking thread.
    let script = dir.join(script);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args([base.as_str(), user.as_str(), password.as_str()])
            .arg(&shots)
            .args(&extra)
            .output()
            .expect("run node")
    })
    .await
    .expect("browser thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{stderr}"
    );
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
    run_script(&app, "monitoring.mjs", &admin, &[case["id"].to_string()]).await;
}
