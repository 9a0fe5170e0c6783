//! Image formats: what imghash reads from a file's header (only qcow2's guest size so far).

pub mod qcow2;
