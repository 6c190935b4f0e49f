//! [`Allocator`]: the caller's memory functions for one engine
//! (`margin_engine_new_with_allocator`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use margin_sys as sys;

/// The memory functions of one engine ([`Engine::with_allocator`]): the engine handle and
/// everything the engine ever allocates (markets, accounts, positions, indexes, events,
/// work space, a snapshot being loaded) come from `alloc` / `realloc` and go back
/// through `free`. A function that returns null makes the call that needed the memory
/// fail with [`ErrorKind::NoMemory`] and change nothing, so an allocator can enforce a
/// memory budget per engine.
///
/// The functions are called only from the thread using the engine, one at a time, never
/// after the engine is dropped (the allocator is dropped after it). A panic inside them
/// is caught at the C boundary: `alloc` and `realloc` then return null, `free` leaks.
///
/// # Safety
///
/// The engine trusts the memory it is given: `alloc` and `realloc` must return null or
/// a pointer to at least `size` bytes that nothing else uses until it is passed back to
/// `realloc` or `free`, aligned for any C type (16 bytes on the usual 64-bit targets), as
/// `malloc` does. `realloc` must keep the first `min(old size, size)` bytes and, when it
/// returns null, leave `ptr` valid and unchanged.
///
/// # Example: a memory budget
///
/// ```
/// use std::alloc::{alloc, dealloc, realloc, Layout};
/// use std::ptr;
/// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use std::sync::Arc;
/// use margin::{Allocator, Engine, ErrorKind};
///
/// /// The bytes in use, refused past a limit. Each block starts with a 16-byte head
/// /// holding its size (`free` and `realloc` are not told it) and keeping the alignment.
/// struct Budget {
///     used: Arc<AtomicUsize>,
///     limit: usize,
/// }
/// const HEAD: usize = 16;
///
/// unsafe impl Allocator for Budget {
///     fn alloc(&self, size: usize) -> *mut u8 {
///         // SAFETY: null is a valid `ptr` for realloc.
///         unsafe { self.realloc(ptr::null_mut(), size) }
///     }
///     unsafe fn realloc(&self, p: *mut u8, size: usize) -> *mut u8 {
///         let old = if p.is_null() { 0 } else { *(p.sub(HEAD) as *const usize) };
///         if self.used.load(Relaxed) - old + size > self.limit {
///             return ptr::null_mut();
///         }
///         let layout = |n: usize| Layout::from_size_align(n + HEAD, 16).unwrap();
///         let base = if p.is_null() {
///             alloc(layout(size))
///         } else {
///             realloc(p.sub(HEAD), layout(old), size + HEAD)
///         };
///         if base.is_null() {
///             return ptr::null_mut();
///         }
///         *(base as *mut usize) = size;
///         self.used.fetch_add(size, Relaxed);
///         self.used.fetch_sub(old, Relaxed);
///         base.add(HEAD)
///     }
///     unsafe fn free(&self, p: *mut u8) {
///         if !p.is_null() {
///             let size = *(p.sub(HEAD) as *const usize);
///             dealloc(p.sub(HEAD), Layout::from_size_align(size + HEAD, 16).unwrap());
///             self.used.fetch_sub(size, Relaxed);
///         }
///     }
/// }
///
/// let used = Arc::new(AtomicUsize::new(0));
/// let mut engine = Engine::with_allocator(Budget { used: used.clone(), limit: 1 << 20 })?;
/// let a = engine.account_new()?;
/// engine.deposit(a, "100")?;
/// assert!(used.load(Relaxed) > 0);
/// // Past the budget a call fails with NoMemory and changes nothing.
/// let err = (0..100_000).try_for_each(|_| engine.account_new().map(drop)).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NoMemory);
/// drop(engine);
/// assert_eq!(used.load(Relaxed), 0); // every byte came back
/// # Ok::<(), margin::Error>(())
/// ```
pub unsafe trait Allocator: Send + 'static {
    /// Allocates `size` bytes, like `malloc`; null when it cannot.
    fn alloc(&self, size: usize) -> *mut u8;

    /// Resizes the block `ptr` (null: allocates) to `size` bytes (> 0), like `realloc`;
    /// null when it cannot, leaving `ptr` intact.
    ///
    /// # Safety
    /// `ptr` is null or a block of this allocator not yet freed.
    unsafe fn realloc(&self, ptr: *mut u8, size: usize) -> *mut u8;

    /// Frees the block `ptr` (null: nothing), like `free`.
    ///
    /// # Safety
    /// `ptr` is null or a block of this allocator not yet freed.
    unsafe fn free(&self, ptr: *mut u8);
}

// The C side's functions: `user` is the `A` boxed by `Engine::with_allocator`, alive
// until after margin_engine_free. A panic must not unwind into C.

extern "C" fn alloc_fn<A: Allocator>(user: *mut sys::c_void, size: usize) -> *mut sys::c_void {
    // SAFETY: see above; only shared references to `A` are ever made.
    let a = unsafe { &*(user as *const A) };
    catch_unwind(AssertUnwindSafe(|| a.alloc(size))).unwrap_or(ptr::null_mut()) as *mut _
}

extern "C" fn realloc_fn<A: Allocator>(
    user: *mut sys::c_void,
    p: *mut sys::c_void,
    size: usize,
) -> *mut sys::c_void {
    // SAFETY: as in alloc_fn; `p` is null or a block of `A` (the engine's contract).
    let a = unsafe { &*(user as *const A) };
    catch_unwind(AssertUnwindSafe(|| unsafe {
        a.realloc(p as *mut u8, size)
    }))
    .unwrap_or(ptr::null_mut()) as *mut _
}

extern "C" fn free_fn<A: Allocator>(user: *mut sys::c_void, p: *mut sys::c_void) {
    // SAFETY: as in realloc_fn.
    let a = unsafe { &*(user as *const A) };
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe { a.free(p as *mut u8) }));
}

impl Engine {
    /// Creates an engine that takes every byte of its memory from `allocator`
    /// (`margin_engine_new_with_allocator`; see [`Allocator`]). It owns the allocator
    /// and drops it after the engine's last byte went back.
    ///
    /// Fails with [`ErrorKind::NoMemory`] when the allocator refuses the handle itself.
    pub fn with_allocator<A: Allocator>(allocator: A) -> Result<Engine> {
        let boxed = Box::new(allocator);
        let user = &*boxed as *const A as *mut sys::c_void;
        let mut p: *mut sys::margin_engine = ptr::null_mut();
        // SAFETY: valid out-pointer; the functions are this module's, `user` is the boxed
        // allocator, which the Engine keeps until after margin_engine_free.
        let rc = unsafe {
            sys::margin_engine_new_with_allocator(
                &mut p,
                Some(alloc_fn::<A>),
                Some(realloc_fn::<A>),
                Some(free_fn::<A>),
                user,
            )
        };
        if rc != 0 {
            return Err(Error::new(
                ErrorKind::from_code(rc),
                "margin_engine_new_with_allocator failed (the allocator refused the handle)",
            ));
        }
        let raw = NonNull::new(p).ok_or_else(|| {
            Error::new(
                ErrorKind::NoMemory,
                "margin_engine_new_with_allocator returned NULL",
            )
        })?;
        Ok(Engine::from_raw(raw, Some(boxed)))
    }
}
