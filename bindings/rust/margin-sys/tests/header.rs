//! Header-versus-binding test: parses `include/margin.h` and `src/lib.rs` and fails when a
//! function, a function-pointer typedef (the event callback, the memory functions) or a
//! `#define MARGIN_*` constant of the header is missing from margin-sys (or is extra
//! there), or when a parameter, return type, constant type or constant value differs.
//!
//! C-to-Rust type mapping checked here: `int` -> `c_int`, `int32_t` -> `i32`,
//! `int64_t` -> `i64`, `uint32_t` -> `u32`, `uint64_t` -> `u64`, `size_t` -> `usize`,
//! `char` -> `c_char`, `void` -> `c_void` (and no return type), `const T *` -> `*const T`,
//! `T *` -> `*mut T` (applied once per `*`). Constants: a `u` suffix is `u32`,
//! `INT64_MIN` is `i64` (`i64::MIN`), any other integer literal is `i32`.
//!
//! The header is `$MARGIN_HEADER` if set, else `../../../include/margin.h` from this crate.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn header_path() -> PathBuf {
    match std::env::var_os("MARGIN_HEADER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/margin.h"),
    }
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Removes `/* */` and `//` comments (the header has no comment markers inside strings
/// that matter here; the string literal in `visibility("default")` has none).
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            match src[i + 2..].find("*/") {
                Some(end) => i = i + 2 + end + 2,
                None => break,
            }
            out.push(' ');
        } else if b[i] == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Splits into identifiers/numbers and single punctuation characters.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Normalised spelling of a Rust type: tokens joined by one space, with `::` kept whole
/// (`*const c_char` -> `* const c_char`).
fn norm(s: &str) -> String {
    tokens(s).join(" ").replace(": :", "::")
}

fn c_base_to_rust(base: &str) -> String {
    match base {
        "int" => "c_int",
        "int32_t" => "i32",
        "int64_t" => "i64",
        "uint32_t" => "u32",
        "uint64_t" => "u64",
        "size_t" => "usize",
        "char" => "c_char",
        "void" => "c_void",
        "margin_engine" => "margin_engine",
        "margin_event_fn" => "margin_event_fn",
        "margin_malloc_fn" => "margin_malloc_fn",
        "margin_realloc_fn" => "margin_realloc_fn",
        "margin_free_fn" => "margin_free_fn",
        other => panic!("C type `{other}` has no Rust mapping in this test: extend the test"),
    }
    .to_string()
}

/// Maps a C type given as tokens (without the parameter name) to the normalised Rust type.
/// Returns None for a plain `void` (no value).
fn c_type_to_rust(toks: &[String]) -> Option<String> {
    let mut base: Option<String> = None;
    let mut is_const = false; // qualifier of the thing the next `*` points to
    let mut rust = String::new();
    for t in toks {
        match t.as_str() {
            "const" => is_const = true,
            "*" => {
                let inner = if rust.is_empty() {
                    c_base_to_rust(base.as_deref().expect("pointer without base type"))
                } else {
                    std::mem::take(&mut rust)
                };
                rust = format!("{} {inner}", if is_const { "* const" } else { "* mut" });
                is_const = false;
            }
            "struct" | "signed" | "unsigned" => {
                panic!("unexpected C keyword `{t}`: extend the test")
            }
            other => {
                assert!(base.is_none(), "two base types in {toks:?}");
                base = Some(other.to_string());
            }
        }
    }
    if !rust.is_empty() {
        return Some(rust);
    }
    match base.as_deref() {
        Some("void") => None,
        Some(b) => Some(c_base_to_rust(b)),
        None => panic!("no type in {toks:?}"),
    }
}

#[derive(Debug, PartialEq)]
struct Sig {
    params: Vec<String>,
    ret: Option<String>,
}

/// Splits a C parameter list and maps each parameter's type (the name is the last
/// identifier, dropped).
fn c_params(list: &str) -> Vec<String> {
    let list = list.trim();
    if list == "void" || list.is_empty() {
        return Vec::new();
    }
    list.split(',')
        .map(|p| {
            let mut toks = tokens(p);
            let name = toks.pop().expect("empty parameter");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && name != "*",
                "parameter without a name: `{p}`"
            );
            c_type_to_rust(&toks).unwrap_or_else(|| panic!("void parameter `{p}`"))
        })
        .collect()
}

