use crate::harness::{TestApp, error_fields};
use reqwest::StatusCode;
use serde_json::json;

/// A valid credit code with the given 17-character body.
pub fn credit_code(body17: &str) -> String {
    format!(
        "{body17}{}",
        domain::credit_code::check_char(body17).expect("valid body")
    )
}

/// The same code with a wrong check character.
pub fn wrong_check(code: &str) -> String {
    let last = code.chars().last().unwrap();
    let other = if last == '1' { '2' } else { '1' };
    format!("{}{other}", &code[..17])
}

#[tokio::test]
async fn organisation_with_a_valid_credit_code_is_created() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post("/api/v1/organisations", &json!({"name": "中广核集团", "kind": "enterprise", "credit_code": "91350100M000100Y43", "shenzhen_side": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind_name"], "企业");
    let id = body["id"].as_i64().unwrap();
    let (_, got) = app.get(&format!("/api/v1/organisations/{id}")).await;
    assert_eq!(got["credit_code"], "91350100M000100Y43");

    let (status, body) = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "另一家", "kind": "企业", "credit_code": "91350100M000100Y43"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("已被机构"),
        "{body}"
    );
}

#[tokio::test]
async fn a_wrong_check_character_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post("/api/v1/organisations", &json!({"name": "深圳市华强公益基金会", "kind": "foundation", "credit_code": "91350100M000100Y44"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["credit_code"]);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("校验位"),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "", "kind": "公司", "credit_code": "91350100M00010OY43"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["name", "kind", "credit_code"]);
    assert!(app.get_all("/api/v1/organisations").await.is_empty());
}

#[tokio::test]
async fn organisations_are_listed_filtered_and_updated() {
    let app = TestApp::spawn().await;
    for (name, kind) in [
        ("平安银行", "bank"),
        ("腾讯公益慈善基金会", "foundation"),
        ("深圳能源集团", "enterprise"),
    ] {
        let (status, _) = app
            .post(
                "/api/v1/organisations",
                &json!({"name": name, "kind": kind, "shenzhen_side": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let banks = app.get_all("/api/v1/organisations?kind=bank").await;
    assert_eq!(banks.len(), 1);
    let found = app.get_all("/api/v1/organisations?q=公益").await;
    assert_eq!(found[0]["name"], "腾讯公益慈善基金会");
    let all = app.get_all("/api/v1/organisations?limit=1").await;
    assert_eq!(all.len(), 3);
    let id = banks[0]["id"].as_i64().unwrap();
    let code = credit_code("91440300MA5FXXXX1");
    let (status, body) = app
        .put(&format!("/api/v1/organisations/{id}"), &json!({"name": "平安银行深圳分行", "kind": "bank", "credit_code": code, "shenzhen_side": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "平安银行深圳分行");
    let (status, _) = app.get("/api/v1/organisations/99999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/api/v1/organisations?kind=unknown").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
