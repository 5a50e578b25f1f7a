//! Integration tests: a real server on a real database (SQLite by default; PostgreSQL when
//! BANGFU_TEST_POSTGRES_URL is set), driven over HTTP and through the real binary.

mod harness;

mod cli;
mod organisations;
mod pages;
mod pairings;
mod regions;
mod schema;
