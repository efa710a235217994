//! The hash-chained, signed log format used by bd-log.
