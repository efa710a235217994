//! The one exit-code table every boundary tool uses.
//!
//! A script checks `$?` the same way whichever tool it ran: 0 done, 1 the
//! tool's answer is "no", 2 it could not do what was asked, and the codes
//! from 3 up each name one condition an operator acts on differently. Each
//! tool's man page EXIT STATUS is generated from [`TABLE`] by [`man`], so the
//! page and the code cannot drift apart. bd-inject alone adds 125/126/127 (the
//! env(1)/timeout(1) convention), because every other code is its child's.

/// Done: what was asked happened (status: all is as it should be).
pub const OK: i32 = 0;
/// A verdict: the tool worked and the answer is no (tampered, refused,
/// denied, a case failed, a policy has errors).
pub const VERDICT: i32 = 1;
/// Usage, input or runtime error: the tool could not do what was asked
/// (bad arguments, unreadable or invalid file, I/O error, a program the
/// kernel would not load).
pub const USAGE: i32 = 2;
/// Not allowed: not root, missing capabilities, or the pins are not accessible.
pub const PERMISSION: i32 = 3;
/// Done, but the kernel does not enforce it: no mode map pinned, or a program
/// the mode needs is not attached.
pub const NOT_ENFORCED: i32 = 4;
/// Nothing is loaded under the pin dir.
pub const NOT_LOADED: i32 = 5;
/// The kernel lacks a feature that is needed (BTF, ring buffers, bpffs,
/// tracefs, BPF-LSM).
pub const KERNEL_MISSING: i32 = 6;
/// Stored state is damaged or inconsistent and needs an operator: a torn log
/// tail (run bd-log repair), a mode state that reads as LOCKDOWN by fault.
pub const FAULT: i32 = 7;
/// Another instance holds what this one needs (the ring buffer's one reader).
pub const BUSY: i32 = 8;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    pub code: i32,
    pub name: &'static str,
    pub meaning: &'static str,
}

/// Every shared code, in order.
pub const TABLE: &[Code] = &[
    Code {
        code: OK,
        name: "ok",
        meaning: "done",
    },
    Code {
        code: VERDICT,
        name: "verdict",
        meaning: "the answer is no: tampered, refused, denied, failed a check",
    },
    Code {
        code: USAGE,
        name: "usage",
        meaning: "usage, input or runtime error: could not do what was asked",
    },
    Code {
        code: PERMISSION,
        name: "permission",
        meaning: "not allowed: not root, missing capabilities, pins not accessible",
    },
    Code {
        code: NOT_ENFORCED,
        name: "not-enforced",
        meaning: "done, but the kernel does not enforce it (a program or map is missing)",
    },
    Code {
        code: NOT_LOADED,
        name: "not-loaded",
        meaning: "nothing is loaded under the pin dir",
    },
    Code {
        code: KERNEL_MISSING,
        name: "kernel-missing",
        meaning: "the kernel lacks a needed feature (BTF, ring buffer, bpffs, tracefs, BPF-LSM)",
    },
    Code {
        code: FAULT,
        name: "fault",
        meaning: "stored state is damaged or inconsistent: an operator must repair it",
    },
    Code {
        code: BUSY,
        name: "busy",
        meaning: "another instance holds what this one needs",
    },
];

/// The row for `code`, if it is a shared code.
pub fn lookup(code: i32) -> Option<&'static Code> {
    TABLE.iter().find(|c| c.code == code)
}

/// EXIT STATUS text for a man page: every code of the shared table, each with
/// what it means for this tool where `detail` says (code, text); codes the
/// tool never returns are listed as such, so every page shows the same table.
/// `extra` rows (bd-inject's 125-127) follow. Leaked: built once per man
/// page by xtask.
pub fn man(detail: &[(i32, &str)], extra: &str) -> &'static str {
    let mut s = String::new();
    for c in TABLE {
        s.push_str(&format!("{}\t{}", c.code, c.name));
        match detail.iter().find(|(k, _)| *k == c.code) {
            Some((_, d)) => s.push_str(&format!(": {d}")),
            None => s.push_str(&format!(
                ": not returned by this tool (in every boundary tool: {})",
                c.meaning
            )),
        }
        s.push('\n');
    }
    s.push_str(extra);
    Box::leak(s.trim_end().to_string().into_boxed_str())
}

/// EXIT STATUS for bd-inject, whose codes below 125 are its child's: its own
/// rows, then the shared table named so a reader knows it does not apply.
pub fn man_wrapper(own: &str) -> &'static str {
    let names: Vec<String> = TABLE
        .iter()
        .map(|c| format!("{} {}", c.code, c.name))
        .collect();
    let s = format!(
        "{own}\nThe other boundary tools share one table ({}); bd-inject cannot use it, \
         because every code below 125 is the command's own",
        names.join(", ")
    );
    Box::leak(s.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_dense() {
        for (i, c) in TABLE.iter().enumerate() {
            assert_eq!(c.code, i as i32, "{c:?}");
            assert_eq!(lookup(c.code).unwrap().name, c.name);
            assert_eq!(TABLE.iter().filter(|d| d.name == c.name).count(), 1);
        }
        assert_eq!(
            [
                OK,
                VERDICT,
                USAGE,
                PERMISSION,
                NOT_ENFORCED,
                NOT_LOADED,
                KERNEL_MISSING,
                FAULT,
                BUSY
            ],
            [0, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn man_text_lists_every_code() {
        let t = man(&[(VERDICT, "tampered")], "125\tx");
        for c in TABLE {
            assert!(t.contains(&format!("{}\t{}", c.code, c.name)), "{t}");
        }
        assert!(t.contains("1\tverdict: tampered"));
        assert!(t.ends_with("125\tx"));
    }
}
