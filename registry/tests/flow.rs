//! The registry operations end to end through the library: a registry built and signed in a
//! temp dir, installs, updates, verification, lock and sync, and the refusals.

use gait_registry::index::{RegistryLocation, INDEX_FILE};
use gait_registry::install::{plugin_path, NoProgress};
use gait_registry::installed::InstallRecord;
use gait_registry::keys::{Keys, NoApprover};
use gait_registry::lockfile::Lockfile;
use gait_registry::ops::{self, Context, PluginSpec};
use gait_registry::sign::{generate_key, SigningKey};
use gait_registry::verify::Status;
use gait_registry::RegistryError;
use gait_sdk::trust::{sha256_file, TrustStore, TrustedKey};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    registry: PathBuf,
    key: SigningKey,
    public: TrustedKey,
}

fn script(name: &str, version: &str) -> String {
    format!(
        "#!/bin/sh\nif [ \"$1\" = --gait-manifest ]; then echo '{{\"schema_id\":\"gait.plugin.manifest\",\"contract_version\":\"1.0.0\",\"name\":\"{name}\",\"version\":\"{version}\",\"commands\":[{{\"name\":\"{name}\"}}]}}'; exit 0; fi\necho {name} {version}\n"
    )
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let g = generate_key(&root.join("publisher"), None).unwrap();
        let key = SigningKey::load(&g.secret_path, None).unwrap();
        let public = key.public_key().clone();
        let registry = root.join("registry");
        std::fs::create_dir_all(registry.join("plugins")).unwrap();
        Fixture {
            _tmp: tmp,
            root,
            registry,
            key,
            public,
        }
    }

    /// Publishes `plugins` (name, version) and writes and signs the index.
    fn publish(&self, plugins: &[(&str, &str)]) {
        let mut index = String::from("format = 1\nname = \"test\"\n");
        let mut names: Vec<&str> = plugins.iter().map(|p| p.0).collect();
        names.dedup();
        for name in names {
            write!(
                index,
                "\n[[plugin]]\nname = \"{name}\"\ndescription = \"The {name} plugin\"\n"
            )
            .unwrap();
            for (_, version) in plugins.iter().filter(|p| p.0 == name) {
                let rel = format!("plugins/gait-{name}-{version}");
                let f = self.registry.join(&rel);
                if !f.exists() {
                    std::fs::write(&f, script(name, version)).unwrap();
                    self.key.sign_to_file(&f, None).unwrap();
                }
                write!(
                    index,
                    "\n[[plugin.version]]\nversion = \"{version}\"\ncontract_version = \"1.0.0\"\ntarget = \"any\"\nfile = \"{rel}\"\nsha256 = \"{}\"\n",
                    sha256_file(&f).unwrap()
                )
                .unwrap();
            }
        }
        let p = self.registry.join(INDEX_FILE);
        std::fs::write(&p, index).unwrap();
        self.key.sign_to_file(&p, None).unwrap();
    }

    fn loc(&self) -> RegistryLocation {
        RegistryLocation::resolve(self.registry.to_str().unwrap()).unwrap()
    }

    fn plugin_dir(&self, n: &str) -> PathBuf {
        self.root.join(n)
    }

    fn trust_dir(&self) -> PathBuf {
        self.root.join("trust")
    }
}

