//! [`Decimal`]: an exact decimal number, a 64-bit integer mantissa and a scale.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// The largest scale (number of decimal places) anywhere in libmargin.
pub const MAX_SCALE: u32 = margin_sys::MARGIN_MAX_SCALE as u32;

/// Decimal places of every money amount (balances, margins, PnL, fees, funding).
pub const MONEY_SCALE: u32 = margin_sys::MARGIN_MONEY_SCALE as u32;

/// Decimal places of rates, ratios and leverage.
pub const RATE_SCALE: u32 = margin_sys::MARGIN_RATE_SCALE as u32;

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// How to round when a value must lose decimal places (the `MARGIN_ROUND_*` modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Toward minus infinity.
    Floor,
    /// Toward plus infinity.
    Ceil,
    /// Toward zero.
    Trunc,
    /// Away from zero.
    Away,
    /// To nearest, ties to even.
    HalfEven,
    /// Do not round: fail with [`ErrorKind::Range`] if a digit would be lost.
    Exact,
}

impl Rounding {
    /// The C constant (`MARGIN_ROUND_*`).
    pub const fn raw(self) -> i32 {
        match self {
            Rounding::Floor => margin_sys::MARGIN_ROUND_FLOOR,
            Rounding::Ceil => margin_sys::MARGIN_ROUND_CEIL,
            Rounding::Trunc => margin_sys::MARGIN_ROUND_TRUNC,
            Rounding::Away => margin_sys::MARGIN_ROUND_AWAY,
            Rounding::HalfEven => margin_sys::MARGIN_ROUND_HALF_EVEN,
            Rounding::Exact => margin_sys::MARGIN_ROUND_EXACT,
        }
    }
}

