//! Names of shared memory segments, as Python's `SharedMemory` and glibc's `shm_open` read
//! them.
//!
//! Python passes `"/" + name` to `shm_open`; glibc skips the leading slashes and opens
//! `/dev/shm/<rest>`, refusing an empty rest, one that holds another slash, and `.` or `..`.
//! A name here is the rest: `psm_1a2b3c4d` and `/psm_1a2b3c4d` name the same segment, and
//! [`SharedMemory::name`](super::SharedMemory::name) gives it without the slash, as Python's
//! `name` does.

use std::path::PathBuf;

use super::SharedMemoryError;

/// The directory where Linux keeps POSIX shared memory (a tmpfs): `shm_open("/x")` opens
/// `/dev/shm/x`.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// Python's prefix of generated names (`_SHM_NAME_PREFIX` without its slash).
const PREFIX: &str = "psm_";

/// The longest name a file system entry may have (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The name as glibc's `shm_open` reads it: without leading slashes.
///
/// # Errors
///
/// [`SharedMemoryError::InvalidName`] for a name `shm_open` refuses (`EINVAL`) or that is
/// too long for a file name (`ENAMETOOLONG`).
pub(crate) fn normalize(name: &str) -> Result<String, SharedMemoryError> {
    let bare = name.trim_start_matches('/');
    let why = if bare.is_empty() {
        Some("it is empty")
    } else if bare.contains('/') {
        Some("it holds a '/' after its leading ones")
    } else if bare == "." || bare == ".." {
        Some("it is '.' or '..'")
    } else if bare.contains('\0') {
        Some("it holds a NUL byte")
    } else if bare.len() > NAME_MAX {
        Some("it is longer than 255 bytes")
    } else {
        None
    };
    match why {
        Some(why) => Err(SharedMemoryError::InvalidName {
            name: name.to_string(),
            why,
        }),
        None => Ok(bare.to_string()),
    }
}

/// A fresh name in Python's form: `psm_` and 8 random hexadecimal digits (Python's
/// `_make_filename`, which keeps names within the 14 characters FreeBSD allows).
pub(crate) fn random() -> Result<String, SharedMemoryError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| SharedMemoryError::Os {
        call: "getrandom",
        name: String::new(),
        source: e.into(),
    })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{PREFIX}{hex}"))
}

/// The file behind the segment `name` (already normalized).
pub(crate) fn path(name: &str) -> PathBuf {
    PathBuf::from(SHM_DIR).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_slashes_are_dropped_as_glibc_does() {
        assert_eq!(normalize("psm_ab").expect("plain"), "psm_ab");
        assert_eq!(normalize("/psm_ab").expect("slash"), "psm_ab");
        assert_eq!(normalize("//psm_ab").expect("slashes"), "psm_ab");
        assert_eq!(path("psm_ab"), PathBuf::from("/dev/shm/psm_ab"));
    }

    #[test]
    fn names_shm_open_refuses_are_refused() {
        for bad in ["", "/", "a/b", ".", "/..", "a\0b"] {
            assert!(
                matches!(normalize(bad), Err(SharedMemoryError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(normalize(&"x".repeat(255)).is_ok());
        assert!(normalize(&"x".repeat(256)).is_err());
    }

    #[test]
    fn random_names_look_like_pythons() {
        let name = random().expect("random");
        assert_eq!(name.len(), 12);
        assert!(name.starts_with("psm_"));
        assert!(name[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(name, random().expect("random"));
    }
}
