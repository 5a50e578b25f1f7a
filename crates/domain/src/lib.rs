//! Bangfu's domain: the types and rules of paired assistance, free of IO.
//!
//! Everything here is pure so it can be tested exhaustively; the store and the web
//! layer only call into it.

pub mod access;
pub mod assessment;
pub mod auth;
pub mod codes;
pub mod consumption;
pub mod credit_code;
pub mod date;
pub mod id_number;
pub mod kinds;
pub mod ledger;
pub mod money;
pub mod poverty_status;
pub mod project;
pub mod region;
pub mod registry;
pub mod scope;
pub mod text;
pub mod validation;

pub use access::{Caller, Role};
pub use region::{RegionCode, RegionLevel};
pub use scope::Scope;
