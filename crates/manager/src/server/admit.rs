//! Who may talk to the server: on a Unix socket, a process of the server's own user (unless
//! the authkey was set explicitly); over TCP, whoever can reach the port (the peer has no user
//! the server could check): either way one that proves it knows the authkey, to which the
//! server proves it too.
//!
//! A refused client gets `#FAILURE#` at most, and its connection is closed. Refusals are
//! reported on the server's stderr at most once a second, each report counting the refusals
//! that were not reported since the previous one, so that a flood of bad clients cannot flood
//! the log.

use std::fmt;
use std::mem;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ipc_common::auth::{self, AuthError, AuthKey};
use ipc_common::frame;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::geteuid;

use crate::address::Stream;

/// How long a client has to complete the handshake. A client that takes longer (stopped, or
/// hostile) is dropped; a real one that was only stopped connects again (see `client.rs`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest time between two reports of refused clients.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The authkey, and whether other users' processes may try it.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) key: AuthKey,
    /// True when the key was set explicitly (Python's `BaseManager(authkey=...)`): whoever
    /// knows it may connect, whatever their user. False for the process's own key: only
    /// processes of the server's user are challenged.
    pub(crate) any_user: bool,
}

/// The client at the other end, as the kernel saw it connect.
#[derive(Clone, Copy)]
pub(super) enum Peer {
    /// A process on this host (a Unix socket's credentials).
    Local { pid: i32, uid: u32 },
    /// An address on the network.
    Remote(SocketAddr),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Local { pid, uid } => write!(f, "pid {pid}, uid {uid}"),
            Peer::Remote(addr) => write!(f, "{addr}"),
        }
    }
}

/// Why a client was refused.
pub(super) enum Refusal {
    /// Its credentials could not be read.
    Unknown(nix::Error),
    /// It runs as another user and the key was not set explicitly.
    OtherUser,
    /// The handshake failed.
    Auth(AuthError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unknown(e) => write!(f, "its credentials cannot be read: {e}"),
            Refusal::OtherUser => f.write_str(
                "it runs as another user, and the manager's authkey was not set explicitly",
            ),
            Refusal::Auth(e) => write!(f, "authentication failed: {e}"),
        }
    }
}

impl Admission {
    /// Admits the client at the other end of `stream`, or says why not.
    pub(super) fn admit(&self, stream: &Stream) -> Result<(), (Option<Peer>, Refusal)> {
        // 1. Who connected: on a Unix socket the kernel's record, which the client cannot
        //    forge; over TCP only an address.
        let peer = match stream.as_unix() {
            Some(unix) => match getsockopt(unix, PeerCredentials) {
                Ok(cred) => Peer::Local {
                    pid: cred.pid(),
                    uid: cred.uid(),
                },
                Err(e) => return Err((None, Refusal::Unknown(e))),
            },
            None => match stream.tcp_peer() {
                Some(addr) => Peer::Remote(addr),
                None => return Err((None, Refusal::Unknown(nix::Error::ENOTCONN))),
            },
        };
        let refused = |why| Err((Some(peer), why));

        // 2. Another user's process is refused outright unless the key was shared on purpose.
        //    It is told so in the protocol's own word, in place of a challenge.
        if let Peer::Local { uid, .. } = peer
            && !self.any_user
            && uid != geteuid().as_raw()
        {
            let _ = frame::write(&mut &*stream, auth::FAILURE, auth::FAILURE.len());
            return refused(Refusal::OtherUser);
        }

        // 3. The handshake, in Python's Listener's order: the client proves it knows the key,
        //    then the server does. A client may not hold this thread for ever.
        let limit = |t| {
            stream
                .set_read_timeout(t)
                .and_then(|()| stream.set_write_timeout(t))
        };
        let mut handshake = stream;
        let proved = limit(Some(HANDSHAKE_TIMEOUT))
            .map_err(|e| AuthError::Frame(e.into()))
            .and_then(|()| auth::deliver_challenge(&mut handshake, &self.key))
            .and_then(|()| auth::answer_challenge(&mut handshake, &self.key))
            .and_then(|()| limit(None).map_err(|e| AuthError::Frame(e.into())));
        proved.or_else(|e| refused(Refusal::Auth(e)))
    }
}

/// Reports refused clients on stderr, at most once per [`REPORT_EVERY`].
#[derive(Default)]
pub(super) struct RefusalLog {
    /// When the last report was printed, and how many refusals were not reported since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl RefusalLog {
    /// Counts one refusal, and reports it unless a report was printed less than a second ago.
    pub(super) fn refused(&self, peer: Option<Peer>, why: &Refusal) {
        let earlier = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (last, unreported) = &mut *state;
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < REPORT_EVERY) {
                *unreported += 1;
                return;
            }
            *last = Some(now);
            mem::take(unreported)
        };
        let who = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let also = match earlier {
            0 => String::new(),
            n => format!(" ({n} more refused since the previous report)"),
        };
        eprintln!(
            "manager {}: refused a client ({who}): {why}{also}",
            std::process::id()
        );
    }

    /// Reports the refusals not reported yet; called when the server ends.
    pub(super) fn finish(&self) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.1 > 0 {
            eprintln!(
                "manager {}: {} more refused since the previous report",
                std::process::id(),
                state.1
            );
        }
    }
}
