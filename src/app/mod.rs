//! The App API (stub while the server lands).
/// Stub.
pub struct App;
/// Stub.
pub struct RequestContext;
