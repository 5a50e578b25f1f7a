use crate::harness::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn county_comes_with_its_ancestors() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/v1/regions/441621").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "紫金县");
    assert_eq!(body["code"], "441621");
    assert_eq!(body["level"], "county");
    let ancestors: Vec<&str> = body["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(ancestors, ["广东省", "河源市"]);
    assert_eq!(body["full_name"], "广东省 河源市 紫金县");
}

#[tokio::test]
async fn the_seed_village_is_known() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/v1/regions/441621103212").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "在上村村民委员会");
    assert_eq!(body["parent_code"], "441621103");
    assert_eq!(body["ancestors"].as_array().unwrap().len(), 4);
    let (_, ancestors) = app.get("/api/v1/regions/441621103212/ancestors").await;
    assert_eq!(ancestors["items"][3]["name"], "九和镇");
}

#[tokio::test]
async fn children_of_a_county_are_its_towns_across_pages() {
    let app = TestApp::spawn().await;
    let towns = app.get_all("/api/v1/regions/441621/children?limit=4").await;
    let names: Vec<&str> = towns.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"九和镇"), "{names:?}");
    assert!(
        towns.len() > 10,
        "紫金县 has more than ten towns, got {}",
        towns.len()
    );
    assert!(
        towns
            .iter()
            .all(|t| t["code"].as_str().unwrap().starts_with("441621") && t["level"] == "town")
    );
    let mut codes: Vec<&str> = towns.iter().map(|t| t["code"].as_str().unwrap()).collect();
    let before = codes.clone();
    codes.sort();
    codes.dedup();
    assert_eq!(codes, before, "pages neither repeat nor reorder");
}

