//! Errors: one typed [`ErrorKind`] per status code of the C API, plus the message.

use std::ffi::CStr;
use std::fmt;

use margin_sys as sys;

/// What went wrong: one variant per `MARGIN_E*` status code of the C library.
///
/// Errors raised by the binding itself before the library is called (a string that is
/// not a decimal number, an amount with more decimals than its scale holds, a symbol
/// containing a NUL byte) use the same kinds as the library would.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `MARGIN_EINVAL`: an argument is invalid (zero, negative, unknown constant).
    Invalid,
    /// `MARGIN_ENOMEM`: memory could not be allocated.
    NoMemory,
    /// `MARGIN_EOVERFLOW`: a result or intermediate does not fit in 64 bits.
    Overflow,
    /// `MARGIN_EPARSE`: a string is not a plain decimal number.
    Parse,
    /// `MARGIN_ERANGE`: a value is out of range, or has more decimals than the scale holds.
    Range,
    /// `MARGIN_ENOTFOUND`: no market, account or position has that id.
    NotFound,
    /// `MARGIN_ECLOSED`: the position is closed or liquidated.
    Closed,
    /// `MARGIN_EFUNDS`: the account's free balance does not cover the amount.
    Funds,
    /// `MARGIN_ELEVERAGE`: the leverage is outside the market's (or the tier's) limit.
    Leverage,
    /// `MARGIN_EGRID`: a price or quantity is not on the market's tick or step grid.
    Grid,
    /// `MARGIN_ESTATE`: not allowed in the current state.
    State,
    /// `MARGIN_EMARGIN`: the margin would fall below what the position requires.
    Margin,
    /// `MARGIN_EBUFFER`: an output buffer is too small.
    Buffer,
    /// `MARGIN_EEXIST`: something with that name already exists.
    Exists,
    /// `MARGIN_ENOTSUP`: not supported (yet) by this version of the library.
    NotSupported,
    /// `MARGIN_EFULL`: the event queue is at its cap
    /// ([`Engine::set_event_cap`](crate::Engine::set_event_cap)) and the call would have
    /// queued more events, so it changed nothing. Drain the queue and call again.
    Full,
    /// `MARGIN_EMAGIC`: the bytes are not a libmargin snapshot (wrong magic).
    Magic,
    /// `MARGIN_EVERSION`: a snapshot format version this library does not read.
    Version,
    /// `MARGIN_ECHECKSUM`: the snapshot's CRC-32C does not match its bytes (damaged).
    Checksum,
    /// `MARGIN_ETRUNCATED`: the snapshot is shorter than its header says (cut).
    Truncated,
    /// `MARGIN_ECORRUPT`: a snapshot field is out of range or inconsistent with the
    /// others (the message names it).
    Corrupt,
    /// `MARGIN_EIO`: a snapshot file could not be opened, written, synced, renamed or
    /// read (the message names the step and the system's reason).
    Io,
    /// `MARGIN_EASSET`: the operation would mix settlement assets in one engine: its
    /// markets are all linear or all inverse and share one settlement asset (the message
    /// names the market that differs). Use an engine per settlement asset.
    Asset,
    /// A status code this binding does not know (from a newer library).
    Other(i32),
}

impl ErrorKind {
    /// The kind of a negative status code.
    pub fn from_code(code: i32) -> ErrorKind {
        match code {
            sys::MARGIN_EINVAL => ErrorKind::Invalid,
            sys::MARGIN_ENOMEM => ErrorKind::NoMemory,
            sys::MARGIN_EOVERFLOW => ErrorKind::Overflow,
            sys::MARGIN_EPARSE => ErrorKind::Parse,
            sys::MARGIN_ERANGE => ErrorKind::Range,
            sys::MARGIN_ENOTFOUND => ErrorKind::NotFound,
            sys::MARGIN_ECLOSED => ErrorKind::Closed,
            sys::MARGIN_EFUNDS => ErrorKind::Funds,
            sys::MARGIN_ELEVERAGE => ErrorKind::Leverage,
            sys::MARGIN_EGRID => ErrorKind::Grid,
            sys::MARGIN_ESTATE => ErrorKind::State,
            sys::MARGIN_EMARGIN => ErrorKind::Margin,
            sys::MARGIN_EBUFFER => ErrorKind::Buffer,
            sys::MARGIN_EEXIST => ErrorKind::Exists,
            sys::MARGIN_ENOTSUP => ErrorKind::NotSupported,
            sys::MARGIN_EFULL => ErrorKind::Full,
            sys::MARGIN_EMAGIC => ErrorKind::Magic,
            sys::MARGIN_EVERSION => ErrorKind::Version,
            sys::MARGIN_ECHECKSUM => ErrorKind::Checksum,
            sys::MARGIN_ETRUNCATED => ErrorKind::Truncated,
            sys::MARGIN_ECORRUPT => ErrorKind::Corrupt,
            sys::MARGIN_EIO => ErrorKind::Io,
            sys::MARGIN_EASSET => ErrorKind::Asset,
            other => ErrorKind::Other(other),
        }
    }

