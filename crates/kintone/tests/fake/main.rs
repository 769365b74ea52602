//! Every tool against the fake cybozu.com: what reached kintone and what came back, with at
//! least one error path per tool family.

mod common;

mod apps;
mod errors;
mod files;
mod form_and_settings;
mod records;
mod workflow_and_comments;
