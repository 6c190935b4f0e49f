//! Snapshots (the whole engine as bytes or as a file) and the state hash.

use std::ffi::CString;
use std::path::Path;
use std::ptr;

use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use margin_sys as sys;

/// The path as the C library takes it: its bytes, NUL-terminated.
fn c_path(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes()
    };
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| Error::new(ErrorKind::Invalid, format!("path {path:?} is not UTF-8")))?
        .as_bytes();
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::Invalid, "the path is empty"));
    }
    CString::new(bytes).map_err(|_| {
        Error::new(
            ErrorKind::Invalid,
            format!("path {path:?} contains a NUL byte"),
        )
    })
}

impl Engine {
    /// Panics if a call that cannot fail on a live engine did (the library broke its
    /// contract).
    fn infallible(&self, rc: sys::c_int, what: &str) {
        if rc != 0 {
            let err = self.last_error();
            panic!("{what} failed on a live engine (status {rc}): {err:?}");
        }
    }

    /// The whole engine as snapshot bytes (`margin_snapshot_save`; the format is
    /// `docs/snapshot.md`): markets, accounts, positions open and closed, options,
    /// sequence numbers and the queued events. Not in it: the callback and the
    /// allocator, which belong to the engine that loads it.
    ///
    /// The same state always gives the same bytes, and [`Engine::load`] gives an engine
    /// that produces the same events and the same next snapshot on the same calls.
    ///
    /// # Panics
    /// Never, unless the C library breaks its contract (saving a live engine into a
    /// buffer of the size it asked for cannot fail).
    pub fn save(&self) -> Vec<u8> {
        let mut n = 0usize;
        // SAFETY: live engine; NULL and 0 ask for the size; valid out-pointer.
        let rc = unsafe { sys::margin_snapshot_save(self.p(), ptr::null_mut(), 0, &mut n) };
        self.infallible(rc, "margin_snapshot_save (size)");
        let mut buf = vec![0u8; n];
        // SAFETY: buf holds n bytes, the size just given for this unchanged state.
        let rc = unsafe {
            sys::margin_snapshot_save(self.p(), buf.as_mut_ptr() as *mut sys::c_void, n, &mut n)
        };
        self.infallible(rc, "margin_snapshot_save");
        buf.truncate(n);
        buf
    }

    /// Saves the engine to the file `path`, atomically (`margin_snapshot_write`): a
    /// temporary file beside it is written, synced and renamed over `path`, then the
    /// directory is synced, so `path` holds either its previous content or the whole new
    /// snapshot, even if the process or the machine stops at any moment.
    ///
    /// Fails with [`ErrorKind::Io`] (the message names the step and the system's reason;
    /// `path` is untouched and no temporary file is left), or [`ErrorKind::Invalid`] for
    /// an empty path or one with a NUL byte.
    pub fn save_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let c = c_path(path)?;
        // SAFETY: live engine, NUL-terminated path (not kept).
        let rc = unsafe { sys::margin_snapshot_write(self.p(), c.as_ptr()) };
        self.check_query(rc, || format!("saving to {}", path.display()))
    }

    /// A new engine from snapshot bytes (`margin_snapshot_load`), with every option,
    /// figure and queued event of the engine that saved them.
    ///
    /// Fails with the kind that says why the bytes are refused ([`ErrorKind::Magic`],
    /// [`ErrorKind::Version`], [`ErrorKind::Truncated`], [`ErrorKind::Checksum`],
    /// [`ErrorKind::Corrupt`]: [`ErrorKind::is_snapshot`]), and a message naming the field.
    /// No engine is returned, none is half-built.
    ///
    /// ```
    /// use margin::{Engine, ErrorKind};
    /// let mut engine = Engine::new().unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "100").unwrap();
    /// let bytes = engine.save();
    /// let copy = Engine::load(&bytes).unwrap();
    /// assert_eq!(copy.save(), bytes);
    /// assert_eq!(copy.state_hash(), engine.state_hash());
    /// let err = Engine::load(&bytes[..bytes.len() - 1]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Truncated);
    /// ```
    pub fn load(bytes: &[u8]) -> Result<Engine> {
        let mut e = Engine::new()?;
        e.restore(bytes)?;
        Ok(e)
    }

    /// A new engine from the snapshot file `path` (`margin_snapshot_read`), as
    /// [`Engine::load`]; [`ErrorKind::Io`] when the file cannot be opened or read.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Engine> {
        let mut e = Engine::new()?;
        e.restore_file(path)?;
        Ok(e)
    }

    /// Loads snapshot bytes into this engine, which must still be empty (as
    /// [`Engine::new`] or [`Engine::with_allocator`] made it: no market, account or
    /// event; else [`ErrorKind::State`]). Its callback and allocator stay; every other
    /// option comes from the snapshot. The bytes are checked whole before anything is
    /// built: on failure the engine is still empty, as it was.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<()> {
        // SAFETY: live engine; ptr/len describe `bytes` (not kept after the call).
        let rc = unsafe {
            sys::margin_snapshot_load(self.pm(), bytes.as_ptr() as *const sys::c_void, bytes.len())
        };
        self.check(rc)
    }

    /// Loads the snapshot file `path` into this empty engine, as [`Engine::restore`].
    pub fn restore_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let c = c_path(path.as_ref())?;
        // SAFETY: live engine, NUL-terminated path (not kept).
        let rc = unsafe { sys::margin_snapshot_read(self.pm(), c.as_ptr()) };
        self.check(rc)
    }

    /// A 64-bit hash of the engine's state (`margin_state_hash`): equal for two engines
    /// that would save the same snapshot, different otherwise but for a 2^-64 chance.
    /// Computed on each call, in time proportional to the state, without building the
    /// snapshot; for comparing replicas, not for security.
    ///
    /// # Panics
    /// Never, unless the C library breaks its contract.
    pub fn state_hash(&self) -> u64 {
        let mut h = 0u64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_state_hash(self.p(), &mut h) };
        self.infallible(rc, "margin_state_hash");
        h
    }
}
