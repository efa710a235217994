//! Ancestry for deny events. The kernel records ancestors at exec time in
//! exec events; a deny record names only the denied process. bd-watch keeps
//! the ancestors of every exec it reads (whatever the filters) and gives a
//! deny the chain of its process's last exec, checked against /proc while
//! the process lives; a process never seen exec'ing (it predates bd-watch,
//! or forked without exec) gets a chain read from /proc, which is racy
//! against a parent exiting: the line says which source it came from.

use boundary::event::{AncestorLine, BD_ANC_MAX};
use std::collections::HashMap;

/// Bound on remembered processes; past it the table starts over (entries
/// are a few hundred bytes; this is a cache, /proc is the fallback).
const CAP: usize = 32_768;

#[derive(Default)]
pub struct Tree {
    by_pid: HashMap<u32, Vec<AncestorLine>>,
}

/// (comm, ppid) of a live process, from /proc/PID/stat.
fn stat(pid: u32) -> Option<(String, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: it ends at the last ')'.
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let mut rest = s.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, ppid))
}

fn exe_name(pid: u32) -> Option<String> {
    let p = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(p.file_name()?.to_string_lossy().into_owned())
}

impl Tree {
    pub fn note_exec(&mut self, pid: u32, ancestors: Vec<AncestorLine>) {
        if self.by_pid.len() >= CAP && !self.by_pid.contains_key(&pid) {
            self.by_pid.clear();
        }
        self.by_pid.insert(pid, ancestors);
    }

    /// The ancestors of `pid` and where they came from ("exec" or "proc").
    pub fn ancestors_of(&self, pid: u32) -> Option<(Vec<AncestorLine>, &'static str)> {
        let live = stat(pid);
        if let Some(a) = self.by_pid.get(&pid) {
            // A live process whose parent is not the recorded one is another
            // process under a reused pid (or was reparented): ask /proc.
            match &live {
                None => return Some((a.clone(), "exec")),
                Some((_, ppid)) if a.first().is_some_and(|x| x.pid == *ppid) => {
                    return Some((a.clone(), "exec"))
                }
                Some(_) => {}
            }
        }
        let (_, mut ppid) = live?;
        let mut out = Vec::new();
        while ppid != 0 && out.len() < BD_ANC_MAX {
            let Some((comm, next)) = stat(ppid) else {
                break;
            };
            let exe = exe_name(ppid);
            out.push(AncestorLine {
                pid: ppid,
                comm,
                exe,
                exe_truncated: false,
            });
            if ppid == 1 {
                break;
            }
            ppid = next;
        }
        Some((out, "proc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_walk_reaches_init_from_this_process() {
        let t = Tree::default();
        let (a, src) = t.ancestors_of(std::process::id()).unwrap();
        assert_eq!(src, "proc");
        assert_eq!(a[0].pid, std::os::unix::process::parent_id());
        assert!(a.len() == BD_ANC_MAX || a.last().unwrap().pid == 1, "{a:?}");
    }

    #[test]
    fn a_cached_chain_is_used_only_while_it_fits_the_live_process() {
        let mut t = Tree::default();
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let line = |pid| AncestorLine {
            pid,
            comm: "x".into(),
            exe: None,
            exe_truncated: false,
        };
        t.note_exec(me, vec![line(parent)]);
        assert_eq!(t.ancestors_of(me).unwrap().1, "exec");
        t.note_exec(me, vec![line(parent + 1)]);
        assert_eq!(t.ancestors_of(me).unwrap().1, "proc");
    }
}
