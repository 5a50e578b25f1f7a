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
            "/healthz": { "get": { "summary": "健康检查", "responses": { "200": { "description": "正常" } } } },
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
                "RegionAttributes": { "type": "object", "properties": { "area_km2": { "type": "number" }, "elevation_m": { "type": "integer" } } },
                "RuralPopulation": { "type": "object", "required": ["rural_population"], "properties": { "rural_population": { "type": "integer" } } },
                "Organisation": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" }, "kind": { "type": "string" }, "kind_name": { "type": "string" },
                    "credit_code": { "type": ["string", "null"] }, "region_code": { "type": ["string", "null"] }, "shenzhen_side": { "type": "boolean" }, "note": { "type": "string" } } },
                "OrganisationInput": { "type": "object", "required": ["name", "kind"], "properties": { "name": { "type": "string" },
                    "kind": { "type": "string", "enum": domain::kinds::OrgKind::ids() }, "credit_code": { "type": "string", "description": "统一社会信用代码（18 位，校验位必须正确）" },
                    "region_code": { "type": "string" }, "shenzhen_side": { "type": "boolean" }, "note": { "type": "string" } } },
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

pub async fn document() -> Json<Value> {
    let mut doc = spec();
    crate::auth::api::openapi(&mut doc);
    super::ledger_openapi::openapi(&mut doc);
    super::households::openapi(&mut doc);
    super::stats::openapi(&mut doc);
    super::assessment::openapi(&mut doc);
    super::clashes::openapi(&mut doc);
    Json(doc)
}
