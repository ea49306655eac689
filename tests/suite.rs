//! Every integration test, as one test binary. Each test binary links the whole server
//! (200–280 MB in a debug build): fourteen of them took 3.5 GB of disk in a clean-clone run,
//! and one CI run ended with "database or disk is full". One binary also links once instead
//! of fourteen times. Run a part with a module filter: `cargo test --test suite search::`.

#[macro_use]
mod common;

mod chains;
mod contained;
mod examples;
mod import;
mod mongo_layout;
mod patch;
mod rest;
mod robustness;
mod search;
mod search_extract;
mod search_query;
mod seed_and_capability;
mod store_search;
mod terminology;
mod transactions;
