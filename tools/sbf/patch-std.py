#!/usr/bin/env python3
"""Teaches the Rust standard library's sources (std, and core where noted) (Debian's rust-web-src 1.96) the `solana` OS.

Usage: patch-std.py LIBRARY_DIR (the `library/` directory of the sysroot's sources).

A Solana program runs with no operating system: no files, threads, clock or randomness, a
heap that the program brings (its `#[global_allocator]`), no writable data section (the
loader refuses `.data`/`.bss`), and the runtime's syscalls for logging and aborting. Each edit
below routes `target_os = "solana"` to what std already does for such a platform (the
`unsupported` branches, as for `vexos`), or, where std would keep state in a writable static,
to a stateless path. Every edit must apply exactly once; the script stops at the first that
does not (a new rust-web-src needs this script reviewed).
"""

import pathlib
import sys

library = pathlib.Path(sys.argv[1])
std = library / "std"


def edit(path, old, new, count=1, crate="std"):
    """Replaces `old` by `new` in `path` (under `crate`), expecting exactly `count` occurrences."""
    file = library / crate / path
    text = file.read_text()
    found = text.count(old)
    if found != count:
        sys.exit(f"patch-std: {path}: expected {count} of {old!r}, found {found}")
    file.write_text(text.replace(old, new))


# std is a supported (not `restricted_std`) library on this OS, so crates need no feature gate.
edit("build.rs", '|| target_os == "vexos"\n', '|| target_os == "vexos"\n        || target_os == "solana"\n')

# One thread: thread locals are plain statics (as on vexos), which only matters where one is
# written; the two that std writes on paths a program reaches are removed below.
edit("src/sys/thread_local/mod.rs", 'target_os = "vexos",\n', 'target_os = "vexos",\n        target_os = "solana",\n', 2)

# No randomness: `hashmap_random_keys` is the unsupported one.
edit("src/sys/random/mod.rs", 'target_os = "vexos",\n', 'target_os = "vexos",\n    target_os = "solana",\n', 2)

# io::Error's OS codes: the generic (no OS errors) implementation.
edit("src/sys/io/error/mod.rs", 'target_os = "vexos",\n        target_family = "wasm",',
     'target_os = "vexos",\n        target_os = "solana",\n        target_family = "wasm",')

# The allocator's minimum alignment on a 64-bit target, as for the others.
edit("src/sys/alloc/mod.rs", '    target_arch = "wasm64",\n)) {\n    16', '    target_arch = "wasm64",\n    target_arch = "bpf",\n)) {\n    16')

# `System` hands out nothing: a program's heap is its own `#[global_allocator]` (the
# entrypoint's bump allocator over the runtime's heap region).
edit("src/sys/alloc/mod.rs", '    target_os = "vexos" => {\n        mod vexos;\n    }\n',
     '    target_os = "vexos" => {\n        mod vexos;\n    }\n    target_os = "solana" => {\n        mod solana;\n    }\n')
(std / "src/sys/alloc/solana.rs").write_text('''\
//! Solana programs bring their own heap (`#[global_allocator]`); `System` has none to give.

use crate::alloc::{GlobalAlloc, Layout, System};

#[stable(feature = "alloc_system_type", since = "1.28.0")]
unsafe impl GlobalAlloc for System {
    #[inline]
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        crate::ptr::null_mut()
    }

    #[inline]
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
''')

# Aborting is the runtime's `abort` syscall (an `llvm.trap` has no meaning to the sBPF loader).
edit("src/sys/pal/unsupported/common.rs", "pub fn abort_internal() -> ! {\n    core::intrinsics::abort();\n}",
     '''pub fn abort_internal() -> ! {
    #[cfg(target_os = "solana")]
    {
        unsafe extern "C" {
            fn abort() -> !;
        }
        unsafe { abort() }
    }
    #[cfg(not(target_os = "solana"))]
    core::intrinsics::abort();
}''')

# A panic goes to the program's `custom_panic` (which logs it, as the Solana entrypoint crates
# define it) and then aborts: no panic count, hook or payload, which live in writable statics.
edit("src/panicking.rs", "pub fn panic_handler(info: &core::panic::PanicInfo<'_>) -> ! {\n",
     '''pub fn panic_handler(info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(target_os = "solana")]
    {
        unsafe extern "Rust" {
            fn custom_panic(info: &core::panic::PanicInfo<'_>);
        }
        unsafe { custom_panic(info) };
        crate::sys::abort_internal();
    }
''')

# `panic!` with a non-format payload (`begin_panic`, `panic_any`) comes here without a
# `PanicInfo`: its message and place are logged through `sol_log_`, then it aborts, never
# touching the panic count or hook (writable statics).
edit("src/panicking.rs", """    force_no_backtrace: bool,
) -> ! {
""", """    force_no_backtrace: bool,
) -> ! {
    #[cfg(target_os = "solana")]
    {
        unsafe extern "C" {
            fn sol_log_(message: *const u8, len: u64);
        }
        let _ = (can_unwind, force_no_backtrace);
        let message = payload.as_str().unwrap_or("Box<dyn Any>");
        let message = crate::format!("panicked at {location}: {message}");
        unsafe { sol_log_(message.as_ptr(), message.len() as u64) };
        crate::sys::abort_internal();
    }
""")

# Out of memory: logged through `sol_log_`, without the hook's once-only static flag.
edit("src/alloc.rs", "fn default_alloc_error_hook(layout: Layout) {\n",
     '''fn default_alloc_error_hook(layout: Layout) {
    #[cfg(target_os = "solana")]
    {
        unsafe extern "C" {
            fn sol_log_(message: *const u8, len: u64);
        }
        let _ = layout;
        let message = "Error: memory allocation failed, out of memory";
        unsafe { sol_log_(message.as_ptr(), message.len() as u64) };
        return;
    }
''')

# Hash maps: fixed keys, as the program has no randomness to seed them and no writable static to
# cache them in. A program's compute is metered, so colliding keys cost their sender, not others.
edit("src/hash/random.rs", "    pub fn new() -> RandomState {\n",
     '''    pub fn new() -> RandomState {
        #[cfg(target_os = "solana")]
        return RandomState { k0: 0, k1: 0 };
''')
# A stable sort keeps up to 4 KiB of scratch on the stack before it allocates, which alone fills
# a Solana stack frame (4 KiB): LLVM refuses the frame. On Solana it keeps 1 KiB.
edit("src/slice/sort/stable/mod.rs", "use crate::{cfg_select, intrinsics};\n", """use crate::{cfg_select, intrinsics};

/// Bytes of scratch a stable sort keeps on the stack before it allocates (a Solana stack frame
/// is 4 KiB in all).
#[cfg(target_os = "solana")]
const STACK_SCRATCH_BYTES: usize = 1024;
/// Bytes of scratch a stable sort keeps on the stack before it allocates.
#[cfg(not(target_os = "solana"))]
const STACK_SCRATCH_BYTES: usize = 4096;
""", crate="core")
edit("src/slice/sort/stable/mod.rs", "AlignedStorage::<T, 4096>", "AlignedStorage::<T, STACK_SCRATCH_BYTES>", count=2, crate="core")

print("patch-std: std knows target_os = solana")
