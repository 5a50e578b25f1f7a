//! The trust boundary, attacked through every door: a county cadre writing another county's
//! registry through imports, forms and the API; an organisation taking over another's project
//! or booking money on it; a project linking people outside its writer's scope; and the
//! identity oracle (is this full ID number, or this 户编号, registered somewhere else?), which
//! cannot be closed but is answered without a place, audited, and bounded per user and day.

use crate::harness::{TestApp, TestUser};
use crate::registry::{HEADER, family, id_number};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A county of another province (宁都县) and one of its villages.
const OTHER_VILLAGE: &str = "360730100001";
/// The county cadre's own county (紫金县) and a village in it.
const OWN_COUNTY: &str = "441621";
const OWN_VILLAGE: &str = "441621103212";
const INCOME_HEADER: &str =
    "户编号,年度,工资性收入,生产经营性收入,财产性收入,转移性收入,生产经营性支出";
const PROJECT_HEADER: &str = "项目编号,项目名称,主题,子类型,民生项目,对口关系编号,立项日期,开始日期,结束日期,状态,状态日期,预算（元）,项目地点,参与机构,项目简介";
const TRANSACTION_HEADER: &str = "交易类型,金额（元）,记账日期,付款方,收款方,资金来源,项目编号,凭证号,摘要,转拨凭证号,超承诺理由,冲销凭证号";

/// Uploads a file to an import route as `client`; returns the status and the JSON body.
async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    name: &str,
    text: &str,
) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name.to_string()),
    );
    let r = client
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The administrator imports household `no` of the other county (three members).
async fn other_countys_household(app: &TestApp, no: &str, seq: u32) -> i64 {
    let text = format!("{HEADER}\n{}\n", family(no, OTHER_VILLAGE, seq).join("\n"));
    let (status, body) = upload(
        app,
        &app.client,
        "/api/v1/imports/households",
        "b.csv",
        &text,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    household_id(app, no).await.expect("imported")
}

async fn household_id(app: &TestApp, no: &str) -> Option<i64> {
    let (_, list) = app.get(&format!("/api/v1/households?q={no}")).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["household_no"] == no)
        .and_then(|h| h["id"].as_i64())
}

