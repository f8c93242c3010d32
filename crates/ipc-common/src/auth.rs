//! Python's authkey, and the HMAC challenge that proves both ends of a connection know it.
//!
//! # The process's authkey
//!
//! Every process has an *authkey*, a secret that its connections to servers of its own
//! program (a manager, a listener) prove they know, as Python's `current_process().authkey`:
//!
//! - [`authkey`] returns it. The first call of the main process makes it: 32 random bytes
//!   from the operating system.
//! - Every child inherits it, under every start method: a forked child has it in its copy of
//!   the parent's memory (the key is made before the first fork, so siblings share it), and a
//!   spawned or forkserver child is handed it in its start message, as Python hands it over
//!   the spawned child's pipe.
//! - [`set_authkey`] replaces it (Python's `current_process().authkey = ...`); children
//!   started afterwards inherit the new key.
//!
//! # The challenge
//!
//! [`deliver_challenge`] and [`answer_challenge`] are Python's functions of the same names in
//! `multiprocessing.connection` (Python 3.12 and later), byte for byte, so that either side
//! may be a Python program. Each message is one [`frame`]:
//!
//! 1. The delivering side (a server) sends `#CHALLENGE#{sha256}` and 40 random bytes.
//! 2. The answering side (a client) sends `{sha256}` and the HMAC-SHA256, under the key, of
//!    everything after `#CHALLENGE#` (the digest's name included, so it cannot be changed).
//! 3. The delivering side compares in constant time and sends `#WELCOME#` or `#FAILURE#`.
//!
//! A server delivers a challenge, then answers one; a client answers, then delivers. So each
//! side proves to the other that it knows the key, and a client never trusts an impostor that
//! took the server's address. Older Pythons (3.11 and before) speak the *legacy* form: a
//! challenge of 20 bytes without a digest's name, answered by a raw 16-byte HMAC-MD5. Both
//! functions accept it from the other side, as Python 3.12 does, and MD5 is accepted only
//! there: a `{md5}` answer to a `{sha256}` challenge is refused.
//!
//! Authentication is all there is: the bytes that follow travel unencrypted, as in Python.
//!
//! ```
//! use std::os::unix::net::UnixStream;
//! use ipc_common::auth::{self, AuthKey};
//!
//! let (mut server, mut client) = UnixStream::pair()?;
//! let key = AuthKey::new(b"shared secret".to_vec());
//! let server_key = key.clone();
//! let serving = std::thread::spawn(move || {
//!     auth::deliver_challenge(&mut server, &server_key)?;
//!     auth::answer_challenge(&mut server, &server_key)
//! });
//! auth::answer_challenge(&mut client, &key)?;
//! auth::deliver_challenge(&mut client, &key)?;
//! serving.join().expect("server thread")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::Sha256;

use crate::frame::{self, FrameError};

