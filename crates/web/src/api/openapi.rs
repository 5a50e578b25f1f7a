//! The OpenAPI 3.1 document of `/api/v1`, written out rather than derived: the handlers take
//! loosely typed input on purpose (to answer every mistake in Chinese), which derive macros
//! would describe wrongly. A test requests every path listed here.

use axum::Json;
use serde_json::{Value, json};

fn param(name: &str, location: &str, description: &str) -> Value {
    json!({ "name": name, "in": location, "required": location == "path", "description": description, "schema": { "type": "string" } })
}

fn paging() -> Vec<Value> {
    vec![
        param("limit", "query", "每页条数，1–500，默认 50"),
        param("cursor", "query", "上一页返回的 next_cursor"),
    ]
}

fn list_of(schema: &str) -> Value {
    json!({ "200": { "description": "列表", "content": { "application/json": { "schema": {
        "type": "object", "required": ["items", "next_cursor"],
        "properties": { "items": { "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } },
                        "next_cursor": { "type": ["string", "null"] } } } } } } })
}

fn one(schema: &str, status: &str) -> Value {
    json!({ status: { "description": "成功", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } },
            "404": { "$ref": "#/components/responses/Error" }, "422": { "$ref": "#/components/responses/Error" } })
}

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn with_paging(mut params: Vec<Value>) -> Vec<Value> {
    params.extend(paging());
    params
}