fn run<T>(fx: &Fixture, dir: &Path, trust_key: bool, f: impl FnOnce(&mut Context<'_>) -> T) -> T {
    let store = TrustStore::load(&fx.trust_dir()).unwrap();
    let mut approver = NoApprover;
    let mut progress = NoProgress;
    let pre = if trust_key {
        vec![fx.public.clone()]
    } else {
        vec![]
    };
    let keys = Keys::new(store, pre, &mut approver);
    let mut ctx = Context::new(dir.to_path_buf(), keys, &mut progress);
    f(&mut ctx)
}

fn spec(s: &str) -> PluginSpec {
    PluginSpec::parse(s).unwrap()
}

#[test]
fn install_verify_update_remove() {
    let fx = Fixture::new();
    fx.publish(&[("hello", "0.1.0"), ("world", "1.0.0")]);
    let dir = fx.plugin_dir("p");

    // Unknown key, nobody approves: refused, nothing written.
    let e = run(&fx, &dir, false, |c| {
        ops::install(c, &fx.loc(), &spec("hello"))
    })
    .unwrap_err();
    assert!(
        matches!(&e, RegistryError::UntrustedKey { key_id, .. } if *key_id == fx.public.id),
        "{e:?}"
    );
    assert!(!dir.exists());

    // Preapproved (--trust-key): installed, key persisted.
    let out = run(&fx, &dir, true, |c| {
        let r = ops::install(c, &fx.loc(), &spec("hello"));
        assert_eq!(c.keys.newly_trusted().len(), 1);
        r
    })
    .unwrap();
    assert!(out.changed);
    assert_eq!(out.version, "0.1.0");
    let file = plugin_path(&dir, "hello");
    assert_eq!(sha256_file(&file).unwrap(), out.sha256);
    let rec = InstallRecord::load(&dir).unwrap();
    assert_eq!(rec.plugins.len(), 1);
    assert_eq!(rec.plugins[0].key_id, fx.public.id);

    // Now trusted from the store; a second install is a no-op.
    let again = run(&fx, &dir, false, |c| {
        ops::install(c, &fx.loc(), &spec("hello"))
    })
    .unwrap();
    assert!(!again.changed);
    let report = run(&fx, &dir, false, |c| ops::verify(&dir, &c.keys)).unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(report.plugins[0].status, Status::Ok);

    // A newer version: update replaces it and prunes the old record entry.
    fx.publish(&[("hello", "0.1.0"), ("hello", "0.2.0"), ("world", "1.0.0")]);
    let up = run(&fx, &dir, false, |c| ops::update(c, None, None)).unwrap();
    assert_eq!(up.updated.len(), 1);
    assert_eq!(up.updated[0].previous_version.as_deref(), Some("0.1.0"));
    let rec = InstallRecord::load(&dir).unwrap();
    assert_eq!(rec.plugins.len(), 1);
    assert_eq!(rec.plugins[0].version, "0.2.0");
    let up = run(&fx, &dir, false, |c| ops::update(c, None, None)).unwrap();
    assert!(up.updated.is_empty());
    assert_eq!(up.up_to_date.len(), 1);

    // Tampering is caught by verify.
    std::fs::write(&file, "#!/bin/sh\necho evil\n").unwrap();
    let report = run(&fx, &dir, false, |c| ops::verify(&dir, &c.keys)).unwrap();
    assert_eq!(report.plugins[0].status, Status::Tampered);

    let removed = ops::remove(&dir, "hello").unwrap();
    assert_eq!(removed.name, "hello");
    assert!(!file.exists());
    assert!(InstallRecord::load(&dir).unwrap().plugins.is_empty());
    assert!(matches!(
        ops::remove(&dir, "hello"),
        Err(RegistryError::Invalid { .. })
    ));
}

#[test]
fn unsigned_tampered_and_swapped_registries_are_refused() {
    let fx = Fixture::new();
    fx.publish(&[("hello", "0.1.0")]);
    let dir = fx.plugin_dir("p");
    let index = fx.registry.join(INDEX_FILE);
    let sig = fx.registry.join("index.toml.minisig");

    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replace("The hello plugin", "The hellO plugin")).unwrap();
    let e = run(&fx, &dir, true, |c| {
        ops::install(c, &fx.loc(), &spec("hello"))
    })
    .unwrap_err();
    assert!(matches!(e, RegistryError::Verification { .. }), "{e:?}");

    std::fs::write(&index, &text).unwrap();
    let saved_sig = std::fs::read_to_string(&sig).unwrap();
    std::fs::remove_file(&sig).unwrap();
    let e = run(&fx, &dir, true, |c| {
        ops::install(c, &fx.loc(), &spec("hello"))
    })
    .unwrap_err();
    assert!(matches!(e, RegistryError::Verification { .. }), "{e:?}");
    assert!(e.hint().unwrap().contains("gait plugin sign"));
    std::fs::write(&sig, saved_sig).unwrap();

    // The plugin file swapped after the index was signed: hash mismatch, nothing installed.
    let f = fx.registry.join("plugins/gait-hello-0.1.0");
    std::fs::write(&f, script("hello", "6.6.6")).unwrap();
    let e = run(&fx, &dir, true, |c| {
        ops::install(c, &fx.loc(), &spec("hello"))
    })
    .unwrap_err();
    assert!(matches!(e, RegistryError::Verification { .. }), "{e:?}");
    assert!(!plugin_path(&dir, "hello").exists());
    assert!(InstallRecord::load(&dir).unwrap().plugins.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn lock_then_sync_reproduces_and_drift_fails() {
    let fx = Fixture::new();
    fx.publish(&[("hello", "0.1.0"), ("world", "1.0.0")]);
    let dev = fx.plugin_dir("dev");
    run(&fx, &dev, true, |c| {
        ops::install(c, &fx.loc(), &spec("hello")).unwrap();
        ops::install(c, &fx.loc(), &spec("world")).unwrap();
    });
    let lock_path = fx.root.join("gait.lock");
    let report = run(&fx, &dev, false, |c| {
        ops::lock(c, Some(&fx.loc()), &lock_path)
    })
    .unwrap();
    assert_eq!(report.plugins.len(), 2);

    let ci = fx.plugin_dir("ci");
    let synced = run(&fx, &ci, false, |c| ops::sync(c, &lock_path, None, true)).unwrap();
    assert_eq!(synced.installed.len(), 2);
    for name in ["hello", "world"] {
        assert_eq!(
            sha256_file(&plugin_path(&ci, name)).unwrap(),
            sha256_file(&plugin_path(&dev, name)).unwrap()
        );
    }
    // Syncing again changes nothing.
    let again = run(&fx, &ci, false, |c| ops::sync(c, &lock_path, None, true)).unwrap();
    assert!(again.installed.is_empty());

    // An edited pin: drift (exit 2), before anything changes.
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    let hello_sha = Lockfile::parse(&lock, "l").unwrap().plugins[0]
        .sha256
        .clone();
    let edited = fx.root.join("edited.lock");
    std::fs::write(&edited, lock.replace(&hello_sha, &"f".repeat(64))).unwrap();
    let fresh = fx.plugin_dir("fresh");
    let e = run(&fx, &fresh, false, |c| ops::sync(c, &edited, None, true)).unwrap_err();
    assert!(matches!(e, RegistryError::Verification { .. }), "{e:?}");
    assert!(!plugin_path(&fresh, "world").exists());

    // A pin the registry does not publish: invalid input (exit 6).
    std::fs::write(&edited, lock.replace("\"0.1.0\"", "\"0.9.0\"")).unwrap();
    let e = run(&fx, &fresh, false, |c| ops::sync(c, &edited, None, true)).unwrap_err();
    assert!(matches!(e, RegistryError::Invalid { .. }), "{e:?}");

    // An installed plugin the lock does not pin: drift with --locked, removed without.
    let one = fx.root.join("one.lock");
    let parsed = Lockfile::parse(&lock, "l").unwrap();
    Lockfile::new(vec![parsed.plugins[0].clone()])
        .save(&one)
        .unwrap();
    let e = run(&fx, &ci, false, |c| ops::sync(c, &one, None, true)).unwrap_err();
    assert!(e.to_string().contains("world is installed"), "{e}");
    let converged = run(&fx, &ci, false, |c| ops::sync(c, &one, None, false)).unwrap();
    assert_eq!(converged.removed.len(), 1);
    assert!(!plugin_path(&ci, "world").exists());
}