/// The first bytes of a challenge (Python's `_CHALLENGE`).
pub const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The reply to a right answer (Python's `_WELCOME`).
pub const WELCOME: &[u8] = b"#WELCOME#";
/// The reply to a wrong answer (Python's `_FAILURE`); a server may also send it in place of a
/// challenge to a client it refuses outright.
pub const FAILURE: &[u8] = b"#FAILURE#";

/// How many random bytes a challenge carries after its digest's name (Python's
/// `MESSAGE_LENGTH`).
const MESSAGE_LENGTH: usize = 40;
/// The length of a legacy challenge, which has no digest's name (Python's
/// `_MD5ONLY_MESSAGE_LENGTH`).
const LEGACY_CHALLENGE_LENGTH: usize = 20;
/// The length of a legacy answer, a raw HMAC-MD5 (Python's `_MD5_DIGEST_LEN`).
const LEGACY_ANSWER_LENGTH: usize = 16;
/// The digest this side asks for and the only named one it accepts.
const SHA256: &[u8] = b"{sha256}";
/// The longest message of the handshake that is read (Python's `recv_bytes(256)`).
const MAX_HANDSHAKE_MESSAGE: usize = 256;
/// The length of a key made by [`AuthKey::random`].
const KEY_LENGTH: usize = 32;

/// A secret shared by the processes of one program (Python's `authkey`, a `bytes` object).
///
/// Cloning it is cheap (the bytes are shared). `Debug` does not show the bytes.
///
/// # Example
///
/// ```
/// use ipc_common::auth::{self, AuthKey};
///
/// let key = AuthKey::new(b"secret".to_vec());
/// assert_eq!(key.as_bytes(), b"secret");
/// assert_eq!(format!("{key:?}"), "AuthKey(6 bytes)");
/// assert_eq!(AuthKey::random()?.as_bytes().len(), 32);
/// # Ok::<(), auth::AuthError>(())
/// ```
#[derive(Clone)]
pub struct AuthKey(Arc<[u8]>);

impl AuthKey {
    /// A key of the given bytes, of any length (Python accepts any `bytes`).
    pub fn new(bytes: impl Into<Vec<u8>>) -> AuthKey {
        AuthKey(bytes.into().into())
    }

    /// 32 random bytes from the operating system (Python's `os.urandom(32)`).
    ///
    /// # Errors
    ///
    /// [`AuthError::Random`] if the operating system has no random bytes to give.
    pub fn random() -> Result<AuthKey, AuthError> {
        let mut bytes = [0u8; KEY_LENGTH];
        random_bytes(&mut bytes)?;
        Ok(AuthKey::new(bytes))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey({} bytes)", self.0.len())
    }
}

/// Why authentication failed (Python's `multiprocessing.AuthenticationError`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The other side answered our challenge wrongly: it does not know our key.
    #[error("the other side does not know the authkey: its answer to our challenge was wrong")]
    WrongAnswer,
    /// The other side refused our answer (it sent `#FAILURE#`): it uses another key, or
    /// refuses us for another reason.
    #[error("the other side refused us: it uses another authkey, or does not admit us")]
    Refused,
    /// A message that Python's protocol does not allow at this point.
    #[error("not Python's authentication protocol: {0}")]
    Protocol(String),
    /// The connection failed, closed, or carried a message longer than 256 bytes.
    #[error("authentication failed on the connection: {0}")]
    Frame(#[from] FrameError),
    /// The operating system gave no random bytes.
    #[error("the operating system's random number generator failed: {0}")]
    Random(#[source] io::Error),
}

/// The key of this process and of the children forked after it was made or set.
static KEY: Mutex<Option<AuthKey>> = Mutex::new(None);

/// This process's authkey (Python's `current_process().authkey`): the one set by
/// [`set_authkey`] here or in a parent before the fork, else one made now from 32 random
/// bytes and kept. See the [module docs](self) for how children get it.
///
/// # Errors
///
/// [`AuthError::Random`] if a key must be made and the operating system has no random bytes.
///
/// # Example
///
/// ```
/// let key = ipc_common::auth::authkey()?;
/// assert_eq!(key.as_bytes(), ipc_common::auth::authkey()?.as_bytes()); // made once
/// # Ok::<(), ipc_common::auth::AuthError>(())
/// ```
pub fn authkey() -> Result<AuthKey, AuthError> {
    let mut key = KEY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(key) = &*key {
        return Ok(key.clone());
    }
    Ok(key.insert(AuthKey::random()?).clone())
}

/// Replaces this process's authkey (Python's `current_process().authkey = key`). Children
/// forked afterwards inherit the new one; connections already made are not affected.
///
/// # Example
///
/// ```
/// use ipc_common::auth::{self, AuthKey};
///
/// auth::set_authkey(AuthKey::new(b"ours".to_vec()));
/// assert_eq!(auth::authkey()?.as_bytes(), b"ours");
/// # Ok::<(), auth::AuthError>(())
/// ```
pub fn set_authkey(key: AuthKey) {
    *KEY.lock().unwrap_or_else(PoisonError::into_inner) = Some(key);
}

/// Fills `buf` with random bytes from the operating system (Python's `os.urandom`).
///
/// # Errors
///
/// [`AuthError::Random`] if the operating system has none to give.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Random(e.into()))
}

/// Challenges the other side to prove that it knows `key` (Python's
/// `multiprocessing.connection.deliver_challenge`): sends a random challenge, checks the
/// answer in constant time, and sends `#WELCOME#` or `#FAILURE#`.
///
/// # Errors
///
/// [`AuthError::WrongAnswer`] for a wrong answer (after `#FAILURE#` was sent);
/// [`AuthError::Protocol`] for an answer of an unknown form or digest (also after
/// `#FAILURE#`); [`AuthError::Frame`] if the connection fails or the answer is longer than
/// 256 bytes; [`AuthError::Random`].
pub fn deliver_challenge<S: Read + Write>(stream: &mut S, key: &AuthKey) -> Result<(), AuthError> {
    // The challenge: `{sha256}` and 40 random bytes, sent after `#CHALLENGE#`.
    let mut challenge = Vec::with_capacity(CHALLENGE.len() + SHA256.len() + MESSAGE_LENGTH);
    challenge.extend_from_slice(CHALLENGE);
    challenge.extend_from_slice(SHA256);
    challenge.resize(challenge.len() + MESSAGE_LENGTH, 0);
    random_bytes(&mut challenge[CHALLENGE.len() + SHA256.len()..])?;
    send(stream, &challenge)?;
    let message = &challenge[CHALLENGE.len()..];

    // The answer, and the verdict. A wrong answer is told, then reported.
    let answer = receive(stream)?;
    match verify(key, message, &answer) {
        Ok(()) => send(stream, WELCOME),
        Err(why) => {
            send(stream, FAILURE)?;
            Err(why)
        }
    }
}

/// Proves to the other side that this side knows `key` (Python's
/// `multiprocessing.connection.answer_challenge`): reads its challenge, answers it, and
/// expects `#WELCOME#`.
///
/// # Errors
///
/// [`AuthError::Refused`] if the other side sends `#FAILURE#` (in place of the challenge or
/// of the welcome); [`AuthError::Protocol`] for a challenge of another form, shorter than 20
/// bytes, or naming a digest other than `sha256`; [`AuthError::Frame`] if the connection
/// fails or a message is longer than 256 bytes.
pub fn answer_challenge<S: Read + Write>(stream: &mut S, key: &AuthKey) -> Result<(), AuthError> {
    // The challenge: `#CHALLENGE#`, then at least 20 bytes.
    let challenge = receive(stream)?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        if challenge == FAILURE {
            return Err(AuthError::Refused);
        }
        return Err(AuthError::Protocol(format!(
            "expected a challenge, got {}",
            shown(&challenge)
        )));
    };
    if message.len() < LEGACY_CHALLENGE_LENGTH {
        return Err(AuthError::Protocol(format!(
            "a challenge of {} bytes is too short",
            message.len()
        )));
    }

    // The answer: raw HMAC-MD5 for a legacy challenge, else `{sha256}` and HMAC-SHA256.
    let answer = if message.len() == LEGACY_CHALLENGE_LENGTH {
        mac::<Hmac<Md5>>(key, message)?
    } else if message.starts_with(SHA256) {
        let mut answer = SHA256.to_vec();
        answer.extend(mac::<Hmac<Sha256>>(key, message)?);
        answer
    } else {
        return Err(AuthError::Protocol(format!(
            "unsupported digest in the challenge {}",
            shown(message)
        )));
    };
    send(stream, &answer)?;

    // The verdict.
    match receive(stream)?.as_slice() {
        WELCOME => Ok(()),
        FAILURE => Err(AuthError::Refused),
        other => Err(AuthError::Protocol(format!(
            "expected {}, got {}",
            shown(WELCOME),
            shown(other)
        ))),
    }
}

