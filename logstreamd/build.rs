//! Links the prebuilt libduckdb (unless built with `--features bundled`) and
//! records where it lives as an rpath, so the binaries run without
//! LD_LIBRARY_PATH.

use std::path::Path;

fn main() {
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
