use crate::harness::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn region_pages_browse_from_province_to_village() {
    let app = TestApp::spawn().await;
    let (status, home) = app.get_text("/regions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("广东省") && home.contains("href=\"/regions/44\""));
    let (_, county) = app.get_text("/regions/441621").await;
    assert!(county.contains("<h1>紫金县"), "{county}");
    assert!(county.contains("href=\"/regions/4416\">河源市</a>"));
    assert!(county.contains("href=\"/regions/441621103\">九和镇</a>"));
    let (_, town) = app.get_text("/regions/441621103").await;
    assert!(town.contains("href=\"/regions/441621103212\">在上村村民委员会</a>"));
    let (status, village) = app.get_text("/regions/441621103212").await;
    assert_eq!(status, StatusCode::OK);
    assert!(village.contains("村级"));
}

#[tokio::test]
async fn search_page_and_missing_pages_speak_chinese() {
    let app = TestApp::spawn().await;
    let (_, found) = app.get_text("/regions?q=紫金").await;
    assert!(found.contains("href=\"/regions/441621\">紫金县</a>"));
    let (status, missing) = app.get_text("/regions/441699").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("区划代码 441699 不存在"));
    let (status, nowhere) = app.get_text("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(nowhere.contains("页面不存在"));
}

#[tokio::test]
async fn pairing_pages_show_targets_and_escape_text() {
    let app = TestApp::spawn().await;
    let (_, org) = app.post("/api/v1/organisations", &json!({"name": "罗湖区<script>alert(1)</script>", "kind": "district_office", "shenzhen_side": true})).await;
    let (status, p) = app
        .post(
            "/api/v1/pairings",
            &json!({"organisation_id": org["id"], "region_code": "360730", "pairing_type": "对口合作", "start_year": 2019,
                    "targets": [{"indicator": "引进企业", "unit": "个", "year": 2020, "target": 8}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (_, list) = app.get_text("/pairings?region=3607").await;
    assert!(list.contains("宁都县"));
    assert!(
        !list.contains("<script>alert(1)</script>"),
        "free text is escaped"
    );
    assert!(
        list.contains("&lt;script&gt;") || list.contains("&#60;script&#62;"),
        "{list}"
    );
    let (_, detail) = app.get_text(&format!("/pairings/{}", p["id"])).await;
    assert!(detail.contains("引进企业") && detail.contains("江西省 赣州市 宁都县"));
    let (status, _) = app.get_text("/pairings?region=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("620573"),
        "the home page counts the villages of the 2023 list"
    );
}
