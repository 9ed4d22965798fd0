"""A herd server in Python asyncio: the reference herd the project compares with Rust.

It implements ../shared/SPEC.md and docs/PROTOCOL.md on its own (it cannot share the Rust
core); the conformance suite holds it to the same behaviour as the Rust backends.
"""
