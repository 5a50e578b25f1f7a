//! Consumption aid (issue 14) through the store on a real database, both engines: suppliers
//! only as registered entities, the certification procedure, the certificate checked at the
//! order's date, attribution of received orders to households and its exact reversal by a
//! refund, attributed income kept apart from declared incomes and exit decisions, idempotent
//! order placement under concurrency, and the 832 quota.

use crate::assessment::{EAST_VILLAGE, household_id, import, poor, run_ok};
use crate::harness::TestApp;
use domain::consumption::{InvalidReason, OrderState, QuotaOutcome};
use domain::money::Fen;
use domain::{Caller, RegionCode, Role, Scope};
use std::collections::BTreeMap;
use store::StoreError;
use store::consumption::certificates::{CertificateStepInput, ProductInput};
use store::consumption::figures::PurchaseGrouping;
use store::consumption::orders::{BuyerInput, OrderInput, OrderLineInput};
use store::consumption::suppliers::{BenefitLinkInput, SupplierInput, VerificationInput};
use store::organisations::OrganisationInput;

const COUNTY: &str = "441621"; // 紫金县, where EAST_VILLAGE lies

fn county_cadre() -> Caller {
    Caller {
        user_id: None,
        username: "紫金县干部".into(),
        role: Role::County,
        scope: Scope::Regions(vec![RegionCode::parse(COUNTY).unwrap()]),
        can_reveal: false,
        organisation_id: None,
    }
}

fn org_user(org: i64) -> Caller {
    Caller {
        user_id: None,
        username: format!("channel{org}"),
        role: Role::Org,
        scope: Scope::Organisation(org),
        can_reveal: false,
        organisation_id: Some(org),
    }
}

/// A checksum-valid 统一社会信用代码 with this prefix (2 characters) and serial (4 digits).
fn credit_code(prefix: &str, serial: u32) -> String {
    let first17 = format!("{prefix}441621MA4WX{serial:04}");
    format!(
        "{first17}{}",
        domain::credit_code::check_char(&first17).unwrap()
    )
}

fn step(step: &str, on: &str) -> CertificateStepInput {
    CertificateStepInput {
        step: step.into(),
        on: on.into(),
        ..Default::default()
    }
}

struct Fixture {
    supplier: i64,
    product: i64,
    certificate: i64,
    buyer: i64,
}

