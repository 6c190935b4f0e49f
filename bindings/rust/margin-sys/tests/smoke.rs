//! Calls the handle-free functions of the raw binding (they need no engine).

use margin_sys::*;
use std::ffi::{CStr, CString};

#[test]
fn version_and_scales() {
    let n = unsafe { margin_version_number() };
    let s = unsafe { CStr::from_ptr(margin_version_string()) }
        .to_str()
        .unwrap();
    // "major.minor.patch" and major*10000 + minor*100 + patch (header contract).
    let parts: Vec<i32> = s.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{s}");
    assert_eq!(n, parts[0] * 10000 + parts[1] * 100 + parts[2]);
    assert_eq!(unsafe { margin_money_scale() }, MARGIN_MONEY_SCALE);
    assert_eq!(unsafe { margin_rate_scale() }, MARGIN_RATE_SCALE);
}

#[test]
fn parse_and_format_round_trip() {
    let s = CString::new("20000.10").unwrap();
    let mut v = 0i64;
    assert_eq!(
        unsafe { margin_dec_parse(s.as_ptr(), 8, &mut v) },
        MARGIN_OK
    );
    assert_eq!(v, 2_000_010_000_000);
    let mut buf = [0 as c_char; 42];
    assert_eq!(
        unsafe { margin_dec_format(v, 8, buf.as_mut_ptr(), buf.len()) },
        MARGIN_OK
    );
    assert_eq!(
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap(),
        "20000.1"
    );
    let bad = CString::new("1e5").unwrap();
    assert_eq!(
        unsafe { margin_dec_parse(bad.as_ptr(), 8, &mut v) },
        MARGIN_EPARSE
    );
    assert_eq!(v, 2_000_010_000_000, "out-param written on failure");
}

#[test]
fn strerror_is_never_null() {
    for code in [MARGIN_OK, MARGIN_EINVAL, MARGIN_ENOTSUP, -1000, 7] {
        let p = unsafe { margin_strerror(code) };
        assert!(!p.is_null());
        assert!(!unsafe { CStr::from_ptr(p) }.to_bytes().is_empty());
    }
}
