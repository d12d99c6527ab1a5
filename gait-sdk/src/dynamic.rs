//! Dynamic (in-process) plugins: a versioned JSON-in/JSON-out C ABI, the
//! [`export_dynamic_plugin!`](crate::export_dynamic_plugin) macro that lets a Rust `cdylib`
//! export a plugin in a few lines, and [`DynamicPlugin`], the host-side loader that refuses any
//! library not signed by a trusted key.
//!
//! # The ABI (version [`ABI_VERSION`])
//!
//! A dynamic plugin is a shared library exporting three unmangled C functions:
//!
//! ```text
//! uint32_t gait_plugin_abi_version(void);
//! int32_t  gait_plugin_call(const uint8_t *in_ptr, size_t in_len,
//!                           uint8_t **out_ptr, size_t *out_len);
//! void     gait_plugin_free(uint8_t *ptr, size_t len);
//! ```
//!
//! - `gait_plugin_abi_version` returns [`ABI_VERSION`]; the host refuses any other value before
//!   calling anything else.
//! - `gait_plugin_call` receives one UTF-8 JSON document (`in_ptr`, `in_len`; the host owns
//!   it and it is valid only during the call) and stores a buffer it allocated in `*out_ptr`,
//!   `*out_len`. It returns a [`status`] code: on [`status::OK`] the buffer is one UTF-8 JSON
//!   document (the result); on any other code it is a UTF-8 error message (possibly empty).
//! - The host copies the output and hands the buffer back through `gait_plugin_free(ptr, len)`,
//!   so memory is always freed by the allocator that allocated it.
//! - No panic or exception may unwind across the boundary: the macro catches panics and
//!   returns [`status::PANIC`].
//!
//! # Trust, and which bytes are loaded
//!
//! Loading a library runs its code (constructors run inside `dlopen`, before any symbol is
//! looked up), so [`DynamicPlugin::load`] verifies before it loads: the library must have a
//! detached minisign signature `<path>.minisig` made by a key in the [`TrustStore`]. Unsigned
//! libraries, signatures by unknown keys, and signatures that do not verify (tampered library
//! or signature) are refused with a precise [`DynamicError`]. Files trusted only by hash
//! (`gait plugin trust`) are not accepted for in-process loading.
//!
//! Time of check to time of use: verifying `<path>` and then `dlopen(<path>)` would let
//! anyone able to replace the file between the two steps load unverified code. The loader
//! instead copies the library and its signature once into a fresh private directory
//! (`0700`, in the system temporary directory, so `$TMPDIR` chooses it), verifies the copy,
//! and loads that same copy. Nobody but the current user (who could tamper with the process
//! anyway) can change the verified bytes before they are mapped. The copy is removed when the
//! [`DynamicPlugin`] is dropped. A temporary directory on a `noexec` mount cannot be
//! loaded from; point `TMPDIR` elsewhere in that case.
//!
//! # What isolation there is not
//!
//! An in-process plugin shares the host's address space: it can crash or corrupt the host, and
//! a library built with `panic = "abort"` aborts the host on panic (the macro only catches
//! unwinding panics). That is why only signed libraries from trusted keys are loaded.
//!
//! This is the one module of the SDK that uses `unsafe`: FFI calls through function pointers
//! and the raw-pointer handling of the ABI cannot be expressed otherwise. Each block carries a
//! `SAFETY` comment.

#![allow(unsafe_code)]

use crate::fsutil;
use crate::trust::{self, SignatureStatus, TrustError, TrustStore};
use serde_json::Value;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Version of the dynamic plugin ABI. Bumped on any change to the exported symbols, their
/// signatures, the status codes or the ownership rules.
pub const ABI_VERSION: u32 = 1;

/// Exported symbol returning the plugin's ABI version.
pub const SYMBOL_ABI_VERSION: &str = "gait_plugin_abi_version";
/// Exported symbol taking a JSON input and producing a JSON output.
pub const SYMBOL_CALL: &str = "gait_plugin_call";
/// Exported symbol freeing an output buffer.
pub const SYMBOL_FREE: &str = "gait_plugin_free";

