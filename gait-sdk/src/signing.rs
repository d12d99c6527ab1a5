//! Ed25519 keys in the reference's file format, key sources and modes, and the signature
//! envelope `{alg, key_id, sig, signed_digest}` over JCS digests.
//!
//! Private key material never appears in an error message or any output.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

use crate::jcs;

/// Warning every dev-mode signer adds to its output.
pub const DEV_MODE_WARNING: &str =
    "dev mode: ephemeral keypair generated; signatures will not verify across machines";

/// Key-handling failure; all are invalid input (exit 6) for the caller.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{0}")]
    Message(String),
}

fn kerr(s: impl Into<String>) -> KeyError {
    KeyError::Message(s.into())
}

/// The signature envelope stored in signed records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Signature {
    #[serde(default)]
    pub alg: String,
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub sig: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signed_digest: String,
}

impl Signature {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("signature serialises")
    }

    /// Reads the envelope from a decoded record member (case-insensitive names).
    pub fn from_go(v: &crate::gojson::GoValue) -> Option<Signature> {
        if !matches!(v, crate::gojson::GoValue::Object(_)) {
            return None;
        }
        let get = |n: &str| match v.field(n) {
            Some(crate::gojson::GoValue::String(s)) => s.clone(),
            _ => String::new(),
        };
        Some(Signature {
            alg: get("alg"),
            key_id: get("key_id"),
            sig: get("sig"),
            signed_digest: get("signed_digest"),
        })
    }
}

