//! The registry as people use it in a browser: the drill-down and list pages, the household
//! file with masked numbers and the reveal form, forms that come back with field messages,
//! the import page with its problem report, templates, and exports that import back.

use crate::harness::TestApp;
use crate::registry::{HEADER, family, id_number, write_file};
use reqwest::StatusCode;
use serde_json::Value;

const VILLAGE: &str = "441621103212";
const OTHER_VILLAGE: &str = "451024100200";

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Posts an HTML form (application/x-www-form-urlencoded) as the test administrator.
pub(crate) async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, r.text().await.expect("body"), location)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let sql = sql.to_string();
    match &app.db {
        store::Db::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
        store::Db::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

fn import_file(app: &TestApp, dir: &tempfile::TempDir, name: &str, lines: &[String]) {
    let file = write_file(
        dir,
        name,
        format!("{HEADER}\n{}\n", lines.join("\n")).as_bytes(),
    );
    let out = app.bangfu(&["import", "households", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two families in 紫金县 (在上村) and one in another county; returns the full ID numbers.
fn seed(app: &TestApp, dir: &tempfile::TempDir) -> Vec<String> {
    let mut lines = family("4416210001", VILLAGE, 1);
    lines.extend(family("4416210002", VILLAGE, 2));
    lines.extend(family("4510240001", OTHER_VILLAGE, 3));
    import_file(app, dir, "seed.csv", &lines);
    lines
        .iter()
        .map(|l| l.split(',').nth(5).unwrap().to_string())
        .collect()
}

async fn household_id(app: &TestApp, no: &str) -> i64 {
    let items = app.get_all(&format!("/api/v1/households?q={no}")).await;
    items
        .iter()
        .find(|h| h["household_no"] == no)
        .unwrap_or_else(|| panic!("{no} not listed"))["id"]
        .as_i64()
        .unwrap()
}

async fn detail(app: &TestApp, id: i64) -> Value {
    let (status, d) = app.get(&format!("/api/v1/households/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    d
}

#[tokio::test]
async fn the_registry_drills_down_from_county_to_village_and_lists_households_by_page() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&app, &dir);

    let (status, top) = app.get_text("/registry").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        top.contains("href=\"/registry?region=441621\">紫金县</a>"),
        "{top}"
    );
    assert!(
        top.contains("广东省 河源市"),
        "counties show where they are"
    );
    // 紫金县: 2 households, 6 people; both counties together 3 and 9.
    let row = top.split("紫金县</a>").nth(1).unwrap();
    assert!(
        row.contains("<td class=\"num\">2</td><td class=\"num\">6</td>"),
        "{row}"
    );
    assert!(
        top.contains("<span class=\"num\">3</span>")
            && top.contains("<span class=\"num\">9</span>")
    );

    let (_, county) = app.get_text("/registry?region=441621").await;
    assert!(
        county.contains("href=\"/registry?region=441621103\">九和镇</a>"),
        "{county}"
    );
    assert!(!county.contains("4510"), "only this county's towns");
    let (_, town) = app.get_text("/registry?region=441621103").await;
    assert!(
        town.contains("href=\"/households?region=441621103212\">在上村村民委员会</a>"),
        "{town}"
    );
    let r = app
        .client
        .get(app.url("/registry?region=441621103212"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/households?region=441621103212");

    let (status, list) = app.get_text("/households?region=441621103212").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(">4416210001</a>") && list.contains(">4416210002</a>"));
    assert!(!list.contains("4510240001"));
    assert!(
        list.contains("/api/v1/households/export.csv?region=441621103212"),
        "export links carry the filters"
    );
    let (status, bad) = app.get_text("/households?status=不存在").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.contains("status“不存在”无效"), "{bad}");

    // The public is sent to log in.
    let r = app
        .anonymous_client()
        .get(app.url("/registry"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn the_household_list_pages_by_keyset_with_the_filters_kept() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..53u32 {
        let id = id_number("441621", "19600101", i, true);
        lines.push(format!(
            "P{i:03},,{VILLAGE},户主{i},男,{id},户主,汉族,小学,非在校生,健康,普通劳动力,0,一般贫困户,国家标准,因病,,2014,未脱贫,,"
        ));
    }
    import_file(&app, &dir, "many.csv", &lines);
    let (_, first) = app.get_text("/households?region=441621&status=0").await;
    assert_eq!(first.matches("<tr><td><a href=\"/households/").count(), 50);
    assert!(first.contains(">P049</a>") && !first.contains(">P050</a>"));
    let next = first
        .split("<a class=\"button\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        next.starts_with("/households?region=441621&status=0&cursor="),
        "{next}"
    );
    let (_, second) = app.get_text(&next).await;
    assert_eq!(second.matches("<tr><td><a href=\"/households/").count(), 3);
    assert!(second.contains(">P050</a>") && second.contains(">P052</a>"));
    assert!(!second.contains("下一页"));
}

#[tokio::test]
async fn the_household_file_shows_masked_numbers_only() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = seed(&app, &dir);
    let id = household_id(&app, "4416210001").await;
    let (status, page) = app.get_text(&format!("/households/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("一户一档") && page.contains("广东省 河源市 紫金县 九和镇 在上村村民委员会"),
        "{page}"
    );
    for full in &ids[..3] {
        assert!(!page.contains(full.as_str()), "{full} shown in full");
        assert!(
            page.contains(&domain::id_number::mask_id(full)),
            "masked {full} missing"
        );
    }
    assert!(page.contains("138****1234") && !page.contains("13800001234"));
    assert!(page.contains("/static/registry.css"));
    let (_, css) = app.get_text("/static/registry.css").await;
    assert!(css.contains("@media print") && css.contains("A4"));
    // Neither the list, nor the drill-down, nor the edit form carry a full number.
    let mut seen = String::new();
    for path in [
        "/households".to_string(),
        "/registry?region=441621103".to_string(),
        format!("/households/{id}/edit"),
    ] {
        seen += &app.get_text(&path).await.1;
    }
    for full in &ids {
        assert!(!seen.contains(full.as_str()), "{full} leaked");
    }
}

/// The fields a browser would submit from the form with this action: inputs with their value,
/// selects with their selected option (the first when none is).
pub(crate) fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("action=\"{action}\""))
        .expect("form present");
    let form = &html[start..html[start..].find("</form>").map(|e| start + e).unwrap()];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(
            tag[at..]
                .split('"')
                .next()
                .unwrap()
                .replace("&#38;", "&")
                .replace("&amp;", "&")
                .replace("&#34;", "\"")
                .replace("&#39;", "'"),
        )
    };
    let mut out = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if rest.starts_with("<input") {
            let tag = &rest[..rest.find('>').unwrap()];
            if let Some(name) = attr(tag, "name") {
                out.push((name, attr(tag, "value").unwrap_or_default()));
            }
        } else if rest.starts_with("<select") {
            let tag = &rest[..rest.find('>').unwrap()];
            let body = &rest[..rest.find("</select>").unwrap()];
            let options: Vec<&str> = body.split("<option").skip(1).collect();
            let chosen = options
                .iter()
                .find(|o| o.split('>').next().unwrap().contains(" selected"))
                .or(options.first());
            let value = chosen.and_then(|o| attr(o, "value")).unwrap_or_default();
            out.push((attr(tag, "name").unwrap(), value));
        }
        rest = &rest[1..];
    }
    out
}

#[tokio::test]
async fn a_refused_household_form_comes_back_with_field_messages_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let head_id = id_number("441621", "19650101", 11, true);
    let wrong = format!(
        "{}{}",
        &head_id[..17],
        if head_id.ends_with('1') { '2' } else { '1' }
    );
    let mut form: Vec<(&str, &str)> = vec![
        ("household_no", "FORM-1"),
        ("village_code", "441621103"),
        ("group_name", "三组"),
        ("attribute", "1"),
        ("identification_standard", "1"),
        ("main_cause", "01"),
        ("other_causes_1", ""),
        ("other_causes_2", ""),
        ("identified_year", "2015"),
        ("status", "0"),
        ("exit_year", ""),
        ("members[0].name", "陈一"),
        ("members[0].sex", "1"),
        ("members[0].id_number", &wrong),
        ("members[0].relation", "01"),
        ("members[0].ethnicity", "01"),
        ("members[0].education", "小学"),
        ("members[0].schooling", "非在校生"),
        ("members[0].health", "健康"),
        ("members[0].labour", "普通劳动力"),
        ("members[0].phone", "13912345678"),
        // Row 3 of the form (rows 2 is blank): a spouse without a name.
        ("members[2].sex", "2"),
        ("members[2].id_number", ""),
    ];
    let (status, page, _) = post_form(&app, &app.client, "/households/new", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let near = |field: &str| -> String {
        let at = page
            .find(&format!("name=\"{field}\""))
            .unwrap_or_else(|| panic!("{field} not in form"));
        page[at..].split("</div>").next().unwrap().to_string()
    };
    assert!(
        near("village_code").contains("field-error"),
        "{}",
        near("village_code")
    );
    assert!(near("village_code").contains("12 位村级代码"));
    assert!(
        near("members[0].id_number").contains("field-error"),
        "{}",
        near("members[0].id_number")
    );
    assert!(
        near("members[2].name").contains("姓名不能为空"),
        "{}",
        near("members[2].name")
    );
    assert!(
        !near("members[1].name").contains("field-error"),
        "the blank row has no messages"
    );
    assert!(
        near("household_no").contains("value=\"FORM-1\""),
        "what was typed stays"
    );
    // The typed number stays in its input for correcting (the page is not cached), but no
    // message quotes it.
    let message = near("members[0].id_number")
        .split("field-error")
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap()
        .to_string();
    assert!(!message.contains(&wrong), "{message}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM households").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM members").await, 0);

    // Corrected: created, and the browser goes to the household file.
    let spouse_id = id_number("441621", "19680202", 11, false);
    form.retain(|(k, _)| !k.starts_with("members[2]"));
    for (k, v) in form.iter_mut() {
        match *k {
            "village_code" => *v = VILLAGE,
            "members[0].id_number" => *v = &head_id,
            _ => {}
        }
    }
    form.extend([
        ("members[1].name", "陈二"),
        ("members[1].sex", "2"),
        ("members[1].id_number", spouse_id.as_str()),
        ("members[1].relation", "配偶"),
        ("members[1].ethnicity", "汉族"),
        ("members[1].education", "小学"),
        ("members[1].schooling", "非在校生"),
        ("members[1].health", "健康"),
        ("members[1].labour", "普通劳动力"),
    ]);
    let (status, page, location) = post_form(&app, &app.client, "/households/new", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let id = household_id(&app, "FORM-1").await;
    assert_eq!(location, format!("/households/{id}"));
    let d = detail(&app, id).await;
    assert_eq!(d["member_count"], 2);
    assert_eq!(d["group_name"], "三组");
    let (status, again, _) = post_form(&app, &app.client, "/households/new", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.contains("户编号 FORM-1 已存在"));

    // The edit form: masked numbers are kept, a changed field is saved.
    let (_, edit) = app.get_text(&format!("/households/{id}/edit")).await;
    assert!(
        edit.contains(&format!(
            "value=\"{}\"",
            domain::id_number::mask_id(&head_id)
        )),
        "{edit}"
    );
    let mut fields = form_fields(&edit, &format!("/households/{id}/edit"));
    let spouse_row = fields
        .iter()
        .find(|(k, v)| k.ends_with(".name") && v == "陈二")
        .unwrap()
        .0
        .replace(".name", "");
    for (k, v) in fields.iter_mut() {
        if *k == format!("{spouse_row}.education") {
            *v = "4".into(); // 高中
        }
    }
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, page, _) =
        post_form(&app, &app.client, &format!("/households/{id}/edit"), &refs).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let d = detail(&app, id).await;
    let spouse = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "陈二")
        .unwrap();
    assert_eq!(spouse["education"]["name"], "高中");
    assert_eq!(spouse["id_number"], domain::id_number::mask_id(&spouse_id));
    assert_eq!(d["member_count"], 2);
    let (_, revealed) = app
        .post(
            &format!("/api/v1/members/{}/reveal", spouse["id"]),
            &serde_json::json!({"reason": "核对户籍身份"}),
        )
        .await;
    assert_eq!(
        revealed["id_number"], spouse_id,
        "the masked cell left the number unchanged"
    );

    // An edit that breaks a rule is refused field by field and changes nothing.
    let broken: Vec<(&str, &str)> = refs
        .iter()
        .map(|(k, v)| {
            if *k == "identified_year" {
                (*k, "2009")
            } else {
                (*k, *v)
            }
        })
        .collect();
    let (status, page, _) = post_form(
        &app,
        &app.client,
        &format!("/households/{id}/edit"),
        &broken,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let at = page.find("name=\"identified_year\"").unwrap();
    assert!(
        page[at..]
            .split("</div>")
            .next()
            .unwrap()
            .contains("识别年度应为"),
        "{page}"
    );
    assert_eq!(detail(&app, id).await["identified_year"], 2015);
}

#[tokio::test]
async fn the_household_page_forms_record_changes_and_refuse_with_messages() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&app, &dir);
    let id = household_id(&app, "4416210001").await;
    let base = format!("/households/{id}");
    let (_, page) = app.get_text(&base).await;
    for action in [
        "status", "income", "cadres", "measures", "members", "events",
    ] {
        assert!(
            page.contains(&format!("action=\"/households/{id}/{action}\"")),
            "form {action} missing"
        );
    }
    let history = detail(&app, id).await["status_history"]
        .as_array()
        .unwrap()
        .len();

    // Refused: a year before identification.
    let (status, page, _) = post_form(
        &app,
        &app.client,
        &format!("{base}/status"),
        &[("status", "1"), ("year", "2010"), ("note", "")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let at = page.find("id=\"status-year\"").unwrap();
    assert!(
        page[at..]
            .split("</div>")
            .next()
            .unwrap()
            .contains("年份应在识别年度与今年之间")
    );
    assert!(
        page.contains("<details class=\"form-box no-print\" id=\"status\" open>"),
        "the failed form is open"
    );
    assert_eq!(
        detail(&app, id).await["status_history"]
            .as_array()
            .unwrap()
            .len(),
        history
    );

    // Income of a year, to the fen.
    let (status, _, location) = post_form(
        &app,
        &app.client,
        &format!("{base}/income"),
        &[
            ("year", "2019"),
            ("wage", "12,000.50"),
            ("business", "3000"),
            ("property", ""),
            ("transfer", "1500"),
            ("business_cost", "600.50"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{base}#income"));
    let d = detail(&app, id).await;
    assert_eq!(d["incomes"][0]["per_capita_fen"], 530000);
    let (_, page) = app.get_text(&base).await;
    assert!(
        page.contains("title=\"5,300.00元\">5,300.00元</span>"),
        "the file shows the per-capita income"
    );
    let (status, page, _) = post_form(
        &app,
        &app.client,
        &format!("{base}/income"),
        &[("year", "2019"), ("wage", "1.234")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let at = page.find("id=\"income-wage\"").unwrap();
    assert!(
        page[at..]
            .split("</div>")
            .next()
            .unwrap()
            .contains("field-error")
    );

    // Cadre: refused without a name, then recorded.
    let cadre = [
        ("name", ""),
        ("unit", "建设银行深圳市分行"),
        ("unit_level", "市直"),
        ("phone", "13712345678"),
        ("start_date", "2018-04-01"),
    ];
    let (status, page, _) = post_form(&app, &app.client, &format!("{base}/cadres"), &cadre).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("请填写帮扶责任人姓名"));
    let mut cadre = cadre;
    cadre[0].1 = "刘鹏威";
    assert_eq!(
        post_form(&app, &app.client, &format!("{base}/cadres"), &cadre)
            .await
            .0,
        StatusCode::SEE_OTHER
    );

    // Relocation needs both villages.
    let (status, page, _) = post_form(
        &app,
        &app.client,
        &format!("{base}/measures"),
        &[
            ("measure_type", "易地扶贫搬迁"),
            ("date", "2019-06-01"),
            ("amount", "60000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("易地扶贫搬迁须填写迁出村和迁入村"));
    let measure = [
        ("measure_type", "易地扶贫搬迁"),
        ("date", "2019-06-01"),
        ("amount", "60000"),
        ("relocated_from", VILLAGE),
        ("relocated_to", "441621100001"),
    ];
    assert_eq!(
        post_form(&app, &app.client, &format!("{base}/measures"), &measure)
            .await
            .0,
        StatusCode::SEE_OTHER
    );

    // A birth adds a member, a death removes one; both are events.
    let child = id_number("441621", "20200301", 12, false);
    let birth = [
        ("event_type", "birth"),
        ("date", "2020-03-01"),
        ("note", ""),
        ("name", "王小花"),
        ("sex", "2"),
        ("id_number", child.as_str()),
        ("relation", "之女"),
        ("ethnicity", "汉族"),
        ("education", "学龄前儿童"),
        ("schooling", "学前教育"),
        ("health", "健康"),
        ("labour", "无劳动力"),
        ("migrant_months", ""),
        ("phone", ""),
        ("member_no", ""),
    ];
    let (status, page, _) = post_form(&app, &app.client, &format!("{base}/members"), &birth).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let d = detail(&app, id).await;
    assert_eq!(d["member_count"], 4);
    let spouse = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "李秀英")
        .unwrap()["id"]
        .to_string();
    let (status, _, _) = post_form(
        &app,
        &app.client,
        &format!("{base}/events"),
        &[
            ("event_type", "death"),
            ("member_id", &spouse),
            ("date", "2021-05-06"),
            ("note", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let d = detail(&app, id).await;
    assert_eq!(d["member_count"], 3);
    let events: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["birth", "death"]);
    assert_eq!(d["cadres"][0]["name"], "刘鹏威");
    assert_eq!(d["measures"][0]["relocated_to"], "441621100001");
    // A bad birth date is refused before the member is written.
    let mut bad_birth = birth;
    bad_birth[1].1 = "2020-02-30";
    bad_birth[5].1 = "";
    let (status, page, _) =
        post_form(&app, &app.client, &format!("{base}/members"), &bad_birth).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("日期应为 YYYY-MM-DD"));
    assert_eq!(detail(&app, id).await["member_count"], 3);
    let (_, page) = app.get_text(&base).await;
    assert!(
        page.contains("减少成员（死亡）")
            && page.contains("新增成员（出生）")
            && page.contains("在上村村民委员会（441621103212）")
    );
}

#[tokio::test]
async fn the_reveal_form_needs_a_reason_shows_the_number_once_and_is_audited() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = seed(&app, &dir);
    let id = household_id(&app, "4416210001").await;
    let d = detail(&app, id).await;
    let head = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["relation"]["code"] == "01")
        .unwrap();
    let member = head["id"].to_string();
    let path = format!("/households/{id}/reveal");

    let (status, page, _) = post_form(
        &app,
        &app.client,
        &path,
        &[("member_id", &member), ("reason", " ")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("查看完整号码须填写事由"));
    assert!(!page.contains(ids[0].as_str()));
    let (_, audit) = app.get("/api/v1/audit?action=reveal").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 0, "{audit}");

    let (status, page, _) = post_form(
        &app,
        &app.client,
        &path,
        &[("member_id", &member), ("reason", "核对户籍身份")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(ids[0].as_str()), "the full number is shown");
    assert!(page.contains("13800001234"));
    assert!(page.contains("已记入审计日志"));
    let (_, audit) = app.get("/api/v1/audit?action=reveal").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["entity_id"], member.as_str());
    assert!(
        items[0]["detail"]
            .as_str()
            .unwrap()
            .contains("核对户籍身份")
    );
    assert_eq!(items[0]["username"], crate::harness::ADMIN_USER);
    // The file itself still shows the masked number.
    let (_, file) = app.get_text(&format!("/households/{id}")).await;
    assert!(!file.contains(ids[0].as_str()));

    // A county cadre without the reveal permission sees no full number and no form.
    let cadre = app.client_as("county", Some("441621"), None).await;
    let (_, file) = {
        let r = cadre
            .get(app.url(&format!("/households/{id}")))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert!(!file.contains("查看完整号码</button>"));
    let (status, page, _) = post_form(
        &app,
        &cadre,
        &path,
        &[("member_id", &member), ("reason", "想看")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!page.contains(ids[0].as_str()));
    let (_, audit) = app.get("/api/v1/audit?action=reveal").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

/// Parses CSV bytes (BOM stripped) into rows of cells.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes)
        .unwrap()
        .trim_start_matches('\u{feff}');
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

fn template_headers() -> Vec<String> {
    domain::registry::MEMBER_COLUMNS
        .iter()
        .map(|c| c.0)
        .chain(domain::registry::OPTIONAL_HOUSEHOLD_COLUMNS)
        .map(String::from)
        .collect()
}

async fn download(app: &TestApp, path: &str) -> (StatusCode, String, Vec<u8>) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn xlsx_rows(bytes: Vec<u8>) -> Vec<Vec<String>> {
    let table = store::tabular::open_bytes("export.xlsx", bytes).expect("a valid workbook");
    std::iter::once(table.headers)
        .chain(table.rows.map(|r| r.unwrap().cells))
        .collect()
}

#[tokio::test]
async fn exports_are_masked_and_import_back_changing_only_what_was_edited() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = seed(&app, &dir);
    let (status, ct, csv) = download(&app, "/api/v1/households/export.csv?region=441621").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    assert!(csv.starts_with("\u{feff}".as_bytes()), "UTF-8 with BOM");
    let rows = csv_rows(&csv);
    assert_eq!(rows[0], template_headers());
    assert_eq!(
        rows.len(),
        7,
        "one row per member of the two 紫金县 households"
    );
    let text = String::from_utf8(csv.clone()).unwrap();
    for full in &ids {
        assert!(!text.contains(full.as_str()), "{full} exported in full");
    }
    assert_eq!(rows[1][0], "4416210001");
    assert_eq!(rows[1][3], "王大山", "the head comes first");
    assert_eq!(rows[1][5], domain::id_number::mask_id(&ids[0]));
    assert_eq!(rows[1][20], "138****1234");
    assert_eq!(rows[1][4], "男");
    assert_eq!(rows[1][18], "已脱贫（享受政策）", "names, not codes");
    assert!(
        rows[1..].iter().all(|r| r[1].starts_with('M')),
        "members got a 人编号 so the file imports back"
    );
    // Recorded: the export with its filter and row count.
    let (_, audit) = app.get("/api/v1/audit?action=export").await;
    let e = &audit["items"][0];
    assert_eq!(e["entity"], "households");
    let after: Value = serde_json::from_str(e["after_json"].as_str().unwrap()).unwrap();
    assert_eq!(after["rows"], 6);
    assert_eq!(after["filter"]["region"], "441621");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM members WHERE member_no IS NULL").await,
        0,
        "numbered when imported, not by the export"
    );

    let before = (
        count(&app, "SELECT COUNT(*) FROM households").await,
        count(&app, "SELECT COUNT(*) FROM members").await,
    );
    let file = write_file(&dir, "export.csv", &csv);
    let out = app.bangfu(&["import", "households", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("新增 0 户"));
    let after_import = (
        count(&app, "SELECT COUNT(*) FROM households").await,
        count(&app, "SELECT COUNT(*) FROM members").await,
    );
    assert_eq!(after_import, before);
    let (_, _, again) = download(&app, "/api/v1/households/export.csv?region=441621").await;
    assert_eq!(
        csv_rows(&again),
        rows,
        "re-importing the export changed nothing"
    );

    // A corrected cell is applied; the masked numbers stay as they were.
    let mut edited = rows.clone();
    let son = edited.iter().position(|r| r[3] == "王小明").unwrap();
    edited[son][8] = "高中".into();
    let mut bytes = store::registry_export::csv_head(&edited[0]);
    for r in &edited[1..] {
        bytes.extend(store::registry_export::csv_record(r));
    }
    let file = write_file(&dir, "edited.csv", &bytes);
    let out = app.bangfu(&["import", "households", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = household_id(&app, &edited[son][0]).await;
    let d = detail(&app, id).await;
    let m = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "王小明")
        .unwrap();
    assert_eq!(m["education"]["name"], "高中");
    assert_eq!(m["id_number"], edited[son][5]);
    let (_, revealed) = app
        .post(
            &format!("/api/v1/members/{}/reveal", m["id"]),
            &serde_json::json!({"reason": "核对户籍身份"}),
        )
        .await;
    assert!(
        ids.contains(&revealed["id_number"].as_str().unwrap().to_string()),
        "the full number survived the round trip"
    );
    assert_eq!(
        (
            count(&app, "SELECT COUNT(*) FROM households").await,
            count(&app, "SELECT COUNT(*) FROM members").await
        ),
        before
    );

    // XLSX: the same rows, and it imports back as well.
    let (status, ct, xlsx) = download(&app, "/api/v1/households/export.xlsx?region=441621").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ct,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let sheet = xlsx_rows(xlsx.clone());
    let (_, _, now_csv) = download(&app, "/api/v1/households/export.csv?region=441621").await;
    let mut expected = csv_rows(&now_csv);
    let width = expected[0].len();
    for r in sheet.iter() {
        assert!(r.len() <= width);
    }
    let padded: Vec<Vec<String>> = sheet
        .into_iter()
        .map(|mut r| {
            r.resize(width, String::new());
            r
        })
        .collect();
    expected
        .iter_mut()
        .for_each(|r| r.resize(width, String::new()));
    assert_eq!(padded, expected);
    let file = write_file(&dir, "export.xlsx", &xlsx);
    let out = app.bangfu(&["import", "households", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (
            count(&app, "SELECT COUNT(*) FROM households").await,
            count(&app, "SELECT COUNT(*) FROM members").await
        ),
        before
    );

    // A bad filter is refused like the list's.
    let (status, _, _) = download(&app, "/api/v1/households/export.csv?status=不存在").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn templates_download_as_workbooks_with_the_template_headers() {
    let app = TestApp::spawn().await;
    let (status, ct, members) = download(&app, "/imports/template/members.xlsx").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ct,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let rows = xlsx_rows(members);
    assert_eq!(rows[0], template_headers());
    assert_eq!(
        rows.len(),
        1,
        "the sheet that is imported has no example data in it"
    );
    let (_, _, incomes) = download(&app, "/imports/template/incomes.xlsx").await;
    assert_eq!(xlsx_rows(incomes)[0], domain::registry::INCOME_COLUMNS);
    let (_, page) = app.get_text("/imports").await;
    assert!(
        page.contains("href=\"/imports/template/members.xlsx\"")
            && page.contains("enctype=\"multipart/form-data\"")
    );
}

async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    kind: &str,
    dry_run: bool,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, String) {
    let mut form = reqwest::multipart::Form::new().text("kind", kind.to_string());
    if dry_run {
        form = form.text("dry_run", "1");
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let r = client
        .post(app.url("/imports"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_import_page_lists_problems_and_offers_them_as_csv_and_xlsx() {
    let app = TestApp::spawn().await;
    let mut lines = vec![HEADER.to_string()];
    lines.extend(family("U1", VILLAGE, 1));
    let good = id_number("441621", "19700305", 1, true);
    let wrong = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('1') { '2' } else { '1' }
    );
    let bad_text = lines
        .join("\n")
        .replace(&good, &wrong)
        .replace(",因病,", ",因懒,");
    let (status, page) = upload(
        &app,
        &app.client,
        "members",
        true,
        "bad.csv",
        bad_text.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("未写入任何数据"));
    assert!(
        page.contains("<td class=\"num\">2</td><td>证件号码</td>"),
        "{page}"
    );
    assert!(page.contains(&domain::id_number::mask_id(&wrong)));
    assert!(!page.contains(&wrong), "the value is masked");
    assert!(page.contains("<td>主要致贫原因</td>"));
    let token = page
        .split("/imports/reports/")
        .nth(1)
        .unwrap()
        .split(".csv")
        .next()
        .unwrap()
        .to_string();
    let (status, ct, report) = download(&app, &format!("/imports/reports/{token}.csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    assert!(report.starts_with("\u{feff}".as_bytes()));
    let rows = csv_rows(&report);
    assert_eq!(rows[0], ["行号", "列", "值", "问题"]);
    assert!(
        rows.iter().any(|r| r[0] == "2"
            && r[1] == "证件号码"
            && r[2] == domain::id_number::mask_id(&wrong)),
        "{rows:?}"
    );
    assert_eq!(rows.iter().filter(|r| r[1] == "主要致贫原因").count(), 3);
    assert!(!String::from_utf8_lossy(&report).contains(&wrong));
    let (status, _, xlsx) = download(&app, &format!("/imports/reports/{token}.xlsx")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(xlsx_rows(xlsx), rows);
    // Someone else cannot fetch it.
    let other = app.client_as("admin", None, None).await;
    let r = other
        .get(app.url(&format!("/imports/reports/{token}.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM households").await, 0);

    // A clean file: the dry run writes nothing, the real run imports (GBK is fine too).
    let gbk = encoding_rs::GBK.encode(&lines.join("\r\n")).0.into_owned();
    let (status, page) = upload(&app, &app.client, "members", true, "good.csv", gbk.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("检查通过（试运行，未写入）"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM households").await, 0);
    let (status, page) = upload(&app, &app.client, "members", false, "good.csv", gbk).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("导入完成") && page.contains("新增 1 户"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM members").await, 3);
    let incomes = "户编号,年度,工资性收入,生产经营性收入,财产性收入,转移性收入,生产经营性支出\nU1,2019,9000,0,0,0,0\n";
    let (status, page) = upload(
        &app,
        &app.client,
        "incomes",
        false,
        "incomes.csv",
        incomes.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("收入 1 条"));
    let (status, page) = upload(&app, &app.client, "members", false, "empty.csv", Vec::new()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("请选择要导入的文件"));
}

#[tokio::test]
async fn the_household_file_links_to_its_assessment_and_offers_first_secretaries_field_work_only() {
    let app = TestApp::spawn().await;
    let h = crate::registry::create_household(&app, "LINK-1").await;
    let id = h["id"].as_i64().unwrap();
    let (status, file) = app.get_text(&format!("/households/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let link = format!("href=\"/households/{id}/assessment\"");
    assert!(
        file.contains(&link) && file.contains("退出评估说明"),
        "{file}"
    );
    assert!(file.contains(&format!("href=\"/households/{id}/monitoring\"")));
    let (status, explanation) = app.get_text(&format!("/households/{id}/assessment")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the link leads to the explanation page"
    );
    assert!(explanation.contains("LINK-1"), "{explanation}");

    // The administrator gets every form; a first secretary of the village only income and
    // measures (and no edit link); an auditor none, but the links to read on.
    let action = |what: &str| format!("action=\"/households/{id}/{what}\"");
    for what in ["status", "income", "cadres", "measures"] {
        assert!(file.contains(&action(what)), "{what}");
    }
    let page = |client: reqwest::Client| {
        let url = app.url(&format!("/households/{id}"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let secretary = page(app.client_as("village", Some(VILLAGE), None).await).await;
    assert!(
        secretary.contains(&action("income")) && secretary.contains(&action("measures")),
        "{secretary}"
    );
    assert!(!secretary.contains(&action("status")) && !secretary.contains(&action("cadres")));
    assert!(!secretary.contains(&format!("/households/{id}/edit")) && secretary.contains(&link));
    let auditor = page(app.client_as("auditor", None, None).await).await;
    assert!(!auditor.contains(&action("income")) && !auditor.contains(&action("measures")));
    assert!(auditor.contains(&link));
}

#[tokio::test]
async fn the_household_form_records_a_rural_household_never_registered() {
    let app = TestApp::spawn().await;
    let head_id = id_number("441621", "19700101", 21, true);
    let mut form: Vec<(&str, &str)> = vec![
        ("household_no", "FORM-R"),
        ("village_code", VILLAGE),
        ("household_type", "建档立卡户"),
        ("group_name", "五组"),
        ("attribute", ""),
        ("identification_standard", ""),
        ("main_cause", ""),
        ("other_causes_1", ""),
        ("other_causes_2", ""),
        ("identified_year", ""),
        ("status", ""),
        ("exit_year", ""),
        ("members[0].name", "林一"),
        ("members[0].sex", "1"),
        ("members[0].id_number", &head_id),
        ("members[0].relation", "01"),
        ("members[0].ethnicity", "01"),
        ("members[0].education", "小学"),
        ("members[0].schooling", "非在校生"),
        ("members[0].health", "健康"),
        ("members[0].labour", "普通劳动力"),
    ];
    // As a registered household it lacks its identification data: said at each field.
    let (status, page, _) = post_form(&app, &app.client, "/households/new", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let at = page.find("name=\"identified_year\"").unwrap();
    assert!(
        page[at..]
            .split("</div>")
            .next()
            .unwrap()
            .contains("建档立卡户须填写识别年度"),
        "{page}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM households").await, 0);

    // As a 一般农户 it is created without them, and its file says what it is.
    for (k, v) in form.iter_mut() {
        if *k == "household_type" {
            *v = "一般农户";
        }
    }
    let (status, page, location) = post_form(&app, &app.client, "/households/new", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let id = household_id(&app, "FORM-R").await;
    assert_eq!(location, format!("/households/{id}"));
    let d = detail(&app, id).await;
    assert_eq!(d["registered"], false);
    assert_eq!(d["status"]["name"], "一般农户（未建档立卡）");
    let (_, file) = app.get_text(&location).await;
    assert!(file.contains("一般农户（未建档立卡）"), "{file}");

    // The edit form keeps the type: saved as it comes, still a 一般农户.
    let (_, edit) = app.get_text(&format!("/households/{id}/edit")).await;
    let fields = form_fields(&edit, &format!("/households/{id}/edit"));
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "household_type" && v == "一般农户"),
        "{fields:?}"
    );
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, page, _) =
        post_form(&app, &app.client, &format!("/households/{id}/edit"), &refs).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(detail(&app, id).await["registered"], false);
}

/// SQLite would store a NUL and PostgreSQL refuses it: a submitted form carrying one is turned
/// away with the same Chinese 400 on both engines, and nothing is written.
#[tokio::test]
async fn a_nul_character_in_a_submitted_form_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let head_id = id_number("441621", "19650101", 11, true);
    let before = count(&app, "SELECT COUNT(*) FROM households").await;
    let form: Vec<(&str, &str)> = vec![
        ("household_no", "FORM-NUL"),
        ("village_code", VILLAGE),
        ("group_name", "三组"),
        ("attribute", "1"),
        ("identification_standard", "1"),
        ("main_cause", "01"),
        ("identified_year", "2015"),
        ("status", "0"),
        ("members[0].name", "陈\u{0}一"),
        ("members[0].sex", "1"),
        ("members[0].id_number", &head_id),
        ("members[0].relation", "01"),
        ("members[0].ethnicity", "01"),
        ("members[0].education", "小学"),
        ("members[0].schooling", "非在校生"),
        ("members[0].health", "健康"),
        ("members[0].labour", "普通劳动力"),
    ];
    let (status, page, _) = post_form(&app, &app.client, "/households/new", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("空字符"), "{page}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM households").await, before);
    // The same form without the NUL is taken.
    let mut fine = form.clone();
    fine[8] = ("members[0].name", "陈一");
    let (status, page, _) = post_form(&app, &app.client, "/households/new", &fine).await;
    assert!(
        status.is_redirection() || status.is_success(),
        "{status} {page}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM households").await,
        before + 1
    );
}
