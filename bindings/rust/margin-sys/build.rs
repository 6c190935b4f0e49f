//! Finds libmargin and tells cargo how to link it.
//!
//! Order of preference:
//! 1. `MARGIN_LIB_DIR`: a directory holding `libmargin.so` (used as is, no pkg-config).
//! 2. The `pkg-config` program: `pkg-config --libs --cflags margin`. Point
//!    `PKG_CONFIG_PATH` at a build directory to use its `margin-uninstalled.pc`
//!    (pkg-config prefers it over `margin.pc`), or at an installed prefix's
//!    `lib/pkgconfig`. `PKG_CONFIG` names another pkg-config program.
//! 3. Neither: link `-lmargin` from the linker's default path, with a warning.
//!
//! Every library directory is also put in the run path (`-Wl,-rpath,DIR`) so that test
//! binaries run against that library without `LD_LIBRARY_PATH`. Because a build script's
//! link arguments apply only to its own package, the directories are also exported as
//! `DEP_MARGIN_LIB_DIRS` (the `links = "margin"` metadata) for the `margin` crate's
//! build script, which adds the same run path to its own tests and doc tests.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MARGIN_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");

    let mut lib_dirs: Vec<String> = Vec::new();
    let mut libs: Vec<String> = Vec::new();
    let mut include_dirs: Vec<String> = Vec::new();

    if let Some(dir) = env::var_os("MARGIN_LIB_DIR") {
        lib_dirs.push(dir.to_string_lossy().into_owned());
        libs.push("margin".to_string());
    } else {
        let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
        match Command::new(&program)
            .args(["--libs", "--cflags", "margin"])
            .output()
        {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                for tok in text.split_whitespace() {
                    if let Some(d) = tok.strip_prefix("-L") {
                        lib_dirs.push(d.to_string());
                    } else if let Some(l) = tok.strip_prefix("-l") {
                        libs.push(l.to_string());
                    } else if let Some(i) = tok.strip_prefix("-I") {
                        include_dirs.push(i.to_string());
                    }
                }
                if !libs.iter().any(|l| l == "margin") {
                    libs.push("margin".to_string());
                }
            }
            Ok(out) => {
                println!(
                    "cargo:warning=`{program} --libs --cflags margin` failed ({}): {}; \
                     linking -lmargin from the default path (set PKG_CONFIG_PATH or MARGIN_LIB_DIR)",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                libs.push("margin".to_string());
            }
            Err(err) => {
                println!(
                    "cargo:warning=cannot run `{program}`: {err}; linking -lmargin from the \
                     default path (set MARGIN_LIB_DIR)"
                );
                libs.push("margin".to_string());
            }
        }
    }

    for dir in &lib_dirs {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    for lib in &libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // Metadata for dependents (DEP_MARGIN_LIB_DIRS, DEP_MARGIN_INCLUDE).
    println!(
        "cargo:lib_dirs={}",
        env::join_paths(&lib_dirs)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    println!(
        "cargo:include={}",
        env::join_paths(&include_dirs)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
}