/// An exact decimal number: `mantissa * 10^-scale`, with an `i64` mantissa and a scale
/// from 0 to [`MAX_SCALE`] (18).
///
/// There is no binary floating point anywhere: strings are parsed digit by digit, and
/// nothing converts from or to `f64`. Equality, ordering and hashing are by value
/// (`1.50 == 1.5`); [`Display`](fmt::Display) prints the shortest exact form.
///
/// ```
/// use margin::{Decimal, Rounding};
/// let d: Decimal = "20000.10".parse().unwrap();
/// assert_eq!((d.mantissa(), d.scale()), (2000010, 2));
/// assert_eq!(d.to_string(), "20000.1");
/// assert_eq!(d, "20000.1000".parse().unwrap());
/// // At the money scale (8) it is the integer the C API takes.
/// assert_eq!(d.to_scale(8).unwrap(), 2_000_010_000_000);
/// // Losing digits is an error unless a rounding mode says how.
/// assert!("0.123".parse::<Decimal>().unwrap().to_scale(2).is_err());
/// let r = "0.125".parse::<Decimal>().unwrap().rescale(2, Rounding::HalfEven).unwrap();
/// assert_eq!(r.to_string(), "0.12");
/// // Floats and malformed text are rejected.
/// assert!("1e5".parse::<Decimal>().is_err());
/// assert!("NaN".parse::<Decimal>().is_err());
/// ```
#[derive(Clone, Copy)]
pub struct Decimal {
    mantissa: i64,
    scale: u32,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };
    /// One.
    pub const ONE: Decimal = Decimal {
        mantissa: 1,
        scale: 0,
    };

    /// `mantissa * 10^-scale`; fails with [`ErrorKind::Invalid`] if `scale` exceeds
    /// [`MAX_SCALE`].
    ///
    /// ```
    /// # use margin::Decimal;
    /// assert_eq!(Decimal::new(2_000_000_000, 8).unwrap().to_string(), "20");
    /// assert!(Decimal::new(1, 19).is_err());
    /// ```
    pub fn new(mantissa: i64, scale: u32) -> Result<Decimal> {
        if scale > MAX_SCALE {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("scale {scale} is above the maximum {MAX_SCALE}"),
            ));
        }
        Ok(Decimal { mantissa, scale })
    }

    /// An integer (scale 0).
    pub const fn from_i64(v: i64) -> Decimal {
        Decimal {
            mantissa: v,
            scale: 0,
        }
    }

    /// The integer mantissa: the value is `mantissa * 10^-scale`.
    pub const fn mantissa(&self) -> i64 {
        self.mantissa
    }

    /// The number of decimal places.
    pub const fn scale(&self) -> u32 {
        self.scale
    }

    /// True if the value is zero.
    pub const fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// True if the value is below zero.
    pub const fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// True if the value is above zero.
    pub const fn is_positive(&self) -> bool {
        self.mantissa > 0
    }

    /// The same value with trailing fractional zeros removed (`1.500` -> `1.5`).
    pub fn normalize(self) -> Decimal {
        let mut d = self;
        if d.mantissa == 0 {
            return Decimal::ZERO;
        }
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    /// The value as an integer count of `10^-scale`, exactly: the fixed-point integer the
    /// C API takes. Fails with [`ErrorKind::Range`] if a non-zero digit would be lost (it
    /// never rounds), with [`ErrorKind::Overflow`] if the result does not fit in `i64`
    /// and with [`ErrorKind::Invalid`] if `scale` exceeds [`MAX_SCALE`].
    ///
    /// ```
    /// # use margin::{Decimal, ErrorKind};
    /// let fee: Decimal = "0.0004".parse().unwrap();
    /// assert_eq!(fee.to_scale(8).unwrap(), 40_000);
    /// assert_eq!(fee.to_scale(3).unwrap_err().kind(), ErrorKind::Range);
    /// ```
    pub fn to_scale(self, scale: u32) -> Result<i64> {
        self.rescale(scale, Rounding::Exact).map(|d| d.mantissa)
    }

    /// The value at `scale` decimal places, rounded as `rounding` says
    /// ([`Rounding::Exact`]: fail with [`ErrorKind::Range`] instead of losing a digit).
    pub fn rescale(self, scale: u32, rounding: Rounding) -> Result<Decimal> {
        if scale > MAX_SCALE {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("scale {scale} is above the maximum {MAX_SCALE}"),
            ));
        }
        let m = self.mantissa as i128;
        let v: i128 = if scale >= self.scale {
            m * POW10[(scale - self.scale) as usize]
        } else {
            let d = POW10[(self.scale - scale) as usize];
            let q = m / d;
            let r = m % d; // same sign as m
            if r == 0 {
                q
            } else {
                let away = q + m.signum();
                match rounding {
                    Rounding::Trunc => q,
                    Rounding::Away => away,
                    Rounding::Floor => {
                        if m < 0 {
                            away
                        } else {
                            q
                        }
                    }
                    Rounding::Ceil => {
                        if m > 0 {
                            away
                        } else {
                            q
                        }
                    }
                    Rounding::HalfEven => match (2 * r.abs()).cmp(&d) {
                        Ordering::Less => q,
                        Ordering::Greater => away,
                        Ordering::Equal => {
                            if q % 2 == 0 {
                                q
                            } else {
                                away
                            }
                        }
                    },
                    Rounding::Exact => {
                        return Err(Error::new(
                            ErrorKind::Range,
                            format!("{self} has more than {scale} decimal places"),
                        ))
                    }
                }
            }
        };
        match i64::try_from(v) {
            Ok(mantissa) => Ok(Decimal { mantissa, scale }),
            Err(_) => Err(Error::new(
                ErrorKind::Overflow,
                format!("{self} does not fit in 64 bits at scale {scale}"),
            )),
        }
    }

    /// `self * other` at `scale` decimal places, computed exactly in 128 bits by the
    /// library (`margin_dec_mul`) and rounded once as `rounding` says.
    ///
    /// ```
    /// # use margin::{Decimal, Rounding};
    /// let q: Decimal = "0.1".parse().unwrap();
    /// let p: Decimal = "19095".parse().unwrap();
    /// let mmr: Decimal = "0.004".parse().unwrap();
    /// let notional = q.mul_round(p, 8, Rounding::Exact).unwrap();
    /// assert_eq!(notional.mul_round(mmr, 8, Rounding::Ceil).unwrap().to_string(), "7.638");
    /// ```
    pub fn mul_round(self, other: Decimal, scale: u32, rounding: Rounding) -> Result<Decimal> {
        self.c_op(
            other,
            scale,
            rounding,
            "multiply",
            margin_sys::margin_dec_mul,
        )
    }

    /// `self / other` at `scale` decimal places, computed exactly in 128 bits by the
    /// library (`margin_dec_div`) and rounded once; dividing by zero is
    /// [`ErrorKind::Invalid`].
    ///
    /// ```
    /// # use margin::{Decimal, Rounding};
    /// // The seed example's liquidation price: 1900 / 0.0996, a long's rounded up.
    /// let lp = Decimal::from(1900).div_round("0.0996".parse().unwrap(), 8, Rounding::Ceil).unwrap();
    /// assert_eq!(lp.to_string(), "19076.30522089");
    /// ```
    pub fn div_round(self, other: Decimal, scale: u32, rounding: Rounding) -> Result<Decimal> {
        self.c_op(other, scale, rounding, "divide", margin_sys::margin_dec_div)
    }

    fn c_op(
        self,
        other: Decimal,
        scale: u32,
        rounding: Rounding,
        what: &str,
        f: unsafe extern "C" fn(i64, i32, i64, i32, i32, i32, *mut i64) -> margin_sys::c_int,
    ) -> Result<Decimal> {
        if scale > MAX_SCALE {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("scale {scale} is above the maximum {MAX_SCALE}"),
            ));
        }
        let mut out = 0i64;
        // SAFETY: plain integers and a valid out-pointer; thread-safe, no engine.
        let rc = unsafe {
            f(
                self.mantissa,
                self.scale as i32,
                other.mantissa,
                other.scale as i32,
                scale as i32,
                rounding.raw(),
                &mut out,
            )
        };
        if rc != 0 {
            return Err(Error::new(
                ErrorKind::from_code(rc),
                format!("cannot {what} {self} by {other} at scale {scale} ({rounding:?})"),
            ));
        }
        Ok(Decimal {
            mantissa: out,
            scale,
        })
    }

    /// The value as `mantissa * 10^-MAX_SCALE` in 128 bits (always exact).
    fn wide(self) -> i128 {
        self.mantissa as i128 * POW10[(MAX_SCALE - self.scale) as usize]
    }

    /// From a 128-bit count at MAX_SCALE, at the smallest scale that holds it exactly.
    fn from_wide(v: i128) -> Option<Decimal> {
        let mut v = v;
        let mut scale = MAX_SCALE;
        while scale > 0 && v % 10 == 0 {
            v /= 10;
            scale -= 1;
        }
        i64::try_from(v)
            .ok()
            .map(|mantissa| Decimal { mantissa, scale })
    }

    /// `self + other`, exactly, or `None` if the result does not fit.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        Decimal::from_wide(self.wide().checked_add(other.wide())?)
    }

    /// `self - other`, exactly, or `None` if the result does not fit.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        Decimal::from_wide(self.wide().checked_sub(other.wide())?)
    }

    /// `-self`, or `None` for the one value whose negation does not fit.
    pub fn checked_neg(self) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.mantissa.checked_neg()?,
            scale: self.scale,
        })
    }

    /// `|self|`, or `None` for the one value whose negation does not fit.
    pub fn checked_abs(self) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.mantissa.checked_abs()?,
            scale: self.scale,
        })
    }

    /// `self + other`, exactly, or an [`ErrorKind::Overflow`] error if it does not fit.
    pub fn try_add(self, other: Decimal) -> Result<Decimal> {
        self.checked_add(other).ok_or_else(|| overflow("add", self, other))
    }

    /// `self - other`, exactly, or an [`ErrorKind::Overflow`] error if it does not fit.
    pub fn try_sub(self, other: Decimal) -> Result<Decimal> {
        self.checked_sub(other).ok_or_else(|| overflow("subtract", self, other))
    }

    /// `-self`, or an [`ErrorKind::Overflow`] error for the one value whose negation
    /// does not fit.
    pub fn try_neg(self) -> Result<Decimal> {
        self.checked_neg().ok_or_else(|| {
            Error::new(ErrorKind::Overflow, format!("cannot negate {self}: it does not fit"))
        })
    }

    /// `|self|` (panics, like `i64::abs`, for the one value whose negation does not fit;
    /// see [`Decimal::checked_abs`]).
    pub fn abs(self) -> Decimal {
        self.checked_abs().expect("Decimal::abs overflowed")
    }

    /// Parses with the rules of the C library's `margin_dec_parse`: an optional sign, at
    /// least one digit, optionally `.` and at least one digit. The scale is the number of
    /// decimals written (trailing zeros beyond [`MAX_SCALE`] are dropped).
    fn parse(s: &str) -> Result<Decimal> {
        let bad = || {
            Error::new(
                ErrorKind::Parse,
                format!("{s:?} is not a plain decimal number"),
            )
        };
        let body = s
            .strip_prefix('-')
            .or_else(|| s.strip_prefix('+'))
            .unwrap_or(s);
        let negative = s.starts_with('-');
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || (body.contains('.') && !digits(frac)) {
            return Err(bad());
        }
        let mut frac = frac;
        while frac.len() > MAX_SCALE as usize && frac.ends_with('0') {
            frac = &frac[..frac.len() - 1];
        }
        if frac.len() > MAX_SCALE as usize {
            return Err(Error::new(
                ErrorKind::Range,
                format!("{s:?} has more than {MAX_SCALE} decimal places"),
            ));
        }
        let int = int.trim_start_matches('0');
        let too_big = || {
            Error::new(
                ErrorKind::Overflow,
                format!("{s:?} does not fit in 64 bits"),
            )
        };
        // The value times 10^len(frac), accumulated in 128 bits (at most 38 digits fit).
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m
                .checked_mul(10)
                .and_then(|m| m.checked_add((b - b'0') as i128))
                .ok_or_else(too_big)?;
        }
        let mut scale = frac.len() as u32;
        if negative {
            m = -m;
        }
        // Drop trailing zeros only if that is what it takes to fit.
        while i64::try_from(m).is_err() && scale > 0 && m % 10 == 0 {
            m /= 10;
            scale -= 1;
        }
        let mantissa = i64::try_from(m).map_err(|_| too_big())?;
        Ok(Decimal { mantissa, scale })
    }
}

