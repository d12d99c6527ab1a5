//! Plugin trust: minisign signatures (`<file>.minisig`) over plugin files, and the trust store
//! of keys allowed to sign them plus files a user trusted by hash. The launcher, the registry
//! and loaders of dynamic plugins all decide trust with this one module; it never executes or
//! loads anything itself, and it never writes outside the trust directory.
//!
//! Layout of the trust directory (`$GAIT_TRUST_DIR`, else `~/.gait/trust`):
//! - `keys/<KEYID>.pub`: minisign public keys (the two-line `.pub` format);
//! - `files.toml`: `[[file]] path, sha256, trusted_at` entries from `gait plugin trust`.

use crate::fsutil;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Suffix of a detached signature next to the signed file.
pub const SIGNATURE_SUFFIX: &str = ".minisig";
const KEYS_DIR: &str = "keys";
const FILES_NAME: &str = "files.toml";
/// Largest key, signature or trust list file read.
const MAX_SMALL_FILE: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A key, signature or trust list that cannot be parsed.
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Io(String),
}

type R<T> = Result<T, TrustError>;

/// A minisign public key the store knows.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// Upper-case hex without zero padding, exactly as `minisign` prints it.
    pub id: String,
    /// The base64 key line.
    pub base64: String,
    /// Where it came from (file path, `--trust-key`, environment).
    pub source: String,
    key: minisign_verify::PublicKey,
}

fn key_id_hex(raw: &[u8]) -> String {
    let mut id = [0u8; 8];
    id.copy_from_slice(&raw[..8]);
    // As `minisign` prints it: upper-case hex without zero padding.
    format!("{:X}", u64::from_le_bytes(id))
}

impl TrustedKey {
    /// Parses a minisign public key: the `.pub` file content (comment line plus key line) or
    /// the bare base64 key line.
    pub fn parse(text: &str, source: &str) -> R<TrustedKey> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| TrustError::Malformed(format!("{source}: no public key line")))?;
        let raw = B64
            .decode(line)
            .map_err(|_| TrustError::Malformed(format!("{source}: public key is not base64")))?;
        if raw.len() != 42 || raw[0] != b'E' || raw[1] != b'd' {
            return Err(TrustError::Malformed(format!(
                "{source}: not a minisign Ed25519 public key"
            )));
        }
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| TrustError::Malformed(format!("{source}: {e}")))?;
        Ok(TrustedKey {
            id: key_id_hex(&raw[2..10]),
            base64: line.to_string(),
            source: source.to_string(),
            key,
        })
    }

    /// Reads a key from a file, or takes the argument itself when it is no file but a key.
    pub fn from_arg(arg: &str) -> R<TrustedKey> {
        let p = Path::new(arg.trim());
        if p.is_file() {
            let text = read_small(p)?;
            TrustedKey::parse(&text, &p.display().to_string())
        } else {
            TrustedKey::parse(arg, "--trust-key")
        }
    }

    /// The minisign `.pub` file content for this key.
    pub fn to_pub_file(&self) -> String {
        format!(
            "untrusted comment: minisign public key {}\n{}\n",
            self.id, self.base64
        )
    }
}

/// A parsed detached signature.
#[derive(Clone)]
pub struct DetachedSignature {
    pub key_id: String,
    pub trusted_comment: String,
    sig: minisign_verify::Signature,
}

impl std::fmt::Debug for DetachedSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetachedSignature")
            .field("key_id", &self.key_id)
            .field("trusted_comment", &self.trusted_comment)
            .finish_non_exhaustive()
    }
}

impl DetachedSignature {
    pub fn parse(text: &str, source: &str) -> R<DetachedSignature> {
        let sig = minisign_verify::Signature::decode(text)
            .map_err(|e| TrustError::Malformed(format!("{source}: {e}")))?;
        let line = text.lines().nth(1).unwrap_or("").trim();
        let raw = B64
            .decode(line)
            .map_err(|_| TrustError::Malformed(format!("{source}: signature is not base64")))?;
        if raw.len() != 74 {
            return Err(TrustError::Malformed(format!(
                "{source}: malformed signature"
            )));
        }
        Ok(DetachedSignature {
            key_id: key_id_hex(&raw[2..10]),
            trusted_comment: sig.trusted_comment().to_string(),
            sig,
        })
    }
}