/// A loaded signing key with its public half.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    /// True for a dev-mode ephemeral key.
    pub ephemeral: bool,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("key_id", &self.key_id())
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl KeyPair {
    pub fn generate() -> Result<KeyPair, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| kerr(format!("generate key: {e}")))?;
        Ok(KeyPair {
            signing: SigningKey::from_bytes(&seed),
            ephemeral: true,
        })
    }

    /// Parses base64 of the 64-byte `seed ‖ public` form.
    pub fn from_base64(text: &str) -> Result<KeyPair, KeyError> {
        let raw = B64
            .decode(trim_key_text(text))
            .map_err(|e| kerr(format!("decode private key: {e}")))?;
        if raw.len() != 64 {
            return Err(kerr(format!("invalid private key length: {}", raw.len())));
        }
        let seed: [u8; 32] = raw[..32].try_into().expect("length checked");
        let signing = SigningKey::from_bytes(&seed);
        if signing.verifying_key().as_bytes()[..] != raw[32..] {
            return Err(kerr("invalid private key: public half does not match seed"));
        }
        Ok(KeyPair {
            signing,
            ephemeral: false,
        })
    }

    pub fn private_base64(&self) -> String {
        B64.encode(self.signing.to_keypair_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    pub fn key_id(&self) -> String {
        self.public().key_id()
    }

    /// Signs the 32 raw bytes of `digest_hex`.
    pub fn sign_digest_hex(&self, digest_hex: &str) -> Result<Signature, KeyError> {
        let raw = jcs::hex_decode(digest_hex).ok_or_else(|| kerr("decode digest: invalid hex"))?;
        if raw.len() != 32 {
            return Err(kerr(format!("invalid digest length: {}", raw.len())));
        }
        let sig = self.signing.sign(&raw);
        Ok(Signature {
            alg: "ed25519".into(),
            key_id: self.key_id(),
            sig: B64.encode(sig.to_bytes()),
            signed_digest: digest_hex.to_string(),
        })
    }

    /// Ed25519 over arbitrary bytes (for formats that sign text rather than a digest).
    pub fn sign_raw(&self, bytes: &[u8]) -> [u8; 64] {
        self.signing.sign(bytes).to_bytes()
    }

    /// Signs the canonical digest of `record` (which must not contain `signature`).
    pub fn sign_value(&self, record: &Value) -> Result<Signature, KeyError> {
        let digest = jcs::digest_hex(record).map_err(|e| kerr(e.to_string()))?;
        self.sign_digest_hex(&digest)
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_base64(text: &str) -> Result<PublicKey, KeyError> {
        let raw = B64
            .decode(trim_key_text(text))
            .map_err(|e| kerr(format!("decode public key: {e}")))?;
        if raw.len() != 32 {
            return Err(kerr(format!("invalid public key length: {}", raw.len())));
        }
        let bytes: [u8; 32] = raw[..].try_into().expect("length checked");
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| kerr("invalid public key"))
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_bytes())
    }

    /// Verifies an Ed25519 signature over arbitrary bytes.
    pub fn verify_raw(&self, bytes: &[u8], sig: &[u8]) -> bool {
        let Ok(arr) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.0
            .verify(bytes, &ed25519_dalek::Signature::from_bytes(&arr))
            .is_ok()
    }

    pub fn key_id(&self) -> String {
        jcs::sha256_hex(self.0.as_bytes())
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing signed_digest")]
    MissingDigest,
    #[error("signed_digest mismatch")]
    DigestMismatch,
    #[error("decode digest: invalid hex")]
    BadDigestHex,
    #[error("invalid digest length: {0}")]
    BadDigestLength(usize),
    #[error("unsupported alg: {0}")]
    UnsupportedAlg(String),
    #[error("key id mismatch")]
    KeyIdMismatch,
    #[error("decode sig: {0}")]
    BadSigEncoding(String),
    #[error("invalid signature length: {0}")]
    BadSigLength(usize),
    #[error("signature invalid")]
    Invalid,
    #[error("{0}")]
    Canonical(String),
}

/// Verifies `sig` over the canonical digest of `record` (without its `signature` member),
/// running the checks in the reference's order.
pub fn verify_value(record: &Value, sig: &Signature, key: &PublicKey) -> Result<(), VerifyError> {
    let digest = jcs::digest_hex(record).map_err(|e| VerifyError::Canonical(e.to_string()))?;
    verify_digest(&digest, sig, key)
}

/// Verifies `sig` against an already computed digest.
pub fn verify_digest(
    digest_hex: &str,
    sig: &Signature,
    key: &PublicKey,
) -> Result<(), VerifyError> {
    if sig.signed_digest.is_empty() {
        return Err(VerifyError::MissingDigest);
    }
    if sig.signed_digest != digest_hex {
        return Err(VerifyError::DigestMismatch);
    }
    let raw = jcs::hex_decode(&sig.signed_digest).ok_or(VerifyError::BadDigestHex)?;
    if raw.len() != 32 {
        return Err(VerifyError::BadDigestLength(raw.len()));
    }
    if sig.alg != "ed25519" {
        return Err(VerifyError::UnsupportedAlg(sig.alg.clone()));
    }
    if !sig.key_id.is_empty() && sig.key_id != key.key_id() {
        return Err(VerifyError::KeyIdMismatch);
    }
    let sig_bytes = B64
        .decode(&sig.sig)
        .map_err(|e| VerifyError::BadSigEncoding(e.to_string()))?;
    if sig_bytes.len() != 64 {
        return Err(VerifyError::BadSigLength(sig_bytes.len()));
    }
    let bytes: [u8; 64] = sig_bytes[..].try_into().expect("length checked");
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.0
        .verify(&raw, &signature)
        .map_err(|_| VerifyError::Invalid)
}

fn trim_key_text(text: &str) -> &str {
    text.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

fn read_key_file(path: &str, what: &str) -> Result<String, KeyError> {
    let bytes = crate::fsutil::read_capped(Path::new(path), 64 * 1024)
        .map_err(|e| kerr(format!("read {what} key: {e}")))?;
    String::from_utf8(bytes).map_err(|_| kerr(format!("read {what} key: {path} is not text")))
}

fn read_env(var: &str, what: &str) -> Result<String, KeyError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(kerr(format!("{what} key env not set: {var}"))),
    }
}

/// Where a key comes from: a file path or an environment variable (empty = unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySource {
    pub path: String,
    pub env: String,
}

impl KeySource {
    pub fn new(path: &str, env: &str) -> Self {
        KeySource {
            path: path.trim().to_string(),
            env: env.trim().to_string(),
        }
    }
    pub fn is_set(&self) -> bool {
        !self.path.is_empty() || !self.env.is_empty()
    }
    /// `path:<p>`, `env:<V>` or empty.
    pub fn describe(&self) -> String {
        if !self.path.is_empty() {
            format!("path:{}", self.path)
        } else if !self.env.is_empty() {
            format!("env:{}", self.env)
        } else {
            String::new()
        }
    }
    fn check_exclusive(&self, what: &str) -> Result<(), KeyError> {
        if !self.path.is_empty() && !self.env.is_empty() {
            return Err(kerr(format!("{what} key source: set either path or env")));
        }
        Ok(())
    }
    /// Loads a private key; `Ok(None)` when no source is set.
    pub fn load_private(&self) -> Result<Option<KeyPair>, KeyError> {
        self.check_exclusive("private")?;
        let text = if !self.path.is_empty() {
            read_key_file(&self.path, "private")?
        } else if !self.env.is_empty() {
            read_env(&self.env, "private")?
        } else {
            return Ok(None);
        };
        KeyPair::from_base64(&text).map(Some)
    }
    /// Loads a public key; `Ok(None)` when no source is set.
    pub fn load_public(&self) -> Result<Option<PublicKey>, KeyError> {
        self.check_exclusive("public")?;
        let text = if !self.path.is_empty() {
            read_key_file(&self.path, "public")?
        } else if !self.env.is_empty() {
            read_env(&self.env, "public")?
        } else {
            return Ok(None);
        };
        PublicKey::from_base64(&text).map(Some)
    }
}