impl FromStr for Decimal {
    type Err = Error;

    /// Parses a plain decimal number (`"12"`, `"-0.5"`, `"+20000.10"`); fails with
    /// [`ErrorKind::Parse`] for anything else (spaces, exponents, `NaN`, `inf`, `.5`, `5.`),
    /// [`ErrorKind::Range`] for more than 18 significant decimal places and
    /// [`ErrorKind::Overflow`] when the mantissa does not fit in `i64`.
    fn from_str(s: &str) -> Result<Decimal> {
        Decimal::parse(s)
    }
}

impl TryFrom<&str> for Decimal {
    type Error = Error;
    fn try_from(s: &str) -> Result<Decimal> {
        Decimal::parse(s)
    }
}

impl From<i64> for Decimal {
    fn from(v: i64) -> Decimal {
        Decimal::from_i64(v)
    }
}

impl From<i32> for Decimal {
    fn from(v: i32) -> Decimal {
        Decimal::from_i64(v as i64)
    }
}

impl From<u32> for Decimal {
    fn from(v: u32) -> Decimal {
        Decimal::from_i64(v as i64)
    }
}

impl TryFrom<u64> for Decimal {
    type Error = Error;
    fn try_from(v: u64) -> Result<Decimal> {
        i64::try_from(v)
            .map(Decimal::from_i64)
            .map_err(|_| Error::new(ErrorKind::Overflow, format!("{v} does not fit in i64")))
    }
}

