//! The start message: what a spawned or forkserver child is told when it starts.
//!
//! The parent sends it on a Unix socket that only it and the child hold:
//!
//! ```text
//! [header length: u32 LE][header: postcard][arguments: the target's encoded arguments]
//!  ^ the shared objects' descriptors come with the first byte (SCM_RIGHTS)
//! ```
//!
//! The header names the child, its parent, the start method and the authkey the child
//! inherits, and the target: the offsets of the target function and of the trampoline that
//! decodes its arguments (see `target.rs`).

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::unistd::{getpid, getppid};
use serde::{Deserialize, Serialize};

use super::StartMethod;
use super::fork::{become_child_named, end_child, orphaned};
use super::method::{get_start_method, inherit};
use super::target::Trampoline;
use crate::current::{ProcessInfo, current_process};
use crate::image::address;
use crate::share;

/// A start, as the parent describes it.
pub(super) struct Start<'a> {
    pub(super) name: &'a str,
    pub(super) trampoline: i64,
    pub(super) target: i64,
    pub(super) args: &'a [u8],
    pub(super) fds: &'a [OwnedFd],
    pub(super) daemon: bool,
}

/// The header of the start message.
#[derive(Serialize, Deserialize)]
struct Header {
    name: String,
    parent_name: String,
    parent: i32,
    method: String,
    daemon: bool,
    /// Where the parent's trace is recorded, if it is.
    trace: Option<std::path::PathBuf>,
    /// The parent's authkey: a child inherits it (Python's `current_process().authkey`).
    #[serde(with = "serde_bytes")]
    authkey: Vec<u8>,
    trampoline: i64,
    target: i64,
    args_len: u64,
}

/// The largest header a child accepts: names are short.
const MAX_HEADER: usize = 64 << 10;

/// Sends the start message on `sock`.
pub(super) fn send(sock: &UnixStream, start: &Start<'_>) -> io::Result<()> {
    let header = Header {
        name: start.name.to_string(),
        parent_name: current_process().name,
        parent: getpid().as_raw(),
        method: get_start_method().name().to_string(),
        daemon: start.daemon,
        trace: crate::trace::dir(),
        authkey: crate::auth::authkey()
            .map_err(io::Error::other)?
            .as_bytes()
            .to_vec(),
        trampoline: start.trampoline,
        target: start.target,
        args_len: start.args.len() as u64,
    };
    let encoded = postcard::to_allocvec(&header).map_err(io::Error::other)?;
    let mut first = Vec::with_capacity(4 + encoded.len());
    first.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
    first.extend_from_slice(&encoded);
    share::send_with_fds(sock.as_fd(), &first, start.fds)?;
    share::send_with_fds(sock.as_fd(), start.args, &[])
}

/// The child's side: reads the start message from `sock`, becomes the child it describes,
/// runs its target and ends the process. With `check_parent`, a child whose parent is already
/// gone ends at once (its `PR_SET_PDEATHSIG` was set before it could know).
pub(super) fn enter(sock: OwnedFd, check_parent: bool) -> ! {
    match receive(sock) {
        Ok((header, args, fds)) => {
            if check_parent && getppid().as_raw() != header.parent {
                orphaned();
            }
            if let Ok(method) = header.method.parse::<StartMethod>() {
                inherit(method);
            }
            crate::current::set_daemon(header.daemon);
            if let Some(dir) = header.trace.clone() {
                crate::trace::join(dir);
            }
            crate::auth::set_authkey(crate::auth::AuthKey::new(header.authkey.clone()));
            become_child_named(
                &header.name,
                ProcessInfo {
                    name: header.parent_name.clone(),
                    pid: header.parent,
                },
            );
            // SAFETY: the header comes from our parent over a socket only it and we hold, and
            // the parent wrote the offset of an instantiation of `target::trampoline`, whose
            // type is `Trampoline`; this process runs the same executable, where that function
            // lies at the same offset (crate::image).
            let trampoline: Trampoline =
                unsafe { std::mem::transmute::<usize, Trampoline>(address(header.trampoline)) };
            let code = trampoline(address(header.target), &args, fds, &header.name);
            end_child(code)
        }
        Err(e) => {
            eprintln!(
                "process (pid {}): cannot read its start message: {e}",
                std::process::id()
            );
            end_child(1)
        }
    }
}

/// Reads the whole start message.
fn receive(sock: OwnedFd) -> io::Result<(Header, Vec<u8>, Vec<OwnedFd>)> {
    let mut len = [0u8; 4];
    let mut fds = share::recv_with_fds(sock.as_fd(), &mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HEADER {
        return Err(io::Error::other(format!("a start header of {len} bytes")));
    }
    let mut header = vec![0u8; len];
    fds.extend(share::recv_with_fds(sock.as_fd(), &mut header)?);
    let header: Header = postcard::from_bytes(&header).map_err(io::Error::other)?;
    let mut stream = UnixStream::from(sock);
    let mut args = Vec::new();
    let want = header.args_len;
    let got = (&mut stream).take(want).read_to_end(&mut args)?;
    if (got as u64) < want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the arguments ended after {got} of {want} bytes"),
        ));
    }
    Ok((header, args, fds))
}
