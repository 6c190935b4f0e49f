//! The exact decimal type, on its own (no engine). Expected values are worked out by hand.

use margin::{Decimal, ErrorKind, Rounding};

fn d(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn parses_plain_decimals_exactly() {
    let cases: &[(&str, i64, u32)] = &[
        ("0", 0, 0),
        ("12", 12, 0),
        ("-0.5", -5, 1),
        ("+20000.10", 2000010, 2),
        ("0.0004", 4, 4),
        ("007.50", 750, 2),
        ("9223372036854775807", i64::MAX, 0),
        ("-9223372036854775808", i64::MIN, 0),
        ("0.000000000000000001", 1, 18),
        // Trailing zeros beyond 18 places are not digits lost.
        ("1.00000000000000000000000", 1_000_000_000_000_000_000, 18),
        // Too many digits for i64 at the written scale, but exact after dropping zeros.
        ("92233720368547758.070", 9223372036854775807, 2),
    ];
    for &(s, m, sc) in cases {
        let v = d(s);
        assert_eq!((v.mantissa(), v.scale()), (m, sc), "{s}");
    }
}

#[test]
fn rejects_what_is_not_a_plain_decimal() {
    for s in [
        "", " 1", "1 ", "1e5", "1E5", "NaN", "inf", "-", "+", ".", ".5", "5.", "1.2.3", "--1",
        "+-1", "0x10", "1,5", "١",
    ] {
        let e = s.parse::<Decimal>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{s:?}");
        assert!(
            e.message().contains("not a plain decimal"),
            "{s:?}: {}",
            e.message()
        );
    }
    assert_eq!(
        "0.0000000000000000001"
            .parse::<Decimal>()
            .unwrap_err()
            .kind(),
        ErrorKind::Range
    );
    assert_eq!(
        "9223372036854775808".parse::<Decimal>().unwrap_err().kind(),
        ErrorKind::Overflow
    );
    assert_eq!(
        "-9223372036854775809"
            .parse::<Decimal>()
            .unwrap_err()
            .kind(),
        ErrorKind::Overflow
    );
    assert_eq!(
        "99999999999999999999999999999999999999999"
            .parse::<Decimal>()
            .unwrap_err()
            .kind(),
        ErrorKind::Overflow
    );
}

#[test]
fn displays_the_shortest_exact_form() {
    let cases = [
        ("20000.00000000", "20000"),
        ("0.004", "0.004"),
        ("-1.50", "-1.5"),
        ("-0.05", "-0.05"),
        ("0.000000000000000001", "0.000000000000000001"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("-0", "0"),
    ];
    for (s, want) in cases {
        assert_eq!(d(s).to_string(), want, "{s}");
    }
    assert_eq!(
        Decimal::new(i64::MIN, 18).unwrap().to_string(),
        "-9.223372036854775808"
    );
    // Precision pads but never drops digits; width and sign flags apply.
    assert_eq!(format!("{:.2}", d("25100.4")), "25100.40");
    assert_eq!(format!("{:.2}", d("25100.40160643")), "25100.40160643");
    assert_eq!(format!("{:>8}", d("-1.5")), "    -1.5");
    assert_eq!(format!("{:+}", d("1.5")), "+1.5");
    assert_eq!(format!("{:?}", d("1.50")), "Decimal(1.5)");
}

#[test]
fn compares_and_hashes_by_value() {
    use std::collections::HashSet;
    assert_eq!(d("1.5"), d("1.500"));
    assert_ne!(d("1"), d("1.00000001"));
    assert_ne!(d("-1"), d("1"));
    assert_ne!(Decimal::new(1, 18).unwrap(), Decimal::ZERO);
    assert_eq!(d("0"), d("-0.000"));
    assert!(d("19076.30522089") > d("19076.30522088"));
    assert!(d("-0.01") < d("0"));
    assert!(Decimal::new(i64::MAX, 0).unwrap() > Decimal::new(i64::MAX, 18).unwrap());
    let set: HashSet<Decimal> = [d("2"), d("2.0"), d("2.00000000")].into_iter().collect();
    assert_eq!(set.len(), 1);
}

#[test]
fn to_scale_is_exact_or_an_error() {
    assert_eq!(d("0.1").to_scale(8).unwrap(), 10_000_000);
    assert_eq!(d("20").to_scale(8).unwrap(), 2_000_000_000);
    assert_eq!(d("-0.00000001").to_scale(8).unwrap(), -1);
    assert_eq!(d("1.000000000").to_scale(8).unwrap(), 100_000_000); // a zero is not lost
    let e = d("0.000000001").to_scale(8).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Range);
    // 92233720368.54775807 is the largest value at scale 8.
    assert_eq!(d("92233720368.54775807").to_scale(8).unwrap(), i64::MAX);
    // One unit more has no i64 mantissa at scale 8; 922337203685.4775807 fits at scale 7 only.
    assert_eq!(
        "92233720368.54775808"
            .parse::<Decimal>()
            .unwrap_err()
            .kind(),
        ErrorKind::Overflow
    );
    assert_eq!(
        d("922337203685.4775807").to_scale(8).unwrap_err().kind(),
        ErrorKind::Overflow
    );
    assert_eq!(d("1").to_scale(19).unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(Decimal::new(5, 19).unwrap_err().kind(), ErrorKind::Invalid);
}

#[test]
fn rescale_rounds_as_asked() {
    // (value, floor, ceil, trunc, away, half-even) at 1 decimal place.
    let cases = [
        ("1.25", "1.2", "1.3", "1.2", "1.3", "1.2"),
        ("1.35", "1.3", "1.4", "1.3", "1.4", "1.4"),
        ("1.26", "1.2", "1.3", "1.2", "1.3", "1.3"),
        ("-1.25", "-1.3", "-1.2", "-1.2", "-1.3", "-1.2"),
        ("-1.26", "-1.3", "-1.2", "-1.2", "-1.3", "-1.3"),
        ("-0.01", "-0.1", "0", "0", "-0.1", "0"),
        ("2", "2", "2", "2", "2", "2"),
    ];
    for (v, fl, ce, tr, aw, he) in cases {
        let x = d(v);
        assert_eq!(x.rescale(1, Rounding::Floor).unwrap(), d(fl), "floor {v}");
        assert_eq!(x.rescale(1, Rounding::Ceil).unwrap(), d(ce), "ceil {v}");
        assert_eq!(x.rescale(1, Rounding::Trunc).unwrap(), d(tr), "trunc {v}");
        assert_eq!(x.rescale(1, Rounding::Away).unwrap(), d(aw), "away {v}");
        assert_eq!(
            x.rescale(1, Rounding::HalfEven).unwrap(),
            d(he),
            "half-even {v}"
        );
        assert_eq!(x.rescale(1, Rounding::HalfEven).unwrap().scale(), 1);
    }
    assert_eq!(
        d("1.25").rescale(1, Rounding::Exact).unwrap_err().kind(),
        ErrorKind::Range
    );
    assert_eq!(d("1.20").rescale(1, Rounding::Exact).unwrap(), d("1.2"));
    // Binance FAQ to 2 dp: 25100.40160643 -> 25100.40.
    assert_eq!(
        d("25100.40160643")
            .rescale(2, Rounding::HalfEven)
            .unwrap()
            .to_string(),
        "25100.4"
    );
}

#[test]
fn checked_arithmetic_is_exact() {
    assert_eq!(d("0.1").checked_add(d("0.2")).unwrap(), d("0.3"));
    assert_eq!(
        d("19076.30522089")
            .checked_sub(d("19076.305220883534"))
            .unwrap(),
        d("0.000000006466")
    );
    assert_eq!(Decimal::from(i64::MAX).checked_add(Decimal::ONE), None);
    assert_eq!(Decimal::from(i64::MIN).checked_neg(), None);
    assert_eq!(d("-2.5").checked_abs().unwrap(), d("2.5"));
}

#[test]
fn integers_convert() {
    assert_eq!(Decimal::from(7i32), d("7"));
    assert_eq!(Decimal::from(7u32), d("7.0"));
    assert_eq!(
        Decimal::try_from(u64::MAX).unwrap_err().kind(),
        ErrorKind::Overflow
    );
    assert_eq!(Decimal::try_from("3.25").unwrap(), d("3.25"));
}

/// Products and quotients through the library's exact 128-bit arithmetic.
#[test]
fn library_products_and_quotients() {
    // 0.1 * 20000 = 2000 exactly; 2000 / 20 = 100.
    let n = d("0.1").mul_round(d("20000"), 8, Rounding::Exact).unwrap();
    assert_eq!(n, d("2000"));
    assert_eq!(n.div_round(d("20"), 8, Rounding::Exact).unwrap(), d("100"));
    // 1/3 at 8 places: floor 0.33333333, ceil 0.33333334, half-even 0.33333333.
    let third = |r| Decimal::ONE.div_round(d("3"), 8, r).unwrap();
    assert_eq!(third(Rounding::Floor), d("0.33333333"));
    assert_eq!(third(Rounding::Ceil), d("0.33333334"));
    assert_eq!(third(Rounding::HalfEven), d("0.33333333"));
    // -2/3: floor -0.66666667, trunc -0.66666666.
    assert_eq!(
        d("-2").div_round(d("3"), 8, Rounding::Floor).unwrap(),
        d("-0.66666667")
    );
    assert_eq!(
        d("-2").div_round(d("3"), 8, Rounding::Trunc).unwrap(),
        d("-0.66666666")
    );
    assert_eq!(
        Decimal::ONE
            .div_round(d("3"), 8, Rounding::Exact)
            .unwrap_err()
            .kind(),
        ErrorKind::Range
    );
    assert_eq!(
        Decimal::ONE
            .div_round(Decimal::ZERO, 8, Rounding::Floor)
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
    // 92233720368.54775807 * 2 does not fit at scale 8.
    let big = d("92233720368.54775807");
    assert_eq!(
        big.mul_round(d("2"), 8, Rounding::Floor)
            .unwrap_err()
            .kind(),
        ErrorKind::Overflow
    );
    // 9e9 squared is 8.1e19 > i64::MAX.
    let x = d("9000000000");
    assert_eq!(
        x.mul_round(x, 0, Rounding::Exact).unwrap_err().kind(),
        ErrorKind::Overflow
    );
    // A product needing 128 bits before rounding: 9223372036854775807e-8 * 5e-1 at 8
    // places = 46116860184.273879035: floor ...03, ceil ...04, half-even ...04.
    let half = d("0.5");
    assert_eq!(
        big.mul_round(half, 8, Rounding::Floor).unwrap(),
        d("46116860184.27387903")
    );
    assert_eq!(
        big.mul_round(half, 8, Rounding::Ceil).unwrap(),
        d("46116860184.27387904")
    );
    assert_eq!(
        big.mul_round(half, 8, Rounding::HalfEven).unwrap(),
        d("46116860184.27387904")
    );
    assert_eq!(
        Decimal::ONE
            .mul_round(Decimal::ONE, 19, Rounding::Exact)
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
}
