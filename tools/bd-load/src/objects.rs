//! The BPF objects built into this binary and the programs in each.

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

include!(concat!(env!("OUT_DIR"), "/objects.rs"));

/// One program of an embedded object: its function name (what aya calls it)
/// and its ELF section (which says where it attaches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgSpec {
    pub name: String,
    pub section: String,
}

/// The programs of an ELF object, sorted by name: global functions in any
/// section other than .text (which holds subprograms, not entry points).
pub fn programs(elf: &[u8]) -> anyhow::Result<Vec<ProgSpec>> {
    let file = object::File::parse(elf)?;
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text || !sym.is_global() {
            continue;
        }
        let Some(idx) = sym.section_index() else {
            continue;
        };
        let section = file.section_by_index(idx)?;
        let sname = section.name()?;
        if sname == ".text" || sname.starts_with(".") {
            continue;
        }
        out.push(ProgSpec {
            name: sym.name()?.to_owned(),
            section: sname.to_owned(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_monitor_is_embedded_with_its_tracepoint() {
        let (_, bytes) = OBJECTS
            .iter()
            .find(|(n, _)| *n == "exec_monitor")
            .expect("exec_monitor embedded");
        let progs = programs(bytes).unwrap();
        assert_eq!(
            progs,
            [
                ProgSpec {
                    name: "exec_monitor".into(),
                    section: "tp_btf/sched_process_exec".into()
                },
                ProgSpec {
                    name: "liveness_marker".into(),
                    section: "tracepoint/task/task_rename".into()
                }
            ]
        );
    }

    #[test]
    fn every_committed_object_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bpf");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                Some(n.strip_suffix(".bpf.o")?.to_owned())
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = OBJECTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, embedded);
    }
}
