//! The hand-off to a plugin. The launcher replaces itself with the plugin (`exec`), so the
//! plugin's output, exit code and signals are the user's, with no launcher process in between.

use crate::config::ENV_LAUNCHER;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

/// The command line a plugin receives: `[plugin path, <command>, rest…]`. The top-level command
/// is passed through because one plugin may serve several (`gait policy test` runs
/// `gait-gate policy test`); `rest` is forwarded verbatim, never interpreted.
pub fn plugin_command(
    plugin: &Path,
    command: &OsStr,
    rest: &[OsString],
    launcher: Option<&Path>,
) -> Command {
    let mut cmd = Command::new(plugin);
    cmd.arg(command).args(rest);
    if let Some(l) = launcher {
        cmd.env(ENV_LAUNCHER, l);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_and_env() {
        let rest = [OsString::from("test"), OsString::from("--json")];
        let cmd = plugin_command(
            Path::new("/x/gait-gate"),
            OsStr::new("policy"),
            &rest,
            Some(Path::new("/x/gait")),
        );
        assert_eq!(cmd.get_program(), "/x/gait-gate");
        let args: Vec<&OsStr> = cmd.get_args().collect();
        assert_eq!(args, ["policy", "test", "--json"]);
        let env: Vec<_> = cmd.get_envs().collect();
        assert_eq!(
            env,
            [(OsStr::new(ENV_LAUNCHER), Some(OsStr::new("/x/gait")))]
        );
    }
}
