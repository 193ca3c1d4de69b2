//! Tarballs: integrity check (SRI `dist.integrity`, else the sha1 `dist.shasum`) before
//! anything is unpacked, and a safe unpacker that strips the `package/` prefix, refuses path
//! traversal, writes only regular files and directories, and never follows or creates links.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use ssri::{Algorithm, Integrity};

use crate::registry::Dist;

/// Checks `bytes` against the registry's integrity data for `name@version`.
pub(crate) fn verify(dist: &Dist, bytes: &[u8]) -> Result<(), String> {
    let expected: Integrity = match (&dist.integrity, &dist.shasum) {
        (Some(sri), _) if !sri.trim().is_empty() => sri
            .parse()
            .map_err(|e| format!("invalid dist.integrity {sri:?}: {e}"))?,
        (_, Some(hex)) if !hex.trim().is_empty() => {
            Integrity::from_hex(hex.trim(), Algorithm::Sha1)
                .map_err(|e| format!("invalid dist.shasum {hex:?}: {e}"))?
        }
        _ => return Err("the registry gives no integrity or shasum for it".to_owned()),
    };
    match expected.check(bytes) {
        Ok(_) => Ok(()),
        Err(_) => {
            let algorithm = expected.pick_algorithm();
            let found = ssri::IntegrityOpts::new()
                .algorithm(algorithm)
                .chain(bytes)
                .result();
            Err(format!("expected {expected}, found {found}"))
        }
    }
}

/// Unpacks a (gzipped) npm tarball into `dest`, dropping the first path component of every
/// entry (npm's `package/`).
pub(crate) fn unpack(bytes: &[u8], dest: &Path) -> Result<(), String> {
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + '_> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut archive = tar::Archive::new(reader);
    fs::create_dir_all(dest).map_err(|e| io_reason(dest, &e))?;
    // Directories known to exist, so each file costs one `open` (big packages such as
    // date-fns hold thousands of files).
    let mut made: HashSet<PathBuf> = HashSet::from([dest.to_path_buf()]);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("bad entry path: {e}"))?
            .into_owned();
        let Some(relative) = safe_relative(&path)? else {
            continue;
        };
        let target = dest.join(&relative);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            if made.insert(target.clone()) {
                fs::create_dir_all(&target).map_err(|e| io_reason(&target, &e))?;
            }
        } else if kind.is_file() {
            if let Some(parent) = target.parent()
                && !made.contains(parent)
            {
                fs::create_dir_all(parent).map_err(|e| io_reason(parent, &e))?;
                made.insert(parent.to_path_buf());
            }
            let mode = entry.header().mode().unwrap_or(0o644);
            write_file(&mut entry, &target, mode).map_err(|e| io_reason(&target, &e))?;
        }
        // Symlinks, hard links, devices and fifos are skipped, as npm does for links that
        // leave the package and as no adaptor needs.
    }
    Ok(())
}

/// The entry path without its first component, or `None` for the root itself. Anything but
/// plain names (`..`, roots, prefixes) is an error.
fn safe_relative(path: &Path) -> Result<Option<PathBuf>, String> {
    let mut parts = path.components();
    // The first component is the package folder (`package/` for npm, anything for older tools).
    match parts.next() {
        Some(Component::Normal(_)) => {}
        Some(Component::CurDir) => return safe_relative(parts.as_path()),
        None => return Ok(None),
        Some(_) => return Err(format!("entry {} escapes the package", path.display())),
    }
    let mut out = PathBuf::new();
    for part in parts {
        match part {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            _ => return Err(format!("entry {} escapes the package", path.display())),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

fn write_file(reader: &mut impl Read, target: &Path, mode: u32) -> io::Result<()> {
    // A later entry may repeat a path; the last one wins, like npm.
    if fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(target)?;
    }
    let mut file = fs::File::create(target)?;
    io::copy(reader, &mut file)?;
    set_mode(&file, mode)?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let executable = mode & 0o111 != 0;
    file.set_permissions(fs::Permissions::from_mode(if executable {
        0o755
    } else {
        0o644
    }))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

fn io_reason(path: &Path, e: &io::Error) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_traversal() {
        assert!(safe_relative(Path::new("package/../../etc/passwd")).is_err());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert_eq!(
            safe_relative(Path::new("package/lib/index.js"))
                .ok()
                .flatten(),
            Some(PathBuf::from("lib/index.js"))
        );
        assert_eq!(safe_relative(Path::new("package/")).ok().flatten(), None);
    }
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    fn dist(integrity: Option<&str>, shasum: Option<&str>) -> Dist {
        Dist {
            tarball: String::new(),
            integrity: integrity.map(str::to_owned),
            shasum: shasum.map(str::to_owned),
        }
    }

    #[test]
    fn sha512_then_sha1_fallback() {
        let data = b"tarball bytes";
        let sri = ssri::IntegrityOpts::new()
            .algorithm(Algorithm::Sha512)
            .chain(data)
            .result()
            .to_string();
        assert!(verify(&dist(Some(&sri), None), data).is_ok());
        assert!(verify(&dist(Some(&sri), None), b"other").is_err());
        let sha1 = ssri::IntegrityOpts::new()
            .algorithm(Algorithm::Sha1)
            .chain(data)
            .result();
        let (_, hex) = sha1.to_hex();
        assert!(verify(&dist(None, Some(&hex)), data).is_ok());
        let err = verify(&dist(None, Some(&hex)), b"other").expect_err("mismatch");
        assert!(err.starts_with("expected sha1-"), "{err}");
        assert!(verify(&dist(None, None), data).is_err());
    }
}