/// The header's statements (the text between two `;`), each on one line, without its
/// preprocessor lines.
fn statements(h: &str) -> impl Iterator<Item = String> + '_ {
    h.split(';').map(|block| {
        block
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Every `MARGIN_API` prototype of the header.
fn header_functions(h: &str) -> BTreeMap<String, Sig> {
    let mut out = BTreeMap::new();
    // Prototypes are the statements containing MARGIN_API outside #define lines.
    for stmt in statements(h) {
        let pos = match stmt.find("MARGIN_API") {
            Some(p) => p,
            None => continue,
        };
        let proto = &stmt[pos + "MARGIN_API".len()..];
        let open = proto.find('(').expect("prototype without (");
        let close = proto.rfind(')').expect("prototype without )");
        let mut head = tokens(&proto[..open]);
        let name = head.pop().expect("prototype without a name");
        let ret = c_type_to_rust(&head);
        let params = c_params(&proto[open + 1..close]);
        assert!(
            out.insert(name.clone(), Sig { params, ret }).is_none(),
            "{name} declared twice"
        );
    }
    out
}

/// The header's function-pointer typedefs (`typedef void (*margin_event_fn)(...)`,
/// `typedef void *(*margin_malloc_fn)(...)`, ...), by name.
fn header_fn_typedefs(h: &str) -> BTreeMap<String, Sig> {
    let mut out = BTreeMap::new();
    for stmt in statements(h) {
        let decl = match stmt.find("typedef ") {
            Some(p) => &stmt[p + "typedef ".len()..],
            None => continue,
        };
        let star = match decl.find("(*") {
            Some(p) => p,
            None => continue, // `typedef struct margin_engine margin_engine`
        };
        let ret = c_type_to_rust(&tokens(&decl[..star]));
        let rest = &decl[star + 2..];
        let close = rest.find(')').expect("typedef name without )");
        let name = rest[..close].trim().to_string();
        let params = rest[close + 1..].trim();
        let inner = params
            .strip_prefix('(')
            .and_then(|p| p.strip_suffix(')'))
            .unwrap_or_else(|| panic!("typedef {name}: parameters `{params}`"));
        let sig = Sig {
            params: c_params(inner),
            ret,
        };
        assert!(out.insert(name.clone(), sig).is_none(), "{name} twice");
    }
    out
}

/// Integer value of a C macro body, with its Rust type.
fn c_constant(body: &str) -> Option<(String, i128)> {
    let b = body.trim();
    if b == "INT64_MIN" {
        return Some(("i64".into(), i64::MIN as i128));
    }
    let b = b.trim_start_matches('(').trim_end_matches(')').trim();
    let (ty, digits) = match b.strip_suffix('u').or_else(|| b.strip_suffix('U')) {
        Some(d) => ("u32", d),
        None => ("i32", b),
    };
    let v: i128 = digits.replace(' ', "").parse().ok()?;
    Some((ty.into(), v))
}

fn header_constants(h: &str) -> BTreeMap<String, (String, i128)> {
    let mut out = BTreeMap::new();
    for line in h.lines() {
        let t = line.trim();
        let rest = match t.strip_prefix("#define ") {
            Some(r) => r,
            None => continue,
        };
        let rest = rest.trim();
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let body = &rest[name_end..];
        if !name.starts_with("MARGIN_") {
            continue;
        }
        if name == "MARGIN_H" || name == "MARGIN_API" {
            continue; // include guard and export macro, not constants
        }
        if body.starts_with('(') {
            // `#define NAME(` with no space: a function-like macro, not a constant.
            panic!("function-like macro {name}: extend the test");
        }
        let (ty, v) =
            c_constant(body).unwrap_or_else(|| panic!("cannot read the value of {name}: `{body}`"));
        out.insert(name.to_string(), (ty, v));
    }
    out
}

/// The declarations of `src` that start with `keyword`: the text after it, up to `;`.
fn declarations<'a>(src: &'a str, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    src.match_indices(keyword).map(move |(p, _)| {
        let rest = &src[p + keyword.len()..];
        &rest[..rest.find(';').expect("declaration without ;")]
    })
}

/// The normalised types of a Rust parameter list (`user: *mut c_void, size: usize`).
fn rust_params(list: &str, name: &str) -> Vec<String> {
    split_top(list)
        .into_iter()
        .map(|p| {
            let colon = p
                .find(':')
                .unwrap_or_else(|| panic!("{name}: parameter without a type: `{p}`"));
            norm(&p[colon + 1..])
        })
        .collect()
}

/// `pub fn` declarations inside the `extern "C"` block of the binding.
fn rust_functions(src: &str) -> BTreeMap<String, Sig> {
    let start = src.find("extern \"C\" {").expect("extern block");
    let mut out = BTreeMap::new();
    for decl in declarations(&src[start..], "pub fn ") {
        let open = decl.find('(').unwrap();
        let name = decl[..open].trim().to_string();
        let close = decl.rfind(')').unwrap();
        let params = rust_params(&decl[open + 1..close], &name);
        let after = decl[close + 1..].trim();
        let ret = after.strip_prefix("->").map(norm);
        assert!(
            out.insert(name.clone(), Sig { params, ret }).is_none(),
            "{name} declared twice"
        );
    }
    out
}

/// Splits on commas not nested in parentheses or angle brackets, dropping empty pieces.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Every `pub type NAME = Option<unsafe extern "C" fn(...) -> R>;` of the binding.
fn rust_fn_types(src: &str) -> BTreeMap<String, Sig> {
    let mut out = BTreeMap::new();
    for decl in declarations(src, "pub type ") {
        let eq = decl.find('=').expect("pub type without =");
        let name = decl[..eq].trim().to_string();
        let ty = decl[eq + 1..].trim();
        let fnpos = ty
            .find("unsafe extern \"C\" fn(")
            .unwrap_or_else(|| panic!("{name}: not Option<unsafe extern \"C\" fn(...)>"));
        assert!(
            ty.starts_with("Option<"),
            "{name} must be an Option (nullable) fn pointer"
        );
        let inner = &ty[fnpos + "unsafe extern \"C\" fn(".len()..];
        let close = inner.rfind(')').unwrap();
        let params = rust_params(&inner[..close], &name);
        let after = inner[close + 1..].trim();
        let after = after
            .strip_suffix('>')
            .expect("Option<...> not closed")
            .trim();
        let sig = Sig {
            params,
            ret: after.strip_prefix("->").map(norm),
        };
        assert!(out.insert(name.clone(), sig).is_none(), "{name} twice");
    }
    out
}

fn rust_constants(src: &str) -> BTreeMap<String, (String, i128)> {
    let mut out = BTreeMap::new();
    for line in src.lines() {
        let rest = match line.trim().strip_prefix("pub const ") {
            Some(r) => r,
            None => continue,
        };
        let colon = rest.find(':').unwrap();
        let name = rest[..colon].trim().to_string();
        let eq = rest.find('=').unwrap();
        let ty = rest[colon + 1..eq].trim().to_string();
        let val = rest[eq + 1..].trim().trim_end_matches(';').trim();
        let v: i128 = match val {
            "i64::MIN" => i64::MIN as i128,
            "i32::MIN" => i32::MIN as i128,
            "u32::MAX" => u32::MAX as i128,
            _ => val
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("cannot read {name} = {val}")),
        };
        out.insert(name, (ty, v));
    }
    out
}

