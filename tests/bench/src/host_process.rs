//! The app host's process, found by its listening port (the harness keeps the child private),
//! and its peak memory from `/proc/<pid>/status`.

use anyhow::{bail, Context, Result};
use std::fs;

/// The pid of the app's host process: the one listening on its base URL's port.
pub fn of_app(app: &e2e::App) -> Result<u32> {
    let port: u16 = app
        .base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("no port in the base URL")?;
    pid_listening_on(port)
}

/// The pid of the process listening on 127.0.0.1:`port` (Linux `/proc`).
pub fn pid_listening_on(port: u16) -> Result<u32> {
    let inode = listening_inode(port)?;
    let wanted = format!("socket:[{inode}]");
    for entry in fs::read_dir("/proc").context("cannot list /proc")? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy() == wanted) {
                return Ok(pid);
            }
        }
    }
    bail!("no process of ours holds the socket listening on port {port}")
}

fn listening_inode(port: u16) -> Result<u64> {
    let table = fs::read_to_string("/proc/net/tcp").context("cannot read /proc/net/tcp")?;
    let local = format!(":{port:04X}");
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // local_address is column 1, state column 3 (0A = LISTEN), inode column 9.
        if cols.len() > 9 && cols[1].ends_with(&local) && cols[3] == "0A" {
            return cols[9].parse().context("bad inode in /proc/net/tcp");
        }
    }
    bail!("nothing listens on port {port} in /proc/net/tcp")
}

/// A `kB` figure from `/proc/<pid>/status`, e.g. `VmHWM` (peak resident set) or `VmRSS`.
pub fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("cannot read /proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let number = rest.trim().trim_end_matches("kB").trim();
            return number.parse().with_context(|| format!("bad {field} line: {line}"));
        }
    }
    bail!("{field} missing from /proc/{pid}/status")
}

/// CPU time (user + system) the process has used so far, in seconds, from `/proc/<pid>/stat`
/// (fields 14 and 15, in USER_HZ = 100 ticks per second on Linux).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat =
        fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its `)`.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("bad /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .context("short /proc/<pid>/stat")?
            .parse::<f64>()
            .context("bad tick count")
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
