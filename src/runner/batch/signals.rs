//! SIGINT and SIGTERM while a batch runs. The handler only notes the signal; the scheduler,
//! which polls it, passes it on to every running build (each forwards it to its command's
//! process group and exits 130 or 143), and starts no other. The child builds run in process
//! groups of their own, so a terminal's Ctrl-C reaches this process alone and is passed on
//! from here, as `process::forward_signals` does for a single build's commands.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first SIGINT or SIGTERM received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(signal: libc::c_int) {
    let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}
