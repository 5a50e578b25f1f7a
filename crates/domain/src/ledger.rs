//! The fund ledger (资金台账): every movement of money is one entry, appended, never changed.
//!
//! Definitions used everywhere (API, reports, `bangfu ledger verify`):
//! - A project's **committed** amount is the sum of its commitments; **disbursed** is the sum of
//!   its disbursements that do not pass on another entry (the first hop of a chain);
//!   **incoming** is the sum of its incoming funds that do not receive a disbursement already
//!   on the ledger (see below); **received** = disbursed + incoming;
//!   **expended** is the sum of its expenditures. Reversals carry the negated amount, so every
//!   sum is net of corrections.
//! - **Invested** (投入) is a disbursement from the Shenzhen side to the recipient side. A
//!   transfer inside the Shenzhen side (city → district) is internal and not counted; a
//!   pass-through chain (city → district → county, each hop naming the entry it passes on) is
//!   counted at the hop that crosses to the recipient side, and never again further down.
//!   The sides are those of the organisations when the entry was recorded (kept in the entry),
//!   so a later change to an organisation does not rewrite history.
//! - A transfer from the Shenzhen side to a county is one movement seen from both sides
//!   (DOMAIN §8): when the Shenzhen side already recorded the disbursement, the county's
//!   资金到账 for it names that entry (`receives`) and is not counted again. It must mirror the
//!   disbursement exactly (same project, provider, receiver, fund source and amount, dated on
//!   or after it): a receipt that differed would either hide a shortfall behind the
//!   disbursed figure or claim money that was never sent; a wrong disbursement is corrected
//!   by reversing it. One live receipt per disbursement.
//! - Invariants: amounts are positive; the value date is not before the project's 立项 date;
//!   provider, receiver and project exist; a disbursement does not take a project above its
//!   commitments unless flagged as an over-commitment with a reason; an expenditure does not
//!   exceed what the project received; an entry does not pass on more than the entry it passes
//!   on still holds, and only its receiver may pass it on. A reversal undoes one entry whole.
//!
//! [`Ledger`] holds just enough state to check an entry: the store fills it with the project
//! and entries a new entry touches, `verify` replays the whole ledger through it. Both use the
//! same rules, so what was accepted is exactly what verifies.

use crate::kinds::vocabulary;
use crate::money::Fen;
use crate::project::{Progress, ProjectStatus};
use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

vocabulary! {
    /// Transaction types (IATI 1 incoming funds, 2 commitment, 3 disbursement, 4 expenditure).
    TxType {
        IncomingFunds => ("incoming_funds", "资金到账"),
        Commitment => ("commitment", "承诺"),
        Disbursement => ("disbursement", "拨付"),
        Expenditure => ("expenditure", "支出"),
    }
}

vocabulary! {
    /// Where the money comes from. Fiscal aid (财政帮扶资金) and social funds (社会帮扶资金)
    /// are always reported apart.
    FundSource {
        Fiscal => ("fiscal", "财政资金"),
        Enterprise => ("enterprise", "企业资金"),
        Foundation => ("foundation", "基金会资金"),
        Donation => ("donation", "社会捐赠"),
    }
}

impl FundSource {
    pub fn is_fiscal(self) -> bool {
        self == FundSource::Fiscal
    }

    /// 财政 or 社会.
    pub fn category_zh(self) -> &'static str {
        if self.is_fiscal() { "财政" } else { "社会" }
    }

    /// Also accepts the short spellings of spreadsheets: 财政, 企业, 基金会, 捐赠.
    pub fn parse_loose(s: &str) -> Option<FundSource> {
        FundSource::parse(s).or_else(|| match crate::text::normalize_compact(s).as_str() {
            "财政" | "财政帮扶资金" => Some(FundSource::Fiscal),
            "企业" => Some(FundSource::Enterprise),
            "基金会" => Some(FundSource::Foundation),
            "捐赠" | "捐款" | "社会捐款" => Some(FundSource::Donation),
            _ => None,
        })
    }
}

impl TxType {
    /// Also accepts 到账, 拨款.
    pub fn parse_loose(s: &str) -> Option<TxType> {
        TxType::parse(s).or_else(|| match crate::text::normalize_compact(s).as_str() {
            "到账" | "到位资金" | "收入" => Some(TxType::IncomingFunds),
            "拨款" | "资金拨付" => Some(TxType::Disbursement),
            "资金承诺" => Some(TxType::Commitment),
            "资金支出" => Some(TxType::Expenditure),
            _ => None,
        })
    }
}

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One ledger entry exactly as stored: every column, in its stored form, so that a row that
/// was altered behind the system's back still hashes (to something else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub tx_type: String,
    pub amount: i64,
    pub value_date: String,
    pub provider_id: i64,
    pub receiver_id: i64,
    pub provider_shenzhen: bool,
    pub receiver_shenzhen: bool,
    pub fund_source: String,
    pub project_id: i64,
    pub voucher_no: String,
    pub memo: String,
    pub passes_on: Option<i64>,
    pub reverses: Option<i64>,
    pub over_commitment_reason: Option<String>,
    pub invested: bool,
    /// The Shenzhen side's disbursement this 资金到账 receives (not counted again).
    pub receives: Option<i64>,
    pub recorded_at: String,
    pub recorded_by: String,
    pub prev_hash: String,
    pub hash: String,
}

fn put_str(out: &mut String, name: &str, v: &str) {
    out.push_str(name);
    out.push(':');
    out.push_str(&v.len().to_string());
    out.push(':');
    out.push_str(v);
    out.push('\n');
}

fn put_opt(out: &mut String, name: &str, v: Option<&str>) {
    match v {
        Some(v) => put_str(out, name, v),
        None => {
            out.push_str(name);
            out.push_str(":null\n");
        }
    }
}

