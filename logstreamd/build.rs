//! Links the prebuilt libduckdb (unless built with `--features bundled`) and
//! records where it lives as an rpath, so the binaries run without
//! LD_LIBRARY_PATH; and generates the Rust types of Loki's push protobuf.
//! The bench crate runs this script too, for the rpath only.

use std::path::Path;

fn main() {
    if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("logstreamd") {
        compile_protos();
    }
    link_duckdb();
}

/// `proto/loki/push.proto` into `$OUT_DIR/logproto.rs`, with protox (a
/// protobuf compiler in Rust) so that building needs no `protoc`.
fn compile_protos() {
    const PUSH: &str = "proto/loki/push.proto";
    println!("cargo::rerun-if-changed={PUSH}");
    let descriptors = protox::compile([PUSH], ["proto/loki"]).expect("compile push.proto");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("generate Loki's protobuf types");
}

fn link_duckdb() {
    println!("cargo::rerun-if-env-changed=DUCKDB_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    let dir = std::env::var("DUCKDB_LIB_DIR").unwrap_or_default();
    let lib = Path::new(&dir).join("libduckdb.so");
    let Ok(real) = std::fs::canonicalize(&lib) else {
        panic!(
            "libduckdb not found at \"{}\": run scripts/fetch-libduckdb first \
             (or build with --features bundled to compile DuckDB from source, ~45 minutes)",
            lib.display()
        );
    };
    let real_dir = real.parent().unwrap_or(Path::new(&dir));
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", real_dir.display());
}