/// Largest library the loader copies and verifies.
pub const MAX_LIBRARY_SIZE: u64 = 256 * 1024 * 1024;
/// Largest output the host accepts from one call.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// Largest signature file read.
const MAX_SIGNATURE_SIZE: u64 = 1024 * 1024;
/// Longest error message kept from a plugin.
const MAX_MESSAGE: usize = 4096;

/// Return codes of `gait_plugin_call`.
pub mod status {
    /// Success: the output is the result JSON document.
    pub const OK: i32 = 0;
    /// The handler returned an error: the output is its message.
    pub const HANDLER_ERROR: i32 = 1;
    /// The handler panicked (caught): the output is the panic message.
    pub const PANIC: i32 = 2;
    /// The input was not one UTF-8 JSON document, or a pointer argument was null.
    pub const BAD_INPUT: i32 = 3;
}

/// What a Rust dynamic plugin implements: one JSON value in, one JSON value or an error out.
pub type Handler = fn(Value) -> Result<Value, String>;

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type CallFn = unsafe extern "C" fn(*const u8, usize, *mut *mut u8, *mut usize) -> i32;
type FreeFn = unsafe extern "C" fn(*mut u8, usize);

/// Why a dynamic plugin was refused or a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DynamicError {
    #[error("{path} is not signed: {path}.minisig is missing (dynamic plugins must be signed by a trusted key)")]
    Unsigned { path: String },
    #[error("{path} is signed by key {key_id}, which is not in the trust store")]
    UnknownKey { path: String, key_id: String },
    #[error("signature of {path} does not verify (key {key_id}): {reason}")]
    BadSignature {
        path: String,
        key_id: String,
        reason: String,
    },
    #[error("trust store: {0}")]
    Trust(#[from] TrustError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("load {path}: {message}")]
    Load { path: String, message: String },
    #[error("{path} does not export {symbol}: {message}")]
    MissingSymbol {
        path: String,
        symbol: &'static str,
        message: String,
    },
    #[error("{path} speaks dynamic plugin ABI {found}, this host speaks {expected}")]
    AbiMismatch {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("plugin input: {0}")]
    Input(String),
    #[error("plugin returned error code {code}: {message}")]
    PluginError { code: i32, message: String },
    #[error("plugin panicked: {message}")]
    Panicked { message: String },
    #[error("plugin output: {0}")]
    BadOutput(String),
}

impl DynamicError {
    /// A stable, machine-readable name of the failure (`unsigned`, `untrusted_key`,
    /// `bad_signature`, `trust_store`, `io`, `load_failed`, `missing_symbol`, `abi_mismatch`,
    /// `bad_input`, `plugin_error`, `panic`, `bad_output`).
    pub fn kind(&self) -> &'static str {
        match self {
            DynamicError::Unsigned { .. } => "unsigned",
            DynamicError::UnknownKey { .. } => "untrusted_key",
            DynamicError::BadSignature { .. } => "bad_signature",
            DynamicError::Trust(_) => "trust_store",
            DynamicError::Io { .. } => "io",
            DynamicError::Load { .. } => "load_failed",
            DynamicError::MissingSymbol { .. } => "missing_symbol",
            DynamicError::AbiMismatch { .. } => "abi_mismatch",
            DynamicError::Input(_) => "bad_input",
            DynamicError::PluginError { .. } => "plugin_error",
            DynamicError::Panicked { .. } => "panic",
            DynamicError::BadOutput(_) => "bad_output",
        }
    }
}

