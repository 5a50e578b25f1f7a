//! Consumption aid (消费扶贫, 消费帮扶 after 2021): registered suppliers and their benefit links
//! (利益联结) to registry households, product certification (扶贫产品认定), orders, the
//! attribution of a received order's value to households, and the 832 quota of budget units.
//! Sources: DOMAIN.md §9 and SOCIAL.md §1; the rules SOCIAL.md §5 marks unconfirmed (publicity
//! days, the quota share and what it counts) are data in [`ConsumptionRules`], never constants
//! of the code.

pub mod attribution;
pub mod benefit;
pub mod certificate;
pub mod order;
pub mod quota;
pub mod supplier;

pub use attribution::{AttributionLine, attribute, reverse};
pub use benefit::{BenefitLink, BenefitTerms, BenefitType, Verification};
pub use certificate::{
    CertState, CertStep, Certificate, CertificateInvalid, InvalidReason, valid_certificate_on,
};
pub use order::{BuyerType, Channel, OrderState, check_order_transition};
pub use quota::{ConsumptionRules, QuotaOutcome, QuotaPurchases, QuotaRule, check_quota};
pub use supplier::{SupplierType, check_supplier_registration};
