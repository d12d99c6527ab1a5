//! `gait doctor` flags, Go `flag` style (`-x` ≡ `--x`, `--x v` or `--x=v`, booleans only as
//! `--b` or `--b=true|false`), parsed by hand: the launcher does not load clap on this path.

use crate::error::LauncherError;
use std::ffi::OsString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorArgs {
    pub workdir: String,
    pub output_dir: String,
    pub key_mode: String,
    pub private_key: String,
    pub private_key_env: String,
    pub public_key: String,
    pub public_key_env: String,
    pub production_readiness: bool,
    pub summary: bool,
    pub json: bool,
    pub help: bool,
    pub explain: bool,
}

impl Default for DoctorArgs {
    fn default() -> Self {
        DoctorArgs {
            workdir: ".".into(),
            output_dir: "./gait-out".into(),
            key_mode: "dev".into(),
            private_key: String::new(),
            private_key_env: String::new(),
            public_key: String::new(),
            public_key_env: String::new(),
            production_readiness: false,
            summary: false,
            json: false,
            help: false,
            explain: false,
        }
    }
}

fn usage(message: String) -> LauncherError {
    LauncherError::Usage {
        message,
        hint: Some("run `gait doctor --help` for usage".into()),
    }
}

impl DoctorArgs {
    pub fn parse(args: &[OsString]) -> Result<DoctorArgs, LauncherError> {
        let mut out = DoctorArgs::default();
        let mut i = 0;
        while i < args.len() {
            let raw = args[i]
                .to_str()
                .ok_or_else(|| usage("arguments must be valid UTF-8".into()))?;
            i += 1;
            let Some(body) = raw.strip_prefix("--").or_else(|| raw.strip_prefix('-')) else {
                return Err(usage(format!("unexpected positional arguments: {raw}")));
            };
            if body.is_empty() || body.starts_with('-') {
                return Err(usage(format!("bad flag syntax: {raw}")));
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let slot = match name {
                "workdir" => Some(&mut out.workdir),
                "output-dir" => Some(&mut out.output_dir),
                "key-mode" => Some(&mut out.key_mode),
                "private-key" => Some(&mut out.private_key),
                "private-key-env" => Some(&mut out.private_key_env),
                "public-key" => Some(&mut out.public_key),
                "public-key-env" => Some(&mut out.public_key_env),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = match inline {
                    Some(v) => v.to_string(),
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| usage(format!("flag needs an argument: -{name}")))?;
                        i += 1;
                        v.to_string_lossy().into_owned()
                    }
                };
                continue;
            }
            let flag = match name {
                "production-readiness" => &mut out.production_readiness,
                "summary" => &mut out.summary,
                "json" => &mut out.json,
                "help" | "h" => &mut out.help,
                "explain" => &mut out.explain,
                _ => return Err(usage(format!("flag provided but not defined: -{name}"))),
            };
            *flag = match inline {
                None => true,
                Some("true" | "1" | "t" | "T" | "TRUE" | "True") => true,
                Some("false" | "0" | "f" | "F" | "FALSE" | "False") => false,
                Some(v) => {
                    return Err(usage(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    )))
                }
            };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<DoctorArgs, LauncherError> {
        DoctorArgs::parse(&a.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn go_style_flags() {
        let a = p(&[
            "-json",
            "--workdir",
            "/w",
            "--key-mode=prod",
            "--summary=false",
        ])
        .unwrap();
        assert!(a.json && !a.summary);
        assert_eq!(a.workdir, "/w");
        assert_eq!(a.key_mode, "prod");
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["extra"]).is_err());
        assert!(p(&["--workdir"]).is_err());
        assert!(p(&["--json=maybe"]).is_err());
    }
}
