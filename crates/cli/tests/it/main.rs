//! Integration tests: a real server on a real database (SQLite by default; PostgreSQL when
//! BANGFU_TEST_POSTGRES_URL is set), driven over HTTP and through the real binary.

mod harness;

mod assessment;
mod auth;
mod browser;
mod cli;
mod consumption;
mod dashboard;
mod demo;
mod exit_status;
mod exports;
mod faults;
mod fuzz_queries;
mod interrupted;
mod ledger;
mod monitoring_rules;
mod operations;
mod organisations;
mod pages;
mod pairings;
mod projects;
mod regions;
mod registry;
mod registry_pages;
mod schema;
mod scope_abuse;
mod stats;
mod uploads;