pub fn spec() -> Value {
    let code = param(
        "code",
        "path",
        "区划代码，按自然长度：44、441621、441621103212",
    );
    let id = param("id", "path", "编号");
    let region_list_params = with_paging(vec![
        param("level", "query", "province|prefecture|county|town|village"),
        param("q", "query", "名称包含"),
        param("include_retired", "query", "是否包含已撤销单位"),
    ]);
    let mut with_parent = region_list_params.clone();
    with_parent.push(param("parent", "query", "上级区划代码"));
    let mut with_code = region_list_params.clone();
    with_code.push(code.clone());
    json!({
        "openapi": "3.1.0",
        "info": { "title": "帮扶 Bangfu API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "对口帮扶信息系统的 JSON 接口。区划、机构、对口关系为公开信息。" },
        "paths": {
            "/healthz": { "get": { "summary": "健康检查", "responses": { "200": { "description": "正常", "content": { "application/json": { "schema": {
                "type": "object", "required": ["status", "backend"], "properties": { "status": { "const": "ok" }, "backend": { "type": "string", "enum": ["sqlite", "postgres"] } } } } } } } } },
            "/metrics": { "get": { "summary": "运行指标（OpenMetrics 文本，Prometheus 可采集）：请求数、耗时、数据库连接池、导入行数、后台任务；仅系统管理员与审计人员（另可在 --metrics-addr 上免登录提供）",
                "responses": { "200": { "description": "OpenMetrics 文本", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } } } },
            "/api/v1/openapi.json": { "get": { "summary": "本文档（OpenAPI 3.1）", "responses": { "200": { "description": "OpenAPI 文档", "content": { "application/json": { "schema": { "type": "object" } } } } } } },
            "/api/v1/regions": { "get": { "summary": "区划列表（默认省级；parent 取下级；q 按名称搜索）",
                "parameters": with_parent,
                "responses": list_of("Region") } },
            "/api/v1/regions/{code}": { "get": { "summary": "区划详情（含上级链、农业户籍人口、变更记录）", "parameters": [code], "responses": one("RegionDetail", "200") } },
            "/api/v1/regions/{code}/children": { "get": { "summary": "直接下级", "parameters": with_code, "responses": list_of("Region") } },
            "/api/v1/regions/{code}/ancestors": { "get": { "summary": "上级链（省→父级）", "parameters": [code], "responses": list_of("Region") } },
            "/api/v1/regions/{code}/subtree": { "get": { "summary": "全部下辖单位（一个代码区间）", "parameters": with_code, "responses": list_of("Region") } },
            "/api/v1/regions/{code}/attributes": { "put": { "summary": "设置面积与代表海拔", "parameters": [code], "requestBody": body("RegionAttributes"), "responses": one("Region", "200") } },
            "/api/v1/regions/{code}/population/{year}": { "put": { "summary": "设置某年农业户籍人口（贫困发生率分母）",
                "parameters": [code, param("year", "path", "年份")], "requestBody": body("RuralPopulation"), "responses": { "200": { "description": "该区划各年人口" } } } },
            "/api/v1/organisations": {
                "get": { "summary": "机构列表", "parameters": with_paging(vec![param("kind", "query", "机构类型"), param("q", "query", "名称包含"), param("shenzhen_side", "query", "是否深圳方")]), "responses": list_of("Organisation") },
                "post": { "summary": "新建机构（统一社会信用代码校验校验位）", "requestBody": body("OrganisationInput"), "responses": one("Organisation", "201") } },
            "/api/v1/organisations/{id}": {
                "get": { "summary": "机构详情", "parameters": [id], "responses": one("Organisation", "200") },
                "put": { "summary": "修改机构", "parameters": [id], "requestBody": body("OrganisationInput"), "responses": one("Organisation", "200") } },
            "/api/v1/pairings": {
                "get": { "summary": "对口关系列表", "parameters": with_paging(vec![param("region", "query", "受援区划（含下辖）"), param("organisation_id", "query", "帮扶方机构"), param("type", "query", "对口关系类型"), param("year", "query", "某年有效")]), "responses": list_of("Pairing") },
                "post": { "summary": "新建对口关系（含年度协议目标）", "requestBody": body("PairingInput"), "responses": one("Pairing", "201") } },
            "/api/v1/pairings/{id}": {
                "get": { "summary": "对口关系详情", "parameters": [id], "responses": one("Pairing", "200") },
                "put": { "summary": "修改对口关系（目标整体替换）", "parameters": [id], "requestBody": body("PairingInput"), "responses": one("Pairing", "200") } }
        },
        "components": {
            "responses": { "Error": { "description": "错误", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } } },
            "schemas": {
                "Error": { "type": "object", "properties": { "error": { "type": "object", "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" },
                    "details": { "type": "array", "items": { "type": "object", "properties": { "field": { "type": "string" }, "row": { "type": "integer" }, "value": { "type": "string" }, "message": { "type": "string" } } } } } } } },
                "Region": { "type": "object", "properties": { "code": { "type": "string" }, "name": { "type": "string" }, "level": { "type": "string" },
                    "parent_code": { "type": ["string", "null"] }, "retired_year": { "type": ["integer", "null"] }, "area_km2": { "type": ["number", "null"] }, "elevation_m": { "type": ["integer", "null"] } } },
                "RegionDetail": { "allOf": [ { "$ref": "#/components/schemas/Region" }, { "type": "object", "properties": {
                    "level_name": { "type": "string" }, "full_name": { "type": "string" }, "ancestors": { "type": "array", "items": { "$ref": "#/components/schemas/Region" } },
                    "rural_population": { "type": "array", "items": { "type": "object", "properties": { "year": { "type": "integer" }, "rural_population": { "type": "integer" } } } },
                    "changes": { "type": "array", "items": { "type": "object" } } } } ] },
                "RegionAttributes": { "type": "object", "description": "null 或省略：该项不设置", "properties": { "area_km2": { "type": ["number", "null"], "exclusiveMinimum": 0, "description": "平方公里" }, "elevation_m": { "type": ["integer", "null"], "minimum": -500, "maximum": 9000 } } },
                "RuralPopulation": { "type": "object", "required": ["rural_population"], "properties": { "rural_population": { "type": "integer", "minimum": 0 } } },
                "Organisation": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" }, "kind": { "type": "string" }, "kind_name": { "type": "string" },
                    "credit_code": { "type": ["string", "null"] }, "region_code": { "type": ["string", "null"] }, "shenzhen_side": { "type": "boolean" }, "note": { "type": "string" } } },
                "OrganisationInput": { "type": "object", "required": ["name", "kind"], "properties": { "name": { "type": "string" },
                    "kind": { "type": "string", "enum": domain::kinds::OrgKind::ids() }, "credit_code": { "type": ["string", "null"], "description": "统一社会信用代码（18 位，校验位必须正确）" },
                    "region_code": { "type": ["string", "null"] }, "shenzhen_side": { "type": ["boolean", "null"] }, "note": { "type": ["string", "null"] } } },
                "Target": { "type": "object", "required": ["indicator", "unit", "year", "target"], "properties": { "indicator": { "type": "string" }, "unit": { "type": "string" }, "year": { "type": "integer" }, "target": { "type": "number" } } },
                "Pairing": { "type": "object", "properties": { "id": { "type": "integer" }, "organisation_id": { "type": "integer" }, "organisation_name": { "type": "string" },
                    "region_code": { "type": "string" }, "region_name": { "type": "string" }, "pairing_type": { "type": "string" }, "pairing_type_name": { "type": "string" },
                    "start_year": { "type": "integer" }, "end_year": { "type": ["integer", "null"] }, "note": { "type": "string" },
                    "targets": { "type": "array", "items": { "$ref": "#/components/schemas/Target" } } } },
                "PairingInput": { "type": "object", "required": ["region_code", "pairing_type", "start_year"], "description": "帮扶方三选一：organisation_id、organisation_credit_code 或 organisation（同时新建）",
                    "properties": { "organisation_id": { "type": "integer" }, "organisation_credit_code": { "type": "string" }, "organisation": { "$ref": "#/components/schemas/OrganisationInput" },
                    "region_code": { "type": "string" }, "pairing_type": { "type": "string", "enum": domain::kinds::PairingType::ids() },
                    "start_year": { "type": "integer" }, "end_year": { "type": "integer" }, "note": { "type": "string" },
                    "targets": { "type": "array", "items": { "$ref": "#/components/schemas/Target" } } } }
            }
        }
    })
}