/// Checks `answer` to the challenge `message` (Python's `_verify_challenge`, with the
/// digests limited to SHA-256, and MD5 for a legacy answer).
fn verify(key: &AuthKey, message: &[u8], answer: &[u8]) -> Result<(), AuthError> {
    // Python's `_LEGACY_LENGTHS`: an answer of 16 or 20 bytes is a raw HMAC-MD5 (and one of
    // 20 bytes, of the wrong length, fails).
    if answer.len() == LEGACY_ANSWER_LENGTH || answer.len() == LEGACY_CHALLENGE_LENGTH {
        return check::<Hmac<Md5>>(key, message, answer);
    }
    match answer.strip_prefix(SHA256) {
        Some(digest) => check::<Hmac<Sha256>>(key, message, digest),
        None => Err(AuthError::Protocol(format!(
            "an answer without the {} prefix: {}",
            shown(SHA256),
            shown(answer)
        ))),
    }
}

/// The MAC `M` of `message` under `key`.
fn mac<M: Mac + KeyInit>(key: &AuthKey, message: &[u8]) -> Result<Vec<u8>, AuthError> {
    Ok(keyed::<M>(key)?
        .chain_update(message)
        .finalize()
        .into_bytes()
        .to_vec())
}

/// Whether `digest` is the MAC `M` of `message` under `key`, compared in constant time.
fn check<M: Mac + KeyInit>(key: &AuthKey, message: &[u8], digest: &[u8]) -> Result<(), AuthError> {
    keyed::<M>(key)?
        .chain_update(message)
        .verify_slice(digest)
        .map_err(|_| AuthError::WrongAnswer)
}