fn read_small(p: &Path) -> R<String> {
    let bytes = fsutil::read_capped(p, MAX_SMALL_FILE)
        .map_err(|e| TrustError::Io(format!("read {}: {e}", p.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| TrustError::Malformed(format!("{}: not UTF-8", p.display())))
}

/// What checking a file's detached signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No `<file>.minisig`.
    Unsigned,
    /// Signed by this trusted key, and the signature is valid.
    Verified { key_id: String },
    /// Signed by a key the store does not trust (validity unknown).
    UnknownKey { key_id: String },
    /// A signature is present but does not verify (tampered file or signature).
    Invalid { key_id: String, reason: String },
}

/// Verifies `file` against a detached signature with `key`, streaming the file.
pub fn verify_file(key: &TrustedKey, file: &Path, sig: &DetachedSignature) -> Result<(), String> {
    if key.id != sig.key_id {
        return Err(format!(
            "signed by key {}, not by key {}",
            sig.key_id, key.id
        ));
    }
    let mut f = fs::File::open(file).map_err(|e| format!("open {}: {e}", file.display()))?;
    let mut stream = match key.key.verify_stream(&sig.sig) {
        Ok(s) => s,
        // Legacy (non-prehashed) signatures cover the whole file in one piece.
        Err(minisign_verify::Error::UnsupportedLegacyMode) => {
            let mut all = Vec::new();
            f.read_to_end(&mut all)
                .map_err(|e| format!("read {}: {e}", file.display()))?;
            return key
                .key
                .verify(&all, &sig.sig, true)
                .map_err(|e| e.to_string());
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("read {}: {e}", file.display()))?;
        if n == 0 {
            break;
        }
        stream.update(&buf[..n]);
    }
    stream.finalize().map_err(|e| e.to_string())
}

/// The detached signature path of `file`.
pub fn signature_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(SIGNATURE_SUFFIX);
    PathBuf::from(s)
}

/// Lower-case hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::jcs::hex_lower(&h.finalize()))
}

/// One file trusted by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedFile {
    pub path: String,
    pub sha256: String,
    #[serde(default)]
    pub trusted_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FilesDoc {
    #[serde(default, rename = "file")]
    files: Vec<TrustedFile>,
}

/// Keys and file hashes the user trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    dir: Option<PathBuf>,
    keys: Vec<TrustedKey>,
    files: Vec<TrustedFile>,
}

