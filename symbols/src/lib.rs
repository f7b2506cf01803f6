//! Questions about the running kernel: BTF types and offsets (more to come).