/// A MAC `M` keyed with `key` (HMAC takes keys of any length; the error is for other MACs).
fn keyed<M: Mac + KeyInit>(key: &AuthKey) -> Result<M, AuthError> {
    <M as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|_| AuthError::Protocol("the authkey's length does not suit the digest".into()))
}

/// Sends one handshake message, and flushes it out of any buffer.
fn send<S: Write>(stream: &mut S, message: &[u8]) -> Result<(), AuthError> {
    frame::write(stream, message, MAX_HANDSHAKE_MESSAGE)?;
    stream.flush().map_err(FrameError::Io)?;
    Ok(())
}

/// Receives one handshake message of at most 256 bytes.
fn receive<S: Read>(stream: &mut S) -> Result<Vec<u8>, AuthError> {
    let mut message = Vec::new();
    frame::read(stream, &mut message, MAX_HANDSHAKE_MESSAGE)?;
    Ok(message)
}

/// A handshake message as Python shows `bytes`, for error messages.
fn shown(bytes: &[u8]) -> String {
    format!("b\"{}\"", bytes.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::thread;
    use std::time::{Duration, Instant};

    fn key(bytes: &[u8]) -> AuthKey {
        AuthKey::new(bytes.to_vec())
    }

    /// Runs `server` on one end of a socket pair in a thread and `client` on the other.
    fn pair<A: Send + 'static, B>(
        server: impl FnOnce(&mut UnixStream) -> A + Send + 'static,
        client: impl FnOnce(&mut UnixStream) -> B,
    ) -> (A, B) {
        let (mut s, mut c) = UnixStream::pair().expect("socketpair");
        for end in [&s, &c] {
            end.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
        }
        let serving = thread::spawn(move || server(&mut s));
        let b = client(&mut c);
        drop(c);
        (serving.join().expect("server thread"), b)
    }

    fn send_raw(stream: &mut UnixStream, message: &[u8]) {
        frame::write(stream, message, usize::MAX).expect("send");
    }

    fn receive_raw(stream: &mut UnixStream) -> Vec<u8> {
        receive(stream).expect("receive")
    }

    #[test]
    fn both_sides_prove_the_same_key() {
        let (served, answered) = pair(
            |s| {
                deliver_challenge(s, &key(b"k"))?;
                answer_challenge(s, &key(b"k"))
            },
            |c| {
                answer_challenge(c, &key(b"k"))?;
                deliver_challenge(c, &key(b"k"))
            },
        );
        served.expect("server");
        answered.expect("client");
    }

    #[test]
    fn a_wrong_key_is_refused_on_both_sides() {
        let (served, answered) = pair(
            |s| deliver_challenge(s, &key(b"right")),
            |c| answer_challenge(c, &key(b"wrong")),
        );
        assert!(matches!(served, Err(AuthError::WrongAnswer)), "{served:?}");
        assert!(matches!(answered, Err(AuthError::Refused)), "{answered:?}");
    }

    /// An impostor that welcomes any answer still cannot answer the client's challenge.
    #[test]
    fn a_client_catches_an_impostor_that_welcomes_anything() {
        let (_, answered) = pair(
            |s| {
                send_raw(
                    s,
                    b"#CHALLENGE#{sha256}0123456789012345678901234567890123456789",
                );
                let _ = receive_raw(s);
                send_raw(s, WELCOME);
                answer_challenge(s, &key(b"guess"))
            },
            |c| {
                answer_challenge(c, &key(b"real"))?;
                deliver_challenge(c, &key(b"real"))
            },
        );
        assert!(
            matches!(answered, Err(AuthError::WrongAnswer)),
            "{answered:?}"
        );
    }

    /// Python 3.11 and before: a 20-byte challenge answered by a raw HMAC-MD5, and a raw
    /// HMAC-MD5 accepted as the answer to our challenge.
    #[test]
    fn legacy_md5_both_ways() {
        let legacy = [7u8; LEGACY_CHALLENGE_LENGTH];
        let (answer, answered) = pair(
            move |s| {
                send_raw(s, &[CHALLENGE, &legacy[..]].concat());
                let answer = receive_raw(s);
                send_raw(s, WELCOME);
                answer
            },
            |c| answer_challenge(c, &key(b"k")),
        );
        answered.expect("answered");
        assert_eq!(answer, mac::<Hmac<Md5>>(&key(b"k"), &legacy).expect("mac"));
        assert_eq!(answer.len(), LEGACY_ANSWER_LENGTH);

        let (served, verdict) = pair(
            |s| deliver_challenge(s, &key(b"k")),
            |c| {
                let challenge = receive_raw(c);
                let message = &challenge[CHALLENGE.len()..];
                assert!(message.starts_with(SHA256));
                assert_eq!(message.len(), SHA256.len() + MESSAGE_LENGTH);
                send_raw(c, &mac::<Hmac<Md5>>(&key(b"k"), message).expect("mac"));
                receive_raw(c)
            },
        );
        served.expect("a legacy answer is accepted");
        assert_eq!(verdict, WELCOME);
    }

    /// A client may not pick MD5 (or anything but SHA-256) when it was asked for SHA-256.
    #[test]
    fn a_named_digest_other_than_sha256_is_refused() {
        for prefix in [&b"{md5}"[..], b"{sha384}", b"{nonsense}", b""] {
            let prefix = prefix.to_vec();
            let (served, verdict) = pair(
                |s| deliver_challenge(s, &key(b"k")),
                move |c| {
                    let challenge = receive_raw(c);
                    let message = &challenge[CHALLENGE.len()..];
                    let mut answer = prefix.clone();
                    answer.extend(mac::<Hmac<Md5>>(&key(b"k"), message).expect("mac"));
                    answer.extend([0; 8]); // not a legacy length
                    send_raw(c, &answer);
                    receive_raw(c)
                },
            );
            assert!(matches!(served, Err(AuthError::Protocol(_))), "{served:?}");
            assert_eq!(verdict, FAILURE);
        }
    }

    #[test]
    fn malformed_handshakes_are_errors() {
        let too_short = [CHALLENGE, &[1u8; 19][..]].concat();
        type Expected = fn(&AuthError) -> bool;
        let cases: [(Vec<u8>, Expected); 5] = [
            (too_short, |e| matches!(e, AuthError::Protocol(_))),
            (b"#HELLO#".repeat(4), |e| {
                matches!(e, AuthError::Protocol(_))
            }),
            (FAILURE.to_vec(), |e| matches!(e, AuthError::Refused)),
            ([CHALLENGE, &[b'x'; 300][..]].concat(), |e| {
                matches!(e, AuthError::Frame(FrameError::TooLarge { .. }))
            }),
            ([CHALLENGE, b"{sha3_256}", &[1u8; 40][..]].concat(), |e| {
                matches!(e, AuthError::Protocol(_))
            }),
        ];
        for (challenge, expected) in cases {
            let (_, answered) = pair(
                move |s| send_raw(s, &challenge),
                |c| answer_challenge(c, &key(b"k")),
            );
            let error = answered.expect_err("refused");
            assert!(expected(&error), "{error:?}");
        }
        // A peer that closes instead of answering.
        let (_, answered) = pair(|_| (), |c| answer_challenge(c, &key(b"k")));
        assert!(matches!(
            answered,
            Err(AuthError::Frame(FrameError::Closed))
        ));
    }

    #[test]
    fn the_process_key_is_made_once() {
        let first = authkey().expect("authkey");
        assert_eq!(first.as_bytes().len(), KEY_LENGTH);
        assert_eq!(first.as_bytes(), authkey().expect("authkey").as_bytes());
        let other = AuthKey::random().expect("random");
        assert_ne!(first.as_bytes(), other.as_bytes());
        assert_eq!(format!("{other:?}"), "AuthKey(32 bytes)");
    }

    /// The Pythons of this machine: `python3`, and pyenv's 3.12 and 3.13 if present.
    fn pythons() -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut candidates = vec![PathBuf::from("python3")];
        if let Some(home) = std::env::var_os("HOME") {
            let versions = PathBuf::from(home).join(".pyenv/versions");
            if let Ok(entries) = std::fs::read_dir(&versions) {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.starts_with("3.12") || n.starts_with("3.13"))
                    .collect();
                names.sort();
                candidates.extend(names.iter().map(|n| versions.join(n).join("bin/python3")));
            }
        }
        for python in candidates {
            let works = Command::new(&python)
                .args(["-c", "import multiprocessing.connection"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if works {
                found.push(python);
            }
        }
        found
    }

    /// `(major, minor)` of a Python.
    fn version(python: &PathBuf) -> (u32, u32) {
        let out = Command::new(python)
            .args(["-c", "import sys; print(*sys.version_info[:2])"])
            .output()
            .expect("python version");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace().map(|p| p.parse().expect("number"));
        (parts.next().expect("major"), parts.next().expect("minor"))
    }

    const PYTHON_PEER: &str = r#"
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
role, address, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
try:
    if role == "listen":
        with Listener(address, family="AF_UNIX", authkey=key) as listener:
            print("listening", flush=True)
            with listener.accept() as conn:
                conn.send_bytes(b"hello from Python")
    else:
        with Client(address, family="AF_UNIX", authkey=key) as conn:
            conn.send_bytes(b"hello from Python")
    print("ok")
except AuthenticationError as e:
    print("AuthenticationError")
"#;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A stream that keeps a copy of every byte it reads.
    struct Recorder {
        inner: UnixStream,
        seen: Vec<u8>,
    }

    impl Read for Recorder {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.seen.extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn socket_path(tag: &str) -> PathBuf {
        let mut name = [0u8; 8];
        random_bytes(&mut name).expect("random");
        std::env::temp_dir().join(format!("ipc-auth-{tag}-{}.sock", hex(&name)))
    }

    /// Starts Python as `role` ("listen" or "connect") on the socket `path`, with `key`.
    fn python_peer(python: &PathBuf, role: &str, path: &PathBuf, key: &AuthKey) -> Child {
        Command::new(python)
            .args(["-c", PYTHON_PEER, role])
            .arg(path)
            .arg(hex(key.as_bytes()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python")
    }

    /// Runs `first` then `second` of the handshake on `inner`, then reads Python's message;
    /// returns the result and every byte that Python sent.
    fn handshake(
        inner: UnixStream,
        key: &AuthKey,
        first: fn(&mut Recorder, &AuthKey) -> Result<(), AuthError>,
        second: fn(&mut Recorder, &AuthKey) -> Result<(), AuthError>,
    ) -> (Result<(), AuthError>, Vec<u8>) {
        inner
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut stream = Recorder {
            inner,
            seen: Vec::new(),
        };
        let result = first(&mut stream, key).and_then(|()| {
            second(&mut stream, key)?;
            let mut hello = Vec::new();
            frame::read(&mut stream, &mut hello, 1024)?;
            assert_eq!(hello, b"hello from Python");
            Ok(())
        });
        (result, stream.seen)
    }

    /// Rust client, Python `Listener`: our answer, then our challenge, then its message.
    /// Returns our result, Python's bytes and Python's verdict.
    fn rust_client_python_listener(
        python: &PathBuf,
        ours: &AuthKey,
        theirs: &AuthKey,
    ) -> (Result<(), AuthError>, Vec<u8>, String) {
        let path = socket_path("listener");
        let mut child = python_peer(python, "listen", &path, theirs);
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("python's first line");
        assert_eq!(line, "listening\n", "python did not listen");
        let inner = UnixStream::connect(&path).expect("connect");
        let (result, seen) = handshake(inner, ours, answer_challenge, deliver_challenge);
        let mut verdict = String::new();
        out.read_line(&mut verdict).expect("python's verdict");
        assert!(child.wait().expect("python").success());
        let _ = std::fs::remove_file(&path);
        (result, seen, verdict)
    }

    /// Python `Client`, Rust listener: our challenge, then our answer, then its message.
    fn python_client_rust_listener(
        python: &PathBuf,
        ours: &AuthKey,
        theirs: &AuthKey,
    ) -> (Result<(), AuthError>, Vec<u8>, String) {
        let path = socket_path("client");
        let listener = UnixListener::bind(&path).expect("bind");
        let child = python_peer(python, "connect", &path, theirs);
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(60);
        let inner = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("python never connected: {e}"),
            }
        };
        inner.set_nonblocking(false).expect("blocking");
        let (result, seen) = handshake(inner, ours, deliver_challenge, answer_challenge);
        let out = child.wait_with_output().expect("python");
        assert!(out.status.success());
        let _ = std::fs::remove_file(&path);
        let verdict = String::from_utf8_lossy(&out.stdout).into_owned();
        (result, seen, verdict)
    }

    /// The handshake against CPython's own `multiprocessing.connection`, each side in each
    /// role, with the right key and a wrong one: 3.11 speaks the legacy MD5 form, 3.12 and
    /// later the SHA-256 one.
    #[test]
    fn pythons_listener_and_client_agree() {
        let pythons = pythons();
        if pythons.is_empty() {
            println!("skipped: no python3 with multiprocessing.connection on this machine");
            return;
        }
        let ours = AuthKey::random().expect("key");
        let wrong = AuthKey::random().expect("key");
        for python in &pythons {
            let modern = version(python) >= (3, 12);
            println!("against {} (modern: {modern})", python.display());

            let (result, seen, verdict) = rust_client_python_listener(python, &ours, &ours);
            result.expect("rust client, python listener");
            assert_eq!(verdict, "ok\n");
            // Python's challenge: 20 legacy bytes, or `{sha256}` and 40.
            let challenge_len = u32::from_be_bytes(seen[..4].try_into().expect("4"));
            let expected = CHALLENGE.len() + if modern { 48 } else { 20 };
            assert_eq!(challenge_len as usize, expected);

            let (result, seen, verdict) = python_client_rust_listener(python, &ours, &ours);
            result.expect("python client, rust listener");
            assert_eq!(verdict, "ok\n");
            // Python's answer to our challenge: `{sha256}` and 32 bytes, or 16 legacy ones.
            let answer_len = u32::from_be_bytes(seen[..4].try_into().expect("4"));
            assert_eq!(answer_len, if modern { 40 } else { 16 });
            assert_eq!(seen[4..].starts_with(SHA256), modern);

            let (result, _, verdict) = rust_client_python_listener(python, &ours, &wrong);
            assert!(matches!(result, Err(AuthError::Refused)), "{result:?}");
            assert_eq!(verdict, "AuthenticationError\n");

            let (result, _, verdict) = python_client_rust_listener(python, &ours, &wrong);
            assert!(matches!(result, Err(AuthError::WrongAnswer)), "{result:?}");
            assert_eq!(verdict, "AuthenticationError\n");
        }
    }
}
