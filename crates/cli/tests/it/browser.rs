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
    // The server runs on this test's runtime: wait for the browser on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("dashboard.mjs"))
            .args([
                base.as_str(),
                viewer.username.as_str(),
                viewer.password.as_str(),
            ])
            .arg(&shots)
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
