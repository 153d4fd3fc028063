//! Sliding-window conversation manager (stub).