impl TrustStore {
    /// `$GAIT_TRUST_DIR`, else `$HOME/.gait/trust`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("GAIT_TRUST_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".gait").join("trust"))
    }

    /// Loads the store at `dir` (a missing directory is an empty store). Unreadable or
    /// malformed entries are errors: a broken trust store must not silently trust less or more.
    pub fn load(dir: &Path) -> R<TrustStore> {
        let mut store = TrustStore {
            dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let keys_dir = dir.join(KEYS_DIR);
        match fs::read_dir(&keys_dir) {
            Ok(entries) => {
                let mut paths: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                    .collect();
                paths.sort();
                for p in paths {
                    let text = read_small(&p)?;
                    store.add(TrustedKey::parse(&text, &p.display().to_string())?);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(TrustError::Io(format!("read {}: {e}", keys_dir.display()))),
        }
        let files = dir.join(FILES_NAME);
        if files.exists() {
            let text = read_small(&files)?;
            let doc: FilesDoc = toml::from_str(&text)
                .map_err(|e| TrustError::Malformed(format!("{}: {e}", files.display())))?;
            store.files = doc.files;
        }
        Ok(store)
    }

    /// Loads the default store (empty when there is no home directory).
    pub fn load_default() -> R<TrustStore> {
        match TrustStore::default_dir() {
            Some(d) => TrustStore::load(&d),
            None => Ok(TrustStore::default()),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Adds a key for this process only (`--trust-key`, environment).
    pub fn add(&mut self, key: TrustedKey) {
        if !self.keys.iter().any(|k| k.id == key.id) {
            self.keys.push(key);
        }
    }

    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    pub fn key(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id.eq_ignore_ascii_case(id))
    }

    pub fn files(&self) -> &[TrustedFile] {
        &self.files
    }

    /// Whether the user trusted exactly this file content at this path.
    pub fn file_trusted(&self, path: &Path, sha256: &str) -> bool {
        let p = path.to_string_lossy();
        self.files
            .iter()
            .any(|f| f.path == p && f.sha256.eq_ignore_ascii_case(sha256))
    }

    fn dir_or_err(&self) -> R<&Path> {
        self.dir
            .as_deref()
            .ok_or_else(|| TrustError::Io("no trust directory (set HOME or GAIT_TRUST_DIR)".into()))
    }

    /// Persists a key as `keys/<id>.pub` (atomic write) and adds it.
    pub fn persist_key(&mut self, key: TrustedKey) -> R<PathBuf> {
        let path = self
            .dir_or_err()?
            .join(KEYS_DIR)
            .join(format!("{}.pub", key.id));
        fsutil::write_atomic(&path, key.to_pub_file().as_bytes(), 0o644)
            .map_err(|e| TrustError::Io(format!("write {}: {e}", path.display())))?;
        self.add(key);
        Ok(path)
    }

    /// Records that the user trusts `path` with content `sha256` (replacing an older entry for
    /// the same path). Written atomically under a lock.
    pub fn persist_file(&mut self, path: &Path, sha256: &str, trusted_at: &str) -> R<()> {
        let dir = self.dir_or_err()?.to_path_buf();
        fsutil::create_dir_all_mode(&dir, 0o750)
            .map_err(|e| TrustError::Io(format!("create {}: {e}", dir.display())))?;
        let _lock = fsutil::LockFile::acquire(
            &dir.join("files.lock"),
            std::process::id().to_string().as_bytes(),
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(20),
            std::time::Duration::from_secs(60),
        )
        .map_err(|e| TrustError::Io(format!("lock trust store: {e}")))?;
        // Re-read under the lock so concurrent trusts are not lost.
        let files_path = dir.join(FILES_NAME);
        let mut doc: FilesDoc = if files_path.exists() {
            toml::from_str(&read_small(&files_path)?)
                .map_err(|e| TrustError::Malformed(format!("{}: {e}", files_path.display())))?
        } else {
            FilesDoc::default()
        };
        let p = path.to_string_lossy().into_owned();
        doc.files.retain(|f| f.path != p);
        doc.files.push(TrustedFile {
            path: p,
            sha256: sha256.to_lowercase(),
            trusted_at: trusted_at.to_string(),
        });
        doc.files.sort_by(|a, b| a.path.cmp(&b.path));
        let text = toml::to_string(&doc).map_err(|e| TrustError::Io(e.to_string()))?;
        fsutil::write_atomic(&files_path, text.as_bytes(), 0o644)
            .map_err(|e| TrustError::Io(format!("write {}: {e}", files_path.display())))?;
        self.files = doc.files;
        Ok(())
    }

    /// Checks `file` against `<file>.minisig` and this store's keys.
    pub fn check_signature(&self, file: &Path) -> R<SignatureStatus> {
        let sig_path = signature_path(file);
        if !sig_path.exists() {
            return Ok(SignatureStatus::Unsigned);
        }
        let text = read_small(&sig_path)?;
        let sig = match DetachedSignature::parse(&text, &sig_path.display().to_string()) {
            Ok(s) => s,
            Err(e) => {
                return Ok(SignatureStatus::Invalid {
                    key_id: String::new(),
                    reason: e.to_string(),
                })
            }
        };
        let Some(key) = self.key(&sig.key_id) else {
            return Ok(SignatureStatus::UnknownKey { key_id: sig.key_id });
        };
        Ok(match verify_file(key, file, &sig) {
            Ok(()) => SignatureStatus::Verified { key_id: sig.key_id },
            Err(reason) => SignatureStatus::Invalid {
                key_id: sig.key_id,
                reason,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors made with the `minisign` tool (0.11, Debian package): `minisign -G -W`, then
    // `minisign -S` (prehashed) and `minisign -S -l` (legacy) over tests/fixtures/minisign/hello.txt.
    const PUB: &str = include_str!("../tests/fixtures/minisign/test.pub");
    const SIG: &str = include_str!("../tests/fixtures/minisign/hello.txt.minisig");
    const LEGACY: &str = include_str!("../tests/fixtures/minisign/hello.txt.legacy.minisig");
    const HELLO: &[u8] = include_bytes!("../tests/fixtures/minisign/hello.txt");

    #[test]
    fn parses_keys_and_rejects_garbage() {
        assert!(TrustedKey::parse("not base64 !!", "x").is_err());
        assert!(TrustedKey::parse("", "x").is_err());
        assert!(TrustedKey::parse("RWQ=", "x").is_err());
        let k = TrustedKey::parse(PUB, "t").unwrap();
        assert_eq!(k.id, "69EAA7E6ABEC3C9D", "the id minisign prints");
        assert_eq!(
            TrustedKey::parse(&k.to_pub_file(), "again").unwrap().id,
            k.id
        );
    }

    #[test]
    fn minisign_tool_signatures_verify_and_tampering_fails() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hello.txt");
        std::fs::write(&f, HELLO).unwrap();
        let key = TrustedKey::parse(PUB, "t").unwrap();
        for text in [SIG, LEGACY] {
            let sig = DetachedSignature::parse(text, "sig").unwrap();
            assert_eq!(sig.key_id, key.id);
            verify_file(&key, &f, &sig).unwrap();
        }
        let sig = DetachedSignature::parse(SIG, "sig").unwrap();
        assert_eq!(sig.trusted_comment, "gait test vector");

        let mut store = TrustStore::load(dir.path()).unwrap();
        std::fs::write(signature_path(&f), SIG).unwrap();
        assert_eq!(
            store.check_signature(&f).unwrap(),
            SignatureStatus::UnknownKey {
                key_id: key.id.clone()
            }
        );
        store.persist_key(key.clone()).unwrap();
        let store = TrustStore::load(dir.path()).unwrap();
        assert_eq!(
            store.check_signature(&f).unwrap(),
            SignatureStatus::Verified {
                key_id: key.id.clone()
            }
        );
        std::fs::write(&f, b"hello gait!\n").unwrap();
        assert!(matches!(
            store.check_signature(&f).unwrap(),
            SignatureStatus::Invalid { .. }
        ));
        // A signature whose trusted comment was edited fails too.
        std::fs::write(&f, HELLO).unwrap();
        std::fs::write(
            signature_path(&f),
            SIG.replace("gait test vector", "gait test vectoR"),
        )
        .unwrap();
        assert!(matches!(
            store.check_signature(&f).unwrap(),
            SignatureStatus::Invalid { .. }
        ));
    }

    #[test]
    fn trust_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = TrustStore::load(dir.path()).unwrap();
        assert!(s.keys().is_empty());
        let f = dir.path().join("plugin");
        std::fs::write(&f, b"#!/bin/sh\n").unwrap();
        let sha = sha256_file(&f).unwrap();
        s.persist_file(&f, &sha, "2026-01-01T00:00:00Z").unwrap();
        s.persist_file(&f, &sha, "2026-01-02T00:00:00Z").unwrap();
        let again = TrustStore::load(dir.path()).unwrap();
        assert_eq!(again.files().len(), 1);
        assert!(again.file_trusted(&f, &sha));
        assert!(!again.file_trusted(&f, &"0".repeat(64)));
        assert_eq!(
            again.check_signature(&f).unwrap(),
            SignatureStatus::Unsigned
        );
        std::fs::write(signature_path(&f), "garbage").unwrap();
        assert!(matches!(
            again.check_signature(&f).unwrap(),
            SignatureStatus::Invalid { .. }
        ));
    }

    #[test]
    fn malformed_files_toml_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILES_NAME), "[[file]]\npath = 3\n").unwrap();
        assert!(TrustStore::load(dir.path()).is_err());
    }
}
