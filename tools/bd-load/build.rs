//! Embeds every committed BPF object (bpf/*.bpf.o) into the binary, so adding
//! an object is just adding bpf/X.bpf.c and committing X.bpf.o.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let bpf = manifest.join("../../bpf");
    let bpf = bpf.canonicalize().unwrap_or(bpf);
    println!("cargo:rerun-if-changed={}", bpf.display());
    let mut objs: Vec<(String, PathBuf)> = std::fs::read_dir(&bpf)
        .unwrap_or_else(|e| panic!("{}: {e}", bpf.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            let name = p.file_name()?.to_str()?.strip_suffix(".bpf.o")?.to_owned();
            Some((name, p))
        })
        .collect();
    objs.sort();
    let mut out = String::from(
        "/// Embedded BPF objects: (object name, ELF bytes), sorted by name.\n\
         pub static OBJECTS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &objs {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            out,
            "    ({name:?}, aya::include_bytes_aligned!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dst = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("objects.rs");
    std::fs::write(&dst, out).expect("write objects.rs");
}
