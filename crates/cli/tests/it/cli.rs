use crate::harness::TestApp;
use reqwest::StatusCode;
use std::io::Write;

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_newer_town_list_adds_renames_and_retires_without_deleting() {
    let app = TestApp::spawn().await;
    let towns = app
        .get_all("/api/v1/regions/441621/children?limit=500")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("code,name,areaCode,provinceCode,cityCode\n");
    for t in &towns {
        let code = t["code"].as_str().unwrap();
        match code {
            "441621102" => continue, // 龙窝镇 disappears
            "441621103" => csv += &format!("{code},\"九和新镇\",441621,44,4416\n"),
            _ => {
                csv += &format!(
                    "{code},\"{}\",441621,44,4416\n",
                    t["name"].as_str().unwrap()
                )
            }
        }
    }
    csv += "441621199,\"新设镇\",441621,44,4416\n";
    let file = write_file(&dir, "streets-2024.csv", &csv);
    let out = app.bangfu(&["import", "regions", &file, "--year", "2024"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("新增 1，更名 1，恢复 0，撤销 1"),
        "{stdout}"
    );

    let (_, renamed) = app.get("/api/v1/regions/441621103").await;
    assert_eq!(renamed["name"], "九和新镇");
    assert_eq!(renamed["changes"][0]["old_name"], "九和镇");
    let (status, retired) = app.get("/api/v1/regions/441621102").await;
    assert_eq!(status, StatusCode::OK, "a retired unit is kept");
    assert_eq!(retired["retired_year"], 2024);
    let (_, added) = app.get("/api/v1/regions/441621199").await;
    assert_eq!(added["name"], "新设镇");
    let now = app.get_all("/api/v1/regions/441621/children").await;
    assert!(
        now.iter().all(|t| t["code"] != "441621102"),
        "retired units are hidden by default"
    );
    let with_retired = app
        .get_all("/api/v1/regions/441621/children?include_retired=true")
        .await;
    assert_eq!(with_retired.len(), towns.len() + 1);
    // Other provinces are not retired by a file that does not cover them.
    let (_, elsewhere) = app.get("/api/v1/regions/110101001").await;
    assert!(elsewhere["retired_year"].is_null());
}

#[tokio::test]
async fn a_bad_division_file_names_rows_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.db.region_count().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        &dir,
        "villages.csv",
        "code,name,streetCode,provinceCode,cityCode,areaCode\n441621103999,\"新村\",441621103,44,4416,441621\n44162110399,\"短码村\",441621103,44,4416,441621\n441621103998,\"\",441621103,44,4416,441621\n441621103997,\"错上级村\",441621104,44,4416,441621\n",
    );
    let out = app.bangfu(&["import", "regions", &file, "--year", "2024"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("第 3 行 code 列"), "{stderr}");
    assert!(stderr.contains("第 4 行 name 列"), "{stderr}");
    assert!(stderr.contains("第 5 行 streetCode 列"), "{stderr}");
    assert!(stderr.contains("未写入任何数据"), "{stderr}");
    assert_eq!(app.db.region_count().await.unwrap(), before);
    let (status, _) = app.get("/api/v1/regions/441621103999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn region_attributes_import_from_csv() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        &dir,
        "attrs.csv",
        "\u{feff}行政区划代码,面积,海拔,年份,农业户籍人口\n653131,22994,4000,2019,\"41,234\"\n441521,1639,0,2019,620000\n",
    );
    let out = app.bangfu(&["import", "region-attributes", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, tash) = app.get("/api/v1/regions/653131").await;
    assert_eq!(tash["elevation_m"], 4000);
    assert_eq!(tash["rural_population"][0]["rural_population"], 41234);

    let bad = write_file(
        &dir,
        "bad.csv",
        "行政区划代码,面积\n653131,很大\n999999,1\n",
    );
    let out = app.bangfu(&["import", "region-attributes", &bad]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("第 2 行 面积 列") && stderr.contains("第 3 行 行政区划代码 列"),
        "{stderr}"
    );
}

/// `bangfu` on another database than the test app's.
fn bangfu_on(target: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bangfu"))
        .arg("--database")
        .arg(target)
        .args(args)
        .env("BANGFU_LOG", "warn")
        .output()
        .expect("run bangfu");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn head_hash(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("链头哈希："))
        .unwrap_or_else(|| panic!("no head hash in: {stdout}"))
        .to_string()
}

async fn overview_json(db: &store::Db, region: Option<&str>) -> serde_json::Value {
    let filter = store::stats::OverviewFilter {
        region: region.map(|r| domain::region::RegionCode::parse(r).unwrap()),
        ..Default::default()
    };
    serde_json::to_value(db.stats_overview(&filter).await.unwrap()).unwrap()
}

#[tokio::test]
async fn backup_and_restore_round_trip_with_the_same_ledger_head_and_figures() {
    let app = TestApp::spawn().await;
    let target = app.test_db.target.clone();
    let (ok, _, err) = bangfu_on(&target, &["demo", "--scale", "0.2%", "--seed", "5"]);
    assert!(ok, "{err}");
    let (ok, out, err) = bangfu_on(&target, &["ledger", "head"]);
    assert!(ok, "{err}");
    let head = head_hash(&out);
    assert_ne!(
        head,
        domain::ledger::GENESIS_HASH,
        "the demo wrote a ledger"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bangfu.backup");
    let file_arg = file.to_str().unwrap();
    let (ok, out, err) = bangfu_on(&target, &["backup", file_arg]);
    assert!(ok, "{err}");
    assert_eq!(
        head_hash(&out),
        head,
        "the head inside the backup is printed"
    );
    let (ok, _, err) = bangfu_on(&target, &["backup", file_arg]);
    assert!(!ok && err.contains("不会覆盖"), "{err}");

    // Never over records: the source itself is refused and keeps its ledger.
    let (ok, _, err) = bangfu_on(&target, &["restore", file_arg]);
    assert!(
        !ok && err.contains("已有") && err.contains("没有业务数据"),
        "{err}"
    );

    // Into an empty database of the same engine: the same head, verified, and the same figures.
    let fresh = crate::harness::TestDb::new();
    let (ok, out, err) = bangfu_on(&fresh.target, &["restore", file_arg]);
    assert!(ok, "{err}\n{out}");
    assert!(out.contains("台账校验通过"), "{out}");
    assert_eq!(head_hash(&out), head);
    let (ok, out, err) = bangfu_on(&fresh.target, &["ledger", "verify"]);
    assert!(ok, "{err}");
    assert_eq!(head_hash(&out), head);
    let (ok, _, err) = bangfu_on(&fresh.target, &["stats", "check"]);
    assert!(ok, "summaries equal a recomputation after restore: {err}");
    let restored = store::Db::connect(&fresh.target).await.unwrap();
    for region in [None, Some("45"), Some("6531")] {
        assert_eq!(
            overview_json(&restored, region).await,
            overview_json(&app.db, region).await,
            "overview of {region:?}"
        );
    }
    restored.close().await;

    // A file that is no backup, and a backup of the other engine, are refused with a reason,
    // and the empty target stays empty.
    let other = crate::harness::TestDb::new();
    let junk = dir.path().join("junk.csv");
    std::fs::write(&junk, "户编号,姓名\n1,张三\n").unwrap();
    let (ok, _, err) = bangfu_on(&other.target, &["restore", junk.to_str().unwrap()]);
    assert!(
        !ok && err.contains("不是 bangfu backup 生成的备份文件"),
        "{err}"
    );
    let foreign = dir.path().join("foreign.backup");
    let magic: &[u8] = if app.test_db.is_postgres() {
        b"SQLite format 3\0"
    } else {
        b"PGDMP\x01\x0e\x00"
    };
    std::fs::write(&foreign, magic).unwrap();
    let (ok, _, err) = bangfu_on(&other.target, &["restore", foreign.to_str().unwrap()]);
    assert!(!ok && err.contains("只能恢复到"), "{err}");
    let check = store::Db::connect(&other.target).await.unwrap();
    assert_eq!(check.existing_records().await.unwrap(), None);
    check.close().await;
}

/// A damaged backup is refused whole: the target is not touched.
#[tokio::test]
async fn a_damaged_backup_is_refused_and_the_target_is_left_as_it_was() {
    let app = TestApp::spawn().await;
    let target = app.test_db.target.clone();
    let (ok, _, err) = bangfu_on(&target, &["demo", "--scale", "0.2%", "--seed", "6"]);
    assert!(ok, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bangfu.backup");
    let (ok, _, err) = bangfu_on(&target, &["backup", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    bytes.truncate(len / 2);
    let half = dir.path().join("half.backup");
    std::fs::write(&half, &bytes).unwrap();
    let fresh = crate::harness::TestDb::new();
    let (ok, _, err) = bangfu_on(&fresh.target, &["restore", half.to_str().unwrap()]);
    assert!(!ok, "a truncated backup must not restore");
    assert!(!err.trim().is_empty());
    let check = store::Db::connect(&fresh.target).await.unwrap();
    assert_eq!(check.existing_records().await.unwrap(), None);
    check.close().await;
}

#[tokio::test]
async fn a_fresh_database_is_created_and_migrated_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bangfu"))
        .args(["--database", path.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("区划单位 665276 个"));
}

#[tokio::test]
async fn the_help_says_the_command_line_acts_as_the_administrator() {
    let app = TestApp::spawn().await;
    let out = app.bangfu(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        help.contains("系统管理员") && help.contains("不受区划范围限制"),
        "{help}"
    );
}
