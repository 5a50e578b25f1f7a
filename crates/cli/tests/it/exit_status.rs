//! 脱贫状态 changes and the exit procedure (issue 13 items 4 and 5): only the allowed
//! transitions through the status door (API and household page), a way out of poverty only by
//! the exit procedure's 销号, a re-exit counted once at its last exit, the procedure's
//! verification, the household's consent or refusal, and objections only within the 公示.

use crate::assessment::{
    EAST_VILLAGE, TASHKURGAN_VILLAGE, exited, household_id, import, poor, run_ok,
};
use crate::harness::{TestApp, error_fields};
use crate::stats::{overview, scenario};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn change(app: &TestApp, id: i64, status: &str, year: i64) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/households/{id}/status"),
        &json!({"status": status, "year": year, "note": "测试"}),
    )
    .await
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn detail(app: &TestApp, id: i64) -> Value {
    let (status, h) = app.get(&format!("/api/v1/households/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    h
}

fn status_and_exit(h: &Value) -> (String, Option<i64>) {
    (
        h["status"]["code"].as_str().unwrap().to_string(),
        h["exit_year"].as_i64(),
    )
}

#[tokio::test]
async fn status_changes_allow_only_the_table_and_never_move_the_exit_year() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            poor("S-POOR", EAST_VILLAGE, 1),
            exited("S-OUT", EAST_VILLAGE, 2),
        ],
        &[],
    );
    let (poor_id, out_id) = (
        household_id(&app, "S-POOR").await,
        household_id(&app, "S-OUT").await,
    );

    // 未脱贫 → 已脱贫 only by the exit procedure's 销号; 未脱贫 → 返贫 not at all.
    let (status, body) = change(&app, poor_id, "已脱贫（享受政策）", 2019).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["status"]);
    assert!(message(&body).contains("须经退出程序"), "{body}");
    assert!(
        message(&body)
            .contains("已脱贫（享受政策） → 已脱贫（不再享受政策）：状态变更，脱贫年度不变"),
        "names the allowed ways: {body}"
    );
    for to in ["返贫", "已脱贫（不再享受政策）"] {
        let (status, body) = change(&app, poor_id, to, 2019).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{to}: {body}");
        assert!(
            message(&body).contains("不能将脱贫状态由“未脱贫”"),
            "{body}"
        );
    }
    assert_eq!(
        status_and_exit(&detail(&app, poor_id).await),
        ("0".into(), None)
    );
    // The page form says the same, in Chinese, and writes nothing.
    let page = app
        .client
        .post(app.url(&format!("/households/{poor_id}/status")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("status=1&year=2019&note=")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = page.text().await.unwrap();
    assert!(page.contains("须经退出程序"), "{page}");
    assert_eq!(
        status_and_exit(&detail(&app, poor_id).await),
        ("0".into(), None)
    );

    // 1 → 4 keeps the exit year (the request's year is the year of the change only).
    let (status, h) = change(&app, out_id, "已脱贫（不再享受政策）", 2020).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(status_and_exit(&h), ("4".into(), Some(2018)));
    let history = h["status_history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .filter(|r| r["status"]["code"] != "4")
            .all(|r| r["source"] == "导入"),
        "imported statuses are history from the file: {h}"
    );
    assert_eq!(history.last().unwrap()["source"], "状态变更");
    // Back to 1 is no transition.
    let (status, body) = change(&app, out_id, "已脱贫（享受政策）", 2020).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // 4 → 3 only up to 2020 (a rule item); 2021 is monitoring's.
    let (status, body) = change(&app, out_id, "返贫", 2021).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("防返贫监测"), "{body}");
    let (status, h) = change(&app, out_id, "返贫", 2020).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(status_and_exit(&h), ("3".into(), Some(2018)));
    // 返贫 → 已脱贫 again only by the procedure.
    let (status, body) = change(&app, out_id, "已脱贫（享受政策）", 2020).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("须经退出程序"), "{body}");

    // The year limit is a versioned rule, shown on the rules page.
    let (status, _) = app
        .put("/api/v1/rules", &json!({"returned_status_last_year": 2021}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, rules_page) = app.get_text("/assessment/rules").await;
    assert!(rules_page.contains("2021 年及以前"), "{rules_page}");
}

