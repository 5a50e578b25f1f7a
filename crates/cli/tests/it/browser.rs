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
    run_script(&app, "dashboard.mjs", &[&viewer.username, &viewer.password]).await;
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
    )
    .await;
}

/// Runs `node SCRIPT BASE_URL ARGS… SCREENSHOTS` against the app's server; fails the test with
/// the script's output unless every check passed.
async fn run_script(app: &TestApp, script: &str, args: &[&str]) {
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
    let mut command = Command::new("node");
    command
        .arg(dir.join(script))
        .arg(&app.base)
        .args(args)
        .arg(&shots);
    // The server runs on this test's runtime: wait for the browser on a blocking thread.
    let out = tokio::task::spawn_blocking(move || command.output().expect("run node"))
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
