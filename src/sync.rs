//! Lock helpers shared by every module that guards state with a `Mutex`.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering from poisoning.
///
/// A panicking handler is caught and answered as a 500 while the server keeps serving, so a
/// poisoned lock must not take the process down with it. Every caller keeps its guarded data
/// consistent across a panic (updates are single assignments, pushes or removals), which is
/// what makes recovering the guard sound.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
