//! The OpenAPI description of the project, ledger and report paths, merged into the document
//! by `openapi::document`. Written out by hand like the rest of the document.

use serde_json::{Value, json};

fn q(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
}

fn id() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": "编号", "schema": { "type": "string" } })
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn ok(name: &str, status: &str) -> Value {
    json!({ status: { "description": "成功", "content": { "application/json": { "schema": schema(name) } } },
            "404": { "$ref": "#/components/responses/Error" }, "422": { "$ref": "#/components/responses/Error" } })
}

fn list(name: &str) -> Value {
    json!({ "200": { "description": "列表", "content": { "application/json": { "schema": {
        "type": "object", "required": ["items", "next_cursor"],
        "properties": { "items": { "type": "array", "items": schema(name) }, "next_cursor": { "type": ["string", "null"] } } } } } },
        "422": { "$ref": "#/components/responses/Error" } })
}

fn body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(name) } } })
}

/// An upload: multipart with the file in field `file` (CSV or XLSX).
pub(crate) fn upload() -> Value {
    // Other fields are read past and ignored; their names must be plain (a name the multipart
    // parser cannot read makes the form unreadable: 400).
    json!({ "required": true, "content": { "multipart/form-data": { "schema": { "type": "object", "required": ["file"],
        "propertyNames": { "pattern": "^[A-Za-z0-9_.-]{1,64}$" },
        "properties": { "file": { "type": "string", "format": "binary", "description": "CSV 或 XLSX 文件" } } } } } })
}