impl Default for Decimal {
    fn default() -> Decimal {
        Decimal::ZERO
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.wide() == other.wide()
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        self.wide().cmp(&other.wide())
    }
}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalize();
        n.mantissa.hash(state);
        n.scale.hash(state);
    }
}

impl fmt::Display for Decimal {
    /// The shortest exact form (`20000`, `0.004`, `-1.5`). A precision (`{:.2}`) pads
    /// with zeros up to that many decimals but never drops a digit: the output is always
    /// the exact value (use [`Decimal::rescale`] to round). Width and alignment apply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.normalize();
        let abs = (n.mantissa as i128).unsigned_abs();
        let digits = abs.to_string();
        let scale = n.scale as usize;
        // Unsigned text; the sign goes to pad_integral (which also honours width, fill,
        // alignment, `+` and `0`).
        let mut s = String::with_capacity(digits.len() + 4);
        let mut frac = if scale > 0 {
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (i, fr) = padded.split_at(padded.len() - scale);
            s.push_str(i);
            fr.to_string()
        } else {
            s.push_str(&digits);
            String::new()
        };
        if let Some(p) = f.precision() {
            while frac.len() < p {
                frac.push('0');
            }
        }
        if !frac.is_empty() {
            s.push('.');
            s.push_str(&frac);
        }
        f.pad_integral(n.mantissa >= 0, "", &s)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

/// Anything that converts to a [`Decimal`] for the engine's methods: [`Decimal`],
/// integers and decimal strings (`"0.1"`, parsed exactly). Floats deliberately do not
/// implement it:
///
/// ```compile_fail,E0277
/// # use margin::Engine;
/// let mut engine = Engine::new().unwrap();
/// let a = engine.account_new().unwrap();
/// engine.deposit(a, 100.5f64).unwrap(); // error: f64 is not IntoDecimal
/// ```
pub trait IntoDecimal {
    /// The value as a [`Decimal`], or why it is not one.
    fn into_decimal(self) -> Result<Decimal>;
}

impl IntoDecimal for Decimal {
    fn into_decimal(self) -> Result<Decimal> {
        Ok(self)
    }
}
impl IntoDecimal for &Decimal {
    fn into_decimal(self) -> Result<Decimal> {
        Ok(*self)
    }
}
impl IntoDecimal for &str {
    fn into_decimal(self) -> Result<Decimal> {
        self.parse()
    }
}
impl IntoDecimal for &String {
    fn into_decimal(self) -> Result<Decimal> {
        self.parse()
    }
}
impl IntoDecimal for String {
    fn into_decimal(self) -> Result<Decimal> {
        self.parse()
    }
}
impl IntoDecimal for i64 {
    fn into_decimal(self) -> Result<Decimal> {
        Ok(Decimal::from(self))
    }
}
impl IntoDecimal for i32 {
    fn into_decimal(self) -> Result<Decimal> {
        Ok(Decimal::from(self))
    }
}
impl IntoDecimal for u32 {
    fn into_decimal(self) -> Result<Decimal> {
        Ok(Decimal::from(self))
    }
}
impl IntoDecimal for u64 {
    fn into_decimal(self) -> Result<Decimal> {
        Decimal::try_from(self)
    }
}

fn overflow(what: &str, a: Decimal, b: Decimal) -> Error {
    Error::new(
        ErrorKind::Overflow,
        format!("cannot {what} {a} and {b}: the result does not fit in a 64-bit mantissa"),
    )
}

/// `a + b`, exact. Panics if the result does not fit (as integer overflow does); use
/// [`Decimal::try_add`] or [`Decimal::checked_add`] to handle that.
///
/// ```
/// use margin::Decimal;
/// let a: Decimal = "1.5".parse().unwrap();
/// let b: Decimal = "0.25".parse().unwrap();
/// assert_eq!(a + b, "1.75".parse().unwrap());
/// assert_eq!(a - b, "1.25".parse().unwrap());
/// assert_eq!(-a, "-1.5".parse().unwrap());
/// assert!(b < a && a.max(b) == a);
/// assert!(Decimal::new(i64::MAX, 0).unwrap().try_add(Decimal::from(1)).is_err());
/// ```
impl std::ops::Add for Decimal {
    type Output = Decimal;
    fn add(self, other: Decimal) -> Decimal {
        self.checked_add(other).expect("Decimal addition overflowed")
    }
}

/// `a - b`, exact. Panics if the result does not fit; see [`Decimal::try_sub`].
impl std::ops::Sub for Decimal {
    type Output = Decimal;
    fn sub(self, other: Decimal) -> Decimal {
        self.checked_sub(other).expect("Decimal subtraction overflowed")
    }
}

/// `-a`. Panics for the one value whose negation does not fit; see [`Decimal::try_neg`].
impl std::ops::Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Decimal {
        self.checked_neg().expect("Decimal negation overflowed")
    }
}

impl std::ops::AddAssign for Decimal {
    fn add_assign(&mut self, other: Decimal) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Decimal {
    fn sub_assign(&mut self, other: Decimal) {
        *self = *self - other;
    }
}

/// The exact sum (panics if it does not fit, as `+` does).
impl std::iter::Sum for Decimal {
    fn sum<I: Iterator<Item = Decimal>>(iter: I) -> Decimal {
        iter.fold(Decimal::default(), |a, b| a + b)
    }
}

impl<'a> std::iter::Sum<&'a Decimal> for Decimal {
    fn sum<I: Iterator<Item = &'a Decimal>>(iter: I) -> Decimal {
        iter.fold(Decimal::default(), |a, b| a + *b)
    }
}
