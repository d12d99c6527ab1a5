//! The publisher side: minisign secret keys, signing files (`<file>.minisig`, accepted by the
//! real `minisign -V`), and generating key pairs.
//!
//! Secret keys are read from the minisign format. Unencrypted keys (`minisign -G -W`) need
//! nothing else; an encrypted key needs its password from the caller (the launcher reads
//! `$GAIT_SIGN_PASSWORD`). Nothing here ever prompts.

use crate::error::{RegistryError, Result};
use gait_sdk::fsutil;
use gait_sdk::trust::{signature_path, TrustedKey};
use std::path::{Path, PathBuf};

/// The environment variable the launcher reads an encrypted key's password from.
pub const PASSWORD_ENV: &str = "GAIT_SIGN_PASSWORD";

const MAX_KEY_FILE: u64 = 64 * 1024;
/// Decoded size of a minisign secret key (algorithms, KDF parameters, key id, keys, checksum).
const SECRET_KEY_BYTES: usize = 158;
/// Where the key checksum sits in the decoded secret key.
const CHECKSUM_RANGE: std::ops::Range<usize> = 126..158;

/// A minisign secret key ready to sign, with its public half.
pub struct SigningKey {
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
    public: TrustedKey,
    /// Upper-case hex without zero padding, as minisign prints them.
    pub key_id: String,
}

impl std::fmt::Debug for SigningKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn key_id_of(keynum: &[u8]) -> String {
    let mut id = [0u8; 8];
    let n = keynum.len().min(8);
    id[..n].copy_from_slice(&keynum[..n]);
    // As `minisign` prints it: upper-case hex without zero padding.
    format!("{:X}", u64::from_le_bytes(id))
}

fn decode_b64(line: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(line).ok()
}

