//! The gatehouse server's global allocator: [mimalloc], called through its plain API wherever
//! its size classes already give the alignment a Rust [`Layout`] asks for.
//!
//! # Why not `mimalloc::MiMalloc`
//!
//! The `mimalloc` crate sends every allocation to `mi_malloc_aligned`, because a Rust
//! allocation always carries an alignment. In mimalloc v3 that call only takes the fast path
//! when the size class's page happens to have a free block at hand. Otherwise it goes to the
//! generic aligned routine, and unless the size class is a power of two (24, 48, 160 bytes
//! are not), that routine **over-allocates** `size + align - 1` bytes: a 160-byte request with
//! 8-byte alignment gets a 192-byte block, and the page is marked as holding interior
//! pointers, which every later free from it pays for. A request to `/users/me` makes about 20
//! allocations, most of them of such sizes (docs/PERFORMANCE.md, session 9).
//!
//! # The rule
//!
//! On x86-64 and aarch64 mimalloc rounds every small size class to two machine words (16
//! bytes) except the one-word class, and aligns the first block of each page to 16 bytes, so
//! `mi_malloc(size)` is aligned to 16 bytes, or to 8 when `size <= 8` — the guarantee of C's
//! `malloc` (`max_align_t`). So a layout with `align <= 16` and `align <= size` goes to the
//! plain calls (`mi_malloc`, `mi_zalloc`, `mi_realloc`), which is the rule Rust's own `System`
//! allocator applies to `malloc`. Anything else keeps mimalloc's aligned calls. Freeing is
//! `mi_free` either way: mimalloc finds the block from any pointer into it.
//!
//! The rule is checked by this crate's tests across sizes and alignments, on fresh threads
//! (empty pages, where the aligned path falls back) and warm ones.
//!
//! [mimalloc]: https://github.com/microsoft/mimalloc

use core::{
    alloc::{GlobalAlloc, Layout},
    ffi::c_void,
};

use libmimalloc_sys as ffi;

/// The alignment `mi_malloc` guarantees for any size of at least that many bytes (mimalloc's
/// `MI_MAX_ALIGN_SIZE`, C's `alignof(max_align_t)`).
const MALLOC_ALIGN: usize = 16;

