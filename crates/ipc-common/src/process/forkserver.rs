//! The forkserver start method: a small single-threaded server forks each child on request.
//!
//! The server is started by spawn on first use, so it is a fresh run of this program that
//! never ran `main`: small, and with one thread, so `fork` is safe there whatever the threads
//! of the program that asks. It holds one end of a `SOCK_SEQPACKET` socket pair; the program
//! keeps the other end (the *control* socket).
//!
//! A start, seen from the program:
//!
//! 1. two socket pairs are made: *boot* (the start message, to the child) and *status* (from
//!    the server); their far ends go to the server on the control socket (`SCM_RIGHTS`);
//! 2. the server forks; the child keeps only its boot socket and reads its start message
//!    there, exactly as a spawned child does;
//! 3. the server sends the child's pid and a pidfd for it (opened before the child could be
//!    reaped, so it can never name another process) on the status socket;
//! 4. the program sends the start message on the boot socket;
//! 5. when the child ends, the server reaps it and writes its exit code (4 bytes) on the
//!    status socket, which then is the child's `sentinel`.
//!
//! The server ends when the control socket closes: when the program exits, or is killed,
//! whatever thread started the server. Its children die with it (`PR_SET_PDEATHSIG`).

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};

use super::boot::{self, Start};
use super::fork::{die_with, end_child};
use super::target::Builder;
use super::{
    Child, Process, ProcessError, Reaper, StartMethod, close_fds_except, pidfd_open, unregister,
};
use crate::share::{self, SharedFd};

/// This process's connection to its forkserver.
struct Client {
    /// The process that started the server: a forked child inherits this value, but must not
    /// talk on its parent's control socket.
    owner: Pid,
    control: OwnedFd,
    server: Process,
}

static CLIENT: Mutex<Option<Client>> = Mutex::new(None);

/// Starts `start` as a child of the forkserver, starting the server first if needed.
pub(super) fn start(start: Start<'_>) -> Result<Process, ProcessError> {
    let name = start.name.to_string();
    let os = |call, source: io::Error| ProcessError::Os {
        call,
        name: name.clone(),
        source,
    };
    let (boot_ours, boot_theirs) = UnixStream::pair().map_err(|e| os("socketpair", e))?;
    let (status_ours, status_theirs) = UnixStream::pair().map_err(|e| os("socketpair", e))?;
    {
        let mut client = CLIENT.lock().unwrap_or_else(|e| e.into_inner());
        let fds = [boot_theirs.into(), status_theirs.into()];
        let mut asked = false;
        for _ in 0..2 {
            let control = connect(&mut client)?;
            if share::send_with_fds(control, &[1], &fds).is_ok() {
                asked = true;
                break;
            }
            // The server is gone (killed?): start a new one and ask again.
            *client = None;
        }
        if !asked {
            return Err(os(
                "send(forkserver)",
                io::Error::other("the forkserver is gone"),
            ));
        }
    }
    let mut pid = [0u8; 4];
    let fds = share::recv_with_fds(status_ours.as_fd(), &mut pid)
        .map_err(|e| os("recv(forkserver)", e))?;
    let pidfd = fds
        .into_iter()
        .next()
        .ok_or_else(|| os("recv(forkserver)", io::Error::other("no pidfd came")))?;
    let process = Process::registered(Child {
        name,
        pid: Pid::from_raw(i32::from_le_bytes(pid)),
        parent: getpid(),
        pidfd,
        reaper: Reaper::Server(status_ours),
        daemon: start.daemon,
        exitcode: Mutex::new(None),
    });
    boot::send(&boot_ours, &start).map_err(|e| process.os("send(start message)", e))?;
    Ok(process)
}

/// The control socket of this process's server, started if there is none yet.
fn connect(client: &mut Option<Client>) -> Result<std::os::fd::BorrowedFd<'_>, ProcessError> {
    if client
        .as_ref()
        .is_some_and(|c| c.owner != getpid() || !c.server.is_alive())
    {
        // Inherited from a parent (dropping only closes our copies), or the server died.
        *client = None;
    }
    if client.is_none() {
        let os = |source| ProcessError::Os {
            call: "socketpair",
            name: "forkserver".into(),
            source,
        };
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| os(e.into()))?;
        let server = Builder::new(serve, SharedFd(theirs))
            .name("forkserver")
            .start_method(StartMethod::Spawn)
            .start_server()?;
        // Not one of the program's children for `active_children` and the exit rule: it is
        // stopped last, by `stop`, once those have ended.
        unregister(&server.c);
        *client = Some(Client {
            owner: getpid(),
            control: ours,
            server,
        });
    }
    Ok(client
        .as_ref()
        .map(|c| c.control.as_fd())
        .expect("just set"))
}

