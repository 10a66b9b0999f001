//! What every long-running command shares, whatever it drives (reassignment, tiering, a
//! diskless copy): how it reports progress ([`progress`]) and how it stores its journal
//! ([`store`]). `execute/` and `migrate/` both build on it; it depends on neither.

pub mod progress;
pub mod store;
