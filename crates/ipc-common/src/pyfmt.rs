//! Python-style formatting.