impl SigningKey {
    /// Reads a minisign secret key file. `password` is required for encrypted keys and
    /// ignored for unencrypted ones.
    pub fn load(path: &Path, password: Option<&str>) -> Result<SigningKey> {
        let shown = path.display().to_string();
        let bytes = fsutil::read_capped(path, MAX_KEY_FILE)
            .map_err(|e| RegistryError::invalid(format!("secret key: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| RegistryError::invalid(format!("secret key {shown}: not UTF-8")))?;
        SigningKey::parse(&text, &shown, password)
    }

    /// Parses the secret key file content.
    pub fn parse(text: &str, shown: &str, password: Option<&str>) -> Result<SigningKey> {
        let not_a_key = || {
            RegistryError::invalid_hint(
                format!("{shown} is not a minisign secret key"),
                "pass the secret key file made by `minisign -G` (for example ~/.minisign/minisign.key), not the .pub file",
            )
        };
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().ok_or_else(not_a_key)?;
        let key_line = if first.starts_with("untrusted comment:") {
            lines.next().ok_or_else(not_a_key)?
        } else {
            first
        };
        let raw = decode_b64(key_line).ok_or_else(not_a_key)?;
        if raw.len() != SECRET_KEY_BYTES || &raw[0..2] != b"Ed" {
            return Err(not_a_key());
        }
        let encrypted = raw[2..4] != [0, 0];
        let boxed = minisign::SecretKeyBox::from_string(&format!(
            "untrusted comment: minisign secret key\n{key_line}\n"
        ))
        .map_err(|_| not_a_key())?;
        let sk = if encrypted {
            if &raw[2..4] != b"Sc" {
                return Err(RegistryError::invalid(format!(
                    "{shown}: unsupported key encryption"
                )));
            }
            let Some(pw) = password else {
                return Err(RegistryError::invalid_hint(
                    format!("secret key {shown} is encrypted"),
                    format!("set {PASSWORD_ENV} to its password, or use a key made with `minisign -G -W`"),
                ));
            };
            minisign::SecretKey::from_box(boxed, Some(pw.to_string()))
                .map_err(|e| RegistryError::invalid(format!("secret key {shown}: {e}")))?
        } else if raw[CHECKSUM_RANGE].iter().all(|&b| b == 0) {
            // `minisign -G -W` (0.11) leaves the checksum of unencrypted keys zero, which the
            // minisign crate reads as corruption. Such a key is taken as it is; `sign` checks
            // every signature against the derived public key, so a damaged key cannot sign.
            minisign::SecretKey::from_bytes(&raw)
                .map_err(|e| RegistryError::invalid(format!("secret key {shown}: {e}")))?
        } else {
            minisign::SecretKey::from_unencrypted_box(boxed)
                .map_err(|e| RegistryError::invalid(format!("secret key {shown}: {e}")))?
        };
        let pk = minisign::PublicKey::from_secret_key(&sk)
            .map_err(|e| RegistryError::invalid(format!("secret key {shown}: {e}")))?;
        let key_id = key_id_of(sk.keynum());
        let public = TrustedKey::parse(&pk.to_base64(), shown)
            .map_err(|e| RegistryError::invalid(format!("secret key {shown}: {e}")))?;
        Ok(SigningKey {
            sk,
            pk,
            public,
            key_id,
        })
    }

    /// The public half, as the trust store knows keys.
    pub fn public_key(&self) -> &TrustedKey {
        &self.public
    }

    /// The minisign `.pub` file content of the public half.
    pub fn public_key_file(&self) -> String {
        self.public_key().to_pub_file()
    }

    /// Signs `file` (streamed, prehashed like `minisign -S`) and returns the signature text.
    /// The trusted comment defaults to minisign's `timestamp:<t>\tfile:<name>\thashed`.
    pub fn sign_file(&self, file: &Path, trusted_comment: Option<&str>) -> Result<String> {
        let f = std::fs::File::open(file).map_err(|e| {
            RegistryError::invalid(format!(
                "open {}: {}",
                file.display(),
                fsutil::go_io_reason(&e)
            ))
        })?;
        let meta = f
            .metadata()
            .map_err(|e| RegistryError::io(format!("stat {}: {e}", file.display())))?;
        if !meta.is_file() {
            return Err(RegistryError::invalid(format!(
                "{} is not a regular file",
                file.display()
            )));
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let default_comment = format!(
            "timestamp:{}\tfile:{}\thashed",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            name
        );
        let trusted = trusted_comment.unwrap_or(&default_comment);
        if trusted.contains(['\n', '\r']) {
            return Err(RegistryError::invalid(
                "the trusted comment must be a single line",
            ));
        }
        let sig = minisign::sign(
            Some(&self.pk),
            &self.sk,
            std::io::BufReader::with_capacity(256 * 1024, f),
            Some(trusted),
            Some(&format!(
                "signature from minisign secret key {}",
                self.key_id
            )),
        )
        .map_err(|e| RegistryError::io(format!("sign {}: {e}", file.display())))?;
        Ok(sig.into_string())
    }

    /// Signs `file` and writes `<file>.minisig` atomically; returns its path.
    pub fn sign_to_file(&self, file: &Path, trusted_comment: Option<&str>) -> Result<PathBuf> {
        let text = self.sign_file(file, trusted_comment)?;
        let out = signature_path(file);
        fsutil::write_atomic(&out, text.as_bytes(), 0o644)
            .map_err(|e| RegistryError::io(format!("write {}: {e}", out.display())))?;
        Ok(out)
    }
}

/// A freshly generated key pair's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    pub secret_path: PathBuf,
    pub public_path: PathBuf,
    pub key_id: String,
}

/// Generates a minisign key pair and writes `<prefix>.key` (mode 0600) and `<prefix>.pub`.
/// With a password the secret key is encrypted the way `minisign -G` does it; without, it is
/// unencrypted like `minisign -G -W`. Existing files are never overwritten.
pub fn generate_key(prefix: &Path, password: Option<&str>) -> Result<GeneratedKey> {
    let with_ext = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let secret_path = with_ext(".key");
    let public_path = with_ext(".pub");
    for p in [&secret_path, &public_path] {
        if p.exists() {
            return Err(RegistryError::invalid_hint(
                format!("{} already exists", p.display()),
                "choose another prefix; gait never overwrites a key",
            ));
        }
    }
    let pair = match password {
        Some(pw) => minisign::KeyPair::generate_encrypted_keypair(Some(pw.to_string())),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| RegistryError::io(format!("generate key: {e}")))?;
    let key_id = key_id_of(pair.pk.keynum());
    let sk_box = pair
        .sk
        .to_box(Some(if password.is_some() {
            "minisign encrypted secret key"
        } else {
            "minisign secret key"
        }))
        .map_err(|e| RegistryError::io(format!("encode key: {e}")))?;
    let public = TrustedKey::parse(&pair.pk.to_base64(), "generated key")
        .map_err(|e| RegistryError::io(format!("encode key: {e}")))?;
    fsutil::write_atomic(&secret_path, sk_box.to_string().as_bytes(), 0o600)
        .map_err(|e| RegistryError::io(format!("write {}: {e}", secret_path.display())))?;
    fsutil::write_atomic(&public_path, public.to_pub_file().as_bytes(), 0o644)
        .map_err(|e| RegistryError::io(format!("write {}: {e}", public_path.display())))?;
    Ok(GeneratedKey {
        secret_path,
        public_path,
        key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gait_sdk::trust::{verify_file, DetachedSignature};

    #[test]
    fn generate_sign_verify_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate_key(&dir.path().join("k"), None).unwrap();
        assert!(
            generate_key(&dir.path().join("k"), None).is_err(),
            "no overwrite"
        );
        let key = SigningKey::load(&g.secret_path, None).unwrap();
        assert_eq!(key.key_id, g.key_id);
        let public = TrustedKey::from_arg(g.public_path.to_str().unwrap()).unwrap();
        assert_eq!(public.id, key.key_id);

        let f = dir.path().join("file.bin");
        std::fs::write(&f, b"payload\n").unwrap();
        let sig_path = key.sign_to_file(&f, None).unwrap();
        let text = std::fs::read_to_string(&sig_path).unwrap();
        let sig = DetachedSignature::parse(&text, "sig").unwrap();
        assert_eq!(sig.key_id, key.key_id);
        assert!(sig.trusted_comment.ends_with("\tfile:file.bin\thashed"));
        verify_file(&public, &f, &sig).unwrap();
        std::fs::write(&f, b"payload!\n").unwrap();
        assert!(verify_file(&public, &f, &sig).is_err());
    }

    #[test]
    fn rejects_public_keys_garbage_and_encrypted_without_password() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate_key(&dir.path().join("k"), None).unwrap();
        let e = SigningKey::load(&g.public_path, None).unwrap_err();
        assert!(matches!(e, RegistryError::Invalid { .. }), "{e:?}");
        assert!(SigningKey::parse("", "x", None).is_err());
        assert!(SigningKey::parse("untrusted comment: x\n!!!!\n", "x", None).is_err());
        // Flip the KDF algorithm bytes to scrypt: an "encrypted" key needs a password.
        let text = std::fs::read_to_string(&g.secret_path).unwrap();
        let line = text.lines().nth(1).unwrap();
        let mut raw = decode_b64(line).unwrap();
        raw[2] = b'S';
        raw[3] = b'c';
        let enc = encode_b64(&raw);
        let e =
            SigningKey::parse(&format!("untrusted comment: k\n{enc}\n"), "x", None).unwrap_err();
        assert!(e.hint().unwrap().contains(PASSWORD_ENV), "{e:?}");
    }

    #[test]
    fn encrypted_keys_need_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate_key(&dir.path().join("enc"), Some("correct horse")).unwrap();
        let e = SigningKey::load(&g.secret_path, None).unwrap_err();
        assert!(e.hint().unwrap().contains(PASSWORD_ENV), "{e:?}");
        assert!(SigningKey::load(&g.secret_path, Some("wrong")).is_err());
        let key = SigningKey::load(&g.secret_path, Some("correct horse")).unwrap();
        assert_eq!(key.key_id, g.key_id);
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let sig = DetachedSignature::parse(&key.sign_file(&f, None).unwrap(), "s").unwrap();
        let public = TrustedKey::from_arg(g.public_path.to_str().unwrap()).unwrap();
        verify_file(&public, &f, &sig).unwrap();
    }

    fn encode_b64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

#[cfg(test)]
mod minisign_tool_keys {
    use super::*;
    use gait_sdk::trust::{verify_file, DetachedSignature};

    // A key made by `minisign -G -W` (0.11), whose checksum
    // the tool leaves zero.
    const KEY: &str = include_str!("../tests/fixtures/test.key");
    const PUB: &str = include_str!("../tests/fixtures/test.pub");

    #[test]
    fn signs_with_a_minisign_tool_key() {
        let key = SigningKey::parse(KEY, "test.key", None).unwrap();
        let public = TrustedKey::parse(PUB, "test.pub").unwrap();
        assert_eq!(key.key_id, public.id);
        assert_eq!(key.public_key().base64, public.base64);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"data").unwrap();
        let text = key.sign_file(&f, Some("gait test")).unwrap();
        let sig = DetachedSignature::parse(&text, "sig").unwrap();
        assert_eq!(sig.trusted_comment, "gait test");
        verify_file(&public, &f, &sig).unwrap();
        assert!(key.sign_file(&f, Some("two\nlines")).is_err());
    }
}
