//! The BPF-LSM protection maps: protected pids, files and the allow list.
