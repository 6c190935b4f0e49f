//! Every function of include/margin.h is reachable through the safe wrapper: each one is
//! called somewhere in `margin/src`, except the few that `Decimal` reimplements in Rust,
//! whose agreement with the C functions is checked value by value below.

use margin::sys;
use margin::{Decimal, Rounding};
use std::ffi::{CStr, CString};
use std::path::PathBuf;

/// Implemented by `Decimal` in pure Rust (no library call needed to parse or print).
const REIMPLEMENTED: &[&str] = &[
    "margin_dec_parse",
    "margin_dec_format",
    "margin_dec_rescale",
    "margin_money_scale",
    "margin_rate_scale",
];

fn header_functions() -> Vec<String> {
    let path = match std::env::var_os("MARGIN_HEADER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/margin.h"),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for stmt in text.split(';') {
        let stmt: String = stmt
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(pos) = stmt.find("MARGIN_API") {
            let proto = &stmt[pos..];
            let open = proto.find('(').unwrap();
            let name = proto[..open]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .rfind(|s| !s.is_empty())
                .unwrap();
            out.push(name.to_string());
        }
    }
    out
}

/// Appends every `.rs` file under `dir` (submodules included) to `out`.
fn read_sources(dir: &std::path::Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_sources(&path, out);
        } else if path.extension().map_or(false, |x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_header_function_is_wrapped() {
    let src_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut src = String::new();
    read_sources(&src_dir, &mut src);
    assert!(
        src.contains("sys::margin_snapshot_load("),
        "src/engine/ was read"
    );
    let funcs = header_functions();
    assert!(funcs.len() >= 42, "found only {} functions", funcs.len());
    let mut missing = Vec::new();
    for f in &funcs {
        let used = src.contains(&format!("sys::{f}(")) || src.contains(&format!("margin_sys::{f}"));
        if !used && !REIMPLEMENTED.contains(&f.as_str()) {
            missing.push(f.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "not wrapped by the margin crate: {missing:?}"
    );
    for f in REIMPLEMENTED {
        assert!(
            funcs.iter().any(|g| g == f),
            "{f} is no longer in the header"
        );
    }
}

const SAMPLES: &[&str] = &[
    "0",
    "1",
    "-1",
    "12",
    "-0.5",
    "+20000.10",
    "0.0004",
    "007.50",
    "19076.30522089",
    "92233720368.54775807",
    "-92233720368.54775808",
    "0.00000001",
    "0.000000001",
    "1e5",
    "",
    ".5",
    "5.",
    "NaN",
    "1.2.3",
    "-",
    "9223372036854775807",
    "9223372036854775808",
    "123456789.123456789",
    "0.100000000000000000000",
];

/// `Decimal` parsing agrees with `margin_dec_parse` at every scale: same value when both
/// succeed, same error kind otherwise.
#[test]
fn parse_agrees_with_the_library() {
    for s in SAMPLES {
        for scale in [0u32, 2, 8, 18] {
            let c = CString::new(*s).unwrap();
            let mut v = 0i64;
            let rc = unsafe { sys::margin_dec_parse(c.as_ptr(), scale as i32, &mut v) };
            let rust = s.parse::<Decimal>().and_then(|d| d.to_scale(scale));
            match (rc, &rust) {
                (0, Ok(r)) => assert_eq!(*r, v, "{s:?} at {scale}"),
                (0, Err(e)) => panic!("{s:?} at {scale}: C gives {v}, Rust {e}"),
                (_, Ok(r)) => panic!("{s:?} at {scale}: C fails with {rc}, Rust gives {r}"),
                (_, Err(e)) => assert_eq!(e.code(), rc, "{s:?} at {scale}: {e}"),
            }
        }
    }
}

/// `Display` agrees with `margin_dec_format`.
#[test]
fn format_agrees_with_the_library() {
    let values = [
        0i64,
        1,
        -1,
        5,
        -5,
        400_000,
        2_000_000_000_000,
        i64::MAX,
        i64::MIN,
        123_456_789,
    ];
    for v in values {
        for scale in [0u32, 1, 4, 8, 18] {
            let mut buf = [0 as sys::c_char; 42];
            let rc =
                unsafe { sys::margin_dec_format(v, scale as i32, buf.as_mut_ptr(), buf.len()) };
            assert_eq!(rc, 0);
            let c = unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(
                Decimal::new(v, scale).unwrap().to_string(),
                c,
                "{v} at {scale}"
            );
        }
    }
}

/// `Decimal::rescale` agrees with `margin_dec_rescale` for every rounding mode.
#[test]
fn rescale_agrees_with_the_library() {
    let values = [
        0i64,
        1,
        -1,
        5,
        -5,
        15,
        -15,
        25,
        -25,
        1_999,
        -1_999,
        123_456_789,
        i64::MAX,
        i64::MIN,
    ];
    let modes = [
        Rounding::Floor,
        Rounding::Ceil,
        Rounding::Trunc,
        Rounding::Away,
        Rounding::HalfEven,
        Rounding::Exact,
    ];
    for v in values {
        for (from, to) in [
            (8u32, 2u32),
            (2, 8),
            (1, 0),
            (3, 1),
            (0, 18),
            (18, 0),
            (8, 8),
        ] {
            for mode in modes {
                let mut out = 0i64;
                let rc = unsafe {
                    sys::margin_dec_rescale(v, from as i32, to as i32, mode.raw(), &mut out)
                };
                let r = Decimal::new(v, from).unwrap().rescale(to, mode);
                match r {
                    Ok(d) => {
                        assert_eq!(rc, 0, "{v}@{from}->{to} {mode:?}: Rust {d}, C {rc}");
                        assert_eq!(d.mantissa(), out, "{v}@{from}->{to} {mode:?}");
                    }
                    Err(e) => assert_eq!(e.code(), rc, "{v}@{from}->{to} {mode:?}"),
                }
            }
        }
    }
}

/// A market's symbol and the margin-call levels are read back from the engine.
#[test]
fn symbol_and_levels_read_back() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let mut e = margin::Engine::new().unwrap();
    let btc = e.market_new("BTCUSDT").unwrap();
    let eth = e.market_new("ETHUSDT").unwrap();
    assert_eq!(e.market_symbol(btc).unwrap(), "BTCUSDT");
    assert_eq!(e.market_symbol(eth).unwrap(), "ETHUSDT");
    // the default is one level, 0.8
    assert_eq!(e.margin_call_levels().unwrap(), vec![d("0.8")]);
    // the engine keeps them sorted and without duplicates
    e.set_margin_call_levels(["0.9", "0.5", "0.9"]).unwrap();
    assert_eq!(e.margin_call_levels().unwrap(), vec![d("0.5"), d("0.9")]);
    e.set_margin_call_levels(Vec::<&str>::new()).unwrap();
    assert!(e.margin_call_levels().unwrap().is_empty());
}