impl Entry {
    /// Every column but `hash`, one `name:length:value` line each, in a fixed order. Lengths
    /// make the form unambiguous whatever the text contains; `null` is distinct from "".
    pub fn canonical(&self) -> String {
        let mut s = String::with_capacity(512);
        put_str(&mut s, "id", &self.id.to_string());
        put_str(&mut s, "tx_type", &self.tx_type);
        put_str(&mut s, "amount", &self.amount.to_string());
        put_str(&mut s, "value_date", &self.value_date);
        put_str(&mut s, "provider_id", &self.provider_id.to_string());
        put_str(&mut s, "receiver_id", &self.receiver_id.to_string());
        put_str(
            &mut s,
            "provider_shenzhen",
            if self.provider_shenzhen {
                "true"
            } else {
                "false"
            },
        );
        put_str(
            &mut s,
            "receiver_shenzhen",
            if self.receiver_shenzhen {
                "true"
            } else {
                "false"
            },
        );
        put_str(&mut s, "fund_source", &self.fund_source);
        put_str(&mut s, "project_id", &self.project_id.to_string());
        put_str(&mut s, "voucher_no", &self.voucher_no);
        put_str(&mut s, "memo", &self.memo);
        put_opt(
            &mut s,
            "passes_on",
            self.passes_on.map(|v| v.to_string()).as_deref(),
        );
        put_opt(
            &mut s,
            "reverses",
            self.reverses.map(|v| v.to_string()).as_deref(),
        );
        put_opt(
            &mut s,
            "over_commitment_reason",
            self.over_commitment_reason.as_deref(),
        );
        put_str(
            &mut s,
            "invested",
            if self.invested { "true" } else { "false" },
        );
        put_str(&mut s, "recorded_at", &self.recorded_at);
        put_str(&mut s, "recorded_by", &self.recorded_by);
        put_str(&mut s, "prev_hash", &self.prev_hash);
        // Added after entries were hashed: written only when set, so every entry recorded
        // before the column existed keeps its hash.
        if let Some(r) = self.receives {
            put_str(&mut s, "receives", &r.to_string());
        }
        s
    }

    /// SHA-256 over the previous entry's hash and this entry's canonical form, lower-case hex.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(self.canonical().as_bytes());
        hex::encode(h.finalize())
    }

    pub fn kind(&self) -> Option<TxType> {
        TxType::parse(&self.tx_type)
    }

    pub fn fen(&self) -> Fen {
        Fen(self.amount)
    }

    /// Does this entry repeat money already counted upstream (a pass-on, or a receipt of a
    /// recorded disbursement)? Such entries are left out of the project's figures.
    pub fn repeats_upstream(&self) -> bool {
        self.passes_on.is_some() || self.receives.is_some()
    }
}

/// A new entry as submitted, already parsed; the rules of [`Ledger::check`] still apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub tx_type: TxType,
    pub amount: Fen,
    pub value_date: String,
    pub provider_id: i64,
    pub receiver_id: i64,
    pub fund_source: FundSource,
    pub project_id: i64,
    pub voucher_no: String,
    pub memo: String,
    pub passes_on: Option<i64>,
    pub over_commitment_reason: Option<String>,
    /// For a 资金到账: the Shenzhen side's disbursement it receives.
    pub receives: Option<i64>,
}

/// A correction: undoes entry `reverses` whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalDraft {
    pub reverses: i64,
    pub value_date: String,
    pub voucher_no: String,
    pub reason: String,
}

/// What the rules need to know about a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFacts {
    pub approved_on: String,
    pub status: ProjectStatus,
    pub totals: Progress,
}

/// An earlier entry and what happened to it since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFacts {
    pub entry: Entry,
    /// Net amount of the entries that pass this one on.
    pub passed_on: Fen,
    pub reversed_by: Option<i64>,
    /// The live (not reversed) receipt that names this entry in `receives`.
    pub received_by: Option<i64>,
}

/// The state the rules read. Filled partially by the store (one project, a few entries) or
/// wholly by `verify`.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Organisation id → is it on the Shenzhen side (now).
    pub organisations: HashMap<i64, bool>,
    pub projects: HashMap<i64, ProjectFacts>,
    pub entries: HashMap<i64, EntryFacts>,
}

fn yuan(f: Fen) -> String {
    format!("{} 元", f.yuan_string())
}

impl Ledger {
    /// Is the entry `id`, or any entry upstream of it along `passes_on`, counted as invested?
    pub fn chain_invested(&self, mut id: Option<i64>) -> bool {
        let mut hops = 0;
        while let Some(i) = id {
            let Some(f) = self.entries.get(&i) else {
                return false;
            };
            if f.entry.invested {
                return true;
            }
            id = f.entry.passes_on;
            hops += 1;
            if hops > 10_000 {
                return false; // a cycle cannot be recorded (an entry passes on an older one); be safe anyway
            }
        }
        false
    }

    /// Whether an entry with these sides counts as invested (投入).
    pub fn is_invested(
        &self,
        tx_type: TxType,
        provider_shenzhen: bool,
        receiver_shenzhen: bool,
        passes_on: Option<i64>,
    ) -> bool {
        tx_type == TxType::Disbursement
            && provider_shenzhen
            && !receiver_shenzhen
            && !self.chain_invested(passes_on)
    }

