//! Issue 11 item 4: one exit-code table (boundary::exit) for all six tools,
//! and every man page's EXIT STATUS generated from it. The behaviour of each
//! code is tested where the condition is made (lock.rs: fault 7, pipeline.rs
//! and lock.rs: not enforced 4, kernel_exec.rs: not loaded 5, busy 8, kernel
//! lacks BPF-LSM 6, permission 3, policy_test.rs: refused 1, bd-log's own
//! tests: torn log 7); this checks that the pages say the same thing.

use boundary::exit::TABLE;

fn exit_section(tool: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../man/{tool}.1"));
    let page = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let start = page
        .find(".SH \"EXIT STATUS\"")
        .unwrap_or_else(|| panic!("{tool}(1) has no EXIT STATUS"));
    let rest = &page[start + 5..];
    let end = rest.find("\n.SH ").unwrap_or(rest.len());
    rest[..end].replace("\\-", "-")
}

#[test]
fn every_man_page_has_the_one_table() {
    for tool in ["bd-load", "bd-watch", "bd-policy", "bd-log", "bd-lock"] {
        let s = exit_section(tool);
        for c in TABLE {
            let row = format!("\\fB{}\\fR\n{}", c.code, c.name);
            assert!(s.contains(&row), "{tool}(1) lacks {row:?}:\n{s}");
        }
        // No row outside the table: a tool-specific code would be a second table.
        let rows = s.matches(".TP\n\\fB").count();
        assert_eq!(rows, TABLE.len(), "{tool}(1) has extra rows:\n{s}");
    }
    // bd-inject passes its child's status through: its own 125-127, and the
    // shared table named as not applying.
    let s = exit_section("bd-inject");
    for c in TABLE {
        assert!(s.contains(&format!("{} {}", c.code, c.name)), "{s}");
    }
    for code in ["125", "126", "127"] {
        assert!(s.contains(&format!("\\fB{code}\\fR")), "{s}");
    }
}