/// A full procedure up to 销号 for `year`, one step on each date.
async fn full_procedure(app: &TestApp, id: i64, year: i64, dates: [&str; 7]) -> Value {
    let states = [
        "proposed",
        "review",
        "verification",
        "consent",
        "publicity",
        "announcement",
        "removed",
    ];
    let mut last = Value::Null;
    for (state, date) in states.iter().zip(dates) {
        let (status, body) = app
            .post(
                &format!("/api/v1/households/{id}/exit-procedure"),
                &json!({"year": year, "state": state, "date": date, "responsible": "驻村第一书记 张明"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{state}: {body}");
        last = body;
    }
    last
}

#[tokio::test]
async fn a_re_exit_keeps_the_first_exit_in_history_and_the_headline_counts_it_once_at_its_last_exit()
 {
    let app = TestApp::spawn().await;
    scenario(&app).await;
    let people = |o: &Value| o["people_out_of_poverty"].as_i64().unwrap();
    let before: Vec<i64> = {
        let mut v = Vec::new();
        for q in ["", "?since=2016&until=2016", "?since=2019&until=2019"] {
            v.push(people(&overview(&app, q).await));
        }
        v
    };
    let mut h = exited("RE-1", TASHKURGAN_VILLAGE, 41);
    h.exit_year = "2016";
    import(
        &app,
        &[h],
        &[
            ("RE-1", 2015, "3000"),
            ("RE-1", 2018, "3500"),
            ("RE-1", 2019, "4200"),
        ],
    );
    let id = household_id(&app, "RE-1").await;
    assert_eq!(
        people(&overview(&app, "?since=2016&until=2016").await),
        before[1] + 1
    );
    let (status, h) = change(&app, id, "返贫", 2017).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(
        people(&overview(&app, "").await),
        before[0],
        "返贫: not out"
    );

    run_ok(&app, &["assess", "--year", "2019"]);
    let done = full_procedure(
        &app,
        id,
        2019,
        [
            "2019-10-01",
            "2019-10-05",
            "2019-10-08",
            "2019-10-09",
            "2019-10-10",
            "2019-10-17",
            "2019-10-20",
        ],
    )
    .await;
    assert_eq!(done["current"], "removed");
    let h = detail(&app, id).await;
    assert_eq!(status_and_exit(&h), ("1".into(), Some(2019)));
    let exits: Vec<(i64, String)> = h["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"]["code"] == "1")
        .map(|r| {
            (
                r["year"].as_i64().unwrap(),
                r["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        exits,
        [(2016, "导入".to_string()), (2019, "退出程序".to_string())],
        "the first exit kept"
    );
    // Counted once, at its last exit: moved from 2016 to 2019, not added twice.
    assert_eq!(people(&overview(&app, "").await), before[0] + 1);
    assert_eq!(
        people(&overview(&app, "?since=2016&until=2016").await),
        before[1]
    );
    assert_eq!(
        people(&overview(&app, "?since=2019&until=2019").await),
        before[2] + 1
    );
    let check = app.bangfu(&["stats", "check"]);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test]
async fn the_household_must_agree_and_an_objection_after_the_publicity_is_refused() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            poor("X-REF", EAST_VILLAGE, 1),
            poor("X-LATE", EAST_VILLAGE, 2),
        ],
        &[
            ("X-REF", 2018, "3500"),
            ("X-REF", 2019, "4200"),
            ("X-LATE", 2018, "3500"),
            ("X-LATE", 2019, "4200"),
        ],
    );
    run_ok(&app, &["assess", "--year", "2019"]);
    let (refuser, late) = (
        household_id(&app, "X-REF").await,
        household_id(&app, "X-LATE").await,
    );
    let step = |id: i64, state: &'static str, date: &'static str, note: &'static str| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/households/{id}/exit-procedure"),
                &json!({"year": 2019, "state": state, "date": date, "responsible": "驻村第一书记 张明", "note": note}),
            )
            .await
        }
    };
    for id in [refuser, late] {
        for (state, date) in [("拟退出", "2019-11-01"), ("民主评议", "2019-11-05")] {
            let (status, body) = step(id, state, date, "").await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        // 公示 straight after the review skips two steps.
        let (status, body) = step(id, "公示", "2019-11-06", "").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            message(&body).contains("下一步只能是：村两委和驻村工作队核实"),
            "{body}"
        );
        let (status, body) = step(id, "核实", "2019-11-06", "").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["current_name"], "村两委和驻村工作队核实");
    }
    // The household does not agree: needs its reason, stops the procedure, is kept.
    let (status, body) = step(refuser, "不认可", "2019-11-07", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["note"]);
    let (status, body) = step(refuser, "不认可", "2019-11-07", "户主认为务工收入不稳定").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["current"], "refusal");
    let next: Vec<&str> = body["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n[0].as_str().unwrap())
        .collect();
    assert_eq!(next, ["proposed"]);
    let (status, _) = step(refuser, "公示", "2019-11-10", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail(&app, refuser).await["status"]["code"], "0");

    // An objection on the last day of the 公示 is taken; one day later it is refused.
    let (status, body) = step(late, "认可", "2019-11-07", "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = step(late, "公示", "2019-11-10", "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["publicity_until"], "2019-11-16");
    let (status, body) = step(late, "异议", "2019-11-17", "村民反映收入有误").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["date"]);
    assert!(
        message(&body).contains("公示期为 2019-11-10 至 2019-11-16"),
        "{body}"
    );
    let (status, body) = step(late, "异议", "2019-11-16", "村民反映收入有误").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The page shows the whole chain and the refusal with its reason.
    let (status, page) = app
        .get_text(&format!("/households/{refuser}/assessment?year=2019"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("拟退出 → 民主评议 → 村两委和驻村工作队核实 → 贫困户认可 → 公示（不少于 7 天） → 公告 → 销号")
            && page.contains("贫困户不认可（程序中止）")
            && page.contains("户主认为务工收入不稳定"),
        "{page}"
    );
}

