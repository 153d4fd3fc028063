//! OpenAI-compatible chat-completions client (stub).
