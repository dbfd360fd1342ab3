//! What `/proc` tells about a process (the server's or our own): resident memory and CPU time.
//! Also raises our open-file limit so thousands of sockets fit.

use std::time::Duration;

use anyhow::{Context, bail};

/// Linux reports `utime`/`stime` in USER_HZ ticks, which is 100 on every mainstream platform.
const USER_HZ: u64 = 100;

/// Which process to read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Proc {
    /// This process (the load generator).
    Own,
    /// Another process by pid (the server).
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Own => format!("/proc/self/{file}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// Resident set size (`VmRSS` of `/proc/<pid>/status`), in bytes.
    pub(super) fn rss(self) -> anyhow::Result<u64> {
        let path = self.path("status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_vm_rss(&text).with_context(|| format!("no VmRSS in {path}"))
    }

    /// User and system CPU time (`utime`, `stime` of `/proc/<pid>/stat`), all threads.
    pub(super) fn cpu(self) -> anyhow::Result<CpuTimes> {
        let path = self.path("stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let (user, system) =
            parse_cpu_ticks(&text).with_context(|| format!("unexpected format of {path}"))?;
        Ok(CpuTimes {
            user: ticks(user),
            system: ticks(system),
        })
    }
}

/// CPU time spent in user space and in the kernel.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CpuTimes {
    pub(super) user: Duration,
    pub(super) system: Duration,
}

impl CpuTimes {
    pub(super) fn total(self) -> Duration {
        self.user + self.system
    }

    /// The time spent between `earlier` and `self`.
    pub(super) fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// The CPU time of several processes added up (the nodes of a cluster).
pub(super) fn cpu_sum(procs: &[Proc]) -> anyhow::Result<CpuTimes> {
    procs.iter().try_fold(CpuTimes::default(), |sum, p| {
        let t = p.cpu()?;
        Ok(CpuTimes {
            user: sum.user + t.user,
            system: sum.system + t.system,
        })
    })
}

/// The resident memory of several processes added up.
pub(super) fn rss_sum(procs: &[Proc]) -> anyhow::Result<u64> {
    procs.iter().try_fold(0, |sum, p| Ok(sum + p.rss()?))
}

/// CPU time all processes of the machine spent busy (not idle, not waiting for IO), from the
/// first line of `/proc/stat`.
pub(super) fn machine_busy() -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    parse_machine_busy(&text)
        .map(ticks)
        .context("unexpected format of /proc/stat")
}

fn ticks(n: u64) -> Duration {
    Duration::from_millis(n * 1000 / USER_HZ)
}

/// `cpu  user nice system idle iowait irq softirq steal …` → all but idle and iowait.
fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let (idle, iowait) = (*fields.get(3)?, *fields.get(4)?);
    let steal_and_before: u64 = fields.iter().take(8).sum();
    Some(steal_and_before - idle - iowait)
}

/// `VmRSS:    12345 kB` → bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Fields 14 and 15 (utime, stime) of a stat line. The command name (field 2) is in parentheses
/// and may contain spaces, so fields are counted after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Raises the soft open-file limit to the hard limit and checks that `needed` descriptors fit.
pub(super) fn ensure_fd_limit(needed: u64) -> anyhow::Result<u64> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")?;
    if limit < needed {
        bail!(
            "the open-file limit is {limit} but this run needs about {needed} descriptors: \
             use fewer --subscribers or raise the hard limit (ulimit -Hn)"
        );
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tsocfeed\nVmPeak:\t  9999 kB\nVmRSS:\t   2048 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn reads_cpu_ticks_after_the_command_name() {
        let stat =
            "4242 (sock feed) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some((250, 50)));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_machine_busy_time() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(100 + 5 + 50 + 3 + 2 + 1));
        assert_eq!(parse_machine_busy("intr 1 2 3\n"), None);
    }

    #[test]
    fn reads_our_own_process() {
        assert!(Proc::Own.rss().unwrap() > 0);
        let own = rss_sum(&[Proc::Own]).unwrap();
        assert!(rss_sum(&[Proc::Own, Proc::Own]).unwrap() >= own);
        assert!(cpu_sum(&[]).unwrap().total().is_zero());
        cpu_sum(&[Proc::Own, Proc::Own]).unwrap();
        Proc::Own.cpu().unwrap();
        machine_busy().unwrap();
    }
}