/// A loaded, verified dynamic plugin.
pub struct DynamicPlugin {
    call: CallFn,
    free: FreeFn,
    path: PathBuf,
    sha256: String,
    key_id: String,
    // Declared before `_dir` so the library is unloaded before its file is removed.
    _library: Option<libloading::Library>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for DynamicPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicPlugin")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> DynamicError {
    DynamicError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Copies a regular file of at most `limit` bytes to a new file `to` (mode 0600).
fn copy_capped(from: &Path, to: &Path, limit: u64) -> Result<(), DynamicError> {
    let src = fs::File::open(from).map_err(|e| io_err(from, e))?;
    let meta = src.metadata().map_err(|e| io_err(from, e))?;
    if !meta.is_file() {
        return Err(io_err(from, "not a regular file"));
    }
    if meta.len() > limit {
        return Err(io_err(from, format!("larger than {limit} bytes")));
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut dst = options.open(to).map_err(|e| io_err(to, e))?;
    let copied = io::copy(&mut src.take(limit + 1), &mut dst).map_err(|e| io_err(from, e))?;
    if copied > limit {
        return Err(io_err(from, format!("larger than {limit} bytes")));
    }
    Ok(())
}

fn open_library(path: &Path) -> Result<libloading::Library, DynamicError> {
    let load_err = |e: libloading::Error| DynamicError::Load {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: loading runs the library's initialisers. The caller verified the exact file
        // being loaded (a private copy) against a trusted signature, which is the trust
        // decision this module exists to make. RTLD_NOW resolves every symbol up front so a
        // broken library fails here rather than mid-call; RTLD_LOCAL keeps its symbols out of
        // the global namespace.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(load_err)?;
        Ok(lib.into())
    }
    #[cfg(not(unix))]
    {
        // SAFETY: as above: the exact file being loaded was verified against a trusted
        // signature first.
        unsafe { libloading::Library::new(path) }.map_err(load_err)
    }
}

/// Looks up an exported function `name` of type `T` (a function pointer type).
///
/// # Safety
///
/// `T` must be the true type of the exported symbol, and the returned pointer must not be
/// used after `lib` is unloaded.
unsafe fn symbol<T: Copy>(
    lib: &libloading::Library,
    path: &Path,
    name: &'static str,
) -> Result<T, DynamicError> {
    let mut cname = name.as_bytes().to_vec();
    cname.push(0);
    // SAFETY: the caller guarantees `T` is the symbol's type (the ABI fixes it).
    let sym = unsafe { lib.get::<T>(&cname) }.map_err(|e| DynamicError::MissingSymbol {
        path: path.display().to_string(),
        symbol: name,
        message: e.to_string(),
    })?;
    Ok(*sym)
}

fn lossy_message(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl DynamicPlugin {
    /// Verifies `path` against `<path>.minisig` and the trust store, then loads it and checks
    /// its ABI version. Verification and loading use one private copy of the library (see the
    /// module docs), so the bytes verified are the bytes loaded.
    pub fn load(path: &Path, store: &TrustStore) -> Result<DynamicPlugin, DynamicError> {
        let shown = path.display().to_string();
        let sig_path = trust::signature_path(path);
        match fs::symlink_metadata(&sig_path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(DynamicError::Unsigned { path: shown })
            }
            Err(e) => return Err(io_err(&sig_path, e)),
        }
        let dir = tempfile::Builder::new()
            .prefix(".gait-dynamic-")
            .tempdir()
            .map_err(|e| io_err(&std::env::temp_dir(), e))?;
        let name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "plugin".into());
        let copy = dir.path().join(name);
        copy_capped(path, &copy, MAX_LIBRARY_SIZE)?;
        let sig =
            fsutil::read_capped(&sig_path, MAX_SIGNATURE_SIZE).map_err(|e| io_err(&sig_path, e))?;
        fs::write(trust::signature_path(&copy), sig).map_err(|e| io_err(&sig_path, e))?;

        let key_id = match store.check_signature(&copy)? {
            SignatureStatus::Verified { key_id } => key_id,
            SignatureStatus::Unsigned => return Err(DynamicError::Unsigned { path: shown }),
            SignatureStatus::UnknownKey { key_id } => {
                return Err(DynamicError::UnknownKey {
                    path: shown,
                    key_id,
                })
            }
            SignatureStatus::Invalid { key_id, reason } => {
                return Err(DynamicError::BadSignature {
                    path: shown,
                    key_id,
                    reason,
                })
            }
        };
        let sha256 = trust::sha256_file(&copy).map_err(|e| io_err(&copy, e))?;

        let library = open_library(&copy)?;
        // SAFETY: the ABI fixes the types of the three symbols; the pointers are stored next
        // to the library in the returned value and never outlive it.
        let (abi, call, free) = unsafe {
            let abi: AbiVersionFn = symbol(&library, path, SYMBOL_ABI_VERSION)?;
            let call: CallFn = symbol(&library, path, SYMBOL_CALL)?;
            let free: FreeFn = symbol(&library, path, SYMBOL_FREE)?;
            (abi, call, free)
        };
        // SAFETY: a function of the ABI's type with no arguments, exported by the verified
        // library that is still loaded.
        let found = unsafe { abi() };
        if found != ABI_VERSION {
            return Err(DynamicError::AbiMismatch {
                path: shown,
                found,
                expected: ABI_VERSION,
            });
        }
        Ok(DynamicPlugin {
            call,
            free,
            path: path.to_path_buf(),
            sha256,
            key_id,
            _library: Some(library),
            _dir: Some(dir),
        })
    }

    /// The path the plugin was loaded from (not the private copy).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lower-case hex SHA-256 of the verified, loaded bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The trusted key that signed the library.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Calls the plugin with one JSON value. A nonzero return, a caught panic, an output that
    /// is not one UTF-8 JSON document, or an output over [`MAX_OUTPUT`] is an error.
    pub fn call(&self, input: &Value) -> Result<Value, DynamicError> {
        let bytes = serde_json::to_vec(input).map_err(|e| DynamicError::Input(e.to_string()))?;
        let mut out_ptr: *mut u8 = std::ptr::null_mut();
        let mut out_len: usize = 0;
        // SAFETY: `call` has the ABI's type and its library is loaded for the lifetime of
        // `self`. The input pointer and length describe `bytes`, alive for the whole call;
        // the two out-pointers point to live locals.
        let rc = unsafe { (self.call)(bytes.as_ptr(), bytes.len(), &mut out_ptr, &mut out_len) };
        let out = self.take_output(out_ptr, out_len)?;
        match rc {
            status::OK => {
                let text = std::str::from_utf8(&out)
                    .map_err(|e| DynamicError::BadOutput(format!("not UTF-8: {e}")))?;
                serde_json::from_str(text)
                    .map_err(|e| DynamicError::BadOutput(format!("not one JSON document: {e}")))
            }
            status::PANIC => Err(DynamicError::Panicked {
                message: lossy_message(&out),
            }),
            code => Err(DynamicError::PluginError {
                code,
                message: lossy_message(&out),
            }),
        }
    }

    /// Copies the plugin's output buffer and hands it back to the plugin's allocator.
    fn take_output(&self, ptr: *mut u8, len: usize) -> Result<Vec<u8>, DynamicError> {
        if ptr.is_null() {
            if len == 0 {
                return Ok(Vec::new());
            }
            return Err(DynamicError::BadOutput(format!(
                "null buffer with length {len}"
            )));
        }
        if len > MAX_OUTPUT {
            // SAFETY: the plugin allocated this buffer in `gait_plugin_call`; it is returned
            // exactly once, unread.
            unsafe { (self.free)(ptr, len) };
            return Err(DynamicError::BadOutput(format!(
                "{len} bytes, more than the {MAX_OUTPUT} accepted"
            )));
        }
        // SAFETY: per the ABI the plugin stored a buffer of `len` initialised bytes that stays
        // valid until it is passed to `gait_plugin_free`; `len` is capped above, so the slice
        // is well within `isize::MAX`.
        let copy = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
        // SAFETY: returned exactly once, after the last read.
        unsafe { (self.free)(ptr, len) };
        Ok(copy)
    }
}

/// The plugin side of the ABI, used by [`export_dynamic_plugin!`](crate::export_dynamic_plugin).
/// Not for direct use.
#[doc(hidden)]
pub mod export {
    use super::{status, Handler};
    use serde_json::Value;
    use std::cell::{Cell, RefCell};
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Once;

