//! The bpffs pin directory: where it is, mounting it, opening pinned objects.