    /// The C status code of this kind.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::Invalid => sys::MARGIN_EINVAL,
            ErrorKind::NoMemory => sys::MARGIN_ENOMEM,
            ErrorKind::Overflow => sys::MARGIN_EOVERFLOW,
            ErrorKind::Parse => sys::MARGIN_EPARSE,
            ErrorKind::Range => sys::MARGIN_ERANGE,
            ErrorKind::NotFound => sys::MARGIN_ENOTFOUND,
            ErrorKind::Closed => sys::MARGIN_ECLOSED,
            ErrorKind::Funds => sys::MARGIN_EFUNDS,
            ErrorKind::Leverage => sys::MARGIN_ELEVERAGE,
            ErrorKind::Grid => sys::MARGIN_EGRID,
            ErrorKind::State => sys::MARGIN_ESTATE,
            ErrorKind::Margin => sys::MARGIN_EMARGIN,
            ErrorKind::Buffer => sys::MARGIN_EBUFFER,
            ErrorKind::Exists => sys::MARGIN_EEXIST,
            ErrorKind::NotSupported => sys::MARGIN_ENOTSUP,
            ErrorKind::Full => sys::MARGIN_EFULL,
            ErrorKind::Magic => sys::MARGIN_EMAGIC,
            ErrorKind::Version => sys::MARGIN_EVERSION,
            ErrorKind::Checksum => sys::MARGIN_ECHECKSUM,
            ErrorKind::Truncated => sys::MARGIN_ETRUNCATED,
            ErrorKind::Corrupt => sys::MARGIN_ECORRUPT,
            ErrorKind::Io => sys::MARGIN_EIO,
            ErrorKind::Asset => sys::MARGIN_EASSET,
            ErrorKind::Other(code) => code,
        }
    }

    /// `true` for the five ways a snapshot can be refused: [`ErrorKind::Magic`],
    /// [`ErrorKind::Version`], [`ErrorKind::Checksum`], [`ErrorKind::Truncated`] and
    /// [`ErrorKind::Corrupt`] (not [`ErrorKind::Io`]: the file, not its bytes).
    ///
    /// ```
    /// use margin::{Engine, ErrorKind};
    /// let err = Engine::load(b"not a snapshot").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Magic);
    /// assert!(err.kind().is_snapshot());
    /// ```
    pub fn is_snapshot(self) -> bool {
        matches!(
            self,
            ErrorKind::Magic
                | ErrorKind::Version
                | ErrorKind::Checksum
                | ErrorKind::Truncated
                | ErrorKind::Corrupt
        )
    }

    /// The library's static text for this kind (`margin_strerror`).
    pub fn description(self) -> &'static str {
        strerror(self.code())
    }
}

/// The library's static text for a status code (`margin_strerror`).
pub fn strerror(code: i32) -> &'static str {
    // SAFETY: margin_strerror accepts any value and returns a static NUL-terminated
    // string, never NULL (header contract); it is thread-safe.
    let p = unsafe { sys::margin_strerror(code) };
    if p.is_null() {
        return "unknown error";
    }
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .unwrap_or("unknown error")
}

/// The error of every fallible call: a typed [`ErrorKind`] and a message.
///
/// For a call that reached the engine, the message is the engine's `margin_errmsg()`
/// taken right after the failure; for errors found by the binding it names the value.
///
/// ```
/// use margin::{Engine, ErrorKind};
/// let mut engine = Engine::new().unwrap();
/// let acct = engine.account_new().unwrap();
/// let err = engine.withdraw(acct, "5").unwrap_err(); // nothing deposited
/// assert_eq!(err.kind(), ErrorKind::Funds);
/// assert!(!err.message().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The C status code (negative).
    pub fn code(&self) -> i32 {
        self.kind.code()
    }

    /// The message (the engine's `margin_errmsg()` for errors from the engine).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind.description())
        } else {
            write!(f, "{} ({})", self.message, self.kind.description())
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