/// The import problems of a response (registry and ledger imports: `problems`; visits: the
/// error's `details`), as (row, column, message).
fn problems(body: &Value) -> Vec<(i64, String, String)> {
    let list = body["problems"]
        .as_array()
        .or_else(|| body["error"]["details"].as_array())
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|p| {
            (
                p["row"].as_i64().unwrap_or_default(),
                p["column"]
                    .as_str()
                    .or_else(|| p["field"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                p["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The problems with the record's number replaced, so that the answers for an existing record
/// and a missing one can be compared.
fn neutral(body: &Value, number: &str) -> Vec<(i64, String, String)> {
    problems(body)
        .into_iter()
        .map(|(r, c, m)| (r, c, m.replace(number, "＃")))
        .collect()
}

async fn county_user(app: &TestApp) -> TestUser {
    app.user_as("county", Some(OWN_COUNTY), None).await
}

#[tokio::test]
async fn a_county_cannot_import_incomes_for_another_countys_household_and_learns_nothing_of_it() {
    let app = TestApp::spawn().await;
    let b = other_countys_household(&app, "B-1", 1).await;
    let county = county_user(&app).await;
    let file = |no: &str| format!("{INCOME_HEADER}\n{no},2019,9000,0,0,500,0\n");
    let (status, taken) = upload(
        &app,
        &county.client,
        "/api/v1/imports/incomes",
        "i.csv",
        &file("B-1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    assert_eq!(taken["committed"], false);
    assert_eq!(
        problems(&taken),
        [(
            2,
            "户编号".to_string(),
            "户编号 B-1 不在您的管辖范围内或不存在".to_string()
        )]
    );
    let (_, missing) = upload(
        &app,
        &county.client,
        "/api/v1/imports/incomes",
        "i.csv",
        &file("B-404"),
    )
    .await;
    assert_eq!(
        neutral(&taken, "B-1"),
        neutral(&missing, "B-404"),
        "the same answer whether the household exists or not"
    );
    let (_, detail) = app.get(&format!("/api/v1/households/{b}")).await;
    assert!(
        detail["incomes"].as_array().unwrap().is_empty(),
        "nothing written: {detail}"
    );
}

#[tokio::test]
async fn a_county_cannot_overwrite_or_move_another_countys_household_by_a_members_import() {
    let app = TestApp::spawn().await;
    let b = other_countys_household(&app, "B-1", 1).await;
    let county = county_user(&app).await;
    // Pulling the household into one's own village: refused, the household stays where it was.
    let moved = format!("{HEADER}\n{}\n", family("B-1", OWN_VILLAGE, 7).join("\n"));
    let (status, body) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "m.csv",
        &moved,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let found = problems(&body);
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0].1, "户编号");
    assert!(
        found[0].2.contains("已被使用")
            && !found[0].2.contains("360730")
            && !found[0].2.contains("宁都"),
        "{body}"
    );
    let (_, detail) = app.get(&format!("/api/v1/households/{b}")).await;
    assert_eq!(detail["village_code"], OTHER_VILLAGE, "{detail}");
    assert_eq!(detail["member_count"], 3);
    // Writing it where it is: the village answers, the same as for a number never used.
    let there = |no: &str| format!("{HEADER}\n{}\n", family(no, OTHER_VILLAGE, 8).join("\n"));
    let (status, existing) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "m.csv",
        &there("B-1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, missing) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "m.csv",
        &there("B-404"),
    )
    .await;
    assert_eq!(neutral(&existing, "B-1"), neutral(&missing, "B-404"));
    assert!(
        problems(&existing).iter().all(|p| p.1 == "行政区划代码"),
        "{existing}"
    );
    let (_, detail) = app.get(&format!("/api/v1/households/{b}")).await;
    assert_eq!(detail["member_count"], 3, "members untouched");
    assert!(household_id(&app, "B-404").await.is_none());
}

#[tokio::test]
async fn a_full_width_village_code_is_scoped_like_the_plain_one_at_every_door() {
    let app = TestApp::spawn().await;
    let county = county_user(&app).await;
    let wide: String = OTHER_VILLAGE
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect();
    // A file.
    let file = format!("{HEADER}\n{}\n", family("W-1", OTHER_VILLAGE, 3).join("\n"))
        .replace(OTHER_VILLAGE, &wide);
    let (status, body) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "w.csv",
        &file,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        problems(&body)
            .iter()
            .any(|p| p.1 == "行政区划代码" && p.2.contains("不在您的管辖范围内")),
        "{body}"
    );
    // The API.
    let head = id_number("360730", "19600101", 4, true);
    let household = json!({"household_no": "W-2", "village_code": wide, "attribute": "一般贫困户", "identification_standard": "国家标准",
        "main_cause": "因病", "identified_year": 2015, "status": "未脱贫",
        "members": [{"name": "陈一", "sex": "男", "id_number": head, "relation": "户主", "ethnicity": "汉", "education": "小学",
                     "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}]});
    let (status, body) = app
        .send(
            &county.client,
            Method::POST,
            "/api/v1/households",
            Some(&household),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        crate::harness::error_fields(&body),
        ["village_code"],
        "{body}"
    );
    // The form.
    let form = [
        ("household_no", "W-3"),
        ("village_code", wide.as_str()),
        ("attribute", "1"),
        ("identification_standard", "1"),
        ("main_cause", "01"),
        ("identified_year", "2015"),
        ("status", "0"),
        ("members[0].name", "陈一"),
        ("members[0].sex", "1"),
        ("members[0].id_number", head.as_str()),
        ("members[0].relation", "01"),
        ("members[0].ethnicity", "01"),
        ("members[0].education", "小学"),
        ("members[0].schooling", "非在校生"),
        ("members[0].health", "健康"),
        ("members[0].labour", "普通劳动力"),
    ];
    let encoded = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = county
        .client
        .post(app.url("/households/new"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不在您的管辖范围内"));
    assert!(
        app.get_all("/api/v1/households?region=360730")
            .await
            .is_empty(),
        "nothing written in the other county"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn visits_for_another_countys_household_are_refused_in_the_same_words_as_for_none() {
    let app = TestApp::spawn().await;
    let b = other_countys_household(&app, "B-1", 1).await;
    let county = county_user(&app).await;
    let file = |no: &str| {
        format!(
            "户编号,走访日期,走访人,走访情况,近12个月人均纯收入,发现风险\n{no},2020-03-01,李干部,正常,8000,\n"
        )
    };
    let (status, taken) = upload(
        &app,
        &county.client,
        "/api/v1/imports/visits",
        "v.csv",
        &file("B-1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    let (_, missing) = upload(
        &app,
        &county.client,
        "/api/v1/imports/visits",
        "v.csv",
        &file("B-404"),
    )
    .await;
    assert_eq!(neutral(&taken, "B-1"), neutral(&missing, "B-404"));
    assert_eq!(
        problems(&taken)[0].2,
        "户编号 B-1 不在您的管辖范围内或不存在"
    );
    let (_, records) = app.get(&format!("/api/v1/households/{b}/monitoring")).await;
    assert!(records["visits"].as_array().unwrap().is_empty());
}

/// Two organisations (own and other), a pairing of the own one with 紫金县, a project of the
/// other one in 宁都县 with number PB-1, and a county organisation to receive money.
struct Projects {
    own_org: i64,
    other_org: i64,
    county_org: i64,
    other_project: i64,
}

async fn projects_fixture(app: &TestApp) -> Projects {
    let org = |name: &'static str, shenzhen: bool| async move {
        let (s, o) = app
            .post(
                "/api/v1/organisations",
                &json!({"name": name, "kind": "enterprise", "shenzhen_side": shenzhen}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        o["id"].as_i64().unwrap()
    };
    let (own_org, other_org, county_org) = (
        org("甲公司", true).await,
        org("乙公司", true).await,
        org("县财政局", false).await,
    );
    let (s, p) = app
        .post("/api/v1/pairings", &json!({"organisation_id": own_org, "region_code": OWN_COUNTY, "pairing_type": "省内对口帮扶", "start_year": 2017}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, p) = app
        .post(
            "/api/v1/projects",
            &json!({"code": "PB-1", "name": "乙公司的项目", "theme": "industry", "approved_on": "2019-03-01", "budget": 100000,
                    "locations": [{"region_code": "360730"}], "organisations": [{"organisation_id": other_org, "role": "funding"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    Projects {
        own_org,
        other_org,
        county_org,
        other_project: p["id"].as_i64().unwrap(),
    }
}

#[tokio::test]
async fn an_organisation_cannot_take_over_another_organisations_project() {
    let app = TestApp::spawn().await;
    let fx = projects_fixture(&app).await;
    let org_user = app.user_as("org", None, Some(fx.own_org)).await;
    // Through an import, listing itself among the participants.
    let file = format!(
        "{PROJECT_HEADER}\nPB-1,已被接管,industry,,否,,2019-03-01,,,,,100,441621,出资方:{},\n",
        fx.own_org
    );
    let (status, body) = upload(
        &app,
        &org_user.client,
        "/api/v1/imports/projects",
        "p.csv",
        &file,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        problems(&body),
        [(
            2,
            "项目编号".to_string(),
            "项目编号 PB-1 不在您的管辖范围内或不存在".to_string()
        )]
    );
    let (_, p) = app
        .get(&format!("/api/v1/projects/{}", fx.other_project))
        .await;
    assert_eq!(p["name"], "乙公司的项目");
    assert_eq!(
        p["organisations"][0]["organisation_id"], fx.other_org,
        "{p}"
    );
    // A dry run says the same.
    let (status, _) = upload(
        &app,
        &org_user.client,
        "/api/v1/imports/projects?dry_run=true",
        "p.csv",
        &file,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Through the API: not there for it.
    let body = json!({"name": "已被接管", "theme": "industry", "approved_on": "2019-03-01", "budget": 100,
        "locations": [{"region_code": OWN_COUNTY}], "organisations": [{"organisation_id": fx.own_org, "role": "funding"}]});
    let (status, _) = app
        .send(
            &org_user.client,
            Method::PUT,
            &format!("/api/v1/projects/{}", fx.other_project),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, p) = app
        .get(&format!("/api/v1/projects/{}", fx.other_project))
        .await;
    assert_eq!(p["name"], "乙公司的项目");
}

#[tokio::test]
async fn money_is_booked_only_on_ones_own_projects_and_between_ones_own_parties() {
    let app = TestApp::spawn().await;
    let fx = projects_fixture(&app).await;
    let org_user = app.user_as("org", None, Some(fx.own_org)).await;
    let file = |code: &str| {
        format!(
            "{TRANSACTION_HEADER}\n承诺,1000,2019-04-01,{},{},财政,{code},V-1,,,,\n",
            fx.own_org, fx.county_org
        )
    };
    let (status, taken) = upload(
        &app,
        &org_user.client,
        "/api/v1/imports/transactions",
        "t.csv",
        &file("PB-1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    let (_, missing) = upload(
        &app,
        &org_user.client,
        "/api/v1/imports/transactions",
        "t.csv",
        &file("PX-404"),
    )
    .await;
    assert_eq!(
        neutral(&taken, "PB-1"),
        neutral(&missing, "PX-404"),
        "{taken} {missing}"
    );
    assert_eq!(problems(&taken)[0].1, "项目编号");
    let (_, txs) = app
        .get(&format!(
            "/api/v1/transactions?project_id={}",
            fx.other_project
        ))
        .await;
    assert!(txs["items"].as_array().unwrap().is_empty());

    // On its own project, money between two other parties is not the organisation's to book.
    let (s, own) = app
        .post(
            "/api/v1/projects",
            &json!({"code": "PA-1", "name": "甲公司的项目", "theme": "industry", "approved_on": "2019-03-01", "budget": 100000,
                    "locations": [{"region_code": OWN_COUNTY}], "organisations": [{"organisation_id": fx.own_org, "role": "funding"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{own}");
    let entry = |provider: i64| {
        json!({"type": "commitment", "amount": 1000, "value_date": "2019-04-01", "provider_id": provider, "receiver_id": fx.county_org,
               "fund_source": "fiscal", "project_id": own["id"], "voucher_no": format!("V-{provider}")})
    };
    let (status, body) = app
        .send(
            &org_user.client,
            Method::POST,
            "/api/v1/transactions",
            Some(&entry(fx.other_org)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(crate::harness::error_fields(&body), ["provider_id"]);
    let (status, body) = app
        .send(
            &org_user.client,
            Method::POST,
            "/api/v1/transactions",
            Some(&entry(fx.own_org)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_project_links_only_registry_households_of_its_writers_scope() {
    let app = TestApp::spawn().await;
    let fx = projects_fixture(&app).await;
    let b = other_countys_household(&app, "B-1", 1).await;
    let district = app.user_as("district", None, Some(fx.own_org)).await;
    let body = |household: i64| {
        json!({"name": "紫金县产业帮扶", "theme": "industry", "approved_on": "2019-03-01", "budget": 100000,
               "locations": [{"region_code": OWN_COUNTY}], "organisations": [{"organisation_id": fx.own_org, "role": "funding"}],
               "beneficiaries": [{"household_id": household}]})
    };
    let (status, taken) = app
        .send(
            &district.client,
            Method::POST,
            "/api/v1/projects",
            Some(&body(b)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    assert_eq!(
        crate::harness::error_fields(&taken),
        ["beneficiaries[0].household_id"]
    );
    let (_, missing) = app
        .send(
            &district.client,
            Method::POST,
            "/api/v1/projects",
            Some(&body(b + 1000)),
        )
        .await;
    let message = |v: &Value, id: i64| {
        v["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .replace(&id.to_string(), "＃")
    };
    assert_eq!(
        message(&taken, b),
        message(&missing, b + 1000),
        "the same words for another county's household and none"
    );
    let people = json!({"name": "紫金县产业帮扶", "theme": "industry", "approved_on": "2019-03-01", "budget": 100000,
        "locations": [{"region_code": OWN_COUNTY}], "organisations": [{"organisation_id": fx.own_org, "role": "funding"}],
        "beneficiaries": [{"member_id": 1}], "loans": [{"household_id": b, "borrower": "王", "amount": 100, "term_months": 12, "issued_on": "2019-05-01"}]});
    let (status, body) = app
        .send(
            &district.client,
            Method::POST,
            "/api/v1/projects",
            Some(&people),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        crate::harness::error_fields(&body),
        ["beneficiaries[0].member_id", "loans[0].household_id"]
    );
    assert_eq!(
        app.get_all("/api/v1/projects").await.len(),
        1,
        "nothing written"
    );
}

/// A members file of one new household in the county's own village whose head is the person `id`.
fn clash_file(no: &str, id: &str) -> String {
    let head = crate::registry::Person {
        name: "张三",
        male: id.as_bytes()[16] % 2 == 1,
        id: id.to_string(),
        relation: "户主",
    };
    format!(
        "{HEADER}\n{}\n",
        crate::registry::row(no, OWN_VILLAGE, &head, "因病", "已脱贫", "2018")
    )
}

async fn clashes(app: &TestApp, user: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/audit/identity-clashes?user={user}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_identity_oracle_names_no_place_is_audited_even_in_a_dry_run_and_blocks_after_the_days_limit()
 {
    let app = TestApp::spawn().await;
    other_countys_household(&app, "B-1", 1).await;
    let county = county_user(&app).await;
    let taken = id_number("360730", "19700305", 1, true);
    let path = "/api/v1/imports/households?dry_run=true";
    let (status, body) = upload(
        &app,
        &county.client,
        path,
        "probe.csv",
        &clash_file("A-1", &taken),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        problems(&body),
        [(
            2,
            "证件号码".to_string(),
            "此人已在其他地区登记为在册成员，请联系上级核实".to_string()
        )]
    );
    let text = body.to_string();
    assert!(
        !text.contains("B-1") && !text.contains("360730100001") && !text.contains(&taken),
        "{text}"
    );
    // The dry run was rolled back; its clash was not.
    let found = clashes(&app, &county.username).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let after: Value = serde_json::from_str(found[0]["after_json"].as_str().unwrap()).unwrap();
    assert_eq!(after["file"], "probe.csv");
    assert_eq!(after["row"], 2);
    assert_eq!(after["sha256"].as_str().unwrap().len(), 64);
    assert!(
        after["value"].as_str().unwrap().contains('*'),
        "masked: {after}"
    );
    assert!(!found[0].to_string().contains(&taken));
    // Inside the scope the message names both households, as before, and nothing is counted.
    let own = format!("{HEADER}\n{}\n", family("A-2", OWN_VILLAGE, 2).join("\n"));
    let (status, _) = upload(
        &app,
        &app.client,
        "/api/v1/imports/households",
        "a.csv",
        &own,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = upload(
        &app,
        &county.client,
        path,
        "own.csv",
        &clash_file("A-3", &id_number(OWN_COUNTY, "19700305", 2, true)),
    )
    .await;
    assert!(problems(&body)[0].2.contains("A-2"), "{body}");
    assert_eq!(clashes(&app, &county.username).await.len(), 1);

    // An existing 户编号 elsewhere: 409 saying only that it is taken, and counted.
    let household = json!({"household_no": "B-1", "village_code": OWN_VILLAGE, "attribute": "一般贫困户", "identification_standard": "国家标准",
        "main_cause": "因病", "identified_year": 2015, "status": "未脱贫",
        "members": [{"name": "陈一", "sex": "男", "id_number": id_number(OWN_COUNTY, "19600101", 9, true), "relation": "户主", "ethnicity": "汉",
                     "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}]});
    let (status, body) = app
        .send(
            &county.client,
            Method::POST,
            "/api/v1/households",
            Some(&household),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("已被使用") && !message.contains("360730") && !message.contains("PUT"),
        "{message}"
    );
    assert_eq!(clashes(&app, &county.username).await.len(), 2);

    // Up to the day's limit (20 by the rules) the answers come; the 21st clash blocks the user.
    for i in 3..=20 {
        let (status, _) = upload(
            &app,
            &county.client,
            path,
            "probe.csv",
            &clash_file(&format!("A-P{i}"), &taken),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "clash {i} is still answered"
        );
    }
    let (status, body) = upload(
        &app,
        &county.client,
        path,
        "probe.csv",
        &clash_file("A-P21", &taken),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        !body.to_string().contains("此人已在"),
        "the 21st answer is withheld: {body}"
    );
    let clean = format!("{HEADER}\n{}\n", family("A-9", OWN_VILLAGE, 9).join("\n"));
    let (status, body) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "clean.csv",
        &clean,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("管理员"),
        "{body}"
    );
    let incomes = format!("{INCOME_HEADER}\nA-2,2019,9000,0,0,500,0\n");
    let (status, _) = upload(
        &app,
        &county.client,
        "/api/v1/imports/incomes",
        "i.csv",
        &incomes,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut fresh = household.clone();
    fresh["household_no"] = json!("A-NEW");
    let (status, _) = app
        .send(
            &county.client,
            Method::POST,
            "/api/v1/households",
            Some(&fresh),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "household writes are refused too"
    );

    // The audit page lists the user with a 解除 form; the administrator clears it there.
    let (status, page) = app.get_text("/audit").await;
    assert_eq!(status, StatusCode::OK);
    let form = format!("/audit/identity-clashes/{}/clear", county.username);
    assert!(
        page.contains(&county.username) && page.contains(&form) && page.contains("解除"),
        "{page}"
    );
    let auditor = app.client_as("auditor", None, None).await;
    let r = auditor.get(app.url("/audit")).send().await.unwrap();
    let seen = r.text().await.unwrap();
    assert!(
        seen.contains(&county.username) && !seen.contains(&form),
        "auditors see the block but cannot clear it"
    );
    let r = county.client.post(app.url(&form)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "only an administrator clears"
    );
    let r = app.client.post(app.url(&form)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, body) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "clean.csv",
        &clean,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, audit) = app.get("/api/v1/audit?action=identity_clash_clear").await;
    assert_eq!(audit["items"][0]["entity_id"], county.username.as_str());
    assert_eq!(audit["items"][0]["username"], crate::harness::ADMIN_USER);
}

#[tokio::test]
async fn the_clash_limit_is_rule_data_and_the_api_clears_a_block() {
    let app = TestApp::spawn().await;
    other_countys_household(&app, "B-1", 1).await;
    let (status, rules) = app
        .put(
            "/api/v1/rules",
            &json!({"identity_clash_daily_limit": 2, "note": "测试"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let county = county_user(&app).await;
    let taken = id_number("360730", "19720811", 1, false);
    for i in 1..=2 {
        let (status, _) = upload(
            &app,
            &county.client,
            "/api/v1/imports/households?dry_run=true",
            "p.csv",
            &clash_file(&format!("A-{i}"), &taken),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households?dry_run=true",
        "p.csv",
        &clash_file("A-3", &taken),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, listed) = app.get("/api/v1/audit/identity-clashes").await;
    assert_eq!(
        listed["blocked"][0]["username"],
        county.username.as_str(),
        "{listed}"
    );
    assert_eq!(listed["blocked"][0]["clashes"], 3);
    assert_eq!(listed["blocked"][0]["limit"], 2);
    let path = format!("/api/v1/audit/identity-clashes/{}/clear", county.username);
    let auditor = app.client_as("auditor", None, None).await;
    let (status, _) = app.send(&auditor, Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .send(
            &county.client,
            Method::GET,
            "/api/v1/audit/identity-clashes",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.post(&path, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, listed) = app.get("/api/v1/audit/identity-clashes").await;
    assert!(listed["blocked"].as_array().unwrap().is_empty(), "{listed}");
    let clean = format!("{HEADER}\n{}\n", family("A-9", OWN_VILLAGE, 9).join("\n"));
    let (status, body) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "clean.csv",
        &clean,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .post("/api/v1/audit/identity-clashes/nobody/clear", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_county_cannot_move_its_own_household_out_of_its_scope() {
    let app = TestApp::spawn().await;
    let own = format!("{HEADER}\n{}\n", family("A-1", OWN_VILLAGE, 1).join("\n"));
    let (status, _) = upload(
        &app,
        &app.client,
        "/api/v1/imports/households",
        "a.csv",
        &own,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = household_id(&app, "A-1").await.unwrap();
    let county = county_user(&app).await;
    // Through the API: the household's own data (its head by full ID number) in another
    // county's village.
    let body = json!({"village_code": OTHER_VILLAGE, "attribute": "一般贫困户", "identification_standard": "国家标准",
        "main_cause": "因病", "identified_year": 2014, "status": "已脱贫", "exit_year": 2018,
        "members": [{"name": "王大山", "sex": "男", "id_number": id_number(OWN_COUNTY, "19700305", 1, true), "relation": "户主",
                     "ethnicity": "汉族", "education": "初中", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}]});
    let (status, refused) = app
        .send(
            &county.client,
            Method::PUT,
            &format!("/api/v1/households/{id}"),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        crate::harness::error_fields(&refused),
        ["village_code"],
        "{refused}"
    );
    // Through a file.
    let away = format!("{HEADER}\n{}\n", family("A-1", OTHER_VILLAGE, 1).join("\n"));
    let (status, refused) = upload(
        &app,
        &county.client,
        "/api/v1/imports/households",
        "away.csv",
        &away,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        problems(&refused).iter().all(|p| p.1 == "行政区划代码"),
        "{refused}"
    );
    let (_, detail) = app.get(&format!("/api/v1/households/{id}")).await;
    assert_eq!(detail["village_code"], OWN_VILLAGE);
}