/// The whole document: the fragments of every module, then the statuses and security every
/// operation shares (`finish`). Built once; it never changes while the server runs.
pub fn full() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = spec();
        crate::auth::api::openapi(&mut doc);
        super::ledger_openapi::openapi(&mut doc);
        super::households::openapi(&mut doc);
        super::stats::openapi(&mut doc);
        super::assessment::openapi(&mut doc);
        super::clashes::openapi(&mut doc);
        super::consumption::openapi(&mut doc);
        finish(&mut doc);
        doc
    })
}

pub async fn document() -> Json<Value> {
    Json(full().clone())
}

/// Operations that need a logged-in caller even to read (401 for the public, 403 for roles
/// without access): the registry, monitoring, assessment, audit and the full ledger check.
/// Everything else is readable by the public.
const LOGIN_REQUIRED_PREFIXES: &[&str] = &[
    "/api/v1/households",
    "/api/v1/members",
    "/api/v1/monitoring-cases",
    "/api/v1/expenses",
    "/api/v1/audit",
    "/api/v1/ledger/verify",
    "/api/v1/assessment-runs",
    "/api/v1/county-reviews",
    "/api/v1/rules",
    "/api/v1/imports",
    "/api/v1/publicity",
    "/metrics",
];

fn login_required(path: &str, method: &str) -> bool {
    method != "get"
        || LOGIN_REQUIRED_PREFIXES
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// A region code at its natural length (`RegionCode::parse`): 2, 4, 6, 9 or 12 digits, not all
/// zeros.
fn region_code_schema() -> Value {
    json!({ "type": "string", "pattern": "^(?:[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$", "not": { "pattern": "^0+$" } })
}

/// What the server enforces for a parameter, by name (the handlers share the parsers in
/// `api/mod.rs`: `Paging::parse`, `parse_i64_param`, `parse_bool_param`, `parse_region_param`).
/// An empty value means "not given" for every query parameter, as the parsers treat it.
fn parameter_schema(path: &str, location: &str, name: &str) -> Option<Value> {
    let integer = json!({ "type": "integer", "format": "int64" });
    // `parse_bool_param`: these six spellings, nothing else.
    let boolean = json!({ "type": "string", "enum": ["true", "false", "1", "0", "是", "否"] });
    let schema = match (location, name) {
        ("path", "code") => region_code_schema(),
        ("path", "id" | "version") => json!({ "type": "integer", "format": "int64" }),
        // `set_rural_population`: 1949–2100.
        ("path", "year") if path.starts_with("/api/v1/regions/") => {
            json!({ "type": "integer", "minimum": 1949, "maximum": 2100 })
        }
        ("path", "year") => integer,
        ("query", "from" | "until") if path == "/api/v1/audit" => {
            json!({ "type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" })
        }
        ("query", "limit") => {
            json!({ "type": "integer", "minimum": 1, "maximum": super::MAX_LIMIT })
        }
        ("query", "cursor") if path.starts_with("/api/v1/households") => {
            // `HouseholdCursor`: the sort value as hex of its (here printable ASCII) bytes, a
            // dot, the last id.
            json!({ "type": "string", "pattern": "^(?:[2-7][0-9a-f])*\\.[0-9]{1,18}$" })
        }
        ("query", "cursor") if path.starts_with("/api/v1/monitoring-cases") => {
            json!({ "type": "string", "pattern": "^[0-9]{1,18}\\.[0-9]{1,18}$" })
        }
        // `encode_cursor`: "k" and the last id in hex.
        ("query", "cursor") => json!({ "type": "string", "pattern": "^k[0-9a-f]{1,15}$" }),
        ("query", "region" | "parent" | "village") => region_code_schema(),
        (
            "query",
            "year" | "since" | "until" | "year_from" | "year_to" | "organisation_id" | "project_id"
            | "pairing_id" | "identified_year" | "income_year",
        ) => integer,
        (
            "query",
            "include_retired" | "shenzhen_side" | "livelihood" | "invested" | "fiscal"
            | "monitored" | "include_removed" | "dry_run" | "wait",
        ) => boolean,
        ("query", "level") if path.starts_with("/api/v1/regions") => {
            json!({ "type": "string", "enum": ["province", "prefecture", "county", "town", "village"] })
        }
        ("query", "kind") if path == "/api/v1/organisations" => {
            json!({ "type": "string", "enum": domain::kinds::OrgKind::ids() })
        }
        ("query", "type") if path == "/api/v1/pairings" => {
            json!({ "type": "string", "enum": domain::kinds::PairingType::ids() })
        }
        ("query", "type") if path == "/api/v1/transactions" => {
            json!({ "type": "string", "enum": domain::ledger::TxType::ids() })
        }
        ("query", "level") if path == "/api/v1/exit-progress" => {
            json!({ "type": "string", "enum": ["county", "village"] })
        }
        ("query", "sort") if path == "/api/v1/households" => {
            json!({ "type": "string", "enum": ["household_no", "identified_year", "member_count"] })
        }
        ("query", "status") if path == "/api/v1/monitoring-cases" => {
            json!({ "type": "string", "enum": ["monitoring", "eliminated", "all"] })
        }
        ("query", "by") if path.starts_with("/api/v1/reports/invested") => {
            // `Dimension::parse_list`: a comma-separated list of these.
            let one = "(?:year|province|theme|fund_source|provider|receiver)";
            json!({ "type": "string", "pattern": format!("^{one}(?:,{one})*$") })
        }
        ("query", "by") if path.starts_with("/api/v1/reports/progress") => {
            json!({ "type": "string", "enum": ["project", "county"] })
        }
        ("query", "theme") => json!({ "type": "string", "enum": domain::kinds::Theme::ids() }),
        ("query", "status") if path == "/api/v1/projects" => {
            json!({ "type": "string", "enum": domain::project::ProjectStatus::ids() })
        }
        _ => return None,
    };
    Some(schema)
}

/// The statuses every operation shares, added to what each fragment documents:
/// - 400: a `%00` in the query is refused before any handler (`refuse_nul_in_query`), and a body
///   that is not JSON;
/// - 401: an invalid, expired or revoked bearer token is refused for every route (`auth::guard`),
///   and the public may not write or read what needs a login;
/// - 403: a write from another site's page, by a read-only role, or a read outside the role;
/// - 404: a path parameter that names nothing;
/// - 422: a query or body value that breaks a rule, with the field named;
/// - 500: an internal failure (logged with an id, `ApiError::internal`);
/// - 503: the database is unreachable or busy.
///
/// Operations that need a login carry a security requirement without the anonymous `{}`, so a
/// contract test knows to expect 401 without credentials.
fn finish(doc: &mut Value) {
    let error = json!({ "$ref": "#/components/responses/Error" });
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, ops) in paths.iter_mut() {
        let Some(ops) = ops.as_object_mut() else {
            continue;
        };
        for (method, op) in ops.iter_mut() {
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in params.iter_mut() {
                    let (Some(name), Some(location)) = (p["name"].as_str(), p["in"].as_str())
                    else {
                        continue;
                    };
                    // Only loosely described parameters (a bare string) get the shared rule; a
                    // fragment that says more keeps what it says.
                    if p["schema"] == json!({ "type": "string" })
                        && let Some(schema) = parameter_schema(path, location, name)
                    {
                        // The query parsers read an empty value (`?year=`) as "not given".
                        p["schema"] = if location == "query" {
                            json!({ "anyOf": [schema, { "type": "string", "maxLength": 0 }] })
                        } else {
                            schema
                        };
                    }
                }
            }
            // Every upload door reads one multipart field `file`, at most the upload limit
            // (413 beyond it).
            let is_upload = path.starts_with("/api/v1/imports/");
            if is_upload && op.get("requestBody").is_none() {
                op["requestBody"] = super::ledger_openapi::upload();
            }
            let has_path_param = path.contains('{');
            let has_input = op.get("requestBody").is_some()
                || op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let needs_login = path != "/api/v1/session" && login_required(path, method);
            let mut add = vec!["400", "401", "500", "503"];
            if has_path_param {
                add.push("404");
            }
            if has_input {
                add.push("422");
            }
            if needs_login || method != "get" {
                add.push("403");
            }
            if is_upload {
                add.push("413");
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for status in add {
                responses.entry(status).or_insert_with(|| error.clone());
            }
            if needs_login && let Some(op) = op.as_object_mut() {
                op.insert(
                    "security".into(),
                    json!([{ "bearer": [] }, { "session": [] }]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::full;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every `.route("/api/…", "/healthz" or "/metrics", get(…).post(…))` in the web crate's sources, as
    /// (path, method) pairs. Read from the source because axum's router cannot list its routes;
    /// a path given by a constant is resolved by the constant's name.
    fn routed() -> BTreeSet<(String, String)> {
        let constants = [
            ("super::PASSWORD_API", crate::auth::PASSWORD_API),
            ("super::PASSWORD_PAGE", crate::auth::PASSWORD_PAGE),
        ];
        let mut out = BTreeSet::new();
        let mut files = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices(".route(") {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                if text[line_start..at].trim_start().starts_with("//") {
                    continue;
                }
                let rest = text[at + ".route(".len()..].trim_start();
                let (path, rest) = if let Some(quoted) = rest.strip_prefix('"') {
                    let end = quoted.find('"').unwrap();
                    (quoted[..end].to_string(), &quoted[end + 1..])
                } else {
                    let end = rest.find(',').unwrap();
                    let name = rest[..end].trim();
                    let Some((_, value)) = constants.iter().find(|(n, _)| *n == name) else {
                        panic!(
                            "{}: route path constant {name} unknown to this test",
                            file.display()
                        );
                    };
                    (value.to_string(), &rest[end..])
                };
                if !(path.starts_with("/api/") || path == "/healthz" || path == "/metrics") {
                    continue;
                }
                // The method router runs to the call's closing parenthesis.
                let mut depth = 1;
                let mut end = 0;
                for (i, c) in rest.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                let handlers = &rest[..end];
                let mut any = false;
                for method in ["get", "post", "put", "delete", "patch"] {
                    let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                        i == 0
                            || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && handlers.as_bytes()[i - 1] != b'_'
                    });
                    if called {
                        out.insert((path.clone(), method.to_string()));
                        any = true;
                    }
                }
                assert!(any, "{}: no method found for {path}", file.display());
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, ops) in full()["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                out.insert((path.clone(), method.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_routed() {
        let routed = routed();
        let documented = documented();
        assert!(
            routed.len() > 80,
            "the route scan found only {}",
            routed.len()
        );
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the OpenAPI document: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented operations no route serves: {unrouted:?}"
        );
    }

    #[test]
    fn every_operation_documents_the_shared_statuses() {
        for (path, ops) in full()["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for status in ["400", "401", "500", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
}
