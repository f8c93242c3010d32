//! Functions by their place in the program image, so that another run of the program can
//! call them.
//!
//! A program is loaded as one block, wherever the kernel puts it (address-space layout
//! randomisation moves the whole block), so a function lies at the same distance from any other
//! function of the program in every run of the same executable. A child started by spawn or
//! forkserver runs the same executable as its parent (`/proc/self/exe`), so a function's
//! *offset* from [`anchor`], taken in the parent, names the same function in the child.
//! (Functions of a shared library loaded at run time would not keep their distance; Rust links
//! a program's crates into its executable.)

/// The fixed point that function offsets are measured from.
#[inline(never)]
fn anchor() {}

/// The offset of the function at `addr` from [`anchor`].
pub(crate) fn offset(addr: usize) -> i64 {
    addr.wrapping_sub(anchor as fn() as usize) as i64
}

/// The address, in this run of the program, of the function at `offset` from [`anchor`].
pub(crate) fn address(offset: i64) -> usize {
    (anchor as fn() as usize).wrapping_add(offset as usize)
}