/// At the program's normal end, after its children: closes the control socket and waits (a
/// moment) for the server to end, so that it is gone when the program is.
pub(super) fn stop() {
    let Ok(mut client) = CLIENT.try_lock() else {
        return;
    };
    if let Some(Client {
        owner,
        control,
        server,
    }) = client.take()
    {
        if owner == getpid() {
            drop(control);
            let _ = server.join_timeout(Duration::from_secs(1));
        }
        std::mem::forget(server);
    }
}

/// Reads a forkserver child's exit code from its status socket. The server's end closing
/// without a code means the server died, and with it the child (`SIGKILL`).
pub(super) fn read_exit_code(status: &UnixStream) -> io::Result<i32> {
    let mut code = [0u8; 4];
    match (&*status).read_exact(&mut code) {
        Ok(()) => Ok(i32::from_le_bytes(code)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(-libc::SIGKILL),
        Err(e) => Err(e),
    }
}

/// A child of the server: its pidfd and the status socket its exit code goes to.
struct Forked {
    pidfd: OwnedFd,
    status: OwnedFd,
}

/// The server's main loop: the target of the spawned server process.
fn serve(control: SharedFd) -> io::Result<()> {
    let control = control.0;
    let mut children: HashMap<i32, Forked> = HashMap::new();
    loop {
        let mut fds = vec![PollFd::new(control.as_fd(), PollFlags::POLLIN)];
        let pids: Vec<i32> = children.keys().copied().collect();
        fds.extend(
            pids.iter()
                .map(|pid| PollFd::new(children[pid].pidfd.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let request = fds[0].any().unwrap_or(false);
        let ended: Vec<i32> = pids
            .iter()
            .zip(&fds[1..])
            .filter(|(_, fd)| fd.any().unwrap_or(false))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in ended {
            if let Some(child) = children.remove(&pid) {
                report_exit(pid, child);
            }
        }
        if request {
            let mut byte = [0u8; 1];
            let fds = match share::recv_with_fds(control.as_fd(), &mut byte) {
                Ok(fds) => fds,
                // The program closed its end (it exited or was killed): the server ends, and
                // its children with it (their PR_SET_PDEATHSIG).
                Err(_) => return Ok(()),
            };
            let [boot, status]: [OwnedFd; 2] = match fds.try_into() {
                Ok(pair) => pair,
                Err(_) => continue,
            };
            if let Some((pid, pidfd)) = fork_child(boot, &status) {
                children.insert(pid, Forked { pidfd, status });
            }
        }
    }
}

/// Forks one child; in the parent (the server), sends its pid and a pidfd on `status` and
/// returns the server's own pidfd for it.
fn fork_child(boot: OwnedFd, status: &OwnedFd) -> Option<(i32, OwnedFd)> {
    let server = getpid();
    // SAFETY: the server has a single thread (it is a spawned run of this program that only
    // ever runs this loop), so no lock can be held by a thread missing in the child.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            die_with(server);
            // SAFETY: the child keeps only its boot socket (and stdio); the server's objects
            // that own the other descriptors (the control socket, other children's sockets)
            // are never used or dropped here: the child enters its target and ends with
            // `_exit`.
            if unsafe { close_fds_except(&[boot.as_raw_fd()]) }.is_err() {
                end_child(1);
            }
            boot::enter(boot, false)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(boot);
            let pidfd = pidfd_open(child).ok()?;
            let copy = pidfd.try_clone().ok()?;
            let pid = child.as_raw().to_le_bytes();
            // A program that is gone no longer listens: nothing to do but reap the child.
            let _ = share::send_with_fds(status.as_fd(), &pid, &[copy]);
            Some((child.as_raw(), pidfd))
        }
        Err(_) => None,
    }
}

/// Reaps an ended child and writes its exit code on its status socket.
fn report_exit(pid: i32, child: Forked) {
    let code = match waitpid(Pid::from_raw(pid), None) {
        Ok(WaitStatus::Exited(_, status)) => status,
        Ok(WaitStatus::Signaled(_, sig, _)) => -(sig as i32),
        _ => return,
    };
    let _ = share::send_with_fds(child.status.as_fd(), &code.to_le_bytes(), &[]);
    drop(child.pidfd);
}