    thread_local! {
        static IN_CALL: Cell<bool> = const { Cell::new(false) };
        static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    }
    static HOOK: Once = Once::new();

    /// Installs (once) a panic hook that records the message of a panic raised inside a call
    /// instead of printing it; panics elsewhere go to the previous hook.
    fn install_hook() {
        HOOK.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if IN_CALL.try_with(Cell::get).unwrap_or(false) {
                    let payload = info.payload();
                    let msg = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".to_string());
                    let msg = match info.location() {
                        Some(l) => format!("{msg} (at {}:{})", l.file(), l.line()),
                        None => msg,
                    };
                    let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some(msg));
                } else {
                    previous(info);
                }
            }));
        });
    }

    /// Runs the handler on the input bytes; never panics or unwinds.
    pub fn run(handler: Handler, input: &[u8]) -> (i32, Vec<u8>) {
        let value: Value = match std::str::from_utf8(input)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return (status::BAD_INPUT, format!("input is not JSON: {e}").into()),
        };
        install_hook();
        IN_CALL.with(|c| c.set(true));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match handler(value) {
            Ok(v) => serde_json::to_vec(&v)
                .map(|b| (status::OK, b))
                .unwrap_or_else(|e| (status::HANDLER_ERROR, e.to_string().into_bytes())),
            Err(msg) => (status::HANDLER_ERROR, msg.into_bytes()),
        }));
        IN_CALL.with(|c| c.set(false));
        match outcome {
            Ok(r) => r,
            Err(payload) => {
                // Dropping a payload could itself panic; leak it instead.
                std::mem::forget(payload);
                let msg = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "panic".to_string());
                (status::PANIC, msg.into_bytes())
            }
        }
    }

    /// The body of an exported `gait_plugin_call`.
    ///
    /// # Safety
    ///
    /// `in_ptr` must point to `in_len` readable bytes (or be anything when `in_len` is 0);
    /// `out_ptr` and `out_len` must be null or valid for writes.
    pub unsafe fn call(
        handler: Handler,
        in_ptr: *const u8,
        in_len: usize,
        out_ptr: *mut *mut u8,
        out_len: *mut usize,
    ) -> i32 {
        if out_ptr.is_null() || out_len.is_null() {
            return status::BAD_INPUT;
        }
        let (code, bytes) = if in_len == 0 {
            run(handler, &[])
        } else if in_ptr.is_null() {
            (status::BAD_INPUT, b"null input pointer".to_vec())
        } else {
            // SAFETY: non-null, and the caller guarantees `in_len` readable bytes that stay
            // valid for the call.
            let input = unsafe { std::slice::from_raw_parts(in_ptr, in_len) };
            run(handler, input)
        };
        let boxed: Box<[u8]> = bytes.into_boxed_slice();
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *mut u8;
        // SAFETY: both out-pointers were checked non-null and the caller guarantees they are
        // valid for writes.
        unsafe {
            *out_ptr = ptr;
            *out_len = len;
        }
        code
    }

    /// The body of an exported `gait_plugin_free`.
    ///
    /// # Safety
    ///
    /// `ptr`/`len` must be a buffer returned by [`call`] and not yet freed (or `ptr` null).
    pub unsafe fn free(ptr: *mut u8, len: usize) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: `ptr`/`len` came from `Box::<[u8]>::into_raw` in `call` (the caller
        // guarantees it), so rebuilding the box frees it with the allocator that made it.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

/// Exports a Rust function as a Gait dynamic plugin. Use it once, at the root of a `cdylib`
/// crate that depends on `gait-sdk` with the `dynamic` feature:
///
/// ```ignore
/// fn check(input: serde_json::Value) -> Result<serde_json::Value, String> {
///     Ok(serde_json::json!({"verdict": "allow", "reason_codes": []}))
/// }
/// gait_sdk::export_dynamic_plugin!(check);
/// ```
///
/// It defines `gait_plugin_abi_version`, `gait_plugin_call` and `gait_plugin_free`. The
/// handler runs inside `catch_unwind`: a panic becomes [`dynamic::status::PANIC`] with the
/// panic message, never an unwind across the C boundary.
///
/// [`dynamic::status::PANIC`]: crate::dynamic::status::PANIC
#[macro_export]
macro_rules! export_dynamic_plugin {
    ($handler:path) => {
        /// The dynamic plugin ABI version this library speaks.
        #[unsafe(no_mangle)]
        pub extern "C" fn gait_plugin_abi_version() -> u32 {
            $crate::dynamic::ABI_VERSION
        }

        /// Calls the plugin on one JSON document.
        ///
        /// # Safety
        ///
        /// See the ABI in `gait_sdk::dynamic`: `in_ptr` points to `in_len` readable bytes;
        /// `out_ptr` and `out_len` are valid for writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn gait_plugin_call(
            in_ptr: *const u8,
            in_len: usize,
            out_ptr: *mut *mut u8,
            out_len: *mut usize,
        ) -> i32 {
            let handler: $crate::dynamic::Handler = $handler;
            // SAFETY: the caller upholds the ABI contract documented above.
            unsafe { $crate::dynamic::export::call(handler, in_ptr, in_len, out_ptr, out_len) }
        }

        /// Frees a buffer returned by `gait_plugin_call`.
        ///
        /// # Safety
        ///
        /// `ptr`/`len` must come from `gait_plugin_call` and not have been freed.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn gait_plugin_free(ptr: *mut u8, len: usize) {
            // SAFETY: the caller upholds the ABI contract documented above.
            unsafe { $crate::dynamic::export::free(ptr, len) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn handler(v: Value) -> Result<Value, String> {
        match v["mode"].as_str() {
            Some("panic") => panic!("boom"),
            Some("error") => Err("nope".into()),
            _ => Ok(json!({"echo": v})),
        }
    }

    crate::export_dynamic_plugin!(handler);

    // Plugins that break the ABI in ways a real library could.
    unsafe extern "C" fn bad_utf8(
        _: *const u8,
        _: usize,
        out_ptr: *mut *mut u8,
        out_len: *mut usize,
    ) -> i32 {
        let b: Box<[u8]> = vec![0xff, 0xfe].into_boxed_slice();
        // SAFETY: test double; the host passes valid out-pointers.
        unsafe {
            *out_len = b.len();
            *out_ptr = Box::into_raw(b) as *mut u8;
        }
        status::OK
    }

    unsafe extern "C" fn not_json(
        _: *const u8,
        _: usize,
        out_ptr: *mut *mut u8,
        out_len: *mut usize,
    ) -> i32 {
        let b: Box<[u8]> = b"{\"verdict\":".to_vec().into_boxed_slice();
        // SAFETY: test double; the host passes valid out-pointers.
        unsafe {
            *out_len = b.len();
            *out_ptr = Box::into_raw(b) as *mut u8;
        }
        status::OK
    }

    unsafe extern "C" fn odd_code(
        _: *const u8,
        _: usize,
        out_ptr: *mut *mut u8,
        out_len: *mut usize,
    ) -> i32 {
        // SAFETY: test double; the host passes valid out-pointers.
        unsafe {
            *out_ptr = std::ptr::null_mut();
            *out_len = 0;
        }
        42
    }

    fn in_process(call: CallFn) -> DynamicPlugin {
        DynamicPlugin {
            call,
            free: gait_plugin_free,
            path: PathBuf::from("in-process"),
            sha256: String::new(),
            key_id: String::new(),
            _library: None,
            _dir: None,
        }
    }

    #[test]
    fn exported_functions_round_trip_json() {
        assert_eq!(gait_plugin_abi_version(), ABI_VERSION);
        let p = in_process(gait_plugin_call);
        assert_eq!(
            p.call(&json!({"a": [1, "x"]})).unwrap(),
            json!({"echo": {"a": [1, "x"]}})
        );
    }

    #[test]
    fn handler_errors_and_panics_are_errors_not_unwinds() {
        let p = in_process(gait_plugin_call);
        assert_eq!(
            p.call(&json!({"mode": "error"})).unwrap_err(),
            DynamicError::PluginError {
                code: status::HANDLER_ERROR,
                message: "nope".into()
            }
        );
        let e = p.call(&json!({"mode": "panic"})).unwrap_err();
        assert_eq!(e.kind(), "panic");
        assert!(e.to_string().contains("boom"), "{e}");
        // The plugin still works after a panic.
        assert!(p.call(&json!({})).is_ok());
    }

    #[test]
    fn malformed_outputs_are_refused() {
        let e = in_process(bad_utf8).call(&json!({})).unwrap_err();
        assert_eq!(e.kind(), "bad_output");
        assert!(e.to_string().contains("UTF-8"), "{e}");
        let e = in_process(not_json).call(&json!({})).unwrap_err();
        assert_eq!(e.kind(), "bad_output");
        let e = in_process(odd_code).call(&json!({})).unwrap_err();
        assert_eq!(
            e,
            DynamicError::PluginError {
                code: 42,
                message: String::new()
            }
        );
    }

    #[test]
    fn export_side_rejects_bad_input_and_null_pointers() {
        let (code, msg) = export::run(handler, b"\xff not json");
        assert_eq!(code, status::BAD_INPUT);
        assert!(!msg.is_empty());
        // SAFETY: null out-pointers are the case under test; nothing is written.
        let rc = unsafe {
            gait_plugin_call(
                b"{}".as_ptr(),
                2,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, status::BAD_INPUT);
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: a null input pointer with a nonzero length is the case under test; the
        // out-pointers are valid and the returned buffer is freed below.
        let rc = unsafe { gait_plugin_call(std::ptr::null(), 5, &mut out, &mut len) };
        assert_eq!(rc, status::BAD_INPUT);
        // SAFETY: the buffer just returned, freed once.
        unsafe { gait_plugin_free(out, len) };
    }

    // Signed with the `minisign` tool (see trust.rs): hello.txt is validly signed but is not a
    // library, so it gets past verification and only then fails to load.
    const PUB: &str = include_str!("../tests/fixtures/minisign/test.pub");
    const SIG: &str = include_str!("../tests/fixtures/minisign/hello.txt.minisig");
    const HELLO: &[u8] = include_bytes!("../tests/fixtures/minisign/hello.txt");

    fn store_with_key(dir: &Path) -> TrustStore {
        let mut store = TrustStore::load(&dir.join("trust")).unwrap();
        store.add(trust::TrustedKey::parse(PUB, "test").unwrap());
        store
    }

    #[test]
    fn load_refuses_unsigned_unknown_key_and_tampered_before_loading() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, HELLO).unwrap();
        let empty = TrustStore::load(&dir.path().join("none")).unwrap();
        let trusted = store_with_key(dir.path());

        let e = DynamicPlugin::load(&lib, &trusted).unwrap_err();
        assert!(matches!(e, DynamicError::Unsigned { .. }), "{e}");

        std::fs::write(trust::signature_path(&lib), SIG).unwrap();
        let e = DynamicPlugin::load(&lib, &empty).unwrap_err();
        assert_eq!(e.kind(), "untrusted_key", "{e}");
        assert!(e.to_string().contains("69EAA7E6ABEC3C9D"), "{e}");

        // Verified, so the loader goes on to dlopen, which fails: it is not a library.
        let e = DynamicPlugin::load(&lib, &trusted).unwrap_err();
        assert_eq!(e.kind(), "load_failed", "{e}");

        let mut tampered = HELLO.to_vec();
        tampered[0] ^= 1;
        std::fs::write(&lib, tampered).unwrap();
        let e = DynamicPlugin::load(&lib, &trusted).unwrap_err();
        assert_eq!(e.kind(), "bad_signature", "{e}");

        std::fs::write(trust::signature_path(&lib), "garbage").unwrap();
        let e = DynamicPlugin::load(&lib, &trusted).unwrap_err();
        assert_eq!(e.kind(), "bad_signature", "{e}");

        let e = DynamicPlugin::load(&dir.path().join("missing.so"), &trusted).unwrap_err();
        assert_eq!(e.kind(), "unsigned", "{e}");
        std::fs::write(dir.path().join("missing.so.minisig"), SIG).unwrap();
        let e = DynamicPlugin::load(&dir.path().join("missing.so"), &trusted).unwrap_err();
        assert_eq!(e.kind(), "io", "{e}");
    }

    #[test]
    fn copies_are_capped_and_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a");
        std::fs::write(&src, [0u8; 10]).unwrap();
        assert!(copy_capped(&src, &dir.path().join("b"), 9).is_err());
        copy_capped(&src, &dir.path().join("c"), 10).unwrap();
        assert!(copy_capped(dir.path(), &dir.path().join("d"), 10).is_err());
    }
}