/// Whether the plain, unaligned API gives `align` for a block of `size` bytes.
#[inline(always)]
fn plain_call_aligns(size: usize, align: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

/// mimalloc as the global allocator, with the plain API where it suffices (see the crate
/// docs).
///
/// ```
/// #[global_allocator]
/// static GLOBAL: gatehouse_alloc::MiMalloc = gatehouse_alloc::MiMalloc;
/// # fn main() { assert_eq!(vec![1u8, 2, 3].len(), 3); }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

// The whole of the crate's unsafe code: forwarding `GlobalAlloc` to mimalloc's C API.
#[allow(unsafe_code)]
// SAFETY: every pointer returned is null or a mimalloc block of at least
// `layout.size()` bytes aligned to `layout.align()`: the aligned calls promise it, and the
// plain calls are used only where `plain_call_aligns` holds, which mimalloc's size classes
// guarantee (crate docs; tested). `dealloc`/`realloc` receive pointers this allocator
// returned, which `mi_free`/`mi_realloc*` accept, interior pointers of aligned blocks included.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain_call_aligns(layout.size(), layout.align()) {
            // SAFETY: any size may be passed to mi_malloc; alignment is argued above.
            unsafe { ffi::mi_malloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: `layout.align()` is a power of two, as mi_malloc_aligned requires.
            unsafe { ffi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain_call_aligns(layout.size(), layout.align()) {
            // SAFETY: as in `alloc`; mi_zalloc zeroes the block.
            unsafe { ffi::mi_zalloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { ffi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract), so from mimalloc.
        unsafe { ffi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain_call_aligns(new_size, layout.align()) {
            // SAFETY: `ptr` came from mimalloc; the block mi_realloc returns is either `ptr`
            // itself (aligned to `layout.align()` already) or a new plain block of `new_size`
            // bytes, aligned by the rule above.
            unsafe { ffi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: `ptr` came from mimalloc; the alignment is a power of two.
            unsafe { ffi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8 }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
mod tests {
    use super::*;

    const ALIGNS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 4096];

    /// Allocates every (size, align) pair, checks each block's alignment and that it is
    /// writable end to end, then frees them in another order. Run on a fresh thread, every
    /// size class starts on an empty page: the case where the aligned API falls back.
    fn alloc_all(sizes: &[usize]) {
        let a = MiMalloc;
        let mut blocks = Vec::new();
        for &size in sizes {
            for &align in &ALIGNS {
                let layout = Layout::from_size_align(size, align).expect("valid layout");
                for zeroed in [false, true] {
                    let p = unsafe {
                        if zeroed {
                            a.alloc_zeroed(layout)
                        } else {
                            a.alloc(layout)
                        }
                    };
                    assert!(!p.is_null(), "size {size} align {align}");
                    assert_eq!(p as usize % align, 0, "size {size} align {align} zeroed {zeroed}: misaligned");
                    if zeroed {
                        let bytes = unsafe { core::slice::from_raw_parts(p, size) };
                        assert!(bytes.iter().all(|&b| b == 0), "size {size} align {align}: not zeroed");
                    }
                    unsafe { p.write_bytes(0xA5, size) };
                    blocks.push((p, layout));
                }
            }
        }
        for (i, (p, layout)) in blocks.into_iter().enumerate().rev() {
            if i % 3 == 0 {
                // Grow and shrink some blocks instead of freeing them at once.
                let grown = unsafe { a.realloc(p, layout, layout.size() * 3 + 1) };
                assert_eq!(grown as usize % layout.align(), 0, "realloc {layout:?}: misaligned");
                let kept = unsafe { core::slice::from_raw_parts(grown, layout.size()) };
                assert!(kept.iter().all(|&b| b == 0xA5), "realloc {layout:?}: contents lost");
                let bigger = Layout::from_size_align(layout.size() * 3 + 1, layout.align()).expect("valid layout");
                let shrunk = unsafe { a.realloc(grown, bigger, layout.size()) };
                assert_eq!(shrunk as usize % layout.align(), 0, "shrink {layout:?}: misaligned");
                unsafe { a.dealloc(shrunk, layout) };
            } else {
                unsafe { a.dealloc(p, layout) };
            }
        }
    }

    fn sizes() -> Vec<usize> {
        let mut sizes: Vec<usize> = (1..=600).collect();
        sizes.extend([1000, 1024, 2047, 4096, 8192, 65_536, 65_537, 1 << 20, (1 << 22) + 7]);
        sizes
    }

    #[test]
    fn every_block_has_its_alignment_on_fresh_threads() {
        for _ in 0..3 {
            std::thread::spawn(|| alloc_all(&sizes())).join().expect("allocation thread");
        }
    }

    #[test]
    fn every_block_has_its_alignment_on_a_warm_thread() {
        let sizes = sizes();
        for _ in 0..3 {
            alloc_all(&sizes);
        }
    }

    #[test]
    fn plain_blocks_are_not_over_allocated() {
        // 160 bytes at 8-byte alignment, the first of its size class on a fresh thread: the
        // aligned API would hand out a 192-byte block here (size + align - 1 rounds up a
        // class); the plain call gets mimalloc's own class for 160 bytes.
        std::thread::spawn(|| {
            let layout = Layout::from_size_align(160, 8).expect("valid layout");
            let p = unsafe { MiMalloc.alloc(layout) };
            let usable = unsafe { ffi::mi_usable_size(p as *const c_void) };
            let good = unsafe { ffi::mi_good_size(160) };
            unsafe { MiMalloc.dealloc(p, layout) };
            assert_eq!(usable, good, "a 160-byte block took a {usable}-byte slot");
        })
        .join()
        .expect("allocation thread");
    }

    #[test]
    fn the_rule() {
        assert!(plain_call_aligns(24, 8));
        assert!(plain_call_aligns(16, 16));
        assert!(plain_call_aligns(8, 8));
        assert!(!plain_call_aligns(8, 16), "an 8-byte block is only 8-aligned");
        assert!(!plain_call_aligns(64, 32));
    }
}