/// The signer chosen by `--key-mode` and the private key source.
#[derive(Debug, Clone)]
pub struct Signer {
    pub key: KeyPair,
    pub warnings: Vec<String>,
}

/// Resolves `--key-mode dev|prod` with a private key source (reference rules, in order).
pub fn resolve_signer(key_mode: &str, private: &KeySource) -> Result<Signer, KeyError> {
    let mode = key_mode.trim().to_lowercase();
    match mode.as_str() {
        "" | "dev" => {
            if private.is_set() {
                return Err(kerr("dev mode does not accept explicit key sources"));
            }
            Ok(Signer {
                key: KeyPair::generate()?,
                warnings: vec![DEV_MODE_WARNING.to_string()],
            })
        }
        "prod" => {
            if !private.is_set() {
                return Err(kerr("prod mode requires a private key source"));
            }
            let key = private.load_private()?.expect("source is set");
            Ok(Signer {
                key,
                warnings: Vec::new(),
            })
        }
        _ => Err(kerr(format!("unsupported key mode: {:?}", key_mode.trim()))),
    }
}

/// A verify key: the public source if set, else the public half of the private source.
pub fn resolve_verify_key(
    public: &KeySource,
    private: &KeySource,
) -> Result<Option<PublicKey>, KeyError> {
    if let Some(k) = public.load_public()? {
        return Ok(Some(k));
    }
    Ok(private.load_private()?.map(|k| k.public()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sign_and_verify_round_trip_and_tamper() {
        let k = KeyPair::generate().unwrap();
        let rec = json!({"a": 1, "b": "x"});
        let sig = k.sign_value(&rec).unwrap();
        assert_eq!(sig.key_id.len(), 64);
        verify_value(&rec, &sig, &k.public()).unwrap();
        assert_eq!(
            verify_value(&json!({"a": 2, "b": "x"}), &sig, &k.public()),
            Err(VerifyError::DigestMismatch)
        );
        let other = KeyPair::generate().unwrap();
        assert_eq!(
            verify_value(&rec, &sig, &other.public()),
            Err(VerifyError::KeyIdMismatch)
        );
        let mut bad = sig.clone();
        bad.key_id.clear();
        assert_eq!(
            verify_value(&rec, &bad, &other.public()),
            Err(VerifyError::Invalid)
        );
        let mut none = sig.clone();
        none.signed_digest.clear();
        assert_eq!(
            verify_value(&rec, &none, &k.public()),
            Err(VerifyError::MissingDigest)
        );
    }

    #[test]
    fn key_text_round_trip_and_lengths() {
        let k = KeyPair::generate().unwrap();
        let again = KeyPair::from_base64(&format!(" {}\n", k.private_base64())).unwrap();
        assert_eq!(again.key_id(), k.key_id());
        assert_eq!(
            PublicKey::from_base64(&k.public().to_base64()).unwrap(),
            k.public()
        );
        assert_eq!(
            KeyPair::from_base64("AAAA").unwrap_err().to_string(),
            "invalid private key length: 3"
        );
        assert_eq!(
            PublicKey::from_base64("AAAA").unwrap_err().to_string(),
            "invalid public key length: 3"
        );
    }

    #[test]
    fn key_modes() {
        assert_eq!(
            resolve_signer("dev", &KeySource::new("k", ""))
                .unwrap_err()
                .to_string(),
            "dev mode does not accept explicit key sources"
        );
        assert_eq!(
            resolve_signer("prod", &KeySource::default())
                .unwrap_err()
                .to_string(),
            "prod mode requires a private key source"
        );
        assert_eq!(
            resolve_signer("hsm", &KeySource::default())
                .unwrap_err()
                .to_string(),
            "unsupported key mode: \"hsm\""
        );
        assert_eq!(
            resolve_signer("prod", &KeySource::new("a", "B"))
                .unwrap_err()
                .to_string(),
            "private key source: set either path or env"
        );
        let dev = resolve_signer(" DEV ", &KeySource::default()).unwrap();
        assert_eq!(dev.warnings, vec![DEV_MODE_WARNING.to_string()]);
    }
}