fn sources() -> (String, String) {
    let h = strip_comments(&read(&header_path()));
    let rs_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let rs = strip_comments(&read(&rs_path));
    (h, rs)
}

#[test]
fn every_header_function_is_declared_with_the_same_types() {
    let (h, rs) = sources();
    let hf = header_functions(&h);
    let rf = rust_functions(&rs);
    // Sanity: the parsers found a plausible number of functions (the 0.1 header has 42).
    assert!(
        hf.len() >= 42,
        "header parser found only {} functions",
        hf.len()
    );
    let mut problems = Vec::new();
    for (name, sig) in &hf {
        match rf.get(name) {
            None => problems.push(format!("missing from margin-sys: {name}")),
            Some(r) if r != sig => problems.push(format!(
                "{name}: header maps to ({}) -> {:?}, margin-sys has ({}) -> {:?}",
                sig.params.join(", "),
                sig.ret,
                r.params.join(", "),
                r.ret
            )),
            Some(_) => {}
        }
    }
    for name in rf.keys() {
        if !hf.contains_key(name) {
            problems.push(format!(
                "declared in margin-sys but not in the header: {name}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "header and margin-sys differ:\n  {}",
        problems.join("\n  ")
    );
    println!("{} functions match", hf.len());
}

#[test]
fn function_pointer_typedefs_match() {
    let (h, rs) = sources();
    let ht = header_fn_typedefs(&h);
    for name in [
        "margin_event_fn",
        "margin_malloc_fn",
        "margin_realloc_fn",
        "margin_free_fn",
    ] {
        assert!(ht.contains_key(name), "the parser missed {name}");
    }
    assert_eq!(ht, rust_fn_types(&rs));
}

#[test]
fn every_header_constant_is_defined_with_the_same_value_and_type() {
    let (h, rs) = sources();
    let hc = header_constants(&h);
    let rc = rust_constants(&rs);
    assert!(
        hc.len() >= 100,
        "header parser found only {} constants",
        hc.len()
    );
    let mut problems = Vec::new();
    for (name, (ty, v)) in &hc {
        match rc.get(name) {
            None => problems.push(format!("missing from margin-sys: {name}")),
            Some((rty, rv)) if rty != ty || rv != v => {
                problems.push(format!("{name}: header {ty} {v}, margin-sys {rty} {rv}"))
            }
            Some(_) => {}
        }
    }
    for name in rc.keys() {
        if !hc.contains_key(name) {
            problems.push(format!(
                "defined in margin-sys but not in the header: {name}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "header and margin-sys differ:\n  {}",
        problems.join("\n  ")
    );
    println!("{} constants match", hc.len());
}

/// The text parsed above is the code compiled: spot-check a few constants and function
/// types through the compiler itself.
#[test]
fn parsed_text_is_what_is_compiled() {
    use margin_sys::*;
    assert_eq!(MARGIN_ENOTSUP, -15);
    assert_eq!(MARGIN_DERIVE, i64::MIN);
    assert_eq!(MARGIN_FLAG_CROSS, 2u32);
    assert_eq!(MARGIN_SHORT, -1);
    assert_eq!(MARGIN_EVF_LEVERAGE, 22);
    assert_eq!(MARGIN_EVF_MODE, 23);
    assert_eq!((MARGIN_MODE_ISOLATED, MARGIN_MODE_CROSS), (0, 1));
    assert_eq!(MARGIN_ACCT_CROSS_POSITIONS, 17);
    assert_eq!(MARGIN_EV_CROSS_LIQUIDATION, 15);
    let _: unsafe extern "C" fn(*mut margin_engine, u64, u64, i32) -> c_int =
        margin_account_set_mode;
    let _: unsafe extern "C" fn(*const margin_engine, u64, u64, *mut i32) -> c_int =
        margin_account_mode;
    let _: unsafe extern "C" fn(*const c_char, i32, *mut i64) -> c_int = margin_dec_parse;
    let _: unsafe extern "C" fn(
        *mut margin_engine,
        u64,
        u64,
        i32,
        i64,
        i64,
        i64,
        i64,
        u32,
        *mut u64,
    ) -> c_int = margin_position_open;
    let _: unsafe extern "C" fn(*mut margin_engine, margin_event_fn, *mut c_void) -> c_int =
        margin_engine_set_callback;
    assert_eq!((MARGIN_EFULL, MARGIN_EIO), (-16, -22));
    assert_eq!((MARGIN_ENG_EVENT_CAP, MARGIN_SNAPSHOT_VERSION), (12, 4));
    assert_eq!((MARGIN_EASSET, MARGIN_MKT_CONTRACT, MARGIN_MKT_MIN_PRICE), (-23, 28, 31));
    assert_eq!((MARGIN_MKT_CONTRACT_SIZE, MARGIN_MKT_SETTLE_ASSET), (29, 30));
    assert_eq!((MARGIN_CONTRACT_LINEAR, MARGIN_CONTRACT_INVERSE), (0, 1));
    assert_eq!((MARGIN_EV_PARTIAL_LIQUIDATION, MARGIN_EVF_FILL), (16, 24));
    assert_eq!((MARGIN_MKT_LIQ_FEE, MARGIN_MKT_SLICE_BACKSTOP), (14, 22));
    assert_eq!((MARGIN_MKT_INSURANCE_POOL, MARGIN_MKT_ADL_RANKING), (23, 27));
    assert_eq!((MARGIN_EV_INSURANCE_DEPOSIT, MARGIN_EV_ADL), (17, 18));
    assert_eq!((MARGIN_EVF_COUNTERPARTY, MARGIN_EVF_ADL_COVERED), (26, 27));
    assert_eq!((MARGIN_ENG_INSURANCE_DEPOSITS, MARGIN_STATUS_DELEVERAGED), (14, 3));
    let _: unsafe extern "C" fn(*mut margin_engine, u64, i64) -> c_int = margin_insurance_deposit;
    let _: unsafe extern "C" fn(*mut margin_engine, u64) -> c_int = margin_market_adl_quantiles;
    let _: unsafe extern "C" fn(*const margin_engine, *mut c_void, usize, *mut usize) -> c_int =
        margin_snapshot_save;
    let _: unsafe extern "C" fn(*mut margin_engine, *const c_void, usize) -> c_int =
        margin_snapshot_load;
    let _: unsafe extern "C" fn(*const margin_engine, *mut u64) -> c_int = margin_state_hash;
    let _: unsafe extern "C" fn(
        *mut *mut margin_engine,
        margin_malloc_fn,
        margin_realloc_fn,
        margin_free_fn,
        *mut c_void,
    ) -> c_int = margin_engine_new_with_allocator;
    unsafe extern "C" fn m(_: *mut c_void, _: usize) -> *mut c_void {
        std::ptr::null_mut()
    }
    unsafe extern "C" fn r(_: *mut c_void, _: *mut c_void, _: usize) -> *mut c_void {
        std::ptr::null_mut()
    }
    unsafe extern "C" fn f(_: *mut c_void, _: *mut c_void) {}
    let _: (margin_malloc_fn, margin_realloc_fn, margin_free_fn) = (Some(m), Some(r), Some(f));
}

/// The parser itself must catch a difference (so that a passing run means something).
#[test]
fn parser_detects_a_changed_type() {
    let h = "MARGIN_API int margin_x(const char *s, uint64_t id, margin_engine **out);";
    let f = header_functions(h);
    assert_eq!(
        f["margin_x"],
        Sig {
            params: vec![
                "* const c_char".into(),
                "u64".into(),
                "* mut * mut margin_engine".into()
            ],
            ret: Some("c_int".into())
        }
    );
    let good = "extern \"C\" { pub fn margin_x(s: *const c_char, id: u64, out: *mut *mut margin_engine) -> c_int; }";
    let bad = "extern \"C\" { pub fn margin_x(s: *mut c_char, id: u64, out: *mut *mut margin_engine) -> c_int; }";
    assert_eq!(rust_functions(good)["margin_x"], f["margin_x"]);
    assert_ne!(rust_functions(bad)["margin_x"], f["margin_x"]);
    let c = header_constants(
        "#define MARGIN_A (-3)\n#define MARGIN_B 2u\n#define MARGIN_C INT64_MIN\n",
    );
    assert_eq!(c["MARGIN_A"], ("i32".to_string(), -3));
    assert_eq!(c["MARGIN_B"], ("u32".to_string(), 2));
    assert_eq!(c["MARGIN_C"], ("i64".to_string(), i64::MIN as i128));
    // Function-pointer typedefs: a changed return or parameter type is caught.
    let t = header_fn_typedefs("typedef void *(*margin_x_fn)(void *user, size_t size);");
    let good = "pub type margin_x_fn = Option<unsafe extern \"C\" fn(user: *mut c_void, size: usize) -> *mut c_void>;";
    let bad = "pub type margin_x_fn = Option<unsafe extern \"C\" fn(user: *mut c_void, size: u64) -> *mut c_void>;";
    assert_eq!(t, rust_fn_types(good));
    assert_ne!(t, rust_fn_types(bad));
}
