//! Deciding which signing keys to trust during a registry command.
//!
//! Keys already in the trust store are used as they are. A key the store does not hold is
//! trusted only when the user named it (`--trust-key`, the *preapproved* keys) or an
//! [`KeyApprover`] (the launcher's terminal prompt) says yes; either way it is persisted to
//! the trust store so later runs, and the launcher admitting the installed plugin, know it.

use crate::error::{RegistryError, Result};
use gait_sdk::fsutil;
use gait_sdk::trust::{TrustStore, TrustedKey};
use std::path::{Path, PathBuf};

/// A public key a registry ships (`<registry>/keys/*.pub`) for first-use trust.
#[derive(Debug, Clone)]
pub struct OfferedKey {
    pub key: TrustedKey,
    pub path: PathBuf,
}

/// One decision to make: `what` is signed by `key_id`, which the store does not hold.
#[derive(Debug)]
pub struct KeyRequest<'a> {
    pub key_id: &'a str,
    pub what: &'a str,
    /// The public key the registry offers for this id, if any.
    pub offered: Option<&'a OfferedKey>,
}

/// Asks whether to trust a key (the launcher asks on a terminal).
pub trait KeyApprover {
    /// Returns the key to trust (its id must be `request.key_id`), or `None` to refuse.
    fn approve(&mut self, request: &KeyRequest<'_>) -> Result<Option<TrustedKey>>;
}

/// Never trusts anything new (no terminal, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoApprover;

impl KeyApprover for NoApprover {
    fn approve(&mut self, _request: &KeyRequest<'_>) -> Result<Option<TrustedKey>> {
        Ok(None)
    }
}

/// A key trusted during this command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewlyTrusted {
    pub key_id: String,
    /// Where it was persisted in the trust store.
    pub path: String,
}

/// The trust store plus the way to extend it during one command.
pub struct Keys<'a> {
    store: TrustStore,
    preapproved: Vec<TrustedKey>,
    approver: &'a mut dyn KeyApprover,
    newly_trusted: Vec<NewlyTrusted>,
}

impl<'a> Keys<'a> {
    pub fn new(
        store: TrustStore,
        preapproved: Vec<TrustedKey>,
        approver: &'a mut dyn KeyApprover,
    ) -> Keys<'a> {
        Keys {
            store,
            preapproved,
            approver,
            newly_trusted: Vec::new(),
        }
    }

    pub fn store(&self) -> &TrustStore {
        &self.store
    }

    /// Keys persisted during this command.
    pub fn newly_trusted(&self) -> &[NewlyTrusted] {
        &self.newly_trusted
    }

    /// The trusted key `key_id`, asking for approval (and persisting it) when the store does
    /// not hold it yet.
    pub fn require(
        &mut self,
        key_id: &str,
        what: &str,
        offered: Option<&OfferedKey>,
    ) -> Result<TrustedKey> {
        if let Some(k) = self.store.key(key_id) {
            return Ok(k.clone());
        }
        let chosen = match self.preapproved.iter().find(|k| k.id == key_id) {
            Some(k) => Some(k.clone()),
            None => self.approver.approve(&KeyRequest {
                key_id,
                what,
                offered,
            })?,
        };
        let Some(key) = chosen else {
            return Err(RegistryError::UntrustedKey {
                what: what.to_string(),
                key_id: key_id.to_string(),
                offered: offered.map(|o| o.path.display().to_string()),
            });
        };
        if key.id != key_id {
            return Err(RegistryError::invalid(format!(
                "the approved key is {}, but {what} is signed by key {key_id}",
                key.id
            )));
        }
        let path = self
            .store
            .persist_key(key.clone())
            .map_err(|e| RegistryError::from(e).context(&format!("trust key {key_id}")))?;
        self.newly_trusted.push(NewlyTrusted {
            key_id: key.id.clone(),
            path: path.display().to_string(),
        });
        Ok(key)
    }
}

/// Largest offered public key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The public key with id `key_id` among `<root>/keys/*.pub`, if the registry ships it.
/// Unreadable or malformed files are skipped: an offered key is only a suggestion shown to
/// the user, never trusted without approval.
pub fn offered_key(root: &Path, key_id: &str) -> Option<OfferedKey> {
    let dir = root.join("keys");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    paths.into_iter().find_map(|p| {
        let bytes = fsutil::read_capped(&p, MAX_KEY_FILE).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let key = TrustedKey::parse(&text, &p.display().to_string()).ok()?;
        (key.id == key_id).then_some(OfferedKey { key, path: p })
    })
}