/// A cooperative of 紫金县 with a product listed 2019-01-13, valid 2019-01-10 … 2019-12-31, and a
/// budget-unit buyer in Shenzhen.
async fn fixture(app: &TestApp, serial: u32) -> Fixture {
    let db = &app.db;
    let county = county_cadre();
    let supplier = db
        .create_supplier(
            &county,
            &SupplierInput {
                name: format!("紫金县蜂蜜专业合作社{serial}"),
                supplier_type: "农民专业合作社".into(),
                credit_code: Some(credit_code("93", serial)),
                county_code: COUNTY.into(),
                contact_name: Some("王社长".into()),
                contact_phone: Some("13812345678".into()),
            },
        )
        .await
        .unwrap();
    let product = db
        .create_product(
            &county,
            supplier.id,
            &ProductInput {
                name: format!("紫金蜂蜜{serial}"),
                category: "农副产品".into(),
                specification: Some("500克/瓶".into()),
                unit: "瓶".into(),
                unit_price: 6_800,
                annual_supply_value: 50_000_000,
            },
        )
        .await
        .unwrap();
    let cert = db
        .apply_for_certificate(&county, product.id, "2019-01-02")
        .await
        .unwrap();
    for s in [
        step("town_review", "2019-01-03"),
        step("sector_review", "2019-01-04"),
        CertificateStepInput {
            number: Some(format!("GD-ZJ-2019-{serial:04}")),
            batch: Some("2019年第一批".into()),
            valid_from: Some("2019-01-10".into()),
            valid_to: Some("2019-12-31".into()),
            ..step("county_decision", "2019-01-05")
        },
        step("publicity", "2019-01-06"),
        step("list", "2019-01-13"),
    ] {
        db.certificate_step(&county, cert.id, &s).await.unwrap();
    }
    let buyer = db
        .create_buyer(
            &Caller::system(),
            &BuyerInput {
                name: format!("深圳市某局{serial}"),
                buyer_type: "预算单位".into(),
                region_code: "440304".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Fixture {
        supplier: supplier.id,
        product: product.id,
        certificate: cert.id,
        buyer: buyer.id,
    }
}

/// An enterprise that sells through its own channel (its `org` users post the orders).
async fn channel_org(app: &TestApp, name: &str) -> i64 {
    app.db
        .create_organisation(
            &Caller::system(),
            &OrganisationInput {
                name: name.into(),
                kind: "enterprise".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
}

fn order(buyer: i64, product: i64, date: &str, quantity: i64) -> OrderInput {
    OrderInput {
        buyer_id: buyer,
        channel: "832平台".into(),
        channel_order_no: None,
        order_date: date.into(),
        lines: vec![OrderLineInput {
            product_id: product,
            quantity,
            unit_price: None,
        }],
    }
}

/// Links a household by an agreed amount (yuan) or a share (basis points), verified.
async fn link(
    app: &TestApp,
    supplier: i64,
    household: i64,
    amount: Option<i64>,
    share: Option<i64>,
) {
    let county = county_cadre();
    let l = app
        .db
        .add_benefit_link(
            &county,
            supplier,
            &BenefitLinkInput {
                household_id: household,
                kind: if share.is_some() {
                    "入股分红"
                } else {
                    "务工"
                }
                .into(),
                from: "2019-01-01".into(),
                to: Some("2019-12-31".into()),
                amount: amount.map(|y| y * 100),
                share_bp: share,
                evidence: "2019年合同".into(),
            },
        )
        .await
        .unwrap();
    app.db
        .verify_benefit_link(
            &county,
            l.id,
            &VerificationInput {
                on: "2019-01-08".into(),
                by: "县乡村振兴局 李核实".into(),
            },
        )
        .await
        .unwrap();
}

async fn receive(app: &TestApp, id: i64) {
    let admin = Caller::system();
    for (s, on) in [
        ("confirmed", "2019-12-31"),
        ("shipped", "2020-01-02"),
        ("received", "2020-01-05"),
    ] {
        app.db
            .change_order_state(&admin, id, s, on, "")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn suppliers_are_registered_entities_of_the_accepted_kinds_and_the_county_registers_them() {
    let app = TestApp::spawn().await;
    let county = county_cadre();
    let input = |t: &str, code: Option<String>| SupplierInput {
        name: "某供应商".into(),
        supplier_type: t.into(),
        credit_code: code,
        county_code: COUNTY.into(),
        ..Default::default()
    };
    // An individual farmer, without a licence.
    let err = app
        .db
        .create_supplier(&county, &input("家庭农场", None))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("个人或未登记的农户")
            && msg.contains("农民专业合作社（93）")
            && msg.contains("N1"),
        "{msg}"
    );
    // A sole trader (92) only as a family farm.
    let err = app
        .db
        .create_supplier(&county, &input("企业", Some(credit_code("92", 1))))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { details, .. } if details[0].field == "credit_code"),
        "{err:?}"
    );
    let farm = app
        .db
        .create_supplier(&county, &input("家庭农场", Some(credit_code("92", 1))))
        .await
        .unwrap();
    assert_eq!(farm.county_code.to_string(), COUNTY);
    // A social organisation (51) is no supplier; a bad check character is the credit-code check's.
    assert!(
        app.db
            .create_supplier(&county, &input("企业", Some(credit_code("51", 2))))
            .await
            .is_err()
    );
    let mut bad = credit_code("93", 3);
    let last = bad.pop().unwrap();
    bad.push(if last == '1' { '2' } else { '1' });
    let err = app
        .db
        .create_supplier(&county, &input("农民专业合作社", Some(bad)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("校验位"), "{err}");
    // The same code twice, and another county's cadre.
    let err = app
        .db
        .create_supplier(&county, &input("家庭农场", Some(credit_code("92", 1))))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("已被供应商"), "{err}");
    let other = Caller {
        scope: Scope::Regions(vec![RegionCode::parse("451024").unwrap()]),
        ..county_cadre()
    };
    let err = app
        .db
        .create_supplier(&other, &input("农民专业合作社", Some(credit_code("93", 4))))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "{err:?}");
    // The contact phone is masked for anyone who may not change the supplier.
    let seen = app
        .db
        .get_supplier(&Caller::public(), farm.id)
        .await
        .unwrap();
    assert_eq!(seen.contact_phone, "");
    let coop = app
        .db
        .create_supplier(
            &county,
            &SupplierInput {
                contact_phone: Some("13812345678".into()),
                ..input("农民专业合作社", Some(credit_code("93", 5)))
            },
        )
        .await
        .unwrap();
    assert_eq!(coop.contact_phone, "13812345678");
    assert_eq!(
        app.db
            .get_supplier(&Caller::public(), coop.id)
            .await
            .unwrap()
            .contact_phone,
        "138****5678"
    );
}

#[tokio::test]
async fn the_certificate_procedure_is_ordered_dated_attributed_and_audited() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 1).await;
    let history = app.db.certificate_history(f.certificate).await.unwrap();
    let steps: Vec<&str> = history.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "apply",
            "town_review",
            "sector_review",
            "county_decision",
            "publicity",
            "list"
        ]
    );
    assert!(history.iter().all(|s| s.by == "紫金县干部"));
    let cert = app.db.get_certificate(f.certificate).await.unwrap();
    assert_eq!(
        cert.certificate.publicity_ends.unwrap().to_string(),
        "2019-01-12",
        "7 days by the rules"
    );
    // A second product: listing before the 公示 ended is refused, naming the first allowed day.
    let county = county_cadre();
    let p = app
        .db
        .create_product(
            &county,
            f.supplier,
            &ProductInput {
                name: "紫金茶叶".into(),
                category: "茶叶".into(),
                unit: "盒".into(),
                unit_price: 100,
                annual_supply_value: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let c = app
        .db
        .apply_for_certificate(&county, p.id, "2020-03-01")
        .await
        .unwrap();
    let err = app
        .db
        .certificate_step(&county, c.id, &step("sector_review", "2020-03-02"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("镇级初审通过"), "{err}");
    for s in [
        step("town_review", "2020-03-02"),
        step("sector_review", "2020-03-03"),
        CertificateStepInput {
            number: Some("GD-ZJ-2020-0001".into()),
            valid_from: Some("2020-03-01".into()),
            valid_to: Some("2021-02-28".into()),
            ..step("county_decision", "2020-03-04")
        },
        step("publicity", "2020-03-05"),
    ] {
        app.db.certificate_step(&county, c.id, &s).await.unwrap();
    }
    let err = app
        .db
        .certificate_step(&county, c.id, &step("list", "2020-03-11"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("2020-03-12 起才能列入目录"),
        "{err}"
    );
    app.db
        .certificate_step(&county, c.id, &step("list", "2020-03-12"))
        .await
        .unwrap();
    // Revocation needs a reason; the audit log has every step with the user.
    let err = app
        .db
        .certificate_step(&county, c.id, &step("revoke", "2020-06-01"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("撤销须填写原因"), "{err}");
    let audit = app
        .db
        .list_audit(
            &store::audit::AuditFilter {
                entity: Some("certificate".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(audit.len(), 6 + 6, "{audit:?}");
    assert!(audit.iter().all(|a| a.username == "紫金县干部"));
}

#[tokio::test]
async fn an_order_the_day_after_expiry_or_on_revocation_is_refused_and_the_day_before_accepted() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 1).await;
    let admin = Caller::system();
    let placed = app
        .db
        .place_order(&admin, &order(f.buyer, f.product, "2019-12-31", 3), None)
        .await
        .unwrap();
    assert_eq!(placed.order.total, Fen(20_400));
    assert_eq!(placed.order.lines[0].certificate_id, f.certificate);
    let err = app
        .db
        .place_order(&admin, &order(f.buyer, f.product, "2020-01-01", 3), None)
        .await
        .unwrap_err();
    let StoreError::CertificateInvalid { field, error } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(field, "lines[0].product_id");
    assert_eq!(
        error.reason,
        InvalidReason::Expired(domain::date::Date::parse("2019-12-31").unwrap())
    );
    assert_eq!(
        err.to_string(),
        "产品“紫金蜂蜜1”的认定证书 GD-ZJ-2019-0001 在 2020-01-01 无效：有效期已于 2019-12-31 届满"
    );
    // Before listing is refused too.
    let err = app
        .db
        .place_order(&admin, &order(f.buyer, f.product, "2019-01-12", 1), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2019-01-13 才列入目录"), "{err}");
    // Revoked on 2019-06-01: orders before stay valid, from that day on refused.
    app.db
        .certificate_step(
            &county_cadre(),
            f.certificate,
            &CertificateStepInput {
                reason: Some("抽检不合格".into()),
                ..step("revoke", "2019-06-01")
            },
        )
        .await
        .unwrap();
    assert!(
        app.db
            .place_order(&admin, &order(f.buyer, f.product, "2019-05-31", 1), None)
            .await
            .is_ok()
    );
    let err = app
        .db
        .place_order(&admin, &order(f.buyer, f.product, "2019-06-01", 1), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("已于 2019-06-01 撤销（抽检不合格）"),
        "{err}"
    );
    // The order placed before the revocation is unchanged and still readable.
    let again = app.db.get_order(&admin, placed.order.id).await.unwrap();
    assert_eq!(again, placed.order);
}

#[tokio::test]
async fn a_refund_reverses_attribution_to_the_fen_and_households_sum_to_received_minus_refunded() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            poor("C-A", EAST_VILLAGE, 1),
            poor("C-B", EAST_VILLAGE, 2),
            poor("C-C", EAST_VILLAGE, 3),
        ],
        &[],
    );
    let h = [
        household_id(&app, "C-A").await,
        household_id(&app, "C-B").await,
        household_id(&app, "C-C").await,
    ];
    let f = fixture(&app, 1).await;
    // Wages of 1000 and 2000 yuan, and a 10% share.
    link(&app, f.supplier, h[0], Some(1000), None).await;
    link(&app, f.supplier, h[1], Some(2000), None).await;
    link(&app, f.supplier, h[2], None, Some(1_000)).await;
    let admin = Caller::system();
    let mut ids = Vec::new();
    for (i, qty) in [1, 7, 13, 101].into_iter().enumerate() {
        let o = app
            .db
            .place_order(
                &admin,
                &order(f.buyer, f.product, &format!("2019-12-{:02}", 20 + i), qty),
                None,
            )
            .await
            .unwrap();
        receive(&app, o.order.id).await;
        ids.push(o.order.id);
    }
    let income = |hh: i64| {
        let db = app.db.clone();
        async move {
            db.household_attributed_income(&Caller::system(), hh, 2019)
                .await
                .unwrap()
        }
    };
    let mut before = BTreeMap::new();
    for hh in h {
        before.insert(hh, income(hh).await);
    }
    // 1 bottle = 6800 fen: 10% = 680 to C, 6120 split 1:2 = 2040 / 4080.
    let first = app.db.get_order(&admin, ids[0]).await.unwrap();
    assert_eq!(first.total, Fen(6_800));
    let total_received: i64 = [1, 7, 13, 101].iter().map(|q| q * 6_800).sum();
    assert_eq!(before.values().copied().sum::<Fen>(), Fen(total_received));
    assert_eq!(before[&h[2]], Fen(total_received / 10));

    // Refund the order of 13 bottles: each household loses exactly what that order gave it.
    let refunded = app
        .db
        .change_order_state(&admin, ids[2], "refunded", "2020-02-01", "质量问题退货")
        .await
        .unwrap();
    assert_eq!(refunded.state, OrderState::Refunded);
    let alone = {
        let mut m = BTreeMap::new();
        let lines = domain::consumption::attribute(
            Fen(13 * 6_800),
            domain::date::Date::parse("2019-12-22").unwrap(),
            &app.db
                .benefit_links_of_supplier(&admin, f.supplier)
                .await
                .unwrap()
                .into_iter()
                .map(|l| (l.id, l.link))
                .collect::<Vec<_>>(),
        );
        for l in lines {
            *m.entry(l.household_id).or_insert(Fen::ZERO) = l.amount;
        }
        m
    };
    for hh in h {
        assert_eq!(income(hh).await, before[&hh] - alone[&hh], "household {hh}");
    }
    let counted: Fen = app
        .db
        .purchase_totals(2019, PurchaseGrouping::Channel)
        .await
        .unwrap()
        .iter()
        .map(|t| t.amount)
        .sum();
    assert_eq!(
        counted,
        Fen(total_received - 13 * 6_800),
        "received minus refunded"
    );
    assert_eq!(
        app.db.attributed_income_total(&admin, 2019).await.unwrap(),
        counted
    );
    // A refunded order cannot be refunded again nor received again.
    let err = app
        .db
        .change_order_state(&admin, ids[2], "refunded", "2020-02-02", "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("订单已结束"), "{err}");
}

#[tokio::test]
async fn attribution_leaves_declared_incomes_and_the_exit_decision_unchanged() {
    let app = TestApp::spawn().await;
    // 3000 yuan in 2019 is below that year's line (3218): the household may not exit.
    import(
        &app,
        &[poor("C-LOW", EAST_VILLAGE, 1)],
        &[("C-LOW", 2018, "3000"), ("C-LOW", 2019, "3000")],
    );
    let id = household_id(&app, "C-LOW").await;
    run_ok(&app, &["assess", "--year", "2019"]);
    let admin = Caller::system();
    let decision = |db: store::Db| async move {
        let d = db
            .household_decisions(&Caller::system(), id, Some(2019))
            .await
            .unwrap();
        let d = d.first().unwrap().clone();
        (d.may_exit, d.failing, d.criteria)
    };
    let incomes = |db: store::Db| async move {
        let rows: Vec<(i64, i64, i64, i64, i64, i64)> = store::on_db!(&db, p => sqlx::query_as(
            "SELECT year, wage_fen, business_fen, property_fen, transfer_fen, net_fen FROM household_incomes WHERE household_id = $1 ORDER BY year")
            .bind(id).fetch_all(p).await).unwrap();
        rows
    };
    let (decision_before, incomes_before) = (
        decision(app.db.clone()).await,
        incomes(app.db.clone()).await,
    );
    assert!(!decision_before.0, "below the line before");
    let f = fixture(&app, 1).await;
    link(&app, f.supplier, id, Some(1000), None).await;
    // 100 bottles: 6800 yuan attributed to the household in 2019, far above what it lacked.
    let o = app
        .db
        .place_order(&admin, &order(f.buyer, f.product, "2019-11-01", 100), None)
        .await
        .unwrap();
    receive(&app, o.order.id).await;
    assert_eq!(
        app.db
            .household_attributed_income(&admin, id, 2019)
            .await
            .unwrap(),
        Fen(680_000)
    );
    run_ok(&app, &["assess", "--year", "2019"]);
    assert_eq!(incomes(app.db.clone()).await, incomes_before);
    assert_eq!(decision(app.db.clone()).await, decision_before);
    // Organisation users and the public do not read a household's attributed income.
    assert!(
        app.db
            .household_attributed_income(&org_user(1), id, 2019)
            .await
            .is_err()
    );
    assert!(
        app.db
            .household_attributed_income(&Caller::public(), id, 2019)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn concurrent_idempotent_placements_make_no_duplicate_and_lose_no_order() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 1).await;
    let org = channel_org(&app, "某832渠道").await;
    let channel = org_user(org);
    // 64 clients, 16 keys each sent by 4 of them, each key with its own body.
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let db = app.db.clone();
            let channel = channel.clone();
            let key = format!("key-{}", i % 16);
            let input = order(f.buyer, f.product, "2019-06-01", 1 + (i % 16) as i64);
            tokio::spawn(async move {
                let r = db.place_order(&channel, &input, Some(&key)).await;
                (key, r)
            })
        })
        .collect();
    let mut by_key: BTreeMap<String, Vec<store::consumption::orders::Placed>> = BTreeMap::new();
    for t in tasks {
        let (key, r) = t.await.unwrap();
        by_key
            .entry(key)
            .or_default()
            .push(r.unwrap_or_else(|e| panic!("{e:?}")));
    }
    assert_eq!(by_key.len(), 16);
    for (key, answers) in &by_key {
        assert_eq!(answers.len(), 4);
        assert_eq!(
            answers.iter().filter(|a| !a.replayed).count(),
            1,
            "{key}: exactly one placement"
        );
        assert!(
            answers.iter().all(|a| a.order == answers[0].order),
            "{key}: the first answer every time"
        );
    }
    let count: i64 = store::on_db!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(p).await).unwrap();
    assert_eq!(count, 16, "no duplicate, no lost order");
    // The same key with another body is a conflict; with the same body, the first answer.
    let err = app
        .db
        .place_order(
            &channel,
            &order(f.buyer, f.product, "2019-06-01", 99),
            Some("key-3"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("key-3")),
        "{err:?}"
    );
    let again = app
        .db
        .place_order(
            &channel,
            &order(f.buyer, f.product, "2019-06-01", 4),
            Some("key-3"),
        )
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.order, by_key["key-3"][0].order);
    assert_eq!(again.order.channel_org_id, Some(org));
    // Keys are per caller: another channel's key-3 is its own.
    let other = channel_org(&app, "另一渠道").await;
    let theirs = app
        .db
        .place_order(
            &org_user(other),
            &order(f.buyer, f.product, "2019-06-01", 99),
            Some("key-3"),
        )
        .await
        .unwrap();
    assert!(!theirs.replayed);
    // A refused request stores no answer: corrected, it is placed under the same key.
    let refused = app
        .db
        .place_order(
            &channel,
            &order(f.buyer, f.product, "2020-06-01", 1),
            Some("key-late"),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::CertificateInvalid { .. }));
    let fixed = app
        .db
        .place_order(
            &channel,
            &order(f.buyer, f.product, "2019-06-02", 1),
            Some("key-late"),
        )
        .await
        .unwrap();
    assert!(!fixed.replayed);
    // Only the channel changes its orders; a county cadre of the seller county reads them.
    let county_sees = app
        .db
        .get_order(&county_cadre(), fixed.order.id)
        .await
        .unwrap();
    assert_eq!(county_sees.id, fixed.order.id);
    let err = app
        .db
        .change_order_state(
            &org_user(other),
            fixed.order.id,
            "confirmed",
            "2019-06-03",
            "",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn the_832_quota_counts_the_unit_its_trade_union_and_staff_and_exempts_units_without_canteen()
{
    let app = TestApp::spawn().await;
    let f = fixture(&app, 1).await;
    // Validity through 2021 for these orders.
    app.db
        .certificate_step(
            &county_cadre(),
            f.certificate,
            &CertificateStepInput {
                passed: Some(true),
                valid_to: Some("2021-12-31".into()),
                ..step("yearly_review", "2019-12-20")
            },
        )
        .await
        .unwrap();
    let admin = Caller::system();
    let unit = f.buyer;
    let union = app
        .db
        .create_buyer(
            &admin,
            &BuyerInput {
                name: "某局工会".into(),
                buyer_type: "工会".into(),
                region_code: "440304".into(),
                unit_id: Some(unit),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let staff = app
        .db
        .create_buyer(
            &admin,
            &BuyerInput {
                name: "张三丰".into(),
                buyer_type: "个人".into(),
                region_code: "440304".into(),
                unit_id: Some(unit),
                phone: Some("13912345678".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(staff.name, "张**", "an individual buyer's name is masked");
    assert_eq!(staff.phone, "139****5678");
    let exempt = app
        .db
        .create_buyer(
            &admin,
            &BuyerInput {
                name: "无食堂单位".into(),
                buyer_type: "预算单位".into(),
                region_code: "440304".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Canteen total 10,000 yuan in 2021: 10% = 1,000 yuan = 100,000 fen.
    app.db
        .set_canteen(&admin, unit, 2021, true, Fen(1_000_000))
        .await
        .unwrap();
    app.db
        .set_canteen(&admin, exempt.id, 2021, false, Fen::ZERO)
        .await
        .unwrap();
    let buy = |buyer: i64, price: i64, channel: &'static str| {
        let db = app.db.clone();
        async move {
            let mut o = order(buyer, f.product, "2021-03-01", 1);
            o.channel = channel.into();
            o.lines[0].unit_price = Some(price);
            let placed = db.place_order(&Caller::system(), &o, None).await.unwrap();
            for (s, on) in [
                ("confirmed", "2021-03-01"),
                ("shipped", "2021-03-02"),
                ("received", "2021-03-03"),
            ] {
                db.change_order_state(&Caller::system(), placed.order.id, s, on, "")
                    .await
                    .unwrap();
            }
        }
    };
    buy(unit, 60_000, "832平台").await;
    buy(union.id, 30_000, "832平台").await;
    buy(staff.id, 9_999, "832平台").await;
    buy(unit, 500_000, "电商平台").await; // not through 832: does not count
    let report = app.db.quota_report(2021).await.unwrap();
    let of = |id: i64| report.iter().find(|u| u.buyer_id == id).unwrap().outcome;
    assert_eq!(
        of(unit),
        QuotaOutcome::Below {
            required: Fen(100_000),
            counted: Fen(99_999),
            short: Fen(1)
        }
    );
    assert_eq!(of(exempt.id), QuotaOutcome::NoCanteen);
    buy(staff.id, 1, "832平台").await;
    assert_eq!(
        app.db
            .quota_report(2021)
            .await
            .unwrap()
            .iter()
            .find(|u| u.buyer_id == unit)
            .unwrap()
            .outcome,
        QuotaOutcome::Meets {
            required: Fen(100_000),
            counted: Fen(100_000)
        }
    );
    // A new rule version (15%, trade unions no longer counted) applies from its year on only.
    let mut rules = app.db.current_consumption_rules().await.unwrap().rules;
    rules.quota.push(domain::consumption::QuotaRule {
        from_year: 2022,
        share_bp: 1_500,
        trade_union_counted: false,
        staff_counted: true,
        source: "测试".into(),
    });
    app.db
        .save_consumption_rules(&admin, &rules, "测试规则")
        .await
        .unwrap();
    assert!(
        !app.db
            .quota_report(2021)
            .await
            .unwrap()
            .iter()
            .find(|u| u.buyer_id == unit)
            .unwrap()
            .outcome
            .is_below()
    );
    let err = app
        .db
        .save_consumption_rules(&county_cadre(), &rules, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)));
}

/// The JSON API: a channel's org user posts orders with an `Idempotency-Key`; a retry answers
/// with the first answer, another body under the same key is a 409, an order after the
/// certificate's expiry a 422 `certificate_invalid` naming the certificate and the date.
#[tokio::test]
async fn a_channel_posts_orders_over_http_with_idempotency_keys() {
    use reqwest::StatusCode;
    use serde_json::json;
    let app = TestApp::spawn().await;
    let f = fixture(&app, 1).await;
    let org = channel_org(&app, "832渠道").await;
    let channel = app.client_as("org", None, Some(org)).await;
    let body = json!({"buyer_id": f.buyer, "channel": "platform_832", "order_date": "2019-12-31",
                      "lines": [{"product_id": f.product, "quantity": 2}]});
    let post = |body: serde_json::Value, key: &'static str| {
        let channel = channel.clone();
        let url = app.url("/api/v1/orders");
        async move {
            let r = channel
                .post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (
                r.status(),
                replayed,
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, replayed, first) = post(body.clone(), "retry-1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    assert_eq!(first["total"], 13_600);
    assert_eq!(first["channel_org_id"], org);
    let (status, replayed, again) = post(body.clone(), "retry-1").await;
    assert_eq!((status, replayed), (StatusCode::OK, true), "{again}");
    assert_eq!(again, first);
    let mut other = body.clone();
    other["lines"][0]["quantity"] = json!(3);
    let (status, _, conflict) = post(other, "retry-1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");
    let mut late = body.clone();
    late["order_date"] = json!("2020-01-01");
    let (status, _, refused) = post(late, "retry-2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "certificate_invalid");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GD-ZJ-2019-0001") && message.contains("2020-01-01"),
        "{message}"
    );
    assert_eq!(
        refused["error"]["details"][0]["field"],
        "lines[0].product_id"
    );
    // The channel reads and moves its order; the public does not see it.
    let id = first["id"].as_i64().unwrap();
    let (status, seen) = app
        .send(
            &channel,
            reqwest::Method::GET,
            &format!("/api/v1/orders/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, seen["state"].clone()),
        (StatusCode::OK, json!("placed"))
    );
    let (status, moved) = app
        .send(
            &channel,
            reqwest::Method::POST,
            &format!("/api/v1/orders/{id}/state"),
            Some(&json!({"state": "confirmed", "on": "2020-01-02"})),
        )
        .await;
    assert_eq!(
        (status, moved["state"].clone()),
        (StatusCode::OK, json!("confirmed")),
        "{moved}"
    );
    let (status, _) = app
        .send(
            &app.anonymous_client(),
            reqwest::Method::GET,
            &format!("/api/v1/orders/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Suppliers are public; a county cadre of another county may not register one here.
    let (status, list) = app
        .send(
            &app.anonymous_client(),
            reqwest::Method::GET,
            "/api/v1/suppliers?region=441621",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], f.supplier);
    assert_eq!(list["items"][0]["contact_phone"], "138****5678");
    let elsewhere = app.client_as("county", Some("451024"), None).await;
    let (status, _) = app
        .send(
            &elsewhere,
            reqwest::Method::POST,
            "/api/v1/suppliers",
            Some(&json!({"name": "某合作社", "supplier_type": "cooperative",
            "credit_code": credit_code("93", 9), "county_code": COUNTY})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A channel that sends one of its order numbers twice at once (a retry without an
/// idempotency key) gets one order and a conflict, never two orders or an internal error.
#[tokio::test]
async fn one_channel_order_number_sent_at_once_makes_one_order_and_conflicts() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 1).await;
    let org = channel_org(&app, "某电商渠道").await;
    let channel = org_user(org);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let db = app.db.clone();
            let channel = channel.clone();
            let mut input = order(f.buyer, f.product, "2019-06-01", 2);
            input.channel_order_no = Some("DS-2019-0001".into());
            tokio::spawn(async move { db.place_order(&channel, &input, None).await })
        })
        .collect();
    let (mut placed, mut conflicts) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => placed += 1,
            Err(StoreError::Conflict(m)) => {
                assert!(m.contains("DS-2019-0001"), "{m}");
                conflicts += 1;
            }
            // SQLite: a writer that waited past the busy timeout (retrying later helps).
            Err(e) if e.is_busy() => conflicts += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((placed, conflicts), (1, 15));
    let count: i64 = store::on_db!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE channel_order_no = 'DS-2019-0001'").fetch_one(p).await).unwrap();
    assert_eq!(count, 1);
}