/// The household as a PUT body (codes; the masked ID numbers with member numbers leave the
/// members unchanged), with `status` and `exit_year` as given.
fn put_body(h: &Value, status: &str, exit_year: Option<i64>) -> Value {
    let members: Vec<Value> = h["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["active"] == true)
        .map(|m| {
            json!({"member_no": m["member_no"], "name": m["name"], "sex": m["sex"]["code"],
                   "id_number": m["id_number"], "relation": m["relation"]["code"], "ethnicity": m["ethnicity"]["code"],
                   "education": m["education"]["code"], "schooling": m["schooling"]["code"], "health": m["health"]["code"],
                   "labour": m["labour"]["code"]})
        })
        .collect();
    json!({"village_code": h["village_code"], "attribute": h["attribute"]["code"],
           "identification_standard": h["identification_standard"]["code"], "main_cause": h["main_cause"]["code"],
           "identified_year": h["identified_year"], "status": status, "exit_year": exit_year, "members": members})
}

/// The edit doors (`PUT /api/v1/households/{id}` and the household edit form) obey the status
/// door's table; only a file import carries historical statuses (recorded with source 导入).
#[tokio::test]
async fn edits_by_api_and_form_cannot_bypass_the_status_rules() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            poor("E-POOR", EAST_VILLAGE, 11),
            exited("E-OUT", EAST_VILLAGE, 12),
        ],
        &[],
    );
    let (poor_id, out_id) = (
        household_id(&app, "E-POOR").await,
        household_id(&app, "E-OUT").await,
    );
    let poor_h = detail(&app, poor_id).await;
    let out_h = detail(&app, out_id).await;
    let history_len = |h: &Value| h["status_history"].as_array().unwrap().len();

    // 未脱贫 → 已脱贫 by PUT: refused, naming the exit procedure; nothing written.
    let (status, body) = app
        .put(
            &format!("/api/v1/households/{poor_id}"),
            &put_body(&poor_h, "1", Some(2019)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["status"], "{body}");
    assert!(body.to_string().contains("须经退出程序"), "{body}");
    // 未脱贫 → 返贫: no such transition.
    let (status, body) = app
        .put(
            &format!("/api/v1/households/{poor_id}"),
            &put_body(&poor_h, "3", Some(2019)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string()
            .contains("不能将脱贫状态由“未脱贫”改为“返贫”"),
        "{body}"
    );
    let after = detail(&app, poor_id).await;
    assert_eq!(status_and_exit(&after), ("0".into(), None));
    assert_eq!(history_len(&after), history_len(&poor_h));

    // Moving the exit year between years of the headline: refused.
    let (status, body) = app
        .put(
            &format!("/api/v1/households/{out_id}"),
            &put_body(&out_h, "1", Some(2019)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["exit_year"], "{body}");
    assert!(
        body.to_string().contains("脱贫年度只能由退出程序销号确定"),
        "{body}"
    );
    // 1 → 4 with the exit year moved: refused on the exit year.
    let (status, body) = app
        .put(
            &format!("/api/v1/households/{out_id}"),
            &put_body(&out_h, "4", Some(2020)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["exit_year"], "{body}");
    assert_eq!(
        status_and_exit(&detail(&app, out_id).await),
        ("1".into(), Some(2018))
    );
    // An edit that leaves status and exit year alone still saves.
    let mut same = put_body(&out_h, "1", Some(2018));
    same["main_cause"] = json!("缺技术");
    let (status, body) = app
        .put(&format!("/api/v1/households/{out_id}"), &same)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        history_len(&body),
        history_len(&out_h),
        "no status row for an unchanged status"
    );
    // 1 → 4 keeping the exit year is a status change the table allows: recorded as one.
    let (status, h) = app
        .put(
            &format!("/api/v1/households/{out_id}"),
            &put_body(&out_h, "4", Some(2018)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(status_and_exit(&h), ("4".into(), Some(2018)));
    assert_eq!(
        h["status_history"].as_array().unwrap().last().unwrap()["source"],
        "状态变更"
    );
    // 4 → 3 is for years up to 2020 only, and an edit is dated today.
    let (status, body) = app
        .put(
            &format!("/api/v1/households/{out_id}"),
            &put_body(&h, "3", Some(2018)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("防返贫监测"), "{body}");

    // The household edit form: the same rule, a Chinese message next to the field, nothing written.
    let (_, edit) = app.get_text(&format!("/households/{poor_id}/edit")).await;
    let fields = crate::registry_pages::form_fields(&edit, &format!("/households/{poor_id}/edit"));
    let form: Vec<(String, String)> = fields
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "status" => (k, "1".to_string()),
            "exit_year" => (k, "2019".to_string()),
            _ => (k, v),
        })
        .collect();
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, page, _) = crate::registry_pages::post_form(
        &app,
        &app.client,
        &format!("/households/{poor_id}/edit"),
        &refs,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("须经退出程序"), "{page}");
    assert_eq!(
        status_and_exit(&detail(&app, poor_id).await),
        ("0".into(), None)
    );

    // A file import still carries a historical status (source 导入).
    import(&app, &[exited("E-POOR", EAST_VILLAGE, 11)], &[]);
    let h = detail(&app, poor_id).await;
    assert_eq!(status_and_exit(&h), ("1".into(), Some(2018)));
    assert_eq!(
        h["status_history"].as_array().unwrap().last().unwrap()["source"],
        "导入"
    );
}
