//! Boundary modes, the state file and the pinned mode map.
