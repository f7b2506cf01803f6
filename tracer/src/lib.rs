//! pkttrace library.
