//! Integration tests: a real server on a real database (SQLite by default; PostgreSQL when
//! BANGFU_TEST_POSTGRES_URL is set), driven over HTTP and through the real binary.

mod harness;

mod assessment;
mod auth;
mod browser;
mod cli;
mod dashboard;
mod demo;
mod ledger;
mod organisations;
mod pages;
mod pairings;
mod projects;
mod regions;
mod registry;
mod registry_pages;
mod schema;
mod stats;
mod uploads;