#[tokio::test]
async fn unknown_and_malformed_codes_are_404() {
    let app = TestApp::spawn().await;
    for code in ["441699", "441621999999", "99", "abc", "4416211"] {
        let (status, body) = app.get(&format!("/api/v1/regions/{code}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
        assert_eq!(body["error"]["code"], "not_found");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("不存在")
        );
    }
    let (status, _) = app.get("/api/v1/regions/441699/children").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_whole_2023_list_is_loaded() {
    let app = TestApp::spawn().await;
    let provinces = app.get_all("/api/v1/regions").await;
    assert_eq!(provinces.len(), 31);
    assert_eq!(
        app.db.region_count().await.unwrap(),
        31 + 342 + 2_978 + 41_352 + 620_573
    );
}

#[tokio::test]
async fn name_search_finds_the_county_first() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/v1/regions?q=紫金&limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["name"], "紫金县");
    assert!(
        body["next_cursor"].is_string(),
        "many villages also contain 紫金"
    );
    let (_, towns) = app.get("/api/v1/regions?q=九和&level=town").await;
    assert!(
        towns["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["code"] == "441621103")
    );
    // LIKE wildcards typed by a user are literal characters.
    let (_, none) = app.get("/api/v1/regions?q=%25").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn subtree_is_everything_below() {
    let app = TestApp::spawn().await;
    let villages = app
        .get_all("/api/v1/regions/441621103/subtree?limit=500")
        .await;
    assert!(!villages.is_empty());
    assert!(
        villages.iter().all(
            |v| v["code"].as_str().unwrap().starts_with("441621103") && v["level"] == "village"
        )
    );
    let (_, county) = app
        .get("/api/v1/regions/441621/subtree?level=village&limit=1")
        .await;
    assert_eq!(county["items"][0]["level"], "village");
}

#[tokio::test]
async fn codes_that_share_a_padded_value_stay_apart() {
    // 东莞市 (4419) has a county-level entry 441900 of the same name; 金门县 350527 has a town 350527000.
    let app = TestApp::spawn().await;
    let (_, city) = app.get("/api/v1/regions/4419").await;
    let (_, county) = app.get("/api/v1/regions/441900").await;
    assert_eq!(city["level"], "prefecture");
    assert_eq!(county["level"], "county");
    assert_eq!(county["parent_code"], "4419");
    let (status, town) = app.get("/api/v1/regions/350527000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(town["parent_code"], "350527");
}

#[tokio::test]
async fn attributes_and_rural_population_are_settable() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .put(
            "/api/v1/regions/441621/attributes",
            &serde_json::json!({"area_km2": 3336.0, "elevation_m": 150}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["area_km2"], 3336.0);
    let (status, _) = app
        .put(
            "/api/v1/regions/441621/population/2019",
            &serde_json::json!({"rural_population": 612345}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.put(
        "/api/v1/regions/441621/population/2019",
        &serde_json::json!({"rural_population": 612000}),
    )
    .await;
    let (_, detail) = app.get("/api/v1/regions/441621").await;
    assert_eq!(detail["elevation_m"], 150);
    assert_eq!(
        detail["rural_population"],
        serde_json::json!([{"year": 2019, "rural_population": 612000}])
    );

    let (status, body) = app
        .put(
            "/api/v1/regions/441621/attributes",
            &serde_json::json!({"area_km2": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"][0]["field"], "area_km2");
    let (status, _) = app
        .put(
            "/api/v1/regions/441699/attributes",
            &serde_json::json!({"area_km2": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The audit entries of one region, oldest first.
async fn region_audit(app: &TestApp, query: &str) -> Vec<serde_json::Value> {
    let mut items = app
        .get_all(&format!("/api/v1/audit?entity=region&{query}"))
        .await;
    items.reverse();
    items
}

#[tokio::test]
async fn region_attribute_changes_are_audited_with_before_and_after() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .put(
            "/api/v1/regions/441621/attributes",
            &serde_json::json!({"area_km2": 3336.0, "elevation_m": 150}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.put(
        "/api/v1/regions/441621/attributes",
        &serde_json::json!({"elevation_m": 160}),
    )
    .await;
    app.put(
        "/api/v1/regions/441621/population/2019",
        &serde_json::json!({"rural_population": 612345}),
    )
    .await;
    app.put(
        "/api/v1/regions/441621/population/2019",
        &serde_json::json!({"rural_population": 612000}),
    )
    .await;
    let entries = region_audit(&app, "entity_id=441621").await;
    let json = |e: &serde_json::Value, k: &str| -> serde_json::Value {
        serde_json::from_str(e[k].as_str().unwrap()).unwrap()
    };
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["action"] == "update" && e["username"] == crate::harness::ADMIN_USER)
    );
    assert_eq!(
        json(&entries[0], "before_json"),
        serde_json::json!({"area_km2": null, "elevation_m": null})
    );
    assert_eq!(
        json(&entries[0], "after_json"),
        serde_json::json!({"area_km2": 3336.0, "elevation_m": 150})
    );
    assert_eq!(
        json(&entries[1], "before_json"),
        serde_json::json!({"elevation_m": 150}),
        "only what the change touched"
    );
    assert_eq!(
        json(&entries[2], "before_json"),
        serde_json::json!({"year": 2019, "rural_population": null})
    );
    assert_eq!(
        json(&entries[3], "before_json"),
        serde_json::json!({"year": 2019, "rural_population": 612345})
    );
    assert_eq!(
        json(&entries[3], "after_json"),
        serde_json::json!({"year": 2019, "rural_population": 612000})
    );
    // A refused change records nothing.
    app.put(
        "/api/v1/regions/441621/attributes",
        &serde_json::json!({"area_km2": -1}),
    )
    .await;
    let county = app.client_as("county", Some("441621"), None).await;
    let (status, _) = app
        .send(
            &county,
            reqwest::Method::PUT,
            "/api/v1/regions/441621/population/2020",
            Some(&serde_json::json!({"rural_population": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(region_audit(&app, "entity_id=441621").await.len(), 4);

    // The file import is one entry: file, hash, rows, and each region's values before and after.
    let dir = tempfile::tempdir().unwrap();
    let text = "行政区划代码,面积,海拔,年份,农业户籍人口\n441621,3627,200,2019,600000\n653131,22994,4000,2019,41234\n";
    let file = crate::registry::write_file(&dir, "attrs.csv", text.as_bytes());
    let out = app.bangfu(&["import", "region-attributes", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imports = region_audit(&app, "action=import").await;
    assert_eq!(imports.len(), 1);
    let after = json(&imports[0], "after_json");
    assert_eq!(after["file"], "attrs.csv");
    assert_eq!(after["rows"], 2);
    let sum = std::process::Command::new("sha256sum")
        .arg(&file)
        .output()
        .expect("sha256sum");
    let expected = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(after["sha256"], expected.as_str());
    assert_eq!(after["changes"][0]["code"], "441621");
    assert_eq!(
        after["changes"][0]["before"],
        serde_json::json!({"area_km2": 3336.0, "elevation_m": 160, "year": 2019, "rural_population": 612000})
    );
    assert_eq!(after["changes"][1]["after"]["rural_population"], 41234);
    let (_, detail) = app.get("/api/v1/regions/441621").await;
    assert_eq!(detail["elevation_m"], 200);

    // A file with a bad row changes nothing and records nothing.
    let bad = crate::registry::write_file(
        &dir,
        "bad.csv",
        "行政区划代码,海拔\n441621,250\n999999,1\n".as_bytes(),
    );
    assert!(
        !app.bangfu(&["import", "region-attributes", &bad])
            .status
            .success()
    );
    assert_eq!(region_audit(&app, "action=import").await.len(), 1);
    assert_eq!(
        app.get("/api/v1/regions/441621").await.1["elevation_m"],
        200
    );
}

#[tokio::test]
async fn paging_parameters_are_checked() {
    let app = TestApp::spawn().await;
    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "cursor=zzz",
        "level=city",
    ] {
        let (status, body) = app.get(&format!("/api/v1/regions?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"]["message"].is_string());
    }
}
