use crate::harness::{TestApp, error_fields};
use crate::organisations::{credit_code, wrong_check};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn shenzhen(app: &TestApp) -> i64 {
    let (status, body) = app
        .post("/api/v1/organisations", &json!({"name": "深圳市乡村振兴和协作交流局", "kind": "city_office", "shenzhen_side": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn counts(app: &TestApp) -> (usize, usize) {
    (
        app.get_all("/api/v1/organisations").await.len(),
        app.get_all("/api/v1/pairings").await.len(),
    )
}

fn valid(org: i64) -> Value {
    json!({
        "organisation_id": org,
        "region_code": "441621",
        "pairing_type": "省内对口帮扶",
        "start_year": 2016,
        "targets": [
            {"indicator": "财政帮扶资金", "unit": "万元", "year": 2019, "target": 5000},
            {"indicator": "选派干部", "unit": "人", "year": 2019, "target": 12}
        ]
    })
}

#[tokio::test]
async fn a_pairing_with_targets_is_created_and_found_by_region() {
    let app = TestApp::spawn().await;
    let org = shenzhen(&app).await;
    let (status, body) = app.post("/api/v1/pairings", &valid(org)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["region_name"], "紫金县");
    assert_eq!(body["pairing_type"], "intra_provincial");
    assert_eq!(body["targets"].as_array().unwrap().len(), 2);
    let id = body["id"].as_i64().unwrap();
    let (_, got) = app.get(&format!("/api/v1/pairings/{id}")).await;
    assert_eq!(
        got["targets"][0]["indicator"], "财政帮扶资金",
        "targets keep the order they were given in"
    );
    assert_eq!(app.get_all("/api/v1/pairings?region=4416").await.len(), 1);
    assert_eq!(app.get_all("/api/v1/pairings?region=441622").await.len(), 0);
    assert_eq!(app.get_all("/api/v1/pairings?year=2015").await.len(), 0);
    assert_eq!(
        app.get_all("/api/v1/pairings?year=2020&type=intra_provincial")
            .await
            .len(),
        1
    );
    assert_eq!(
        app.get_all(&format!("/api/v1/pairings?organisation_id={org}"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_region_that_does_not_exist_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let org = shenzhen(&app).await;
    let before = counts(&app).await;
    let mut body = valid(org);
    body["region_code"] = json!("441699");
    let (status, err) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["region_code"]);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("441699 不存在"),
        "{err}"
    );
    body["region_code"] = json!("44");
    let (status, err) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("县、乡镇或村"),
        "{err}"
    );
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn an_unknown_type_is_refused_with_the_choices() {
    let app = TestApp::spawn().await;
    let org = shenzhen(&app).await;
    let before = counts(&app).await;
    let mut body = valid(org);
    body["pairing_type"] = json!("结对帮扶");
    let (status, err) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["pairing_type"]);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("结对帮扶") && message.contains("东西部扶贫协作"),
        "{message}"
    );
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn an_organisation_with_a_wrong_credit_check_character_is_refused() {
    let app = TestApp::spawn().await;
    let before = counts(&app).await;
    let code = credit_code("91440300MA5DC1234");
    let mut body = valid(0);
    body.as_object_mut().unwrap().remove("organisation_id");
    body["organisation"] = json!({"name": "深圳能源集团", "kind": "enterprise", "credit_code": wrong_check(&code), "shenzhen_side": true});
    let (status, err) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(error_fields(&err), ["organisation.credit_code"]);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("校验位"),
        "{err}"
    );
    assert_eq!(
        counts(&app).await,
        before,
        "neither the organisation nor the pairing was written"
    );

    body.as_object_mut().unwrap().remove("organisation");
    body["organisation_credit_code"] = json!(wrong_check(&code));
    let (status, err) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["organisation_credit_code"]);
    assert_eq!(counts(&app).await, before);

    // With the right check character the organisation and the pairing are created together.
    body.as_object_mut()
        .unwrap()
        .remove("organisation_credit_code");
    body["organisation"] = json!({"name": "深圳能源集团", "kind": "enterprise", "credit_code": code, "shenzhen_side": true});
    let (status, created) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["organisation_name"], "深圳能源集团");
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1));
}

#[tokio::test]
async fn every_problem_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({
        "organisation_id": 424242,
        "region_code": "4416x",
        "pairing_type": "",
        "start_year": 2020,
        "end_year": 2018,
        "targets": [{"indicator": "", "unit": "人", "year": 2030, "target": -1}]
    });
    let (status, err) = app.post("/api/v1/pairings", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_fields(&err);
    for f in [
        "organisation_id",
        "region_code",
        "pairing_type",
        "end_year",
        "targets[0].indicator",
        "targets[0].year",
        "targets[0].target",
    ] {
        assert!(
            fields.contains(&f.to_string()),
            "{f} missing from {fields:?}"
        );
    }
}

#[tokio::test]
async fn malformed_json_gets_a_clear_error() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/api/v1/pairings"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON"));
    let (status, body) = app
        .post("/api/v1/pairings", &json!({"start_year": "二〇一六"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn a_pairing_is_updated_and_its_targets_replaced() {
    let app = TestApp::spawn().await;
    let org = shenzhen(&app).await;
    let (_, created) = app.post("/api/v1/pairings", &valid(org)).await;
    let id = created["id"].as_i64().unwrap();
    let mut body = valid(org);
    body["end_year"] = json!(2020);
    body["targets"] =
        json!([{"indicator": "消费帮扶", "unit": "万元", "year": 2020, "target": 800.5}]);
    let (status, updated) = app.put(&format!("/api/v1/pairings/{id}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["end_year"], 2020);
    assert_eq!(
        updated["targets"],
        json!([{"indicator": "消费帮扶", "unit": "万元", "year": 2020, "target": 800.5}])
    );
    let (status, _) = app.put("/api/v1/pairings/9999", &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