    /// Every rule a new entry must satisfy; empty means it may be appended.
    pub fn check(&self, d: &Draft) -> Vec<FieldError> {
        let mut p: Vec<FieldError> = Vec::new();
        let mut push = |f: &str, m: String| p.push(FieldError::new(f, m));
        if d.amount.0 <= 0 {
            push("amount", format!("金额必须大于零，收到 {}", yuan(d.amount)));
        }
        let provider = self.organisations.get(&d.provider_id);
        let receiver = self.organisations.get(&d.receiver_id);
        if provider.is_none() {
            push(
                "provider_id",
                format!("付款方机构 {} 不存在", d.provider_id),
            );
        }
        if receiver.is_none() {
            push(
                "receiver_id",
                format!("收款方机构 {} 不存在", d.receiver_id),
            );
        }
        if provider.is_some() && d.provider_id == d.receiver_id {
            push("receiver_id", "付款方与收款方不能是同一机构".into());
        }
        let project = self.projects.get(&d.project_id);
        match project {
            None => push("project_id", format!("项目 {} 不存在", d.project_id)),
            Some(pr) => {
                if d.value_date < pr.approved_on {
                    push(
                        "value_date",
                        format!(
                            "记账日期 {} 早于项目立项日期 {}",
                            d.value_date, pr.approved_on
                        ),
                    );
                }
            }
        }
        let flagged = d.over_commitment_reason.as_deref().map(str::trim);
        if flagged.is_some() && d.tx_type != TxType::Disbursement {
            push("over_commitment", "只有拨付可以标记为超承诺拨付".into());
        }
        if flagged == Some("") {
            push("over_commitment_reason", "超承诺拨付必须说明理由".into());
        }
        match d.passes_on {
            Some(src_id) => {
                if d.tx_type != TxType::Disbursement {
                    push("passes_on", "只有拨付可以转拨上一笔资金".into());
                }
                match self.entries.get(&src_id) {
                    None => push("passes_on", format!("被转拨的交易 {src_id} 不存在")),
                    Some(src) => {
                        let s = &src.entry;
                        let kind = s.kind();
                        if !matches!(kind, Some(TxType::Disbursement | TxType::IncomingFunds)) {
                            push(
                                "passes_on",
                                format!(
                                    "交易 {src_id} 是{}，只能转拨拨付或资金到账",
                                    kind.map(|k| k.name_zh()).unwrap_or("未知类型")
                                ),
                            );
                        } else if s.reverses.is_some() || src.reversed_by.is_some() {
                            push(
                                "passes_on",
                                format!("交易 {src_id} 已冲销或本身是冲销，不能转拨"),
                            );
                        } else if let Some(disbursement) = s.receives {
                            // The money is the disbursement's: passing on both would pass it twice.
                            push(
                                "passes_on",
                                format!(
                                    "交易 {src_id} 是拨付交易 {disbursement} 的到账记录，请转拨交易 {disbursement}"
                                ),
                            );
                        } else {
                            if s.receiver_id != d.provider_id {
                                push(
                                    "provider_id",
                                    format!(
                                        "只能转拨本机构收到的资金：交易 {src_id} 的收款方是机构 {}，不是付款方 {}",
                                        s.receiver_id, d.provider_id
                                    ),
                                );
                            }
                            // Fiscal money stays fiscal (and social money social) down the chain.
                            if s.fund_source != d.fund_source.as_str() {
                                push(
                                    "fund_source",
                                    format!(
                                        "转拨不能改变资金来源：交易 {src_id} 的资金来源是“{}”",
                                        FundSource::parse(&s.fund_source)
                                            .map(|f| f.name_zh())
                                            .unwrap_or(s.fund_source.as_str())
                                    ),
                                );
                            }
                            if s.project_id != d.project_id {
                                push(
                                    "project_id",
                                    format!(
                                        "转拨应属于同一项目：交易 {src_id} 属于项目 {}",
                                        s.project_id
                                    ),
                                );
                            }
                            if d.value_date < s.value_date {
                                push(
                                    "value_date",
                                    format!(
                                        "转拨日期 {} 早于被转拨交易 {src_id} 的日期 {}",
                                        d.value_date, s.value_date
                                    ),
                                );
                            }
                            let left = s.fen() - src.passed_on;
                            if d.amount.0 > 0 && d.amount > left {
                                push(
                                    "amount",
                                    format!(
                                        "转拨金额 {} 超过交易 {src_id} 尚未转拨的余额 {}",
                                        yuan(d.amount),
                                        yuan(left)
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            None => {
                if let (Some(pr), true) = (project, d.amount.0 > 0) {
                    let t = pr.totals;
                    match d.tx_type {
                        TxType::Disbursement
                            if flagged.is_none() && t.disbursed + d.amount > t.committed =>
                        {
                            push(
                                "amount",
                                format!(
                                    "拨付后项目累计拨付 {} 将超过承诺 {}（已拨付 {}）；确需超承诺拨付的，请标记超承诺并说明理由",
                                    yuan(t.disbursed + d.amount),
                                    yuan(t.committed),
                                    yuan(t.disbursed)
                                ),
                            )
                        }
                        TxType::Expenditure if t.expended + d.amount > t.received() => push(
                            "amount",
                            format!(
                                "支出后项目累计支出 {} 将超过项目已收到的资金 {}（已支出 {}）",
                                yuan(t.expended + d.amount),
                                yuan(t.received()),
                                yuan(t.expended)
                            ),
                        ),
                        _ => {}
                    }
                }
            }
        }
        if let Some(src_id) = d.receives {
            self.check_receives(d, src_id, &mut p);
        }
        p
    }

    /// The rules of a receipt naming the Shenzhen side's disbursement (module documentation).
    fn check_receives(&self, d: &Draft, src_id: i64, p: &mut Vec<FieldError>) {
        let mut push = |f: &str, m: String| p.push(FieldError::new(f, m));
        if d.tx_type != TxType::IncomingFunds {
            push(
                "receives",
                "只有资金到账可以引用深圳方已登记的拨付（receives）".into(),
            );
            return;
        }
        let Some(src) = self.entries.get(&src_id) else {
            push("receives", format!("所引用的拨付交易 {src_id} 不存在"));
            return;
        };
        let s = &src.entry;
        if s.kind() != Some(TxType::Disbursement) || !s.provider_shenzhen || s.receiver_shenzhen {
            push(
                "receives",
                format!("交易 {src_id} 不是深圳方拨付给受援方的资金，资金到账只能引用这样的拨付"),
            );
            return;
        }
        if s.reverses.is_some() || src.reversed_by.is_some() {
            push(
                "receives",
                format!("交易 {src_id} 已冲销或本身是冲销，不能作为到账的来源"),
            );
            return;
        }
        if let Some(other) = src.received_by {
            push(
                "receives",
                format!(
                    "拨付交易 {src_id} 已由资金到账交易 {other} 引用，同一笔拨付只能登记一次到账"
                ),
            );
        }
        if s.project_id != d.project_id {
            push(
                "project_id",
                format!(
                    "资金到账应与所引用的拨付属于同一项目：交易 {src_id} 属于项目 {}",
                    s.project_id
                ),
            );
        }
        if s.provider_id != d.provider_id {
            push(
                "provider_id",
                format!(
                    "付款方应与所引用的拨付交易 {src_id} 相同（机构 {}）",
                    s.provider_id
                ),
            );
        }
        if s.receiver_id != d.receiver_id {
            push(
                "receiver_id",
                format!(
                    "收款方应与所引用的拨付交易 {src_id} 相同（机构 {}）",
                    s.receiver_id
                ),
            );
        }
        if s.fund_source != d.fund_source.as_str() {
            push(
                "fund_source",
                format!(
                    "资金来源应与所引用的拨付交易 {src_id} 相同（“{}”）",
                    FundSource::parse(&s.fund_source)
                        .map(|f| f.name_zh())
                        .unwrap_or(s.fund_source.as_str())
                ),
            );
        }
        if d.amount.0 > 0 && d.amount != s.fen() {
            push(
                "amount",
                format!(
                    "到账金额 {} 应等于所引用的拨付交易 {src_id} 的金额 {}（同一笔资金；拨付有误请先冲销拨付）",
                    yuan(d.amount),
                    yuan(s.fen())
                ),
            );
        }
        if d.value_date < s.value_date {
            push(
                "value_date",
                format!(
                    "到账日期 {} 早于所引用的拨付交易 {src_id} 的日期 {}",
                    d.value_date, s.value_date
                ),
            );
        }
    }

    /// Every rule a reversal must satisfy.
    pub fn check_reversal(&self, r: &ReversalDraft) -> Vec<FieldError> {
        let mut p = Vec::new();
        let Some(orig) = self.entries.get(&r.reverses) else {
            p.push(FieldError::new(
                "reverses",
                format!("要冲销的交易 {} 不存在", r.reverses),
            ));
            return p;
        };
        let e = &orig.entry;
        if e.reverses.is_some() {
            p.push(FieldError::new(
                "reverses",
                format!("交易 {} 本身是冲销，不能再冲销；请重新录入正确的交易", e.id),
            ));
        } else if let Some(by) = orig.reversed_by {
            p.push(FieldError::new(
                "reverses",
                format!("交易 {} 已被交易 {by} 冲销", e.id),
            ));
        } else if let Some(receipt) = orig.received_by {
            p.push(FieldError::new(
                "reverses",
                format!(
                    "交易 {} 已由资金到账交易 {receipt} 引用，请先冲销该到账交易",
                    e.id
                ),
            ));
        } else if orig.passed_on.0 != 0 {
            p.push(FieldError::new(
                "reverses",
                format!(
                    "交易 {} 的资金已转拨 {}，请先冲销转拨的交易",
                    e.id,
                    yuan(orig.passed_on)
                ),
            ));
        }
        if r.reason.trim().is_empty() {
            p.push(FieldError::new("reason", "请说明冲销原因"));
        }
        if r.value_date < e.value_date {
            p.push(FieldError::new(
                "value_date",
                format!("冲销日期 {} 早于原交易日期 {}", r.value_date, e.value_date),
            ));
        }
        if !p.is_empty() {
            return p;
        }
        if let (Some(pr), Some(kind)) = (self.projects.get(&e.project_id), e.kind()) {
            let before = pr.totals;
            let mut after = before;
            add_to_totals(&mut after, kind, e.repeats_upstream(), -e.fen());
            if before.disbursed <= before.committed && after.disbursed > after.committed {
                p.push(FieldError::new(
                    "reverses",
                    format!(
                        "冲销后项目累计拨付 {} 将超过承诺 {}，请先冲销相应的拨付",
                        yuan(after.disbursed),
                        yuan(after.committed)
                    ),
                ));
            }
            if before.expended <= before.received() && after.expended > after.received() {
                p.push(FieldError::new(
                    "reverses",
                    format!(
                        "冲销后项目累计支出 {} 将超过已收到的资金 {}，请先冲销相应的支出",
                        yuan(after.expended),
                        yuan(after.received())
                    ),
                ));
            }
        }
        p
    }

    /// The entry a checked draft becomes; `hash` is computed here.
    pub fn entry_from_draft(
        &self,
        d: &Draft,
        id: i64,
        recorded_at: &str,
        recorded_by: &str,
        prev_hash: &str,
    ) -> Entry {
        let ps = self
            .organisations
            .get(&d.provider_id)
            .copied()
            .unwrap_or(false);
        let rs = self
            .organisations
            .get(&d.receiver_id)
            .copied()
            .unwrap_or(false);
        let mut e = Entry {
            id,
            tx_type: d.tx_type.as_str().to_string(),
            amount: d.amount.0,
            value_date: d.value_date.clone(),
            provider_id: d.provider_id,
            receiver_id: d.receiver_id,
            provider_shenzhen: ps,
            receiver_shenzhen: rs,
            fund_source: d.fund_source.as_str().to_string(),
            project_id: d.project_id,
            voucher_no: d.voucher_no.clone(),
            memo: d.memo.clone(),
            passes_on: d.passes_on,
            reverses: None,
            over_commitment_reason: d
                .over_commitment_reason
                .as_deref()
                .map(|s| s.trim().to_string()),
            invested: self.is_invested(d.tx_type, ps, rs, d.passes_on),
            receives: d.receives,
            recorded_at: recorded_at.to_string(),
            recorded_by: recorded_by.to_string(),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// The reversing entry of a checked reversal: the original's columns, the amount negated.
    pub fn entry_from_reversal(
        &self,
        r: &ReversalDraft,
        id: i64,
        recorded_at: &str,
        recorded_by: &str,
        prev_hash: &str,
    ) -> Entry {
        let o = &self.entries[&r.reverses].entry;
        let mut e = Entry {
            id,
            amount: -o.amount,
            value_date: r.value_date.clone(),
            voucher_no: r.voucher_no.clone(),
            memo: r.reason.trim().to_string(),
            reverses: Some(o.id),
            over_commitment_reason: None,
            recorded_at: recorded_at.to_string(),
            recorded_by: recorded_by.to_string(),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
            ..o.clone()
        };
        e.hash = e.compute_hash();
        e
    }

    /// Takes an appended entry into the state.
    pub fn apply(&mut self, e: &Entry) {
        if let (Some(pr), Some(kind)) = (self.projects.get_mut(&e.project_id), e.kind()) {
            add_to_totals(&mut pr.totals, kind, e.repeats_upstream(), e.fen());
        }
        if let Some(src) = e.receives.and_then(|s| self.entries.get_mut(&s)) {
            // A reversal of the receipt frees the disbursement for a correct one.
            src.received_by = if e.reverses.is_some() {
                None
            } else {
                Some(e.id)
            };
        }
        if let Some(src) = e.passes_on.and_then(|s| self.entries.get_mut(&s)) {
            src.passed_on = src.passed_on + e.fen();
        }
        if let Some(orig) = e.reverses.and_then(|o| self.entries.get_mut(&o)) {
            orig.reversed_by = Some(e.id);
        }
        self.entries.insert(
            e.id,
            EntryFacts {
                entry: e.clone(),
                passed_on: Fen::ZERO,
                reversed_by: None,
                received_by: None,
            },
        );
    }

    /// Re-checks a stored entry against the state before it (for `verify`): the same rules as
    /// on the way in, plus what the system itself derived (sides' effect, reversal copies).
    /// Returns a Chinese description of the first thing wrong.
    pub fn recheck(&self, e: &Entry) -> Option<String> {
        let Some(kind) = e.kind() else {
            return Some(format!("交易类型“{}”无效", e.tx_type));
        };
        let Some(source) = FundSource::parse(&e.fund_source) else {
            return Some(format!("资金来源“{}”无效", e.fund_source));
        };
        let expected_invested = match e.reverses {
            Some(o) => self
                .entries
                .get(&o)
                .map(|f| f.entry.invested)
                .unwrap_or(false),
            None => self.is_invested(kind, e.provider_shenzhen, e.receiver_shenzhen, e.passes_on),
        };
        if e.invested != expected_invested {
            return Some(format!(
                "“计入投入”标记为 {}，按规则应为 {}",
                e.invested, expected_invested
            ));
        }
        if let Some(orig_id) = e.reverses {
            let Some(orig) = self.entries.get(&orig_id) else {
                return Some(format!("冲销的交易 {orig_id} 不存在或不在其之前"));
            };
            let r = ReversalDraft {
                reverses: orig_id,
                value_date: e.value_date.clone(),
                voucher_no: e.voucher_no.clone(),
                reason: e.memo.clone(),
            };
            if let Some(problem) = self.check_reversal(&r).into_iter().next() {
                return Some(problem.message);
            }
            let o = &orig.entry;
            let same = e.tx_type == o.tx_type
                && e.amount == -o.amount
                && e.provider_id == o.provider_id
                && e.receiver_id == o.receiver_id
                && e.provider_shenzhen == o.provider_shenzhen
                && e.receiver_shenzhen == o.receiver_shenzhen
                && e.fund_source == o.fund_source
                && e.project_id == o.project_id
                && e.passes_on == o.passes_on
                && e.receives == o.receives
                && e.over_commitment_reason.is_none();
            if !same {
                return Some(format!(
                    "冲销交易与被冲销的交易 {orig_id} 不对应（金额、类型、机构或项目不一致）"
                ));
            }
            return None;
        }
        let draft = Draft {
            tx_type: kind,
            amount: e.fen(),
            value_date: e.value_date.clone(),
            provider_id: e.provider_id,
            receiver_id: e.receiver_id,
            fund_source: source,
            project_id: e.project_id,
            voucher_no: e.voucher_no.clone(),
            memo: e.memo.clone(),
            passes_on: e.passes_on,
            over_commitment_reason: e.over_commitment_reason.clone(),
            receives: e.receives,
        };
        self.check(&draft)
            .into_iter()
            .next()
            .map(|p| format!("{}（{}）", p.message, p.field))
    }
}

/// Adds one entry to a project's figures as the rules count them: an entry that repeats money
/// counted upstream ([`Entry::repeats_upstream`]: a pass-on is not disbursed again, a receipt
/// of a recorded disbursement not received again) adds nothing.
pub fn add_to_totals(t: &mut Progress, kind: TxType, repeats_upstream: bool, amount: Fen) {
    match kind {
        TxType::Commitment => t.committed = t.committed + amount,
        TxType::Disbursement if !repeats_upstream => t.disbursed = t.disbursed + amount,
        TxType::Disbursement => {}
        TxType::IncomingFunds if !repeats_upstream => t.incoming = t.incoming + amount,
        TxType::IncomingFunds => {}
        TxType::Expenditure => t.expended = t.expended + amount,
    }
}

/// The outcome of checking a whole ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub count: i64,
    pub head_hash: String,
    /// The first entry that breaks, and what is wrong with it.
    pub first_problem: Option<(i64, String)>,
}

/// Checks entries in id order: ids without gaps, each `prev_hash` the hash of the one before,
/// each `hash` recomputed from the columns, and every rule replayed. `ledger` must already know
/// the organisations and projects (with zero totals). Stops at the first problem.
pub struct Verifier {
    pub ledger: Ledger,
    expected_id: i64,
    prev_hash: String,
    count: i64,
    problem: Option<(i64, String)>,
}

impl Verifier {
    pub fn new(ledger: Ledger) -> Verifier {
        Verifier {
            ledger,
            expected_id: 1,
            prev_hash: GENESIS_HASH.to_string(),
            count: 0,
            problem: None,
        }
    }

    /// Feeds the next entry; returns false once a problem was found (the rest need not be read).
    pub fn push(&mut self, e: &Entry) -> bool {
        if self.problem.is_some() {
            return false;
        }
        let problem = if e.id != self.expected_id {
            if e.id > self.expected_id {
                Some((
                    self.expected_id,
                    format!(
                        "交易 {} 缺失（编号跳到了 {}），记录可能被删除",
                        self.expected_id, e.id
                    ),
                ))
            } else {
                Some((e.id, format!("交易编号 {} 重复或顺序错乱", e.id)))
            }
        } else if e.prev_hash != self.prev_hash {
            Some((
                e.id,
                if e.id == 1 {
                    "第一条交易的“上一条哈希”不是全零".to_string()
                } else {
                    format!(
                        "“上一条哈希”与交易 {} 的哈希不符：交易 {} 或本条被改动过",
                        e.id - 1,
                        e.id - 1
                    )
                },
            ))
        } else if e.compute_hash() != e.hash {
            Some((
                e.id,
                "哈希与记录内容不符：本条交易的内容被改动过".to_string(),
            ))
        } else {
            self.ledger.recheck(e).map(|m| (e.id, m))
        };
        if let Some(p) = problem {
            self.problem = Some(p);
            return false;
        }
        self.ledger.apply(e);
        self.prev_hash = e.hash.clone();
        self.expected_id += 1;
        self.count += 1;
        true
    }

    pub fn finish(self) -> Verification {
        Verification {
            count: self.count,
            head_hash: self.prev_hash,
            first_problem: self.problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CITY: i64 = 1;
    const DISTRICT: i64 = 2;
    const COUNTY: i64 = 3;
    const CONTRACTOR: i64 = 4;
    const P: i64 = 10;

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        l.organisations.extend([
            (CITY, true),
            (DISTRICT, true),
            (COUNTY, false),
            (CONTRACTOR, false),
        ]);
        l.projects.insert(
            P,
            ProjectFacts {
                approved_on: "2019-03-01".into(),
                status: ProjectStatus::Approved,
                totals: Progress::default(),
            },
        );
        l
    }

    fn draft(kind: TxType, amount: i64, from: i64, to: i64) -> Draft {
        Draft {
            tx_type: kind,
            amount: Fen(amount),
            value_date: "2019-05-01".into(),
            provider_id: from,
            receiver_id: to,
            fund_source: FundSource::Fiscal,
            project_id: P,
            voucher_no: String::new(),
            memo: String::new(),
            passes_on: None,
            over_commitment_reason: None,
            receives: None,
        }
    }

    /// Checks and appends; panics on a refusal.
    fn post(l: &mut Ledger, d: Draft) -> Entry {
        let problems = l.check(&d);
        assert!(problems.is_empty(), "{problems:?}");
        let id = l.entries.len() as i64 + 1;
        let prev = if id == 1 {
            GENESIS_HASH.to_string()
        } else {
            l.entries[&(id - 1)].entry.hash.clone()
        };
        let e = l.entry_from_draft(&d, id, "2019-05-01T00:00:00Z", "test", &prev);
        l.apply(&e);
        e
    }

    fn fields(p: &[FieldError]) -> Vec<&str> {
        p.iter().map(|e| e.field.as_str()).collect()
    }

    fn entry() -> Entry {
        let l = ledger();
        l.entry_from_draft(
            &draft(TxType::Commitment, 100, CITY, COUNTY),
            1,
            "2019-05-01T00:00:00Z",
            "admin",
            GENESIS_HASH,
        )
    }

    #[test]
    fn the_hash_covers_every_column() {
        let e = entry();
        assert_eq!(e.hash, e.compute_hash());
        assert_eq!(e.hash.len(), 64);
        type Change = Box<dyn Fn(&mut Entry)>;
        let variants: Vec<Change> = vec![
            Box::new(|e| e.id = 2),
            Box::new(|e| e.tx_type = "disbursement".into()),
            Box::new(|e| e.amount = 101),
            Box::new(|e| e.value_date = "2019-05-02".into()),
            Box::new(|e| e.provider_id = 9),
            Box::new(|e| e.receiver_id = 9),
            Box::new(|e| e.provider_shenzhen = false),
            Box::new(|e| e.receiver_shenzhen = true),
            Box::new(|e| e.fund_source = "donation".into()),
            Box::new(|e| e.project_id = 11),
            Box::new(|e| e.voucher_no = "x".into()),
            Box::new(|e| e.memo = "x".into()),
            Box::new(|e| e.passes_on = Some(1)),
            Box::new(|e| e.reverses = Some(1)),
            Box::new(|e| e.over_commitment_reason = Some(String::new())),
            Box::new(|e| e.invested = true),
            Box::new(|e| e.receives = Some(1)),
            Box::new(|e| e.recorded_at = "2019-05-01T00:00:01Z".into()),
            Box::new(|e| e.recorded_by = "x".into()),
            Box::new(|e| e.prev_hash = "1".repeat(64)),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut altered = e.clone();
            change(&mut altered);
            assert_ne!(altered.compute_hash(), e.hash, "column {i} is not covered");
        }
    }

    #[test]
    fn entries_without_a_receipt_reference_keep_the_hash_they_were_recorded_with() {
        // The hash of `entry()` as computed before `receives` existed (the canonical form of
        // the 0004 schema, SHA-256 over GENESIS + "\n" + form), written down then.
        let e = entry();
        assert_eq!(
            e.hash,
            "b74b5f015ed529a741d8f4ca82d1f815b7f3bdd5762874cc4cdb6a5d7a751c43"
        );
        assert!(!e.canonical().contains("receives"));
        // And a whole chain recorded without the column still verifies.
        let entries = sample();
        assert!(entries.iter().all(|e| e.receives.is_none()));
        assert_eq!(replay(&entries).first_problem, None);
    }

    #[test]
    fn a_county_receipt_of_a_recorded_disbursement_is_not_received_twice() {
        let mut l = ledger();
        post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let d = post(&mut l, draft(TxType::Disbursement, 800, CITY, COUNTY));
        assert_eq!(l.projects[&P].totals.received(), Fen(800));
        let receipt = |amount| Draft {
            receives: Some(d.id),
            ..draft(TxType::IncomingFunds, amount, CITY, COUNTY)
        };
        // Not the same money: refused, with the field named.
        let p = l.check(&receipt(799));
        assert_eq!(fields(&p), ["amount"]);
        assert!(
            p[0].message.contains("应等于所引用的拨付交易"),
            "{}",
            p[0].message
        );
        assert_eq!(fields(&l.check(&receipt(801))), ["amount"]);
        assert_eq!(
            fields(&l.check(&Draft {
                fund_source: FundSource::Donation,
                ..receipt(800)
            })),
            ["fund_source"]
        );
        assert_eq!(
            fields(&l.check(&Draft {
                receiver_id: CONTRACTOR,
                ..receipt(800)
            })),
            ["receiver_id"]
        );
        assert_eq!(
            fields(&l.check(&Draft {
                value_date: "2019-04-30".into(),
                ..receipt(800)
            })),
            ["value_date"]
        );
        let not_a_receipt = Draft {
            receives: Some(d.id),
            ..draft(TxType::Disbursement, 100, CITY, COUNTY)
        };
        assert_eq!(fields(&l.check(&not_a_receipt)), ["receives"]);
        assert_eq!(
            fields(&l.check(&Draft {
                receives: Some(99),
                ..receipt(800)
            })),
            ["receives"]
        );
        let r = post(&mut l, receipt(800));
        assert_eq!(r.receives, Some(d.id));
        assert!(r.canonical().contains("receives:1:2\n"));
        assert_eq!(
            l.projects[&P].totals.received(),
            Fen(800),
            "the receipt is the disbursement seen from the county"
        );
        assert_eq!(l.projects[&P].totals.incoming, Fen::ZERO);
        // Only one receipt per disbursement.
        let p = l.check(&receipt(800));
        assert_eq!(fields(&p), ["receives"]);
        assert!(p[0].message.contains(&format!("已由资金到账交易 {}", r.id)));
        // The disbursement cannot be reversed under its receipt, nor the receipt passed on.
        let rev = |id| ReversalDraft {
            reverses: id,
            value_date: "2019-06-01".into(),
            voucher_no: String::new(),
            reason: "录错".into(),
        };
        assert_eq!(fields(&l.check_reversal(&rev(d.id))), ["reverses"]);
        let p = l.check(&Draft {
            passes_on: Some(r.id),
            ..draft(TxType::Disbursement, 100, COUNTY, CONTRACTOR)
        });
        assert_eq!(fields(&p), ["passes_on"]);
        // Reversing the receipt nets out and frees the disbursement for a correct receipt.
        assert!(l.check_reversal(&rev(r.id)).is_empty());
        let rr = l.entry_from_reversal(&rev(r.id), 4, "t", "admin", &r.hash);
        assert_eq!(rr.receives, Some(d.id));
        l.apply(&rr);
        assert_eq!(l.projects[&P].totals.received(), Fen(800));
        assert!(l.check(&receipt(800)).is_empty());
        // A receipt of money from a recipient-side organisation is not a transfer of the
        // Shenzhen side: nothing to reference.
        let local = post(&mut l, draft(TxType::Disbursement, 10, COUNTY, CONTRACTOR));
        let p = l.check(&Draft {
            receives: Some(local.id),
            ..draft(TxType::IncomingFunds, 10, COUNTY, CONTRACTOR)
        });
        assert_eq!(fields(&p), ["receives"]);
    }

    #[test]
    fn verify_replays_receipts_and_catches_a_second_one() {
        let mut l = ledger();
        post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let d = post(&mut l, draft(TxType::Disbursement, 800, CITY, COUNTY));
        post(
            &mut l,
            Draft {
                receives: Some(d.id),
                ..draft(TxType::IncomingFunds, 800, CITY, COUNTY)
            },
        );
        let mut entries: Vec<Entry> = l.entries.values().map(|f| f.entry.clone()).collect();
        entries.sort_by_key(|e| e.id);
        assert_eq!(replay(&entries).first_problem, None);
        // A second receipt of the same disbursement, forged and chained: verify names it.
        let mut forged = entries[2].clone();
        forged.id = 4;
        forged.prev_hash = entries[2].hash.clone();
        forged.hash = forged.compute_hash();
        entries.push(forged);
        let v = replay(&entries);
        assert_eq!(v.first_problem.as_ref().map(|p| p.0), Some(4));
        assert!(v.first_problem.unwrap().1.contains("只能登记一次到账"));
    }

    #[test]
    fn the_canonical_form_is_unambiguous() {
        let mut a = entry();
        let mut b = entry();
        a.voucher_no = "1\nmemo:0:".into();
        a.memo = String::new();
        b.voucher_no = "1".into();
        b.memo = "\nmemo:0:".into();
        assert_ne!(a.canonical(), b.canonical());
        assert!(entry().canonical().contains("passes_on:null\n"));
    }

    #[test]
    fn invariants_refuse_with_the_field_named() {
        let mut l = ledger();
        assert_eq!(
            fields(&l.check(&draft(TxType::Commitment, 0, CITY, COUNTY))),
            ["amount"]
        );
        assert_eq!(
            fields(&l.check(&draft(TxType::Commitment, -5, CITY, COUNTY))),
            ["amount"]
        );
        assert_eq!(
            fields(&l.check(&draft(TxType::Commitment, 5, 99, COUNTY))),
            ["provider_id"]
        );
        assert_eq!(
            fields(&l.check(&draft(TxType::Commitment, 5, CITY, 98))),
            ["receiver_id"]
        );
        assert_eq!(
            fields(&l.check(&Draft {
                project_id: 77,
                ..draft(TxType::Commitment, 5, CITY, COUNTY)
            })),
            ["project_id"]
        );
        let early = Draft {
            value_date: "2019-02-28".into(),
            ..draft(TxType::Commitment, 5, CITY, COUNTY)
        };
        let p = l.check(&early);
        assert_eq!(fields(&p), ["value_date"]);
        assert!(
            p[0].message.contains("早于项目立项日期 2019-03-01"),
            "{}",
            p[0].message
        );

        // Above commitments: refused, unless flagged with a reason.
        post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let over = draft(TxType::Disbursement, 1_001, CITY, COUNTY);
        let p = l.check(&over);
        assert_eq!(fields(&p), ["amount"]);
        assert!(
            p[0].message.contains("超过承诺 10.00 元"),
            "{}",
            p[0].message
        );
        let flagged_empty = Draft {
            over_commitment_reason: Some("  ".into()),
            ..over.clone()
        };
        assert_eq!(fields(&l.check(&flagged_empty)), ["over_commitment_reason"]);
        let flagged = Draft {
            over_commitment_reason: Some("追加预算已批复".into()),
            ..over.clone()
        };
        assert!(l.check(&flagged).is_empty());
        post(&mut l, draft(TxType::Disbursement, 600, CITY, COUNTY));

        // Expenditure above what the project received.
        let p = l.check(&draft(TxType::Expenditure, 601, COUNTY, CONTRACTOR));
        assert_eq!(fields(&p), ["amount"]);
        assert!(
            p[0].message.contains("已收到的资金 6.00 元"),
            "{}",
            p[0].message
        );
        post(&mut l, draft(TxType::Expenditure, 600, COUNTY, CONTRACTOR));
        // Incoming funds raise what was received.
        post(
            &mut l,
            Draft {
                fund_source: FundSource::Donation,
                ..draft(TxType::IncomingFunds, 50, CONTRACTOR, COUNTY)
            },
        );
        assert!(
            l.check(&draft(TxType::Expenditure, 50, COUNTY, CONTRACTOR))
                .is_empty()
        );
    }

    #[test]
    fn a_pass_through_chain_is_counted_once_and_cannot_pass_on_more_than_it_received() {
        let mut l = ledger();
        post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let hop1 = post(&mut l, draft(TxType::Disbursement, 1_000, CITY, DISTRICT));
        assert!(
            !hop1.invested,
            "city → district is inside the Shenzhen side"
        );
        let too_much = Draft {
            passes_on: Some(hop1.id),
            ..draft(TxType::Disbursement, 1_001, DISTRICT, COUNTY)
        };
        let p = l.check(&too_much);
        assert_eq!(fields(&p), ["amount"]);
        assert!(
            p[0].message.contains("尚未转拨的余额 10.00 元"),
            "{}",
            p[0].message
        );
        // Fiscal money stays fiscal down the chain.
        let laundered = Draft {
            passes_on: Some(hop1.id),
            fund_source: FundSource::Donation,
            ..draft(TxType::Disbursement, 10, DISTRICT, COUNTY)
        };
        let p = l.check(&laundered);
        assert_eq!(fields(&p), ["fund_source"]);
        assert!(p[0].message.contains("财政资金"), "{}", p[0].message);
        let wrong_provider = Draft {
            passes_on: Some(hop1.id),
            ..draft(TxType::Disbursement, 10, CITY, COUNTY)
        };
        assert_eq!(fields(&l.check(&wrong_provider)), ["provider_id"]);
        let hop2 = post(
            &mut l,
            Draft {
                passes_on: Some(hop1.id),
                ..draft(TxType::Disbursement, 700, DISTRICT, COUNTY)
            },
        );
        assert!(
            hop2.invested,
            "district → county crosses to the recipient side"
        );
        let hop3 = post(
            &mut l,
            Draft {
                passes_on: Some(hop2.id),
                ..draft(TxType::Disbursement, 700, COUNTY, CONTRACTOR)
            },
        );
        assert!(
            !hop3.invested,
            "further down the chain is not counted again"
        );
        let rest = Draft {
            passes_on: Some(hop1.id),
            ..draft(TxType::Disbursement, 301, DISTRICT, COUNTY)
        };
        assert_eq!(fields(&l.check(&rest)), ["amount"]);
        post(
            &mut l,
            Draft {
                passes_on: Some(hop1.id),
                ..draft(TxType::Disbursement, 300, DISTRICT, COUNTY)
            },
        );
        let invested: i64 = l
            .entries
            .values()
            .filter(|f| f.entry.invested)
            .map(|f| f.entry.amount)
            .sum();
        assert_eq!(
            invested, 1_000,
            "1,000 went from Shenzhen to the county, once"
        );
        // Pass-ons do not count as the project's disbursements again.
        assert_eq!(l.projects[&P].totals.disbursed, Fen(1_000));
        // Money coming back up the chain from the recipient side is not invested either.
        let back = post(
            &mut l,
            Draft {
                passes_on: Some(hop3.id),
                ..draft(TxType::Disbursement, 100, CONTRACTOR, COUNTY)
            },
        );
        assert!(!back.invested);
    }

    #[test]
    fn reversals_undo_one_entry_whole_and_only_once() {
        let mut l = ledger();
        let c = post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let d = post(&mut l, draft(TxType::Disbursement, 800, CITY, COUNTY));
        assert!(d.invested);
        let rev = |id, reason: &str| ReversalDraft {
            reverses: id,
            value_date: "2019-06-01".into(),
            voucher_no: String::new(),
            reason: reason.into(),
        };
        assert_eq!(fields(&l.check_reversal(&rev(99, "x"))), ["reverses"]);
        assert_eq!(fields(&l.check_reversal(&rev(d.id, " "))), ["reason"]);
        // Reversing the commitment would leave 800 disbursed against nothing committed.
        assert_eq!(fields(&l.check_reversal(&rev(c.id, "录错"))), ["reverses"]);
        assert!(l.check_reversal(&rev(d.id, "金额录错")).is_empty());
        let r = l.entry_from_reversal(&rev(d.id, "金额录错"), 3, "t", "admin", &d.hash);
        assert_eq!(r.amount, -800);
        assert!(
            r.invested,
            "a reversal mirrors what it reverses, so sums net out"
        );
        assert!(l.recheck(&r).is_none());
        l.apply(&r);
        assert_eq!(l.projects[&P].totals.disbursed, Fen::ZERO);
        assert_eq!(fields(&l.check_reversal(&rev(d.id, "again"))), ["reverses"]);
        assert_eq!(
            fields(&l.check_reversal(&rev(r.id, "undo the undo"))),
            ["reverses"]
        );
        assert!(
            l.check_reversal(&rev(c.id, "录错")).is_empty(),
            "now the commitment can go"
        );
        // A reversed entry cannot be passed on.
        let p = l.check(&Draft {
            passes_on: Some(d.id),
            ..draft(TxType::Disbursement, 1, COUNTY, CONTRACTOR)
        });
        assert_eq!(fields(&p), ["passes_on"]);
    }

    #[test]
    fn an_entry_that_was_passed_on_cannot_be_reversed_first() {
        let mut l = ledger();
        post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let hop1 = post(&mut l, draft(TxType::Disbursement, 1_000, CITY, DISTRICT));
        post(
            &mut l,
            Draft {
                passes_on: Some(hop1.id),
                ..draft(TxType::Disbursement, 400, DISTRICT, COUNTY)
            },
        );
        let p = l.check_reversal(&ReversalDraft {
            reverses: hop1.id,
            value_date: "2019-06-01".into(),
            voucher_no: String::new(),
            reason: "x".into(),
        });
        assert_eq!(fields(&p), ["reverses"]);
        assert!(p[0].message.contains("已转拨 4.00 元"), "{}", p[0].message);
    }

    fn replay(entries: &[Entry]) -> Verification {
        let mut v = Verifier::new(ledger());
        for e in entries {
            if !v.push(e) {
                break;
            }
        }
        v.finish()
    }

    fn sample() -> Vec<Entry> {
        let mut l = ledger();
        post(&mut l, draft(TxType::Commitment, 1_000, CITY, COUNTY));
        let h = post(&mut l, draft(TxType::Disbursement, 1_000, CITY, DISTRICT));
        post(
            &mut l,
            Draft {
                passes_on: Some(h.id),
                ..draft(TxType::Disbursement, 1_000, DISTRICT, COUNTY)
            },
        );
        post(&mut l, draft(TxType::Expenditure, 300, COUNTY, CONTRACTOR));
        let mut out: Vec<Entry> = l.entries.into_values().map(|f| f.entry).collect();
        out.sort_by_key(|e| e.id);
        out
    }

    #[test]
    fn verify_accepts_an_untouched_ledger_and_returns_the_head() {
        let entries = sample();
        let v = replay(&entries);
        assert_eq!(v.first_problem, None);
        assert_eq!(v.count, 4);
        assert_eq!(v.head_hash, entries[3].hash);
        assert_eq!(replay(&[]).head_hash, GENESIS_HASH);
    }

    #[test]
    fn verify_names_the_entry_that_was_altered_deleted_or_rehashed() {
        let mut entries = sample();
        entries[1].amount = 999;
        let v = replay(&entries);
        assert_eq!(v.first_problem.as_ref().map(|p| p.0), Some(2));
        assert!(v.first_problem.unwrap().1.contains("被改动"));
        assert_eq!(v.count, 1);

        let mut entries = sample();
        entries.remove(2);
        assert_eq!(
            replay(&entries).first_problem.map(|p| p.0),
            Some(3),
            "a deleted entry leaves a gap"
        );

        // Altered and re-hashed: the next entry no longer links to it.
        let mut entries = sample();
        entries[1].memo = "改过".into();
        entries[1].hash = entries[1].compute_hash();
        let v = replay(&entries);
        assert_eq!(v.first_problem.as_ref().map(|p| p.0), Some(3));
        assert!(v.first_problem.unwrap().1.contains("交易 2"));

        // Altered, re-hashed and re-chained to the end: the rules still catch an impossible entry.
        let mut entries = sample();
        entries[3].amount = 5_000;
        let mut prev = entries[2].hash.clone();
        for e in entries.iter_mut().skip(3) {
            e.prev_hash = prev.clone();
            e.hash = e.compute_hash();
            prev = e.hash.clone();
        }
        let v = replay(&entries);
        assert_eq!(v.first_problem.as_ref().map(|p| p.0), Some(4));
        assert!(v.first_problem.unwrap().1.contains("已收到的资金"));

        // The invested flag cannot be flipped either.
        let mut entries = sample();
        entries[1].invested = true;
        entries[1].hash = entries[1].compute_hash();
        entries[2].prev_hash = entries[1].hash.clone();
        entries[2].hash = entries[2].compute_hash();
        entries[3].prev_hash = entries[2].hash.clone();
        entries[3].hash = entries[3].compute_hash();
        assert_eq!(replay(&entries).first_problem.map(|p| p.0), Some(2));
    }

    #[test]
    fn loose_spellings_of_types_and_sources() {
        assert_eq!(FundSource::parse_loose("财政"), Some(FundSource::Fiscal));
        assert_eq!(
            FundSource::parse_loose("社会捐赠"),
            Some(FundSource::Donation)
        );
        assert_eq!(FundSource::Foundation.category_zh(), "社会");
        assert_eq!(TxType::parse_loose("拨付"), Some(TxType::Disbursement));
        assert_eq!(TxType::parse_loose("到账"), Some(TxType::IncomingFunds));
        assert_eq!(TxType::parse_loose("借款"), None);
    }
}
