//! Consumption aid over JSON: suppliers (public), their products, and orders. A channel is an
//! organisation: its `org` users' tokens post its orders, and an `Idempotency-Key` header makes a
//! retry answer with the first answer (200, header `Idempotent-Replayed: true`), while the same
//! key with another body is a 409.

use super::{ApiJson, ApiPath, ApiQuery, Page, Paging};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::RegionCode;
use serde::Deserialize;
use store::consumption::certificates::{Product, ProductInput};
use store::consumption::orders::{Order, OrderInput};
use store::consumption::suppliers::{Supplier, SupplierInput};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/suppliers",
            get(list_suppliers).post(create_supplier),
        )
        .route("/api/v1/suppliers/{id}", get(supplier))
        .route("/api/v1/suppliers/{id}/products", post(create_product))
        .route("/api/v1/orders", post(place_order))
        .route("/api/v1/orders/{id}", get(order))
        .route("/api/v1/orders/{id}/state", post(change_state))
}

fn parse_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {s} 不存在")))
}

#[derive(Deserialize)]
pub struct SupplierQuery {
    region: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_suppliers(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<SupplierQuery>,
) -> Result<Json<Page<Supplier>>, ApiError> {
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let region = match q.region.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(r) => Some(
            RegionCode::parse(r).map_err(|e| ApiError::invalid_field("region", e.to_string()))?,
        ),
    };
    let items = state
        .db
        .list_suppliers(&caller, region, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |s| s.id)))
}

async fn create_supplier(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(input): ApiJson<SupplierInput>,
) -> Result<(StatusCode, Json<Supplier>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_supplier(&caller, &input).await?),
    ))
}

async fn supplier(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Supplier>, ApiError> {
    let id = parse_id(&id, "供应商")?;
    Ok(Json(state.db.get_supplier(&caller, id).await?))
}

async fn create_product(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ProductInput>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let id = parse_id(&id, "供应商")?;
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_product(&caller, id, &input).await?),
    ))
}

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

async fn place_order(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    headers: HeaderMap,
    ApiJson(input): ApiJson<OrderInput>,
) -> Result<Response, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::invalid_field("Idempotency-Key", "幂等键只能包含可见的 ASCII 字符")
        })?),
    };
    let placed = state.db.place_order(&caller, &input, key).await?;
    let mut response = if placed.replayed {
        (StatusCode::OK, Json(placed.order)).into_response()
    } else {
        (StatusCode::CREATED, Json(placed.order)).into_response()
    };
    if placed.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn order(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_id(&id, "订单")?;
    Ok(Json(state.db.get_order(&caller, id).await?))
}

#[derive(Deserialize, Default)]
pub struct StateInput {
    #[serde(default)]
    state: String,
    #[serde(default)]
    on: String,
    #[serde(default)]
    note: String,
}

async fn change_state(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<StateInput>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_id(&id, "订单")?;
    Ok(Json(
        state
            .db
            .change_order_state(&caller, id, &input.state, &input.on, &input.note)
            .await?,
    ))
}

/// The consumption paths of the OpenAPI document.
pub fn openapi(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let error = json!({"$ref": "#/components/responses/Error"});
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let object = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "type": "object" } } } });
    let body = |description: &str| json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "description": description } } } });
    let paths = json!({
        "/api/v1/suppliers": {
            "get": { "summary": "消费帮扶供应商列表（公开；联系电话脱敏）",
                     "parameters": [{"name": "region", "in": "query", "required": false, "schema": {"type": "string"}},
                                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "string"}},
                                    {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}}],
                     "responses": { "200": object("{items, next_cursor}") } },
            "post": { "summary": "登记供应商（仅企业 91、农民专业合作社 93、农村集体经济组织 N1–N3、登记为家庭农场的个体工商户 92；市级管理员或供应商所在县的县级干部）",
                      "requestBody": body("name, supplier_type (enterprise|cooperative|village_collective|family_farm), credit_code, county_code, contact_name, contact_phone"),
                      "responses": { "201": object("供应商"), "422": error } }
        },
        "/api/v1/suppliers/{id}": {
            "get": { "summary": "供应商详情", "parameters": [id], "responses": { "200": object("供应商"), "404": error } }
        },
        "/api/v1/suppliers/{id}/products": {
            "post": { "summary": "登记供应商的产品（单价、年供应量价值以分计）", "parameters": [id],
                      "requestBody": body("name, category, specification, unit, unit_price, annual_supply_value"),
                      "responses": { "201": object("产品"), "404": error, "422": error } }
        },
        "/api/v1/orders": {
            "post": { "summary": "下单（每行产品须在下单日期持有有效认定证书，否则 422 certificate_invalid；Idempotency-Key：同键同内容返回首次结果 200，同键不同内容 409）",
                      "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 200}}],
                      "requestBody": body("buyer_id, channel, channel_order_no, order_date (YYYY-MM-DD), lines: [{product_id, quantity, unit_price}]"),
                      "responses": { "201": object("订单"), "200": object("同一幂等键的首次结果"), "409": error, "422": error } }
        },
        "/api/v1/orders/{id}": {
            "get": { "summary": "订单详情（下单渠道、采购方所在区、卖方所在县、市级管理员、审计人员）", "parameters": [id],
                     "responses": { "200": object("订单"), "404": error } }
        },
        "/api/v1/orders/{id}/state": {
            "post": { "summary": "变更订单状态（已确认、已发货、已收货时按利益联结归属到户、已取消、已退款时冲回归属）", "parameters": [id],
                      "requestBody": body("state, on (YYYY-MM-DD), note"),
                      "responses": { "200": object("订单"), "404": error, "409": error, "422": error } }
        }
    });
    if let (Some(target), Some(add)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        paths.as_object(),
    ) {
        for (k, v) in add {
            target.insert(k.clone(), v.clone());
        }
    }
}
