//! Puts the directories where `margin-sys` found libmargin into the run path of this
//! crate's tests, examples and doc tests (a build script's link arguments apply only to
//! its own package, so `margin-sys` cannot do it for us).

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_MARGIN_LIB_DIRS");
    if let Some(dirs) = env::var_os("DEP_MARGIN_LIB_DIRS") {
        for dir in env::split_paths(&dirs) {
            if !dir.as_os_str().is_empty() {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
        }
    }
}
