// hpti patch: buffers are not locked in memory on Unix.
//
// Upstream locks every `CryptoVec` (every packet buffer, not only key material) with
// mlock(2) and unlocks it on drop: two system calls per buffer, which cost about 5% of a
// honeypot's CPU under connection load. The keys of a honeypot's sessions protect
// nothing, and a honeypot should not run with CAP_IPC_LOCK; without it, mlock fails once
// RLIMIT_MEMLOCK (often 64 KiB or 8 MiB) is used up, so under load upstream locks
// only the first few hundred buffers anyway.

use super::MemoryLockError;

/// Does nothing (see above).
pub fn munlock(_ptr: *const u8, _len: usize) -> Result<(), MemoryLockError> {
    Ok(())
}

/// Does nothing (see above).
pub fn mlock(_ptr: *const u8, _len: usize) -> Result<(), MemoryLockError> {
    Ok(())
}
