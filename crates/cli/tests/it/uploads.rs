//! Hostile uploads at every upload door: spreadsheet bombs, garbage, empty and truncated files,
//! sent by users who may and may not import, one after another and many at once. Each gets a
//! 4xx with a Chinese message (or a 422 import report); the server keeps answering /healthz;
//! permission and size are refused before the body is read.

use crate::harness::TestApp;
use reqwest::StatusCode;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use store::tabular::ReadLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The test server's limits: small, so an oversized upload is cheap to send.
fn limits() -> ReadLimits {
    ReadLimits {
        upload_bytes: 256 * 1024,
        unzipped_bytes: 8 << 20,
        ..ReadLimits::default()
    }
}

fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in parts {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const WORKBOOK: &[u8] = br#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const RELS: &[u8] = br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

fn workbook(sheet_data: &str, shared: &str) -> Vec<u8> {
    let sheet = format!("<worksheet><sheetData>{sheet_data}</sheetData></worksheet>");
    zip_of(&[
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", RELS),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/sharedStrings.xml", shared.as_bytes()),
    ])
}

/// The files, by name: the reproduced attacks and the usual broken files.
fn hostile_files() -> Vec<(&'static str, Vec<u8>)> {
    let header = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#;
    let unique_count = workbook(
        header,
        r#"<sst count="100000000000000000" uniqueCount="100000000000000000"><si><t>户编号</t></si></sst>"#,
    );
    let last_cell = workbook(
        &format!(r#"{header}<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#),
        "<sst><si><t>户编号</t></si></sst>",
    );
    let blank_rows = r#"<row><c><v></v></c></row>"#.repeat((16 << 20) / 25);
    let bomb = zip_of(&[
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", RELS),
        (
            "xl/worksheets/sheet1.xml",
            format!("<worksheet><sheetData>{blank_rows}</sheetData></worksheet>").as_bytes(),
        ),
    ]);
    assert!(
        bomb.len() < 256 * 1024,
        "the zip bomb fits under the upload limit: {}",
        bomb.len()
    );
    let mut truncated = last_cell.clone();
    truncated.truncate(truncated.len() / 2);
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let wide: Vec<String> = (0..300).map(|i| format!("列{i}")).collect();
    let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    xls.resize(2048, 0);
    vec![
        ("unique-count.xlsx", unique_count),
        ("last-cell.xlsx", last_cell),
        ("zip-bomb.xlsx", bomb),
        ("truncated.xlsx", truncated),
        ("garbage.xlsx", garbage.clone()),
        ("garbage.csv", garbage),
        ("empty.csv", Vec::new()),
        ("wide.csv", format!("{}\n", wide.join(",")).into_bytes()),
        (
            "long-cell.csv",
            format!("户编号\n{}\n", "长".repeat(400_000)).into_bytes()[..200_000].to_vec(),
        ),
        ("old.xls", xls),
    ]
}

/// The upload doors: path, whether it is a page, and which of the two users may use it.
const ROUTES: &[(&str, bool, &str)] = &[
    ("/api/v1/imports/households?dry_run=true", false, "county"),
    ("/api/v1/imports/incomes?dry_run=true", false, "county"),
    ("/api/v1/imports/visits", false, "county"),
    ("/api/v1/imports/projects?dry_run=true", false, "org"),
    ("/api/v1/imports/transactions?dry_run=true", false, "org"),
    ("/imports", true, "county"),
    ("/assessment/visits-import", true, "county"),
];

fn has_chinese(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, String) {
    let mut form = reqwest::multipart::Form::new();
    if path == "/imports" {
        form = form.text("kind", "members").text("dry_run", "1");
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let r = client
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .expect("the server answers");
    (r.status(), r.text().await.unwrap_or_default())
}

/// A 4xx a user can read: a Chinese `error.message`, a 422 import report, or a Chinese page.
fn assert_readable_refusal(route: &str, file: &str, status: StatusCode, body: &str) {
    assert!(
        status.is_client_error(),
        "{route} {file}: {status} {body:.300}"
    );
    if route.starts_with("/api/") {
        let v: Value = serde_json::from_str(body)
            .unwrap_or_else(|_| panic!("{route} {file}: JSON expected, got {body:.300}"));
        let message = v["error"]["message"].as_str().unwrap_or("");
        let report = v["problem_count"].as_u64().unwrap_or(0) > 0;
        assert!(
            has_chinese(message) || report,
            "{route} {file}: {status} {body:.300}"
        );
    } else {
        assert!(has_chinese(body), "{route} {file}: {status} {body:.300}");
    }
}

async fn healthy(app: &TestApp) {
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn hostile_files_at_every_upload_door_get_a_chinese_4xx_and_the_server_stays_up() {
    let app = TestApp::spawn_with_limits(limits()).await;
    let org_id = crate::projects::org(&app, "福田区对口帮扶办", "区级机关", true).await;
    let county = app.client_as("county", Some("441621"), None).await;
    let org = app.client_as("org", None, Some(org_id)).await;
    let files = hostile_files();
    for (route, _, allowed) in ROUTES {
        for (user, client) in [("county", &county), ("org", &org)] {
            for (name, bytes) in &files {
                let (status, body) = upload(&app, client, route, name, bytes.clone()).await;
                assert_readable_refusal(route, name, status, &body);
                if user != *allowed {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{route} {name} as {user}: {body:.300}"
                    );
                }
            }
            healthy(&app).await;
        }
    }
    // What the reproduced attacks now get, in words.
    let name_of = |n: &str| files.iter().find(|(f, _)| *f == n).unwrap().1.clone();
    let (status, body) = upload(
        &app,
        &org,
        ROUTES[3].0,
        "last-cell.xlsx",
        name_of("last-cell.xlsx"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("第 1048576 行 XFD 列超出限制：最多 256 列"),
        "{body}"
    );
    let (status, body) = upload(
        &app,
        &org,
        ROUTES[3].0,
        "zip-bomb.xlsx",
        name_of("zip-bomb.xlsx"),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("压缩炸弹"), "{body}");
    let (status, body) = upload(&app, &org, ROUTES[3].0, "old.xls", name_of("old.xls")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("另存为 .xlsx 或 CSV"), "{body}");
    let (_, body) = upload(
        &app,
        &county,
        ROUTES[0].0,
        "unique-count.xlsx",
        name_of("unique-count.xlsx"),
    )
    .await;
    assert!(
        body.contains("problem_count"),
        "a bomb of declared counts reads as the small file it is: {body:.300}"
    );

    // About twenty at once, with /healthz asked in between.
    let mut jobs = Vec::new();
    for i in 0..21 {
        let (route, _, allowed) = ROUTES[i % ROUTES.len()];
        let client = if allowed == "county" {
            county.clone()
        } else {
            org.clone()
        };
        let (name, bytes) = files[i % files.len()].clone();
        let app = &app;
        jobs.push(async move {
            let (status, body) = upload(app, &client, route, name, bytes).await;
            assert_readable_refusal(route, name, status, &body);
        });
    }
    let probes = async {
        for _ in 0..5 {
            let r = tokio::time::timeout(Duration::from_secs(10), app.get("/healthz"))
                .await
                .expect("/healthz answers during the uploads");
            assert_eq!(r.0, StatusCode::OK);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    futures::join!(futures::future::join_all(jobs), probes);
    healthy(&app).await;
}

/// Sends only the head of a POST declaring `declared` bytes and a first 4 KiB, then waits for
/// the answer: it can only come before the body, since the rest is never sent.
async fn answer_before_body(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    declared: u64,
) -> String {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {declared}\r\n\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream
        .write_all(&[b'x'; 4096])
        .await
        .expect("send a first chunk");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn permission_and_size_are_refused_before_the_body_is_read() {
    let app = TestApp::spawn_with_limits(limits()).await;
    let huge = 1u64 << 30;
    let token = |username: String| {
        let db = app.db.clone();
        async move {
            db.create_api_token(&domain::Caller::system(), &username, "tests", None)
                .await
                .expect("token")
                .0
        }
    };
    let auditor = token(app.user_as("auditor", None, None).await.username).await;
    let org_id = crate::projects::org(&app, "罗湖区对口帮扶办", "区级机关", true).await;
    let org = token(app.user_as("org", None, Some(org_id)).await.username).await;
    let county = token(app.user_as("county", Some("441621"), None).await.username).await;
    for (route, page, _) in ROUTES {
        let path = route;
        let anonymous = answer_before_body(&app, path, None, huge).await;
        let expected = if *page {
            "HTTP/1.1 303"
        } else {
            "HTTP/1.1 401"
        };
        assert!(
            anonymous.starts_with(expected),
            "{path} anonymous: {anonymous}"
        );
        let audited = answer_before_body(&app, path, Some(&auditor), huge).await;
        assert!(
            audited.starts_with("HTTP/1.1 403"),
            "{path} auditor: {audited}"
        );
        assert!(has_chinese(&audited), "{audited}");
    }
    // An organisation user may not import the registry: refused before the size is looked at.
    let refused = answer_before_body(&app, "/api/v1/imports/households", Some(&org), huge).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(
        refused.contains("您没有修改建档立卡数据的权限"),
        "{refused}"
    );
    // A user who may: the declared length is over the limit.
    let too_big = answer_before_body(&app, "/api/v1/imports/households", Some(&county), huge).await;
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    assert!(
        too_big.contains("上传的文件超过上限：最大 262144 字节"),
        "{too_big}"
    );
    healthy(&app).await;
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_while_it_is_saved() {
    let app = TestApp::spawn_with_limits(limits()).await;
    let county = app.client_as("county", Some("441621"), None).await;
    let mut big = "户编号,姓名\n".to_string();
    while big.len() < 300 * 1024 {
        big.push_str("H1,张三\n");
    }
    for (route, _, allowed) in ROUTES {
        if *allowed != "county" {
            continue;
        }
        let (status, body) =
            upload(&app, &county, route, "big.csv", big.clone().into_bytes()).await;
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{route}: {body:.300}"
        );
        assert!(
            body.contains("上传的文件超过上限：最大 262144 字节"),
            "{route}: {body:.300}"
        );
    }
    healthy(&app).await;
}
