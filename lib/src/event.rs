//! Kernel event structs (twins of bpf/bd.h) and their JSON form.