fn xlsx() -> Value {
    json!({ "200": { "description": "XLSX 文件", "content": { "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {} } },
            "422": { "$ref": "#/components/responses/Error" } })
}

fn paging(mut v: Vec<Value>) -> Vec<Value> {
    v.push(q("limit", "每页条数，1–500，默认 50"));
    v.push(q("cursor", "上一页返回的 next_cursor"));
    v
}

fn report_params(by: Option<&str>) -> Vec<Value> {
    let mut v = vec![
        q("year", "只含该年（记账日期）"),
        q("year_from", "起始年份（含）"),
        q("year_to", "截止年份（含）"),
        q("region", "区划代码：只计该区划内地点的分摊额"),
        q("theme", "项目主题"),
        q("fiscal", "true 只计财政资金，false 只计社会资金"),
    ];
    if let Some(b) = by {
        v.push(q("by", b));
    }
    v
}

fn paths() -> Value {
    let project_filters = paging(vec![
        q(
            "theme",
            "主题：pairing、education、finance、industry、rural、technology、tourism、consumption（或中文名）",
        ),
        q("status", "状态：立项、实施中、已完工、已验收、终止"),
        q("region", "地点在该区划内（含下辖）"),
        q("organisation_id", "参与机构（任一角色）"),
        q("year", "该年在实施期内"),
        q("pairing_id", "对口关系"),
        q("livelihood", "是否民生项目"),
        q("q", "名称包含"),
    ]);
    let tx_filters = paging(vec![
        q("project_id", "项目"),
        q("organisation_id", "付款方或收款方"),
        q("type", "incoming_funds|commitment|disbursement|expenditure"),
        q("year", "记账年度"),
        q("invested", "true：只列计入深圳投入的拨付"),
    ]);
    let invested_by = "分组，逗号分隔：year、province、theme、fund_source、provider、receiver；默认 year,province,theme,fund_source";
    json!({
        "/api/v1/projects": {
            "get": { "summary": "项目列表", "parameters": project_filters, "responses": list("ProjectSummary") },
            "post": { "summary": "新建项目（地点、参与机构、成果、受益对象、主题指标、小额信贷一并提交）", "requestBody": body("ProjectInput"), "responses": ok("Project", "201") } },
        "/api/v1/projects/{id}": {
            "get": { "summary": "项目详情（含资金、地点分摊、状态变更、成果、受益对象）", "parameters": [id()], "responses": ok("Project", "200") },
            "put": { "summary": "修改项目（子项整体替换；状态不在此修改）", "parameters": [id()], "requestBody": body("ProjectInput"), "responses": ok("Project", "200") } },
        "/api/v1/projects/{id}/status": {
            "post": { "summary": "项目状态变更：立项 → 实施中 → 已完工 → 已验收，或终止（须说明原因）", "parameters": [id()], "requestBody": body("StatusChangeInput"), "responses": ok("Project", "200") } },
        "/api/v1/projects/{id}/results": {
            "get": { "summary": "项目成果指标、主题指标与小额信贷", "parameters": [id()], "responses": { "200": { "description": "{items, indicators, loans}" }, "404": { "$ref": "#/components/responses/Error" } } } },
        "/api/v1/projects/{id}/beneficiaries": {
            "get": { "summary": "项目受益对象及合计", "parameters": [id()], "responses": { "200": { "description": "{items, totals}" }, "404": { "$ref": "#/components/responses/Error" } } } },
        "/api/v1/projects/{id}/transactions": {
            "get": { "summary": "项目的资金交易", "parameters": paging(vec![id()]), "responses": list("Transaction") } },
        "/api/v1/transactions": {
            "get": { "summary": "资金台账（按编号顺序）", "parameters": tx_filters, "responses": list("Transaction") },
            "post": { "summary": "记一笔交易（只追加；规则不满足时 422 并指明字段，不写入任何数据）", "requestBody": body("TransactionInput"), "responses": ok("Transaction", "201") } },
        "/api/v1/transactions/{id}": {
            "get": { "summary": "交易详情（含哈希与冲销关系）", "parameters": [id()], "responses": ok("Transaction", "200") } },
        "/api/v1/transactions/{id}/reverse": {
            "post": { "summary": "冲销一笔交易：追加一笔金额相反、指向原交易的交易", "parameters": [id()], "requestBody": body("ReversalInput"), "responses": ok("Transaction", "201") } },
        "/api/v1/projects/export.csv": {
            "get": { "summary": "导出项目（CSV，UTF-8 带 BOM，边读边发送；列与导入相同，另附只读的资金与受益数字）。公开；登录用户的导出记入审计日志，匿名下载不记录。以 = + - @ 或制表符、回车开头的文本单元格前加 '，数字不变",
                     "responses": { "200": { "description": "CSV 文件" } } } },
        "/api/v1/projects/export.xlsx": {
            "get": { "summary": "导出项目（XLSX）", "responses": xlsx() } },
        "/api/v1/imports/projects": {
            "post": { "summary": "导入项目（multipart 字段 file：CSV 或 XLSX；?dry_run=true 只检查）。全部通过才写入；否则 422 并按行列列出全部问题",
                      "parameters": [q("dry_run", "true：只检查，不写入")], "requestBody": upload(), "responses": { "200": { "description": "导入结果" }, "413": { "$ref": "#/components/responses/Error" }, "422": { "description": "导入结果，含 problems[]{row, column, value, message}" } } } },
        "/api/v1/transactions/export.csv": {
            "get": { "summary": "导出资金台账（CSV，边读边发送；含编号、上一条哈希与哈希，可在系统外逐条核对哈希链）。公开；登录用户的导出记入审计日志，匿名下载不记录。以 = + - @ 或制表符、回车开头的文本单元格前加 '，数字不变",
                     "responses": { "200": { "description": "CSV 文件" } } } },
        "/api/v1/transactions/export.xlsx": {
            "get": { "summary": "导出资金台账（XLSX）", "responses": xlsx() } },
        "/api/v1/imports/transactions": {
            "post": { "summary": "导入交易（按文件顺序追加；转拨凭证号、冲销凭证号、到账对应拨付凭证号引用台账或本文件中更早的行）。全部通过才写入",
                      "parameters": [q("dry_run", "true：只检查，不写入")], "requestBody": upload(), "responses": { "200": { "description": "导入结果" }, "413": { "$ref": "#/components/responses/Error" }, "422": { "description": "导入结果，含 problems[]" } } } },
        "/api/v1/ledger/head": {
            "get": { "summary": "台账链头：交易条数与链头哈希（可公开、在库外留存）", "responses": { "200": { "description": "{count, head_id, head_hash}" } } } },
        "/api/v1/ledger/verify": {
            "get": { "summary": "重新计算哈希链并复核全部规则，指出第一条有问题的交易。需读取全部交易，仅限市级管理员和审计人员；公众可用 /api/v1/ledger/head 与导出的交易哈希核对",
                     "responses": { "200": { "description": "{ok, count, head_hash, problem: {entry_id, message} | null}" },
                                    "401": { "$ref": "#/components/responses/Error" }, "403": { "$ref": "#/components/responses/Error" } } } },
        "/api/v1/reports/invested": {
            "get": { "summary": "深圳投入资金（深圳方 → 受援方的拨付，内部调拨与逐级转拨不重复计算），按年度 × 省份 × 主题 × 资金来源等分组", "parameters": report_params(Some(invested_by)), "responses": ok("InvestedReport", "200") } },
        "/api/v1/reports/invested.xlsx": {
            "get": { "summary": "同上，导出 XLSX", "parameters": report_params(Some(invested_by)), "responses": xlsx() } },
        "/api/v1/reports/progress": {
            "get": { "summary": "分项目或分县的承诺、拨付、支出与拨付进度、支出进度", "parameters": report_params(Some("project（默认）或 county")), "responses": ok("ProgressReport", "200") } },
        "/api/v1/reports/progress.xlsx": {
            "get": { "summary": "同上，导出 XLSX", "parameters": report_params(Some("project（默认）或 county")), "responses": xlsx() } },
        "/api/v1/reports/projects": {
            "get": { "summary": "项目按主题与状态计数（region、year_from、year_to 按开始日期）", "parameters": report_params(None), "responses": ok("ThemeStatusReport", "200") } },
        "/api/v1/reports/projects.xlsx": {
            "get": { "summary": "同上，导出 XLSX", "parameters": report_params(None), "responses": xlsx() } },
        "/api/v1/reports/eighty-eighty": {
            "get": { "summary": "新疆“两个80%”：投入资金中县及县以下地点、民生项目的占比（region 默认 65）", "parameters": report_params(None), "responses": ok("EightyEightyReport", "200") } },
        "/api/v1/reports/indicators": {
            "get": { "summary": "主题指标合计（资助学生、引进企业、培训人次……）与小额信贷余额、逾期", "parameters": [q("year", "年度")], "responses": { "200": { "description": "{year, indicators, loans}" } } } }
    })
}

fn schemas() -> Value {
    let fen = json!({ "type": "integer", "description": "金额，单位：分" });
    let project_input = json!({ "type": "object", "required": ["name", "theme", "approved_on", "budget", "locations"],
        "properties": {
            "code": { "type": "string", "description": "项目编号（唯一，可选）" },
            "name": { "type": "string" },
            "theme": { "type": "string", "enum": domain::kinds::Theme::ids() },
            "sub_type": { "type": "string" },
            "livelihood": { "type": "boolean", "description": "民生项目" },
            "pairing_id": { "type": "integer" },
            "approved_on": { "type": "string", "description": "立项日期 YYYY-MM-DD；资金交易不能早于此日期" },
            "start_date": { "type": "string" }, "end_date": { "type": "string" },
            "status": { "type": "string", "description": "仅新建时（如导入已完工项目），之后用 /status" },
            "status_date": { "type": "string" },
            "budget": fen,
            "description": { "type": "string" },
            "locations": { "type": "array", "items": { "type": "object", "required": ["region_code"], "properties": {
                "region_code": { "type": "string" }, "weight": { "type": "integer", "description": "资金分摊权重，默认 1（平均分摊）" } } } },
            "organisations": { "type": "array", "items": { "type": "object", "properties": {
                "organisation_id": { "type": "integer" }, "role": { "type": "string", "enum": domain::project::OrgRole::ids() } } } },
            "results": { "type": "array", "items": { "type": "object", "properties": {
                "indicator": { "type": "string" }, "unit": { "type": "string" }, "year": { "type": "integer" },
                "baseline": { "type": "number" }, "target": { "type": "number" }, "actual": { "type": "number" } } } },
            "beneficiaries": { "type": "array", "items": { "type": "object", "description": "关联建档立卡户（household_id）或人员（member_id），否则填户数、人数、村",
                "properties": { "household_id": { "type": "integer" }, "member_id": { "type": "integer" }, "village_code": { "type": "string" },
                    "households": { "type": "integer" }, "people": { "type": "integer" }, "note": { "type": "string" } } } },
            "indicators": { "type": "array", "items": { "type": "object", "properties": {
                "indicator": { "type": "string", "enum": domain::project::Indicator::ids() }, "year": { "type": "integer" }, "value": { "type": "integer", "description": "计数或金额（分）" } } } },
            "loans": { "type": "array", "items": { "type": "object", "properties": {
                "household_id": { "type": "integer" }, "borrower": { "type": "string" }, "amount": fen, "term_months": { "type": "integer" },
                "issued_on": { "type": "string" }, "outstanding": fen, "overdue": fen } } }
        } });
    let transaction_input = json!({ "type": "object", "required": ["type", "amount", "value_date", "provider_id", "receiver_id", "fund_source", "project_id"],
        "properties": {
            "type": { "type": "string", "enum": domain::ledger::TxType::ids() },
            "amount": { "type": "integer", "description": "金额（分），正整数" },
            "value_date": { "type": "string" },
            "provider_id": { "type": "integer" }, "receiver_id": { "type": "integer" },
            "fund_source": { "type": "string", "enum": domain::ledger::FundSource::ids() },
            "project_id": { "type": "integer" },
            "voucher_no": { "type": "string" }, "memo": { "type": "string" },
            "passes_on": { "type": "integer", "description": "本笔转拨的上一笔交易（市 → 区 → 县）" },
            "over_commitment": { "type": "boolean", "description": "超承诺拨付（须填理由）" },
            "over_commitment_reason": { "type": "string" },
            "receives": { "type": "integer", "description": "资金到账：所对应的深圳方已登记的拨付交易（同一笔资金，金额、项目、付款方、收款方、资金来源须一致；不重复计入到位资金）" }
        } });
    let transaction = json!({ "type": "object", "properties": {
        "id": { "type": "integer" }, "type": { "type": "string" }, "type_name": { "type": "string" }, "amount": fen, "amount_yuan": { "type": "string" },
        "value_date": { "type": "string" }, "provider_id": { "type": "integer" }, "provider_name": { "type": "string" },
        "receiver_id": { "type": "integer" }, "receiver_name": { "type": "string" }, "fund_source": { "type": "string" }, "fund_category": { "type": "string" },
        "project_id": { "type": "integer" }, "passes_on": { "type": ["integer", "null"] }, "reverses": { "type": ["integer", "null"] },
        "reversed_by": { "type": ["integer", "null"] }, "receives": { "type": ["integer", "null"] }, "received_by": { "type": ["integer", "null"] },
        "invested": { "type": "boolean" }, "recorded_at": { "type": "string" }, "recorded_by": { "type": "string" },
        "prev_hash": { "type": "string" }, "hash": { "type": "string" } } });
    json!({
        "ProjectInput": project_input,
        "Project": { "type": "object", "description": "ProjectInput 的字段，加上 locations[].budget_share、status_history、beneficiary_totals、money（committed、disbursed、incoming、received、expended、invested、disbursement_progress_bp、expenditure_progress_bp）" },
        "ProjectSummary": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" }, "theme": { "type": "string" },
            "status": { "type": "string" }, "budget": fen, "locations": { "type": "array", "items": { "type": "object" } } } },
        "StatusChangeInput": { "type": "object", "required": ["status", "date"], "properties": { "status": { "type": "string", "enum": domain::project::ProjectStatus::ids() },
            "date": { "type": "string" }, "note": { "type": "string" } } },
        "TransactionInput": transaction_input,
        "Transaction": transaction,
        "ReversalInput": { "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string" }, "value_date": { "type": "string" }, "voucher_no": { "type": "string" } } },
        "InvestedReport": { "type": "object", "properties": { "dimensions": { "type": "array", "items": { "type": "string" } },
            "rows": { "type": "array", "items": { "type": "object" } }, "total": fen, "fiscal_total": fen, "social_total": fen, "total_yi": { "type": "string" } } },
        "ProgressReport": { "type": "object", "properties": { "by": { "type": "string" }, "rows": { "type": "array", "items": { "type": "object" } }, "total": { "type": "object" } } },
        "ThemeStatusReport": { "type": "object", "properties": { "statuses": { "type": "array" }, "rows": { "type": "array", "items": { "type": "object" } }, "total": { "type": "integer" } } },
        "EightyEightyReport": { "type": "object", "properties": { "region_code": { "type": "string" }, "overall": { "type": "object" }, "by_year": { "type": "array" } } }
    })
}

/// Adds the project, ledger and report paths and schemas to the document.
pub fn openapi(doc: &mut Value) {
    for (section, add) in [("paths", paths()), ("schemas", schemas())] {
        let target = if section == "paths" {
            doc.get_mut("paths")
        } else {
            doc.get_mut("components").and_then(|c| c.get_mut("schemas"))
        };
        if let (Some(target), Some(add)) = (target.and_then(Value::as_object_mut), add.as_object())
        {
            for (k, v) in add {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}
